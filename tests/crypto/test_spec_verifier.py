"""An independent prover and verifier written from docs/SPEC.md §3 alone (hashlib, json, libsodium).

Every proof kind — selection (§3.4), count (§3.5), decryption share (§3.8), key possession
(§3.7) and the k-of-n dealer's proof (§3.10) — is re-implemented here from the SPEC text: its own
challenge function (§3.2), its own test DRBG (§3.9), its own group helpers on libsodium's
bindings.  Nothing here imports a challenge or proof function of ``voting.crypto``; the
production code is only called to be compared.

Known-answer vectors are produced by this spec prover (fixed inputs, the §3.9 DRBG) and checked
three ways: the production prover must output exactly the same proof bytes, the production
verifier must accept them, and this verifier must accept the production proofs.  A field added
to, dropped from or reordered in any production challenge therefore fails here even though the
production prover and verifier, sharing one challenge function, still agree with each other.
The digest of all the KATs is pinned, so a change of this file's own reading of the SPEC shows
too.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import sys

import nacl.signing
import pytest
import rbcl  # noqa: F401  (libsodium with the ristretto255 functions)

L = 2**252 + 27742317777372353535851937790883648493
O = bytes(32)  # the ristretto255 identity (SPEC §3.1)
_na = sys.modules["rbcl._sodium"]._sodium


def _call(f, *args) -> bytes:
    out = ctypes.create_string_buffer(32)
    assert f(out, *args) == 0
    return out.raw


# --- SPEC §3.2, §3.9, §3.1 -------------------------------------------------------------------


def enc(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def challenge(tag: str, *fields) -> int:
    """int_le(SHA-512(enc(tag) ‖ enc(f1) ‖ …)) mod ℓ; text UTF-8, integers 4-byte big-endian, bytes raw."""
    raw = enc(tag.encode())
    for f in fields:
        raw += enc(f.encode() if isinstance(f, str) else f.to_bytes(4, "big") if isinstance(f, int) else f)
    return int.from_bytes(hashlib.sha512(raw).digest(), "little") % L


class Drbg:
    """scalar_i = int_le(SHA-512("gongjue/v1/test-drbg" ‖ seed ‖ i as 4-byte big-endian)) mod ℓ."""

    def __init__(self, seed: bytes) -> None:
        self.seed, self.i = seed, 0

    def __call__(self) -> int:
        d = hashlib.sha512(b"gongjue/v1/test-drbg" + self.seed + self.i.to_bytes(4, "big")).digest()
        self.i += 1
        return int.from_bytes(d, "little") % L


def gmul(k: int) -> bytes:
    k %= L
    return O if k == 0 else _call(_na.crypto_scalarmult_ristretto255_base, k.to_bytes(32, "little"))


def mul(k: int, p: bytes) -> bytes:
    k %= L
    return O if k == 0 or p == O else _call(_na.crypto_scalarmult_ristretto255, k.to_bytes(32, "little"), p)


def add(p: bytes, q: bytes) -> bytes:
    return _call(_na.crypto_core_ristretto255_add, p, q)


def sub(p: bytes, q: bytes) -> bytes:
    return _call(_na.crypto_core_ristretto255_sub, p, q)


def lin(z: int, base: bytes, c: int, p: bytes) -> bytes:
    """z·base − c·P."""
    return sub(mul(z, base), mul(c, p))


def scal(h: str) -> int:
    v = int.from_bytes(bytes.fromhex(h), "little")
    assert len(h) == 64 and v < L
    return v


def sh(k: int) -> str:
    return (k % L).to_bytes(32, "little").hex()


G = gmul(1)


# --- §3.4 selection proof ------------------------------------------------------------------


def bit_commitments(k, alpha, beta, c, z):
    out = []
    for v in (0, 1):
        out += [lin(z[v], G, c[v], alpha), lin(z[v], k, c[v], sub(beta, gmul(v)))]
    return out


def points(hexes) -> list[bytes] | None:
    """Carried commitments: valid non-identity points (§3.1), else None."""
    out = [bytes.fromhex(h) for h in hexes]
    return out if all(p != O and _na.crypto_core_ristretto255_is_valid_point(p) == 1 for p in out) else None


def spec_verify_bit(proof, fp, voter, item_id, index, k, alpha, beta) -> bool:
    c, z = [scal(x) for x in proof["c"]], [scal(x) for x in proof["z"]]
    a, b = points(proof["a"]), points(proof["b"])
    if a is None or b is None:
        return False
    if (c[0] + c[1]) % L != challenge("gongjue/v1/bit", fp, voter, item_id, index, k, alpha, beta,
                                      a[0], b[0], a[1], b[1]):
        return False
    return bit_commitments(k, alpha, beta, c, z) == [a[0], b[0], a[1], b[1]]  # step 3's equations


def spec_prove_bit(m, r, fp, voter, item_id, index, k, rand) -> tuple[dict, bytes, bytes]:
    """(proof, α, β) for Enc_K(m; r): draw w, then c_{1−m}, then z_{1−m}."""
    alpha, beta = gmul(r), add(gmul(m), mul(r, k))
    w, c_sim, z_sim = rand(), rand(), rand()
    a, b = [None, None], [None, None]
    a[m], b[m] = gmul(w), mul(w, k)
    s = 1 - m
    a[s], b[s] = lin(z_sim, G, c_sim, alpha), lin(z_sim, k, c_sim, sub(beta, gmul(s)))
    c = challenge("gongjue/v1/bit", fp, voter, item_id, index, k, alpha, beta, a[0], b[0], a[1], b[1])
    cs, zs = [0, 0], [0, 0]
    cs[s], zs[s] = c_sim, z_sim
    cs[m] = (c - c_sim) % L
    zs[m] = (w + cs[m] * r) % L
    return {"c": [sh(x) for x in cs], "z": [sh(x) for x in zs], "a": [a[0].hex(), a[1].hex()],
            "b": [b[0].hex(), b[1].hex()]}, alpha, beta


# --- §3.5 count proof ----------------------------------------------------------------------


def sums(parts) -> tuple[bytes, bytes]:
    a = b = O
    for alpha, beta in parts:
        a, b = add(a, alpha), add(b, beta)
    return a, b


def spec_verify_count(proof, fp, voter, item_id, k, parts) -> bool:
    """parts: the item's selections [(α_i, β_i)]; the proof is about their sum (A, B)."""
    a, b = sums(parts)
    lo, hi = proof["lo"], proof["hi"]
    cs, zs = [scal(x) for x in proof["c"]], [scal(x) for x in proof["z"]]
    ca, cb = points(proof["a"]), points(proof["b"])
    if ca is None or cb is None:
        return False
    carried = [p for pair in zip(ca, cb) for p in pair]
    if sum(cs) % L != challenge("gongjue/v1/count", fp, voter, item_id, lo, hi, k, *(p for ab in parts for p in ab),
                                *carried):
        return False
    commit = []
    for i, v in enumerate(range(lo, hi + 1)):
        commit += [lin(zs[i], G, cs[i], a), lin(zs[i], k, cs[i], sub(b, gmul(v)))]
    return commit == carried


