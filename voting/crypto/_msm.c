/* voting.crypto._msm: ristretto255 multi-scalar multiplication on libdecaf (docs/SPEC.md §3.11).
 *
 * Batch verification (voting/crypto/batch.py) reduces thousands of proof equations to one claim
 * Σ s_i·P_i = O.  This module decodes the points and evaluates that sum natively:
 *
 * - points: n 32-byte ristretto255 encodings (RFC 9496 §4.3.1), each decoded by libdecaf's
 *   decaf_255_point_decode (Debian libdecaf-dev 1.0: its decaf_255 group IS ristretto255), which
 *   refuses non-canonical, negative, non-square and negative-xy encodings; the identity is refused
 *   too (SPEC §3.1: proof commitments are non-identity points).  The first bad point raises
 *   ValueError(message, index).
 * - scalars: n 32-byte little-endian integers (< 2^256), reduced mod ℓ here.
 * - evaluation: interleaved width-5 NAF (Straus) for small n, signed-digit buckets (Pippenger) with
 *   the window chosen from n otherwise, using only decaf's complete point add/sub/double, so there is
 *   no exceptional case.  Nothing here is constant-time: every input is public (proofs, ballots).
 *
 * The GIL is released while decoding and summing; from 512 terms on, decoding and Pippenger's windows
 * are split over `threads` threads (default: one per online CPU).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <decaf/point_255.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct decaf_255_point_s point; /* 256 bytes, 32-byte aligned */

#define ENC 32              /* bytes per point encoding and per scalar */
#define LIMBS 5             /* a scalar as 64-bit limbs, with one zero limb for reads past bit 255 */
#define DIGIT_BITS 254      /* signed digits of a scalar < ℓ < 2^253 need 254 bits (one carry) */
#define WNAF_W 5            /* Straus: digits odd in ±[1, 15], 8 precomputed multiples per point */
#define WNAF_TABLE (1 << (WNAF_W - 2))
#define WNAF_LEN 256
#define MAX_WINDOW 16       /* Pippenger: at most 2^15 buckets (8 MiB) per thread */
#define MAX_THREADS 16
#define THREAD_MIN_TERMS 512 /* fewer terms than this run on the calling thread only */

typedef struct {
    uint64_t w[LIMBS];
} scalar;

/* ---- memory ------------------------------------------------------------------------------- */

static point *alloc_points(size_t n) {
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / sizeof(point))
        return NULL;
    return aligned_alloc(32, n * sizeof(point));
}

/* ---- scalars ------------------------------------------------------------------------------ */

/* s ← b (32 bytes little-endian) reduced mod ℓ; values < 2^252 (all below ℓ) skip the reduction. */
static void load_scalar(scalar *s, const uint8_t *b) {
    uint8_t reduced[ENC];
    if (b[ENC - 1] >= 0x10) {
        decaf_255_scalar_t t;
        decaf_255_scalar_decode_long(t, b, ENC);
        decaf_255_scalar_encode(reduced, t);
        b = reduced;
    }
    for (int k = 0; k < 4; k++) {
        uint64_t v = 0;
        for (int j = 7; j >= 0; j--)
            v = (v << 8) | b[8 * k + j];
        s->w[k] = v;
    }
    s->w[4] = 0;
}

/* The c bits of s starting at bit pos (pos + c ≤ 320, c ≤ 32). */
static uint32_t scalar_bits(const scalar *s, unsigned pos, unsigned c) {
    unsigned k = pos >> 6, off = pos & 63;
    uint64_t v = s->w[k] >> off;
    if (off + c > 64 && k + 1 < LIMBS)
        v |= s->w[k + 1] << (64 - off);
    return (uint32_t)(v & ((UINT64_C(1) << c) - 1));
}

/* Signed base-2^c digits d_j ∈ [−2^(c−1), 2^(c−1)] with s = Σ d_j·2^(cj); digit j goes to
 * out[j·stride] (window-major layout: one window's digits of all points are contiguous). */
static void recode_signed(int32_t *out, size_t stride, const scalar *s, unsigned c, unsigned windows) {
    uint32_t carry = 0, full = UINT32_C(1) << c, half = full >> 1;
    for (unsigned j = 0; j < windows; j++) {
        uint32_t v = scalar_bits(s, j * c, c) + carry;
        carry = v > half;
        out[j * stride] = carry ? (int32_t)v - (int32_t)full : (int32_t)v;
    }
}

