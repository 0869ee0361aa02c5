// gongjue-crypto.js — the voting booth's cryptography (docs/SPEC.md §3 and §4).
//
// One ES module, no build step.  It derives the voter's credential key from the printed code
// (§4), encrypts a ballot with exponential ElGamal in the prime-order group ristretto255
// (RFC 9496: the prime-order group of Ed25519 with its own encoding, SPEC §3.1),
// proves every selection is 0 or 1 and every item's selection count is in range (disjunctive
// Chaum–Pedersen proofs that carry their commitments, so that an auditor can batch-verify them,
// §3.4–§3.5), signs the ballot with Ed25519 (RFC 8032), computes its tracking code, and reveals
// a ballot's nonces for a cast-or-audit (Benaloh) check.
// It must agree byte for byte with the Python implementation in voting/crypto/; the shared
// vectors in tests/vectors/crypto/ are checked against both (tests/js/check_vectors.mjs).
//
// API (pure functions; points, scalars and byte strings cross it as lowercase hex, except the
// credential seed, a Uint8Array that never leaves the page):
//   normaliseCode(text) → 24 symbols, or throws CodeError {kind: character|length|check}
//   formatCode(text) → "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX"
//   deriveCredential(code, origin) → {code, seed, publicKey}
//   encryptBallot({fingerprint, jointKey, items, choices, signingKey, rand?})
//     → {signed, tracking: {full, short}, secrets}      items: [{id, n, lo, hi}] (or see itemShape)
//   signOpenBallot({fingerprint, items, choices, signingKey, forVoter?}) → signed open ballot
//   trackingCode(signed) → {full, short}
//   revealBallot({signed, secrets}) → reveal;  checkReveal({signed, reveal, jointKey}) → true
//   verifyBallot({signed (JSON text or object), secrecy, fingerprint, jointKey, items, voterKey?}) → true
//   parseStrictJson(text) → value (duplicate keys, 1.0, 1e0, |n| ≥ 2^53 refused; SPEC §1)
//   verifySignature(publicKey, message, signature) → boolean (the Ed25519 rule, SPEC §3.6)
//   checkCredentialKey(hex) → point, or CryptoError('voter') (the same rule for keys)
//   decodePoint(hex, {allowIdentity?}) → group element (ristretto255), or CryptoError('point'|'identity')
//   pointHex(P), baseMul(k), encrypt(m, r, K): group elements are ristretto255 points;
//   credential keys and signatures stay Ed25519 (RFC 8032 encodings).
//   canonicalJson(value) → RFC 8785 text
//   roundFingerprint({origin, roundId, secrecy, agenda, rules, roll, jointKey}) → hex (SPEC §3.6)
// Every refusal of received data throws CryptoError with a `kind` naming the failed check.
//
// Dependencies: the vendored, pinned @noble/curves and @noble/hashes under ../vendor/
// (see ../vendor/noble-curves/VERSIONS.txt), imported by relative URL so that the same file
// loads in a browser and in node.

import { ed25519, ristretto255 } from '../vendor/noble-curves/ed25519.js';
import { sha256, sha512 } from '../vendor/noble-hashes/sha2.js';
import { hkdf } from '../vendor/noble-hashes/hkdf.js';

// The ballot group: ristretto255 (SPEC §3.1).  Ed25519 points appear only in keys and signatures.
const Point = ristretto255.Point;
const G = Point.BASE;
const O = Point.ZERO;
const EdPoint = ed25519.Point;
const edG = EdPoint.BASE;

/** ℓ, the order of the prime-order subgroup (SPEC §3.1). */
export const L = Point.Fn.ORDER;

const utf8 = new TextEncoder();
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const BALLOT_PREFIX = utf8.encode('gongjue/v1/ballot\x00');
const TEST_DRBG_TAG = utf8.encode('gongjue/v1/test-drbg');

// ---------------------------------------------------------------------------------------------
// Errors

/** A received value that fails a check; `kind` names the check, the message says what failed. */
export class CryptoError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'CryptoError';
    this.kind = kind;
  }
}