def kat_parts(v) -> list[tuple[bytes, bytes]]:
    """A count KAT's selections (α_i, β_i) = (r_i·G, m_i·G + r_i·K), from its marks and nonces."""
    return [(gmul(scal(r)), add(gmul(m), mul(scal(r), K))) for m, r in zip(v["marks"], v["rs"])]


def spec_prove_count(count, big_r, lo, hi, fp, voter, item_id, k, parts, rand) -> dict:
    """Draw w (real branch), then c_v, z_v for each simulated v ≠ count in increasing order."""
    a, b = sums(parts)
    w = rand()
    sims = {}
    for v in range(lo, hi + 1):
        if v != count:
            c_v = rand()
            sims[v] = (c_v, rand())
    commit = []
    for v in range(lo, hi + 1):
        if v == count:
            commit += [gmul(w), mul(w, k)]
        else:
            c_v, z_v = sims[v]
            commit += [lin(z_v, G, c_v, a), lin(z_v, k, c_v, sub(b, gmul(v)))]
    c = challenge("gongjue/v1/count", fp, voter, item_id, lo, hi, k, *(p for ab in parts for p in ab), *commit)
    c_real = (c - sum(cv for cv, _ in sims.values())) % L
    cs = [c_real if v == count else sims[v][0] for v in range(lo, hi + 1)]
    zs = [(w + c_real * big_r) % L if v == count else sims[v][1] for v in range(lo, hi + 1)]
    return {"lo": lo, "hi": hi, "c": [sh(x) for x in cs], "z": [sh(x) for x in zs],
            "a": [p.hex() for p in commit[0::2]], "b": [p.hex() for p in commit[1::2]]}