/* Width-5 NAF: naf[i] odd in ±[1, 15] or 0, s = Σ naf[i]·2^i; returns the top index + 1 (0 if s = 0). */
static int recode_wnaf(int8_t naf[WNAF_LEN], const scalar *s) {
    const uint32_t width = 1u << WNAF_W;
    unsigned pos = 0;
    uint32_t carry = 0;
    int top = 0;
    memset(naf, 0, WNAF_LEN);
    while (pos < DIGIT_BITS) {
        uint32_t window = carry + scalar_bits(s, pos, WNAF_W);
        if ((window & 1) == 0) {
            pos += 1;
            continue;
        }
        carry = window >= width / 2;
        naf[pos] = (int8_t)(carry ? (int32_t)window - (int32_t)width : (int32_t)window);
        top = (int)pos + 1;
        pos += WNAF_W;
    }
    return top;
}

/* ---- decoding ----------------------------------------------------------------------------- */

/* Decode enc[lo..hi) into pts; the index of the first invalid or identity encoding, or -1. */
static Py_ssize_t decode_range(point *pts, const uint8_t *enc, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++)
        if (decaf_255_point_decode(&pts[i], enc + ENC * i, DECAF_FALSE) != DECAF_SUCCESS)
            return (Py_ssize_t)i;
    return -1;
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef void (*task_fn)(void *ctx, unsigned part, unsigned parts);

typedef struct {
    task_fn fn;
    void *ctx;
    unsigned part, parts;
} task;

static void *task_main(void *arg) {
    task *t = arg;
    t->fn(t->ctx, t->part, t->parts);
    return NULL;
}

/* Run fn(ctx, p, parts) for p in [0, parts): parts − 1 new threads plus the calling one.  A thread
 * that cannot be started has its part run on the calling thread afterwards, so the result is the
 * same whatever the system allows. */