/** Typed input that is not a credential code; kind ∈ {"character", "length", "check"}. */
export class CodeError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'CodeError';
    this.kind = kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes, hex and integers

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of lowercase hex; throws CryptoError on anything else. */
export function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new CryptoError('encoding', `not lowercase hex: ${String(hex).slice(0, 80)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function intLE(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

function be32(n) {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CryptoError('encoding', `not a 32-bit unsigned integer: ${n}`);
  return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

const mod = (a) => ((a % L) + L) % L;

// ---------------------------------------------------------------------------------------------
// Group encodings (SPEC §3.1)

/** A scalar's 32-byte little-endian encoding. */
export function scalarBytes(k) {
  const out = new Uint8Array(32);
  let n = k;
  for (let i = 0; i < 32; i++) { out[i] = Number(n & 255n); n >>= 8n; }
  return out;
}

/** A scalar as 64 lowercase hex characters. */
export const scalarHex = (k) => toHex(scalarBytes(k));

/** Decode a received scalar: 64 lowercase hex, value < ℓ. */
export function decodeScalar(hex) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CryptoError('scalar', 'scalar is not 64 lowercase hex characters');
  const k = intLE(fromHex(hex));
  if (k >= L) throw new CryptoError('scalar', 'scalar is not reduced modulo ℓ');
  return k;
}

/** A point as 64 lowercase hex characters (RFC 8032 compressed encoding). */
export const pointHex = (P) => toHex(P.toBytes());

/**
 * Decode a received group element (SPEC §3.1): a canonical ristretto255 encoding (RFC 9496
 * §4.3.1; every one that decodes is an element of the prime-order group, so there is no subgroup
 * or small-order check to make); the identity (32 zero bytes) only if `allowIdentity`.
 */
export function decodePoint(hex, { allowIdentity = false } = {}) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CryptoError('point', 'point is not 64 lowercase hex characters');
  let P;
  try {
    P = Point.fromHex(hex);
  } catch (e) {
    throw new CryptoError('point', `point encoding is not a canonical ristretto255 encoding (${e.message})`);
  }
  if (P.is0() && !allowIdentity) {
    throw new CryptoError('identity', 'point is the identity where the identity is not allowed');
  }
  return P;
}

/**
 * Decode an Ed25519 public key or signature R (SPEC §3.6): canonical RFC 8032 encoding, on the
 * curve, in the prime-order subgroup, not the identity, not of small order.
 */
function decodeEdPoint(hex) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CryptoError('point', 'point is not 64 lowercase hex characters');
  let P;
  try {
    P = EdPoint.fromHex(hex, false); // strict RFC 8032: y < p, no x = 0 with the sign bit set
  } catch (e) {
    throw new CryptoError('point', `point encoding is not a canonical curve point (${e.message})`);
  }
  if (P.is0()) throw new CryptoError('identity', 'point is the identity where the identity is not allowed');
  if (P.isSmallOrder()) throw new CryptoError('point', 'point is of small order');
  if (!P.isTorsionFree()) throw new CryptoError('point', 'point is not in the prime-order subgroup');
  return P;
}

/**
 * The one Ed25519 rule (SPEC §3.6; Python: voting.crypto.ed25519): the public key A and the
 * signature's R are valid points (canonical, prime-order subgroup, not the identity, not of
 * small order: decodePoint), S < ℓ, and the cofactorless equation S·G = R + k·A holds with
 * k = int_le(SHA-512(R ‖ A ‖ M)) mod ℓ.  Returns true or false; a malformed input is false.
 */
export function verifySignature(publicKey, message, signature) {
  let A, R;
  try {
    A = decodeEdPoint(typeof publicKey === 'string' ? publicKey : toHex(publicKey));
    const sig = typeof signature === 'string' ? fromHex(signature) : signature;
    if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
    R = decodeEdPoint(toHex(sig.subarray(0, 32)));
    const S = intLE(sig.subarray(32));
    if (S >= L) return false;
    const k = mod(intLE(sha512(concat(sig.subarray(0, 32), A.toBytes(), message))));
    return mulPublic(edG, S).equals(R.add(mulPublic(A, k)));
  } catch (e) {
    if (e instanceof CryptoError) return false;
    throw e;
  }
}

/** A credential public key (hex) valid under the Ed25519 rule of SPEC §3.6, or CryptoError('voter'). */
export function checkCredentialKey(hex) {
  try {
    return decodeEdPoint(hex);
  } catch {
    throw new CryptoError('voter', 'voter key is not a valid credential key (Ed25519 rule, SPEC §3.6)');
  }
}

/** k·P for a public scalar 0 ≤ k < ℓ (variable time; k = 0 gives the identity). */
function mulPublic(P, k) {
  return P.multiplyUnsafe(mod(k));
}

/** k·P for a secret scalar (constant time; k = 0 gives the identity). */
function mulSecret(P, k) {
  const r = mod(k);
  return r === 0n ? O : P.multiply(r);
}

/** k·G for a scalar 0 ≤ k < ℓ (0·G = O), as a point. */
export function baseMul(k) {
  return mulSecret(G, k);
}

/** m·G for a small non-negative integer m (a plaintext). */
function small(m) {
  return mulPublic(G, BigInt(m));
}

// ---------------------------------------------------------------------------------------------
// Fiat–Shamir challenges (SPEC §3.2)

/** Field encoders for `challenge`. */
const F = {
  text: (s) => utf8.encode(s),
  int: (n) => be32(n),
  point: (P) => P.toBytes(),
  bytes: (b) => b,
};

/** challenge(tag, fields…) = int_le(SHA-512(enc(tag) ‖ enc(f1) ‖ …)) mod ℓ; fields are bytes. */
export function challenge(tag, ...fields) {
  const parts = [];
  for (const f of [utf8.encode(tag), ...fields]) parts.push(be32(f.length), f);
  return mod(intLE(sha512(concat(...parts))));
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** A production scalar: 64 bytes from the platform CSPRNG reduced mod ℓ, never 0. */
export function randomScalar() {
  for (;;) {
    const b = new Uint8Array(64);
    globalThis.crypto.getRandomValues(b);
    const k = mod(intLE(b));
    if (k !== 0n) return k;
  }
}

/**
 * The test DRBG: scalar_i = int_le(SHA-512("gongjue/v1/test-drbg" ‖ seed ‖ be32(i))) mod ℓ.
 * `seed` is bytes or lowercase hex.  For test vectors only; never in the booth.
 */
export function testDrbg(seed) {
  const seedBytes = typeof seed === 'string' ? fromHex(seed) : seed;
  let i = 0;
  return () => mod(intLE(sha512(concat(TEST_DRBG_TAG, seedBytes, be32(i++)))));
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON (RFC 8785, for strings, integers, booleans, null, arrays and objects)

function jcsString(s) {
  return JSON.stringify(s); // JCS §3.2.2.2 serialises strings exactly as ECMAScript does
}

/** RFC 8785 canonical JSON text of `value`; floats and unsafe integers are refused. */
export function canonicalJson(value) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === 'string') return jcsString(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new CryptoError('json', `not an integer below 2^53: ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  if (typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort(); // UTF-16 code unit order
    return '{' + keys.map((k) => jcsString(k) + ':' + canonicalJson(value[k])).join(',') + '}';
  }
  throw new CryptoError('json', `value of type ${typeof value} has no canonical JSON form`);
}