# --- §3.8 decryption share, §3.7 key possession, §3.10 dealer ------------------------------


def spec_verify_share(proof, fp, j, key, alpha, d) -> bool:
    c, z = scal(proof["c"]), scal(proof["z"])
    a, b = lin(z, G, c, key), lin(z, alpha, c, d)
    return c == challenge("gongjue/v1/share", fp, j, key, alpha, d, a, b)


def spec_prove_share(secret, j, alpha, fp, rand) -> tuple[bytes, dict]:
    key, d = gmul(secret), mul(secret, alpha)
    w = rand()
    c = challenge("gongjue/v1/share", fp, j, key, alpha, d, gmul(w), mul(w, alpha))
    return d, {"c": sh(c), "z": sh(w + c * secret)}


def spec_verify_key(proof, context, j, key) -> bool:
    c, z = scal(proof["c"]), scal(proof["z"])
    return c == challenge("gongjue/v1/key", context, j, key, lin(z, G, c, key))


def spec_prove_key(secret, j, context, rand) -> dict:
    key, w = gmul(secret), rand()
    c = challenge("gongjue/v1/key", context, j, key, gmul(w))
    return {"c": sh(c), "z": sh(w + c * secret)}


def spec_verify_dealer(proof, context, i, signing_key, transport, c0) -> bool:
    c, z = scal(proof["c"]), scal(proof["z"])
    return c == challenge("gongjue/v1/dkg-dealer", context, i, signing_key, transport, c0, lin(z, G, c, c0))


def spec_prove_dealer(a0, i, context, signing_key, transport, rand) -> dict:
    c0, w = gmul(a0), rand()
    c = challenge("gongjue/v1/dkg-dealer", context, i, signing_key, transport, c0, gmul(w))
    return {"c": sh(c), "z": sh(w + c * a0)}


# --- known-answer vectors from the spec implementation --------------------------------------

FP = hashlib.sha256(b"gongjue spec KAT round").digest()
VOTER = bytes(nacl.signing.SigningKey(bytes(range(40, 72))).verify_key)
K = gmul(0x1234_5678_9ABC_DEF0_1122_3344)
CONTEXT = "gongjue.local/maple-court/2026-春"
SIGNING = bytes(nacl.signing.SigningKey(bytes([5]) * 32).verify_key)
TRANSPORT = bytes(range(100, 132))