static void run_parts(task_fn fn, void *ctx, unsigned parts) {
    pthread_t tid[MAX_THREADS];
    task tasks[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (unsigned p = 1; p < parts; p++) {
        tasks[p] = (task){fn, ctx, p, parts};
        started[p] = pthread_create(&tid[p], NULL, task_main, &tasks[p]) == 0;
    }
    fn(ctx, 0, parts);
    for (unsigned p = 1; p < parts; p++) {
        if (started[p])
            pthread_join(tid[p], NULL);
        else
            fn(ctx, p, parts);
    }
}

typedef struct {
    point *pts;
    const uint8_t *enc;
    size_t n;
    Py_ssize_t bad[MAX_THREADS];
} decode_job;

static void decode_part(void *ctx, unsigned part, unsigned parts) {
    decode_job *job = ctx;
    size_t lo = job->n * part / parts, hi = job->n * (part + 1) / parts;
    job->bad[part] = decode_range(job->pts, job->enc, lo, hi);
}

/* Decode all n points over `parts` threads; the first bad index or -1. */
static Py_ssize_t decode_all(point *pts, const uint8_t *enc, size_t n, unsigned parts) {
    decode_job job = {pts, enc, n, {0}};
    run_parts(decode_part, &job, parts);
    for (unsigned p = 0; p < parts; p++)
        if (job.bad[p] >= 0)
            return job.bad[p];
    return -1;
}

/* ---- Straus (interleaved wNAF), small n --------------------------------------------------- */

/* table[k] = (2k+1)·P for k < 8. */
static void odd_multiples(point *table, const point *p) {
    point twice;
    decaf_255_point_double(&twice, p);
    table[0] = *p;
    for (int k = 1; k < WNAF_TABLE; k++)
        decaf_255_point_add(&table[k], &table[k - 1], &twice);
}

/* acc ← Σ s_i·P_i; 0, or -1 if memory runs out. */
static int straus(point *acc, const point *pts, const scalar *sc, size_t n) {
    point *table = alloc_points(n * WNAF_TABLE);
    int8_t *naf = malloc((n ? n : 1) * WNAF_LEN);
    int top = 0;
    if (table == NULL || naf == NULL) {
        free(table);
        free(naf);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int t = recode_wnaf(naf + i * WNAF_LEN, &sc[i]);
        if (t > 0)
            odd_multiples(table + i * WNAF_TABLE, &pts[i]);
        top = t > top ? t : top;
    }
    *acc = *decaf_255_point_identity;
    for (int pos = top - 1; pos >= 0; pos--) {
        decaf_255_point_double(acc, acc);
        for (size_t i = 0; i < n; i++) {
            int d = naf[i * WNAF_LEN + pos];
            if (d > 0)
                decaf_255_point_add(acc, acc, &table[i * WNAF_TABLE + (d >> 1)]);
            else if (d < 0)
                decaf_255_point_sub(acc, acc, &table[i * WNAF_TABLE + ((-d) >> 1)]);
        }
    }
    free(table);
    free(naf);
    return 0;
}

/* ---- Pippenger (signed-digit buckets), large n ---------------------------------------------- */

typedef struct {
    const point *pts;
    const int32_t *digits; /* digits[j·n + i]: digit j of scalar i */
    size_t n;
    unsigned c, windows;
    point *sums;   /* sums[j] = Σ_i d_ij·P_i */
    int failed[MAX_THREADS];
} bucket_job;

/* Window cost estimate in point additions, W·(n + 2^(c−1)): every digit one addition, the buckets'
 * sum two per bucket, less the copies into empty buckets.  Measured on libdecaf (µs per term, one
 * thread): it picks c = 8 at n = 1,000 (best), 11 at 10,000 (best; c = 10: +7 %), 13 at 50,000
 * (within 5 % of c = 12 and 14). */
static unsigned choose_window(size_t n) {
    unsigned best = 1;
    double best_cost = 0;
    for (unsigned c = 1; c <= MAX_WINDOW; c++) {
        unsigned windows = (DIGIT_BITS + c - 1) / c;
        double cost = (double)windows * ((double)n + (double)(1u << (c - 1)));
        if (c == 1 || cost < best_cost) {
            best = c;
            best_cost = cost;
        }
    }
    return best;
}

/* out ← Σ_b (b+1)·bucket[b] over the filled buckets (running-sum trick, 2 additions per bucket). */
static void sum_buckets(point *out, const point *bucket, const uint8_t *filled, size_t count) {
    point running;
    int have_running = 0, have_out = 0;
    for (size_t b = count; b-- > 0;) {
        if (filled[b]) {
            if (have_running)
                decaf_255_point_add(&running, &running, &bucket[b]);
            else
                running = bucket[b];
            have_running = 1;
        }
        if (!have_running)
            continue;
        if (have_out)
            decaf_255_point_add(out, out, &running);
        else
            *out = running;
        have_out = 1;
    }
    if (!have_out)
        *out = *decaf_255_point_identity;
}

/* sums[j] for window j: each point's digit added into (or subtracted from) its bucket. */
static void window_sum(const bucket_job *job, unsigned j, point *bucket, uint8_t *filled, size_t count) {
    const int32_t *d = job->digits + (size_t)j * job->n;
    memset(filled, 0, count);
    for (size_t i = 0; i < job->n; i++) {
        int32_t v = d[i];
        size_t b;
        if (v == 0)
            continue;
        b = (size_t)(v > 0 ? v : -v) - 1;
        if (filled[b])
            (v > 0 ? decaf_255_point_add : decaf_255_point_sub)(&bucket[b], &bucket[b], &job->pts[i]);
        else if (v > 0)
            bucket[b] = job->pts[i];
        else
            decaf_255_point_negate(&bucket[b], &job->pts[i]);
        filled[b] = 1;
    }
    sum_buckets(&job->sums[j], bucket, filled, count);
}

/* Thread `part` takes windows part, part + parts, … with its own buckets. */
static void bucket_part(void *ctx, unsigned part, unsigned parts) {
    bucket_job *job = ctx;
    size_t count = (size_t)1 << (job->c - 1);
    point *bucket = alloc_points(count);
    uint8_t *filled = malloc(count);
    job->failed[part] = bucket == NULL || filled == NULL;
    if (!job->failed[part])
        for (unsigned j = part; j < job->windows; j += parts)
            window_sum(job, j, bucket, filled, count);
    free(bucket);
    free(filled);
}

/* acc ← Σ_j 2^(cj)·sums[j] (Horner, top window first). */
static void combine_windows(point *acc, const point *sums, unsigned c, unsigned windows) {
    *acc = sums[windows - 1];
    for (unsigned j = windows - 1; j-- > 0;) {
        for (unsigned k = 0; k < c; k++)
            decaf_255_point_double(acc, acc);
        decaf_255_point_add(acc, acc, &sums[j]);
    }
}

/* acc ← Σ s_i·P_i over `parts` threads; 0, or -1 if memory runs out. */
static int pippenger(point *acc, const point *pts, const scalar *sc, size_t n, unsigned parts) {
    unsigned c = choose_window(n), windows = (DIGIT_BITS + c - 1) / c;
    int failed = 0;
    bucket_job job = {pts, NULL, n, c, windows, NULL, {0}};
    int32_t *digits = n > SIZE_MAX / sizeof(int32_t) / windows ? NULL : malloc(n * windows * sizeof(int32_t));
    point *sums = alloc_points(windows);
    if (digits == NULL || sums == NULL) {
        free(digits);
        free(sums);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        recode_signed(digits + i, n, &sc[i], c, windows);
    job.digits = digits;
    job.sums = sums;
    run_parts(bucket_part, &job, parts > windows ? windows : parts);
    for (unsigned p = 0; p < MAX_THREADS; p++)
        failed |= job.failed[p];
    if (!failed)
        combine_windows(acc, sums, c, windows);
    free(digits);
    free(sums);
    return failed ? -1 : 0;
}

/* Straus costs ~50 additions per term, Pippenger ~W·(n + 2^c)/n: measured on libdecaf, Straus is
 * faster up to ~150 terms (14 µs against 18 µs per term at 40, decoding included). */
#ifndef STRAUS_MAX_TERMS
#define STRAUS_MAX_TERMS 128
#endif

/* ---- the computation, without the GIL ------------------------------------------------------- */

typedef enum { MSM_OK = 0, MSM_NOMEM = -1, MSM_BADPOINT = 1 } msm_status;

/* out ← Σ s_i·P_i for n encoded points and scalars, and plain ← Σ P_i unless plain is NULL (the
 * homomorphic tally's area and heads sums, SPEC §3.8, from one decoding); MSM_BADPOINT sets *bad
 * to the first bad index. */
static msm_status msm_compute(point *out, point *plain, const uint8_t *penc, const uint8_t *senc, size_t n,
                              unsigned parts, Py_ssize_t *bad) {
    point *pts = alloc_points(n);
    scalar *sc = malloc((n ? n : 1) * sizeof(scalar));
    msm_status status = MSM_OK;
    if (pts == NULL || sc == NULL) {
        status = MSM_NOMEM;
        goto done;
    }
    if ((*bad = decode_all(pts, penc, n, n >= THREAD_MIN_TERMS ? parts : 1)) >= 0) {
        status = MSM_BADPOINT;
        goto done;
    }
    if (plain != NULL) {
        decaf_255_point_copy(plain, decaf_255_point_identity);
        for (size_t i = 0; i < n; i++)
            decaf_255_point_add(plain, plain, &pts[i]);
    }
    for (size_t i = 0; i < n; i++)
        load_scalar(&sc[i], senc + ENC * i);
    if (n <= STRAUS_MAX_TERMS ? straus(out, pts, sc, n) : pippenger(out, pts, sc, n, n >= THREAD_MIN_TERMS ? parts : 1))
        status = MSM_NOMEM;
done:
    free(pts);
    free(sc);
    return status;
}

/* ---- Python bindings ------------------------------------------------------------------------ */

static unsigned default_threads(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        return 1;
    return cpus > MAX_THREADS ? MAX_THREADS : (unsigned)cpus;
}

/* Parse (points, scalars, threads=0), run the sum; 0 with *out (and *plain unless NULL) set, or -1
 * with an exception. */
static int run(PyObject *args, PyObject *kwargs, const char *name, point *out, point *plain) {
    static char *kwlist[] = {"points", "scalars", "threads", NULL};
    char format[32];
    Py_buffer pb, sb;
    int threads = 0;
    Py_ssize_t bad = -1;
    msm_status status;
    PyOS_snprintf(format, sizeof format, "y*y*|i:%s", name);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, kwlist, &pb, &sb, &threads))
        return -1;
    if (pb.len % ENC != 0 || sb.len != pb.len || threads < 0) {
        PyBuffer_Release(&pb);
        PyBuffer_Release(&sb);
        PyErr_SetString(PyExc_ValueError,
                        threads < 0 ? "threads must be ≥ 0"
                                    : "points and scalars must be n×32 bytes each, for the same n");
        return -1;
    }
    unsigned parts = threads == 0 ? default_threads() : (unsigned)(threads > MAX_THREADS ? MAX_THREADS : threads);
    Py_BEGIN_ALLOW_THREADS
    status = msm_compute(out, plain, pb.buf, sb.buf, (size_t)(pb.len / ENC), parts, &bad);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&pb);
    PyBuffer_Release(&sb);
    if (status == MSM_NOMEM) {
        PyErr_NoMemory();
        return -1;
    }
    if (status == MSM_BADPOINT) {
        PyObject *err = Py_BuildValue("(sn)", "not a valid non-identity ristretto255 encoding", bad);
        if (err != NULL) {
            PyErr_SetObject(PyExc_ValueError, err);
            Py_DECREF(err);
        }
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(check_doc,
             "check(points, scalars, threads=0) -> bool\n\n"
             "True iff Σ s_i·P_i is the identity (docs/SPEC.md §3.11).  points: n 32-byte ristretto255\n"
             "encodings; scalars: n 32-byte little-endian integers (reduced mod ℓ).  Raises\n"
             "ValueError(message, index) naming the first point that is not a valid non-identity\n"
             "encoding.  threads: 0 = one per CPU (used from 512 terms on).");

static PyObject *msm_check(PyObject *self, PyObject *args, PyObject *kwargs) {
    point *sum = alloc_points(1);
    int is_identity;
    (void)self;
    if (sum == NULL)
        return PyErr_NoMemory();
    if (run(args, kwargs, "check", sum, NULL) < 0) {
        free(sum);
        return NULL;
    }
    is_identity = decaf_255_point_eq(sum, decaf_255_point_identity) != 0;
    free(sum);
    return PyBool_FromLong(is_identity);
}

PyDoc_STRVAR(msm_doc,
             "msm(points, scalars, threads=0) -> bytes\n\n"
             "The 32-byte ristretto255 encoding of Σ s_i·P_i (32 zero bytes for the identity); inputs and\n"
             "errors as check().");

static PyObject *msm_msm(PyObject *self, PyObject *args, PyObject *kwargs) {
    point *sum = alloc_points(1);
    uint8_t enc[ENC];
    (void)self;
    if (sum == NULL)
        return PyErr_NoMemory();
    if (run(args, kwargs, "msm", sum, NULL) < 0) {
        free(sum);
        return NULL;
    }
    decaf_255_point_encode(enc, sum);
    free(sum);
    return PyBytes_FromStringAndSize((const char *)enc, ENC);
}

PyDoc_STRVAR(sums_doc,
             "sums(points, scalars, threads=0) -> (bytes, bytes)\n\n"
             "The encodings of Σ s_i·P_i and of Σ P_i, the points decoded once (the tally's area and heads\n"
             "sums, docs/SPEC.md §3.8); inputs and errors as check().");

static PyObject *msm_sums(PyObject *self, PyObject *args, PyObject *kwargs) {
    point *both = alloc_points(2);
    uint8_t weighted[ENC], plain[ENC];
    (void)self;
    if (both == NULL)
        return PyErr_NoMemory();
    if (run(args, kwargs, "sums", &both[0], &both[1]) < 0) {
        free(both);
        return NULL;
    }
    decaf_255_point_encode(weighted, &both[0]);
    decaf_255_point_encode(plain, &both[1]);
    free(both);
    return Py_BuildValue("(y#y#)", (const char *)weighted, (Py_ssize_t)ENC, (const char *)plain, (Py_ssize_t)ENC);
}

static PyMethodDef methods[] = {
    {"check", (PyCFunction)(void (*)(void))msm_check, METH_VARARGS | METH_KEYWORDS, check_doc},
    {"msm", (PyCFunction)(void (*)(void))msm_msm, METH_VARARGS | METH_KEYWORDS, msm_doc},
    {"sums", (PyCFunction)(void (*)(void))msm_sums, METH_VARARGS | METH_KEYWORDS, sums_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "voting.crypto._msm",
    "ristretto255 multi-scalar multiplication on libdecaf (docs/SPEC.md §3.11).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__msm(void) { return PyModule_Create(&module); }