const canonicalBytes = (value) => utf8.encode(canonicalJson(value));

// Strict JSON text (SPEC §1, §3.6; Python: voting.crypto.strictjson).  Received ballots are
// verified from their text: a duplicate key, a number with a fraction or exponent (1.0, 1e0), an
// integer with |n| ≥ 2^53 or a lone surrogate is refused, where JSON.parse would accept them.
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const JSON_DEPTH = 64;
const LONE_SURROGATE = /\p{Cs}/u;

/** Parse JSON text under the strict rule; throws CryptoError('json') naming the problem. */
export function parseStrictJson(text) {
  if (typeof text !== 'string') throw new CryptoError('json', 'expected JSON text');
  let i = 0;
  const fail = (why) => { throw new CryptoError('json', `not strict JSON at character ${i}: ${why}`); };
  const space = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const token = (re) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) return null;
    i = re.lastIndex;
    return m;
  };
  const string = () => {
    const m = token(JSON_STRING);
    if (m === null) fail('malformed string');
    const s = JSON.parse(m[0]);
    if (LONE_SURROGATE.test(s)) fail('string with a lone surrogate (not well-formed Unicode)');
    return s;
  };
  const value = (depth) => {
    if (depth > JSON_DEPTH) fail('nested too deeply');
    space();
    const c = text[i];
    if (c === '"') return string();
    if (c === '{') {
      i++;
      const obj = {};
      const seen = new Set();
      space();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        space();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        if (seen.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
        seen.add(key);
        space();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        space();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      space();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        space();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    const m = token(JSON_NUMBER);
    if (m !== null) {
      if (m[1] !== undefined || m[2] !== undefined) fail(`number ${m[0]} has a fraction or exponent: only integers are allowed`);
      const n = Number(m[0]);
      if (!Number.isSafeInteger(n)) fail(`integer ${m[0]} is outside ±(2^53 − 1)`);
      return n;
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    return fail('unexpected character');
  };
  const out = value(0);
  space();
  if (i !== text.length) fail('trailing characters');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Round fingerprint (SPEC §3.6)

const nonEmpty = (s) => typeof s === 'string' && s !== '';

/**
 * The round fingerprint, as 64 lowercase hex: SHA-256(JCS({"v": 1, "origin", "round", "secrecy",
 * "agenda", "rules", "roll", "joint_key"})).  A secret round gives its joint key K (hex, a valid
 * non-identity point); an open round gives jointKey null.  Python: ballot.round_fingerprint.
 */
export function roundFingerprint({ origin, roundId, secrecy, agenda, rules, roll, jointKey }) {
  if (![origin, roundId, rules, roll].every(nonEmpty)) {
    throw new CryptoError('round', 'round fingerprint: origin, roundId, rules and roll must be non-empty strings');
  }
  if (secrecy !== 'secret' && secrecy !== 'open') throw new CryptoError('round', "secrecy must be 'secret' or 'open'");
  if (agenda === null || typeof agenda !== 'object' || Array.isArray(agenda)) {
    throw new CryptoError('round', 'round fingerprint: agenda must be a JSON object');
  }
  let key = null;
  if (secrecy === 'secret') {
    if (typeof jointKey !== 'string') throw new CryptoError('round', 'a secret round needs its joint key');
    key = pointHex(decodePoint(jointKey));
  } else if (jointKey !== null && jointKey !== undefined) {
    throw new CryptoError('round', 'an open round has no joint key (pass null)');
  }
  return toHex(sha256(canonicalBytes({ v: 1, origin, round: roundId, secrecy, agenda, rules, roll, joint_key: key })));
}

// ---------------------------------------------------------------------------------------------
// Credentials (SPEC §4)

/** The 31 code symbols (no 0, O, 1, I, L); a symbol's value is its index. */
export const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const RANDOM_SYMBOLS = 23;
const CODE_LENGTH = 24;
const SEPARATORS = new Set([' ', '\t', '\r', '\n', '\u3000', '-']);
const CONFUSABLE = new Set(['0', 'O', '1', 'I', 'L']);
const HKDF_INFO = utf8.encode('gongjue/v1/credential');

/** The check symbol of 23 random symbols: ALPHABET[(Σ (i+1)·v_i) mod 31]. */
export function checkSymbol(symbols) {
  let total = 0;
  for (let i = 0; i < RANDOM_SYMBOLS; i++) total += (i + 1) * ALPHABET.indexOf(symbols[i]);
  return ALPHABET[total % ALPHABET.length];
}

function characterMessage(ch) {
  const cp = ch.codePointAt(0);
  const printable = !/[\p{C}\p{Z}]/u.test(ch) || ch === ' ';
  const shown = printable ? ch : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (CONFUSABLE.has(ch.toUpperCase())) {
    return `凭证码中没有字符 “${shown}”（码中不使用 0、O、1、I、L），请核对信上的号码 / ` +
      `credential codes never contain '${shown}' (no 0, O, 1, I or L are used)`;
  }
  return `凭证码中不能有字符 “${shown}”，只用数字 2–9 和大写字母 / ` +
    `character '${shown}' is not allowed: codes use only digits 2-9 and letters`;
}

/**
 * The 24 symbols of typed input, or CodeError: ASCII letters are upper-cased, separators
 * (space, tab, CR, LF, U+3000, "-") dropped, any other character outside the alphabet refused
 * by name, then the length and the check symbol are checked.
 */
export function normaliseCode(text) {
  const symbols = [];
  for (const ch of String(text)) {
    if (SEPARATORS.has(ch)) continue;
    const upper = ch >= 'a' && ch <= 'z' ? ch.toUpperCase() : ch;
    if (upper.length !== 1 || !ALPHABET.includes(upper)) throw new CodeError('character', characterMessage(ch));
    symbols.push(upper);
  }
  if (symbols.length !== CODE_LENGTH) {
    throw new CodeError('length', `凭证码应为 24 个字符，您输入了 ${symbols.length} 个，请核对信上的号码 / ` +
      `a credential code has 24 characters, you entered ${symbols.length}`);
  }
  const code = symbols.join('');
  if (checkSymbol(code.slice(0, RANDOM_SYMBOLS)) !== code[RANDOM_SYMBOLS]) {
    throw new CodeError('check', '凭证码有误（可能抄错了一个字符），请逐字核对 / ' +
      'code mistyped: a character is wrong, please check it against the letter');
  }
  return code;
}

/** The printed form of a code: six groups of four joined by "-". */
export function formatCode(text) {
  const code = normaliseCode(text);
  return code.match(/.{4}/g).join('-');
}

/**
 * Derive the credential key: seed = HKDF-SHA256(ikm = the 24 symbols, salt = origin,
 * info = "gongjue/v1/credential", 32 bytes); public key = RFC 8032 public key of the seed.
 * Returns {code, seed (Uint8Array), publicKey (hex)}.
 */
export function deriveCredential(code, origin) {
  const normal = normaliseCode(code);
  const seed = hkdf(sha256, utf8.encode(normal), utf8.encode(origin), HKDF_INFO, 32);
  return { code: normal, seed, publicKey: toHex(ed25519.getPublicKey(seed)) };
}

// ---------------------------------------------------------------------------------------------
// Exponential ElGamal (SPEC §3)

/** Encrypt m with nonce r under K: (α, β) = (r·G, m·G + r·K). */
export function encrypt(m, r, K) {
  const rK = mulSecret(K, r);
  // For a vote mark (0 or 1) both candidates are computed, so the work does not depend on m.
  const beta = m === 0 || m === 1 ? [rK, rK.add(G)][m] : small(m).add(rK);
  return { alpha: mulSecret(G, r), beta };
}

// ---------------------------------------------------------------------------------------------
// Proofs carry their commitments (SPEC §3.4, §3.5): {"c": […], "z": […], "a": [A_v…], "b": [B_v…]}.
// The verifier hashes the carried commitments (the challenge inputs and their order are those of
// the compact form), requires Σ c_v ≡ challenge, and checks every verification equation
//   A_v = z_v·G − c_v·α,  B_v = z_v·K − c_v·(β − v·G)
// (the auditor batches these equations; here each is checked on its own).

/** Check branch v's two equations; returns null, or the text naming the one that fails. */
function branchFailure(K, v, cv, zv, alpha, beta, Av, Bv, names) {
  if (!mulPublic(G, zv).subtract(mulPublic(alpha, cv)).equals(Av)) {
    return `${names.A}_${v} ≠ z_${v}·G − c_${v}·${names.alpha}`;
  }
  if (!mulPublic(K, zv).subtract(mulPublic(beta.subtract(small(v)), cv)).equals(Bv)) {
    return `${names.B}_${v} ≠ z_${v}·K − c_${v}·(${names.beta} − ${v}·G)`;
  }
  return null;
}

const BIT_NAMES = { A: 'A', B: 'B', alpha: 'α', beta: 'β' };
const COUNT_NAMES = { A: "A'", B: "B'", alpha: 'A', beta: 'B' };

// ---------------------------------------------------------------------------------------------
// 0/1 selection proof (disjunctive Chaum–Pedersen, commitments carried)

function bitChallenge(ctx, index, alpha, beta, commitments) {
  return challenge('gongjue/v1/bit', ctx.fingerprint, ctx.voter, F.text(ctx.itemId), F.int(index),
    F.point(ctx.K), F.point(alpha), F.point(beta), ...commitments);
}

/**
 * Prove (α, β) encrypts m ∈ {0,1} with nonce r; draws w, c_sim, z_sim from `rand` in that order.
 * Returns {c, z, a: [A_0, A_1], b: [B_0, B_1]} (the commitments it hashed).
 */
function proveBit(ctx, index, m, r, alpha, beta, rand) {
  const w = rand();
  const s = 1 - m;
  const cs = rand();
  const zs = rand();
  const A = [], B = [];
  A[m] = mulSecret(G, w);
  B[m] = mulSecret(ctx.K, w);
  A[s] = mulPublic(G, zs).subtract(mulPublic(alpha, cs));
  B[s] = mulPublic(ctx.K, zs).subtract(mulPublic(beta.subtract(small(s)), cs));
  const c = bitChallenge(ctx, index, alpha, beta, [A[0], B[0], A[1], B[1]].map(F.point));
  const cm = mod(c - cs);
  const zm = mod(w + cm * r);
  const cc = [], zz = [];
  cc[m] = cm; zz[m] = zm; cc[s] = cs; zz[s] = zs;
  return { c: cc.map(scalarHex), z: zz.map(scalarHex), a: A.map(pointHex), b: B.map(pointHex) };
}

function verifyBit(ctx, index, alpha, beta, proof) {
  const where = `item ${ctx.itemId} selection ${index}`;
  const { c, z, a, b } = readProof(proof, 2, `${where}: 0/1 proof`);
  const hashed = [a[0].bytes, b[0].bytes, a[1].bytes, b[1].bytes];
  if (mod(c[0] + c[1]) !== bitChallenge(ctx, index, alpha, beta, hashed)) {
    throw new CryptoError('proof', `${where}: 0/1 proof does not verify (c_0 + c_1 ≠ challenge)`);
  }
  for (let v = 0; v < 2; v++) {
    const failed = branchFailure(ctx.K, v, c[v], z[v], alpha, beta, a[v].P, b[v].P, BIT_NAMES);
    if (failed) throw new CryptoError('proof', `${where}: 0/1 proof does not verify (${failed})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Selection-count proof: Σ selections ∈ [lo, hi] (commitments carried)

// The statement is the item's selections (α_1, β_1, …, α_n, β_n), whose sum is (A, B) (SPEC §3.5).
function countChallenge(ctx, lo, hi, parts, commitments) {
  return challenge('gongjue/v1/count', ctx.fingerprint, ctx.voter, F.text(ctx.itemId), F.int(lo), F.int(hi),
    F.point(ctx.K), ...parts.flatMap(([alpha, beta]) => [F.point(alpha), F.point(beta)]), ...commitments);
}

/**
 * Prove the selections `parts` ([[α, β]…]) add up to (A, B), which encrypts k ∈ [lo, hi] with nonce R;
 * draws w, then (c_v, z_v) per simulated v.
 * Returns {lo, hi, c, z, a: [A'_lo…A'_hi], b: [B'_lo…B'_hi]} (the commitments it hashed).
 */
function proveCount(ctx, lo, hi, k, R, A, B, parts, rand) {
  const w = rand();
  const c = new Map(), z = new Map();
  const As = [], Bs = [];
  for (let v = lo; v <= hi; v++) {
    if (v === k) {
      As.push(mulSecret(G, w)); Bs.push(mulSecret(ctx.K, w));
      continue;
    }
    const cv = rand();
    const zv = rand();
    c.set(v, cv); z.set(v, zv);
    As.push(mulPublic(G, zv).subtract(mulPublic(A, cv)));
    Bs.push(mulPublic(ctx.K, zv).subtract(mulPublic(B.subtract(small(v)), cv)));
  }
  const hashed = [];
  for (let i = 0; i < As.length; i++) hashed.push(F.point(As[i]), F.point(Bs[i]));
  const total = countChallenge(ctx, lo, hi, parts, hashed);
  let ck = total;
  for (const cv of c.values()) ck = mod(ck - cv);
  c.set(k, ck);
  z.set(k, mod(w + ck * R));
  const cs = [], zs = [];
  for (let v = lo; v <= hi; v++) { cs.push(scalarHex(c.get(v))); zs.push(scalarHex(z.get(v))); }
  return { lo, hi, c: cs, z: zs, a: As.map(pointHex), b: Bs.map(pointHex) };
}

function verifyCount(ctx, lo, hi, A, B, parts, proof) {
  const where = `item ${ctx.itemId}`;
  if (proof === null || typeof proof !== 'object' || proof.lo !== lo || proof.hi !== hi) {
    throw new CryptoError('proof', `${where}: count proof range is not [${lo}, ${hi}]`);
  }
  const { c, z, a, b } = readProof(proof, hi - lo + 1, `${where}: count proof`, ['lo', 'hi', 'c', 'z', 'a', 'b']);
  const hashed = [];
  let sum = 0n;
  for (let i = 0; i <= hi - lo; i++) {
    sum += c[i];
    hashed.push(a[i].bytes, b[i].bytes);
  }
  if (mod(sum) !== countChallenge(ctx, lo, hi, parts, hashed)) {
    throw new CryptoError('proof', `${where}: selection-count proof does not verify (Σ c_v ≠ challenge)`);
  }
  for (let v = lo; v <= hi; v++) {
    const i = v - lo;
    const failed = branchFailure(ctx.K, v, c[i], z[i], A, B, a[i].P, b[i].P, COUNT_NAMES);
    if (failed) throw new CryptoError('proof', `${where}: selection-count proof does not verify (${failed})`);
  }
}

function exactKeys(obj, keys, what) {
  const ok = obj !== null && typeof obj === 'object' && !Array.isArray(obj) &&
    Object.keys(obj).length === keys.length && keys.every((k) => Object.hasOwn(obj, k));
  if (!ok) throw new CryptoError('structure', `${what}: expected exactly ${keys.join(', ')}`);
}

/** Re-throw a CryptoError from decoding a proof's element with its kind, naming where it is. */
function located(what, fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CryptoError) throw new CryptoError(e.kind, `${what}: ${e.message}`);
    throw e;
  }
}

/**
 * A proof's n challenges c, responses z (scalars < ℓ) and commitments a, b (valid non-identity
 * points, SPEC §3.1: kind 'point' or 'identity'); `what` names the proof in refusals.
 * Commitments come back as {P, bytes}: the point, and its received (canonical) encoding to hash.
 */
function readProof(proof, n, what, keys = ['c', 'z', 'a', 'b']) {
  try {
    exactKeys(proof, keys, what);
  } catch (e) {
    throw new CryptoError('proof', e.message);
  }
  for (const k of ['c', 'z', 'a', 'b']) {
    if (!Array.isArray(proof[k]) || proof[k].length !== n) {
      throw new CryptoError('proof', `${what}: proof must carry ${n} challenges c, ${n} responses z and ` +
        `${n} commitments each in a and b`);
    }
  }
  const scalars = (k) => proof[k].map((hex, i) => located(`${what} ${k}[${i}]`, () => decodeScalar(hex)));
  const points = (k) => proof[k].map((hex, i) => located(`${what} commitment ${k}[${i}]`, () => {
    const P = decodePoint(hex);
    return { P, bytes: fromHex(hex) };
  }));
  return { c: scalars('c'), z: scalars('z'), a: points('a'), b: points('b') };
}

// ---------------------------------------------------------------------------------------------
// Ballot items

/**
 * The shape of an agenda item as the ballot crypto sees it: {id, n, lo, hi} — n selections,
 * between lo and hi of them set (Python: voting.crypto.ballot.ItemShape).  Also accepts
 * {id, kind, …}: motion → n = 3 (agree, oppose, abstain), lo = hi = 1; choice → n = options,
 * lo = hi = 1; election → n = candidates, lo = 0, hi = seats.
 */
export function itemShape(item) {
  let shape;
  if (item.kind === 'motion') shape = { id: item.id, n: 3, lo: 1, hi: 1 };
  else if (item.kind === 'choice') shape = { id: item.id, n: item.options, lo: 1, hi: 1 };
  else if (item.kind === 'election') shape = { id: item.id, n: item.candidates, lo: 0, hi: item.seats };
  else shape = { id: item.id, n: item.n, lo: item.lo, hi: item.hi };
  const { id, n, lo, hi } = shape;
  if (typeof id !== 'string' || id === '' || !Number.isInteger(n) || !Number.isInteger(lo) || !Number.isInteger(hi) ||
      n < 1 || lo < 0 || lo > hi || hi > n) {
    throw new CryptoError('agenda', `item ${id}: need a non-empty id, n ≥ 1 and 0 ≤ lo ≤ hi ≤ n`);
  }
  return shape;
}

/** The marks for item `shape` (number n) from `choices`: an array by position or an object by id. */
function marksFor(choices, shape, n) {
  return Array.isArray(choices) ? choices[n] : choices[shape.id];
}

function checkChoiceKeys(items, choices) {
  const ok = Array.isArray(items) && choices !== null && typeof choices === 'object' && (Array.isArray(choices)
    ? choices.length === items.length
    : Object.keys(choices).length === items.length && items.every((it) => Object.hasOwn(choices, it.id)));
  if (!ok) throw new CryptoError('choice', 'choices must give the marks of every agenda item exactly once');
}

function checkChoices(shape, marks) {
  if (!Array.isArray(marks) || marks.length !== shape.n || marks.some((m) => m !== 0 && m !== 1)) {
    throw new CryptoError('choice', `item ${shape.id}: expected ${shape.n} marks of 0 or 1`);
  }
  const k = marks.reduce((a, b) => a + b, 0);
  if (k < shape.lo || k > shape.hi) {
    throw new CryptoError('count', `item ${shape.id}: ${k} marks, allowed ${shape.lo}–${shape.hi}`);
  }
  return k;
}

function asBytes(x, what) {
  const b = typeof x === 'string' ? fromHex(x) : x;
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new CryptoError('encoding', `${what} must be 32 bytes`);
  return b;
}

function jointKeyPoint(jointKey) {
  return typeof jointKey === 'string' ? decodePoint(jointKey) : jointKey;
}

// ---------------------------------------------------------------------------------------------
// Ballots: encrypt, sign, track

/**
 * Encrypt, prove and sign a secret ballot.
 *   fingerprint: round fingerprint (hex or 32 bytes); jointKey: K (hex, checked valid);
 *   items: agenda items (see itemShape); choices: per item, an array of 0/1 per selection;
 *   signingKey: the credential seed (32 bytes) or the object deriveCredential returns;
 *   rand: scalar source (default randomScalar; testDrbg(seed) for vectors).
 * Returns {signed, tracking: {full, short}, secrets: {items: [{id, selections, nonces}]}}.
 */
export function encryptBallot({ fingerprint, jointKey, items, choices, signingKey, rand = randomScalar }) {
  const fp = asBytes(fingerprint, 'round fingerprint');
  const K = jointKeyPoint(jointKey);
  const seed = signingKey && signingKey.seed ? signingKey.seed : signingKey;
  const voter = ed25519.getPublicKey(seed);
  checkChoiceKeys(items, choices);
  const bodyItems = [];
  const secretItems = [];
  items.forEach((item, n) => {
    const shape = itemShape(item);
    const marks = marksFor(choices, shape, n);
    const k = checkChoices(shape, marks);
    const ctx = { fingerprint: fp, voter, itemId: shape.id, K };
    const selections = [];
    const nonces = [];
    const parts = [];
    let A = O, B = O, R = 0n;
    marks.forEach((m, index) => {
      const r = rand();
      const { alpha, beta } = encrypt(m, r, K);
      const proof = proveBit(ctx, index, m, r, alpha, beta, rand);
      selections.push({ alpha: pointHex(alpha), beta: pointHex(beta), proof });
      nonces.push(r);
      parts.push([alpha, beta]);
      A = A.add(alpha); B = B.add(beta); R = mod(R + r);
    });
    const countProof = proveCount(ctx, shape.lo, shape.hi, k, R, A, B, parts, rand);
    bodyItems.push({ id: shape.id, selections, count_proof: countProof });
    secretItems.push({ id: shape.id, selections: marks.slice(), nonces: nonces.map(scalarHex) });
  });
  const body = { v: 1, kind: 'secret', round: toHex(fp), voter: toHex(voter), items: bodyItems };
  const signed = signBody(body, seed);
  return { signed, tracking: trackingCode(signed), secrets: { items: secretItems } };
}

/** Sign an open (named-vote) ballot: selections are plaintext 0/1 per item.  `forVoter`: the
 * pseudonym of the voter a proxy casts it for (SPEC §3.6), so that it differs from the proxy's own. */
export function signOpenBallot({ fingerprint, items, choices, signingKey, forVoter }) {
  const fp = asBytes(fingerprint, 'round fingerprint');
  const seed = signingKey && signingKey.seed ? signingKey.seed : signingKey;
  checkChoiceKeys(items, choices);
  const bodyItems = items.map((item, n) => {
    const shape = itemShape(item);
    const marks = marksFor(choices, shape, n);
    checkChoices(shape, marks);
    return { id: shape.id, selections: marks.slice() };
  });
  const body = { v: 1, kind: 'open', round: toHex(fp), voter: toHex(ed25519.getPublicKey(seed)), items: bodyItems };
  if (forVoter !== undefined && forVoter !== null && forVoter !== '') {
    if (typeof forVoter !== 'string' || !/^\S{1,64}$/u.test(forVoter)) throw new TypeError('forVoter must be a voter pseudonym');
    body.for = forVoter;
  }
  return signBody(body, seed);
}

/** The bytes a ballot signature covers: "gongjue/v1/ballot\0" ‖ JCS(body). */
export function ballotMessage(body) {
  return concat(BALLOT_PREFIX, canonicalBytes(body));
}

function signBody(body, seed) {
  return { ballot: body, sig: toHex(ed25519.sign(ballotMessage(body), seed)) };
}

/** Tracking code of a signed ballot: full = SHA-256(JCS(signed)) hex; short = "XXXX-XXXX-XXXX". */
export function trackingCode(signed) {
  const full = toHex(sha256(canonicalBytes(signed)));
  const s = full.slice(0, 12).toUpperCase();
  return { full, short: `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}` };
}

// ---------------------------------------------------------------------------------------------
// Cast-or-audit (Benaloh challenge)

/** The reveal of an audited ballot: {tracking, items: [{id, selections, nonces}]}. Never cast it. */
export function revealBallot({ signed, secrets }) {
  return {
    tracking: trackingCode(signed).full,
    items: secrets.items.map((it) => ({ id: it.id, selections: it.selections.slice(), nonces: it.nonces.slice() })),
  };
}

/**
 * Check a reveal against the signed ballot: the tracking code matches, and re-encrypting every
 * revealed mark with its nonce under K gives the ballot's (α, β).  Returns true or throws
 * CryptoError naming the first mismatch.
 */
export function checkReveal({ signed, reveal, jointKey }) {
  const K = jointKeyPoint(jointKey);
  if (!reveal || reveal.tracking !== trackingCode(signed).full) {
    throw new CryptoError('reveal', 'reveal is for another ballot (tracking code differs)');
  }
  const items = signed.ballot.items;
  if (!Array.isArray(reveal.items) || reveal.items.length !== items.length) {
    throw new CryptoError('reveal', 'reveal does not cover every item of the ballot');
  }
  items.forEach((item, n) => {
    const rv = reveal.items[n];
    if (rv.id !== item.id || !Array.isArray(rv.selections) || !Array.isArray(rv.nonces) ||
        rv.selections.length !== item.selections.length || rv.nonces.length !== item.selections.length) {
      throw new CryptoError('reveal', `reveal of item ${item.id} does not match the ballot`);
    }
    item.selections.forEach((sel, i) => {
      const m = rv.selections[i];
      if (m !== 0 && m !== 1) throw new CryptoError('reveal', `item ${item.id} selection ${i}: mark is not 0 or 1`);
      const { alpha, beta } = encrypt(m, decodeScalar(rv.nonces[i]), K);
      if (pointHex(alpha) !== sel.alpha || pointHex(beta) !== sel.beta) {
        throw new CryptoError('reveal', `item ${item.id} selection ${i}: re-encryption differs from the ballot`);
      }
    });
  });
  return true;
}

// ---------------------------------------------------------------------------------------------
// Verification (what the server and auditors also do)

/**
 * Verify a signed ballot for a round: strict JSON (when given as text), the kind pinned to the
 * round's `secrecy` ('secret' or 'open'), structure, the Ed25519 rule for body.voter and the
 * signature, every point valid and not the identity, every 0/1 proof and count proof.
 *   signed: the ballot's JSON text as received (parsed with parseStrictJson) or an object;
 *   secrecy: the round's ('secret' needs jointKey; 'open' ignores it);
 *   voterKey (hex), if given, must equal body.voter.
 * Returns true or throws CryptoError.  Python: ballot.verify_ballot_text.
 */
export function verifyBallot({ signed, secrecy, fingerprint, jointKey, items, voterKey }) {
  if (secrecy !== 'secret' && secrecy !== 'open') {
    throw new TypeError("verifyBallot: secrecy must be the round's, 'secret' or 'open'");
  }
  if (typeof signed === 'string') signed = parseStrictJson(signed);
  const fp = asBytes(fingerprint, 'round fingerprint');
  exactKeys(signed, ['ballot', 'sig'], 'signed ballot');
  if (typeof signed.sig !== 'string' || !HEX128.test(signed.sig)) {
    throw new CryptoError('signature', 'signature must be 128 lowercase hex characters');
  }
  const body = signed.ballot;
  const named = secrecy === 'open' && body && typeof body === 'object' && Object.hasOwn(body, 'for');
  exactKeys(body, named ? ['v', 'kind', 'round', 'voter', 'items', 'for'] : ['v', 'kind', 'round', 'voter', 'items'], 'ballot');
  if (named && (typeof body.for !== 'string' || !/^\S{1,64}$/u.test(body.for))) {
    throw new CryptoError('structure', 'ballot: for must be the pseudonym of the voter it is cast for');
  }
  if (body.v !== 1) throw new CryptoError('structure', 'not a version-1 ballot');
  if (body.kind !== secrecy) throw new CryptoError('kind', `ballot kind must be '${secrecy}' in a ${secrecy} round`);
  const K = secrecy === 'secret' ? jointKeyPoint(jointKey) : undefined;
  if (body.round !== toHex(fp)) throw new CryptoError('round', 'ballot is for another round');
  if (typeof body.voter !== 'string' || !HEX64.test(body.voter)) throw new CryptoError('voter', 'voter key is not 64 hex');
  if (voterKey !== undefined && body.voter !== voterKey) throw new CryptoError('voter', 'ballot is not from this voter');
  checkCredentialKey(body.voter);
  if (!verifySignature(body.voter, ballotMessage(body), signed.sig)) {
    throw new CryptoError('signature', 'ballot signature does not verify');
  }
  if (!Array.isArray(body.items) || body.items.length !== items.length) {
    throw new CryptoError('structure', 'ballot items do not match the agenda');
  }
  const voter = fromHex(body.voter);
  items.forEach((item, n) => {
    const shape = itemShape(item);
    const got = body.items[n];
    exactKeys(got, secrecy === 'open' ? ['id', 'selections'] : ['id', 'selections', 'count_proof'], `item ${n}`);
    if (got.id !== shape.id || !Array.isArray(got.selections) || got.selections.length !== shape.n) {
      throw new CryptoError('structure', `ballot item ${n} does not match agenda item ${shape.id}`);
    }
    if (secrecy === 'open') {
      checkChoices(shape, got.selections);
      return;
    }
    const ctx = { fingerprint: fp, voter, itemId: shape.id, K };
    let A = O, B = O;
    const parts = [];
    got.selections.forEach((sel, index) => {
      exactKeys(sel, ['alpha', 'beta', 'proof'], `item ${shape.id} selection ${index}`);
      const alpha = decodePoint(sel.alpha);
      const beta = decodePoint(sel.beta);
      verifyBit(ctx, index, alpha, beta, sel.proof);
      parts.push([alpha, beta]);
      A = A.add(alpha); B = B.add(beta);
    });
    verifyCount(ctx, shape.lo, shape.hi, A, B, parts, got.count_proof);
  });
  return true;
}