def kats() -> dict:
    """Proofs of every kind for fixed inputs, made by the spec prover with the spec DRBG."""
    out: dict = {"bit": [], "count": [], "share": [], "key": [], "dealer": []}
    for item_id, index, m in (("动议-1", 0, 0), ("动议-1", 1, 1), ("", 4, 1), ("选举", 65535, 0)):
        rand = Drbg(f"bit/{item_id}/{index}".encode())
        r = rand()
        proof, alpha, beta = spec_prove_bit(m, r, FP, VOTER, item_id, index, K, rand)
        out["bit"].append({"item": item_id, "index": index, "m": m, "r": sh(r), "seed": f"bit/{item_id}/{index}",
                           "alpha": alpha.hex(), "beta": beta.hex(), "proof": proof})
    for item_id, marks, lo, hi in (("m", [0, 1, 0], 1, 1), ("e", [1, 0, 1, 0], 0, 2), ("e", [0, 0, 0, 0], 0, 3),
                                   ("c", [1, 1, 1], 2, 3)):
        seed = f"count/{item_id}/{marks}".encode()
        rand = Drbg(seed)
        rs = [rand() for _ in marks]
        parts = [(gmul(r), add(gmul(m), mul(r, K))) for m, r in zip(marks, rs)]
        a, b = sums(parts)
        proof = spec_prove_count(sum(marks), sum(rs) % L, lo, hi, FP, VOTER, item_id, K, parts, rand)
        out["count"].append({"item": item_id, "marks": marks, "seed": seed.decode(), "rs": [sh(r) for r in rs],
                             "a": a.hex(), "b": b.hex(), "proof": proof})
    for j, alpha_k in ((1, 7), (2, 0xDEADBEEF), (65535, L - 1)):
        secret = Drbg(f"share-secret/{j}".encode())()
        alpha = gmul(alpha_k)
        d, proof = spec_prove_share(secret, j, alpha, FP, Drbg(f"share/{j}".encode()))
        out["share"].append({"j": j, "secret": sh(secret), "alpha": alpha.hex(), "d": d.hex(), "proof": proof,
                             "seed": f"share/{j}"})
    for j in (1, 2, 300):
        rand = Drbg(f"key/{j}".encode())
        secret = rand()
        out["key"].append({"j": j, "secret": sh(secret), "key": gmul(secret).hex(),
                           "proof": spec_prove_key(secret, j, CONTEXT, rand), "seed": f"key/{j}"})
    for i in (1, 3):
        rand = Drbg(f"dealer/{i}".encode())
        coefficients = [rand() for _ in range(2)]
        out["dealer"].append({"i": i, "coefficients": [sh(a) for a in coefficients], "seed": f"dealer/{i}",
                              "commitments": [gmul(a).hex() for a in coefficients],
                              "proof": spec_prove_dealer(coefficients[0], i, CONTEXT, SIGNING, TRANSPORT, rand)})
    return out


PINNED = "5bb4b236c195eb35dee52539546e7e8b1ecd9a0db45ba297252f7099aba57e2d"
"""SHA-256 of the KATs' JSON (sorted keys): pinned when the spec implementation was written."""


@pytest.fixture(scope="module")
def vectors() -> dict:
    return kats()


def test_kat_digest_is_pinned(vectors):
    """The spec implementation's own output is fixed: a change in its reading of the SPEC shows here."""
    digest = hashlib.sha256(json.dumps(vectors, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    assert digest == PINNED


def test_spec_verifier_accepts_its_own_kats(vectors):
    for v in vectors["bit"]:
        assert spec_verify_bit(v["proof"], FP, VOTER, v["item"], v["index"], K, bytes.fromhex(v["alpha"]),
                               bytes.fromhex(v["beta"]))
    for v in vectors["count"]:
        assert spec_verify_count(v["proof"], FP, VOTER, v["item"], K, kat_parts(v))
    for v in vectors["share"]:
        assert spec_verify_share(v["proof"], FP, v["j"], gmul(scal(v["secret"])), bytes.fromhex(v["alpha"]),
                                 bytes.fromhex(v["d"]))
    for v in vectors["key"]:
        assert spec_verify_key(v["proof"], CONTEXT, v["j"], bytes.fromhex(v["key"]))
    for v in vectors["dealer"]:
        assert spec_verify_dealer(v["proof"], CONTEXT, v["i"], SIGNING, TRANSPORT, bytes.fromhex(v["commitments"][0]))


# --- the production code against the KATs ---------------------------------------------------


def _prod_rand(seed: str, skip: int = 0):
    from voting.crypto.drbg import TestDRBG
    rand = TestDRBG(seed.encode())
    for _ in range(skip):
        rand()
    return rand


def test_selection_proofs_match_production(vectors):
    from voting.crypto import chaum_pedersen as cp
    for v in vectors["bit"]:
        alpha, beta = bytes.fromhex(v["alpha"]), bytes.fromhex(v["beta"])
        proof = cp.prove_bit(v["m"], scal(v["r"]), alpha, beta, K, fingerprint=FP, voter=VOTER, item_id=v["item"],
                             index=v["index"], rand=_prod_rand(v["seed"], skip=1))
        assert proof.to_json() == v["proof"], v["item"]
        cp.verify_bit(cp.BitProof.from_json(v["proof"]), alpha, beta, K, fingerprint=FP, voter=VOTER,
                      item_id=v["item"], index=v["index"])
        with pytest.raises(cp.ProofError):
            cp.verify_bit(cp.BitProof.from_json(v["proof"]), alpha, beta, K, fingerprint=FP, voter=VOTER,
                          item_id=v["item"], index=v["index"] + 1)


def test_count_proofs_match_production(vectors):
    from voting.crypto import chaum_pedersen as cp
    for v in vectors["count"]:
        alphas, betas = (list(x) for x in zip(*kat_parts(v)))
        assert sums(kat_parts(v)) == (bytes.fromhex(v["a"]), bytes.fromhex(v["b"]))
        lo, hi = v["proof"]["lo"], v["proof"]["hi"]
        proof = cp.prove_count(sum(v["marks"]), sum(scal(r) for r in v["rs"]) % L, alphas, betas, K, lo=lo, hi=hi,
                               fingerprint=FP, voter=VOTER, item_id=v["item"],
                               rand=_prod_rand(v["seed"], skip=len(v["marks"])))
        assert proof.to_json() == v["proof"], v["item"]
        cp.verify_count(cp.CountProof.from_json(v["proof"]), alphas, betas, K, fingerprint=FP, voter=VOTER,
                        item_id=v["item"])
        with pytest.raises(cp.ProofError):  # the statement is the selections, in order
            cp.verify_count(cp.CountProof.from_json(v["proof"]), alphas[::-1], betas[::-1], K, fingerprint=FP,
                            voter=VOTER, item_id=v["item"])


def test_share_proofs_match_production(vectors):
    from voting.crypto import chaum_pedersen as cp
    for v in vectors["share"]:
        secret, alpha, d = scal(v["secret"]), bytes.fromhex(v["alpha"]), bytes.fromhex(v["d"])
        key = gmul(secret)
        proof = cp.prove_share(secret, v["j"], key, alpha, d, fingerprint=FP, rand=_prod_rand(v["seed"]))
        assert proof.to_json() == v["proof"], v["j"]
        cp.verify_share(cp.ShareProof.from_json(v["proof"]), v["j"], key, alpha, d, fingerprint=FP)


def test_key_proofs_match_production(vectors):
    from voting.crypto import schnorr, trustee
    for v in vectors["key"]:
        secret = scal(v["secret"])
        public = trustee.public_key_json(secret, v["j"], context=CONTEXT, rand=_prod_rand(v["seed"], skip=1))
        assert (public["key"], public["proof"]) == (v["key"], v["proof"])
        schnorr.verify_key(schnorr.KeyProof.from_json(v["proof"]), v["j"], bytes.fromhex(v["key"]), context=CONTEXT)
        trustee.verify_public_key(public, context=CONTEXT)


def test_dealer_proofs_match_production(vectors):
    from voting.crypto import dkg
    for v in vectors["dealer"]:
        poly = dkg.Polynomial(tuple(scal(a) for a in v["coefficients"]))
        pub = dkg.commitments_json(poly, v["i"], context=CONTEXT, signing_key=SIGNING, transport=TRANSPORT,
                                   rand=_prod_rand(v["seed"], skip=2))
        assert (pub["commitments"], pub["proof"]) == (v["commitments"], v["proof"])
        dkg.verify_commitments(pub, context=CONTEXT, threshold=2, trustees=3)


# --- production output checked by the spec verifier -----------------------------------------


def spec_verify_ballot(signed: dict, fp: bytes, k: bytes, shapes: list[tuple[str, int, int, int]]) -> str:
    """A whole secret ballot by §3.6 (signature, every selection and count proof); its tracking code."""
    body = signed["ballot"]
    jcs = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    nacl.signing.VerifyKey(bytes.fromhex(body["voter"])).verify(b"gongjue/v1/ballot\x00" + jcs,
                                                               bytes.fromhex(signed["sig"]))
    assert body["v"] == 1 and body["kind"] == "secret" and body["round"] == fp.hex()
    voter = bytes.fromhex(body["voter"])
    for (item_id, n, lo, hi), item in zip(shapes, body["items"], strict=True):
        assert item["id"] == item_id and len(item["selections"]) == n
        parts = []
        for index, sel in enumerate(item["selections"]):
            alpha, beta = bytes.fromhex(sel["alpha"]), bytes.fromhex(sel["beta"])
            assert O not in (alpha, beta) and _na.crypto_core_ristretto255_is_valid_point(alpha) == 1 \
                and _na.crypto_core_ristretto255_is_valid_point(beta) == 1
            assert spec_verify_bit(sel["proof"], fp, voter, item_id, index, k, alpha, beta)
            parts.append((alpha, beta))
        assert (item["count_proof"]["lo"], item["count_proof"]["hi"]) == (lo, hi)
        assert spec_verify_count(item["count_proof"], fp, voter, item_id, k, parts)
    full = hashlib.sha256(json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return full.hexdigest()


def test_spec_verifier_accepts_what_the_implementation_makes():
    from voting.crypto import ballot as impl
    k = gmul(424242)
    fp = hashlib.sha256(b"round").digest()
    shapes = [("动议", 3, 1, 1), ("election", 4, 0, 3)]
    items = [impl.ItemShape(*s) for s in shapes]
    key = nacl.signing.SigningKey(bytes(range(32)))
    for choices in ({"动议": [0, 0, 1], "election": [0, 0, 0, 0]}, {"动议": [1, 0, 0], "election": [1, 1, 0, 1]}):
        signed, _ = impl.encrypt_ballot(fingerprint=fp, joint_key=k, items=items, choices=choices, signing_key=key)
        assert spec_verify_ballot(signed, fp, k, shapes) == impl.verify_ballot(
            signed, fingerprint=fp, joint_key=k, items=items).tracking


def test_spec_verifier_accepts_production_decryption_shares():
    """trustee.compute_shares over a real tally: every share proof verifies by §3.8 and D_j = s_j·α."""
    from voting.crypto import ballot as impl, tally, trustee
    secrets = [Drbg(b"trustees")(), Drbg(b"trustees-2")()]
    k = add(gmul(secrets[0]), gmul(secrets[1]))
    fp = hashlib.sha256(b"share round").digest()
    items = [impl.ItemShape("m", 3, 1, 1)]
    verified = []
    for n, (marks, w) in enumerate((([1, 0, 0], 8850), ([0, 0, 1], 12000))):
        signed, _ = impl.encrypt_ballot(fingerprint=fp, joint_key=k, items=items, choices={"m": marks},
                                        signing_key=nacl.signing.SigningKey(bytes([n + 1]) * 32))
        verified.append((impl.verify_ballot(signed, fingerprint=fp, joint_key=k, items=items), w))
    agg = tally.tally_secret(verified, fingerprint=fp, items=items)
    for j, s in enumerate(secrets, 1):
        shares = trustee.compute_shares(s, j, agg)
        assert shares["key"] == gmul(s).hex()
        for item, obj in zip(agg.items, shares["items"]):
            for cts, part in ((item.heads, obj["heads"]), (item.area, obj["area"])):
                for ct, share in zip(cts, part, strict=True):
                    d = bytes.fromhex(share["d"])
                    assert d == mul(s, ct.alpha)
                    assert spec_verify_share(share["proof"], fp, j, gmul(s), ct.alpha, d)
                    assert not spec_verify_share(share["proof"], fp, j + 1, gmul(s), ct.alpha, d)


def test_spec_verifier_accepts_the_shared_ballot_vectors():
    """tests/vectors/crypto/ballots.json (what the browser module must reproduce) verifies by the SPEC alone."""
    from pathlib import Path
    doc = json.loads((Path(__file__).resolve().parents[1] / "vectors/crypto/ballots.json").read_text("utf-8"))
    for v in doc["secret"]:
        shapes = [(i["id"], i["n"], i["lo"], i["hi"]) for i in v["items"]]
        assert spec_verify_ballot(v["signed"], bytes.fromhex(v["fingerprint"]), bytes.fromhex(v["joint_key"]),
                                  shapes) == v["tracking"]["full"]
    for r in doc["fingerprints"]:
        body = {"v": 1, "origin": r["origin"], "round": r["round_id"], "secrecy": r["secrecy"], "agenda": r["agenda"],
                "rules": r["rules"], "roll": r["roll"], "joint_key": r["joint_key"]}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert hashlib.sha256(text).hexdigest() == r["fingerprint"]

