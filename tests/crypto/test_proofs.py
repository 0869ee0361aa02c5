"""Completeness and soundness of every proof (SPEC §3.4, §3.5, §3.7, §3.8)."""

import dataclasses

import pytest

from voting.crypto import elgamal, group
from voting.crypto.chaum_pedersen import (
    BitProof, CountProof, ProofError, ShareProof, bit_challenge, count_challenge, prove_bit, prove_count, prove_share,
    verify_bit, verify_count, verify_share,
)
from voting.crypto.batch import Batch
from voting.crypto.drbg import TestDRBG
from voting.crypto.group import G, L, GroupError
from voting.crypto.schnorr import KeyProof, prove_key, verify_key

SECRET = 123456789
K = group.base_mul(SECRET)
FP = bytes(range(32))
VOTER = bytes([7]) * 32
CTX = dict(fingerprint=FP, voter=VOTER, item_id="议题-1", index=2)


def _bit(m: int, seed: bytes = b"bit"):
    rand = TestDRBG(seed)
    r = rand()
    ct = elgamal.encrypt(m, r, K)
    return ct, prove_bit(m, r, ct.alpha, ct.beta, K, rand=rand, **CTX)


@pytest.mark.parametrize("m", [0, 1])
def test_bit_proof_completeness(m):
    ct, proof = _bit(m)
    verify_bit(proof, ct.alpha, ct.beta, K, **CTX)
    assert BitProof.from_json(proof.to_json()) == proof


@pytest.mark.parametrize("m", [0, 1])
def test_bit_proof_rejects_any_changed_value(m):
    ct, proof = _bit(m)
    for field in ("c", "z"):
        for i in (0, 1):
            values = list(getattr(proof, field))
            values[i] = (values[i] + 1) % L
            bad = dataclasses.replace(proof, **{field: tuple(values)})
            with pytest.raises(ProofError, match="selection proof does not verify"):
                verify_bit(bad, ct.alpha, ct.beta, K, **CTX)
    for change in (dict(fingerprint=bytes(32)), dict(voter=bytes([8]) * 32), dict(item_id="议题-2"), dict(index=1)):
        with pytest.raises(ProofError):
            verify_bit(proof, ct.alpha, ct.beta, K, **{**CTX, **change})
    other_key = group.base_mul(SECRET + 1)
    with pytest.raises(ProofError):
        verify_bit(proof, ct.alpha, ct.beta, other_key, **CTX)
    with pytest.raises(ProofError):
        verify_bit(proof, ct.alpha, group.add(ct.beta, G), K, **CTX)


@pytest.mark.parametrize("m", [0, 1])
def test_bit_proof_rejects_changed_commitments(m):
    ct, proof = _bit(m)
    for field in ("a", "b"):
        for i in (0, 1):
            values = list(getattr(proof, field))
            values[i] = group.add(values[i], G)
            bad = dataclasses.replace(proof, **{field: tuple(values)})
            with pytest.raises(ProofError, match=r"selection proof does not verify \(c_0 \+ c_1 ≠ c\)"):
                verify_bit(bad, ct.alpha, ct.beta, K, **CTX)


@pytest.mark.parametrize("which", range(4))
def test_bit_proof_equations_are_checked_not_only_the_challenge(which):
    """Commitments moved by G with the challenges recomputed over them: c_0 + c_1 = c holds, so
    only the equations of SPEC §3.4 step 3 can refuse; the error names the first false one."""
    ct, proof = _bit(1)
    a, b = list(proof.a), list(proof.b)
    target = (a, b)[which % 2]
    target[which // 2] = group.add(target[which // 2], G)
    c = bit_challenge(FP, VOTER, CTX["item_id"], CTX["index"], K, ct.alpha, ct.beta, a[0], b[0], a[1], b[1])
    # keep c_{1−v} and absorb the change in c_v of the moved branch v: its other equation breaks too
    v = which // 2
    cs = list(proof.c)
    cs[v] = (c - cs[1 - v]) % L
    forged = dataclasses.replace(proof, c=tuple(cs), a=tuple(a), b=tuple(b))
    first = ["A_0", "A_0", "A_1", "A_1"][which]  # changing c_v breaks A_v as well, which comes first
    with pytest.raises(ProofError, match=rf"selection proof does not verify \({first} ≠"):
        verify_bit(forged, ct.alpha, ct.beta, K, **CTX)
    batch = Batch()
    verify_bit(forged, ct.alpha, ct.beta, K, **CTX, batch=batch)  # the challenge passes: deferred
    assert len(batch) == 4 and not batch.check() and batch.first_failure() == 2 * v


def test_bit_proof_deferred_into_a_batch():
    batch = Batch()
    for m, seed in [(0, b"p"), (1, b"q"), (1, b"r")]:
        ct, proof = _bit(m, seed)
        verify_bit(proof, ct.alpha, ct.beta, K, **CTX, batch=batch)
    assert len(batch) == 12 and batch.check() and batch.first_failure() is None


def test_bit_proof_cannot_prove_two():
    rand = TestDRBG(b"two")
    r = rand()
    ct = elgamal.encrypt(2, r, K)
    with pytest.raises(ValueError, match="0 or 1"):
        prove_bit(2, r, ct.alpha, ct.beta, K, rand=rand, **CTX)
    # a proof made honestly for m = 1 does not carry over to Enc(2) with the same nonce
    ct1 = elgamal.encrypt(1, r, K)
    proof = prove_bit(1, r, ct1.alpha, ct1.beta, K, rand=TestDRBG(b"x"), **CTX)
    with pytest.raises(ProofError):
        verify_bit(proof, ct.alpha, ct.beta, K, **CTX)
    # nor does lying about m in the prover (claiming m = 0 for an encryption of 1)
    forged = prove_bit(0, r, ct1.alpha, ct1.beta, K, rand=TestDRBG(b"y"), **CTX)
    with pytest.raises(ProofError):
        verify_bit(forged, ct1.alpha, ct1.beta, K, **CTX)


def test_bit_proof_rejects_invalid_points():
    ct, proof = _bit(1)
    order8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    with pytest.raises(GroupError):
        verify_bit(proof, group.add(ct.alpha, order8), ct.beta, K, **CTX)
    with pytest.raises(GroupError):
        verify_bit(proof, ct.alpha, group.IDENTITY, K, **CTX)
    # a zero challenge must not skip the point check
    zero = dataclasses.replace(proof, c=(0, proof.c[1]))
    with pytest.raises(GroupError):
        verify_bit(zero, group.add(ct.alpha, order8), ct.beta, K, **CTX)


def test_bit_proof_json_refusals():
    ct, proof = _bit(0)
    j = proof.to_json()
    with pytest.raises(ProofError, match="exactly c, z, a and b"):
        BitProof.from_json({**j, "x": 1})
    with pytest.raises(ProofError, match="exactly c, z, a and b"):
        BitProof.from_json({"c": j["c"], "z": j["z"]})  # the compact form of earlier revisions
    with pytest.raises(ProofError, match="selection proof a: not a valid group element"):
        BitProof.from_json({**j, "a": [j["a"][0], group.IDENTITY.hex()]})
    with pytest.raises(ProofError, match="selection proof b: not a valid group element"):
        BitProof.from_json({**j, "b": ["ff" * 32, j["b"][1]]})
    with pytest.raises(ProofError, match="list of 2 points"):
        BitProof.from_json({**j, "b": j["b"] * 2})
    with pytest.raises(ProofError, match="list of 2 scalars"):
        BitProof.from_json({**j, "c": j["c"][:1]})
    with pytest.raises(ProofError, match="not reduced modulo ℓ"):
        BitProof.from_json({**j, "z": [L.to_bytes(32, "little").hex(), j["z"][1]]})


def _count(k: int, lo: int, hi: int, n: int = 4):
    rand = TestDRBG(b"count")
    rs = [rand() for _ in range(n)]
    ms = [1] * k + [0] * (n - k)
    cts = [elgamal.encrypt(m, r, K) for m, r in zip(ms, rs)]
    ctx = dict(fingerprint=FP, voter=VOTER, item_id="e")
    proof = prove_count(k, sum(rs) % L, [ct.alpha for ct in cts], [ct.beta for ct in cts], K, lo=lo, hi=hi, rand=rand,
                        **ctx)
    return Parts([ct.alpha for ct in cts], [ct.beta for ct in cts]), ctx, proof


@dataclasses.dataclass
class Parts:
    """An item's selections as verify_count takes them: (α_i), (β_i)."""

    alpha: list
    beta: list


@pytest.mark.parametrize("k,lo,hi", [(0, 0, 2), (1, 0, 2), (2, 0, 2), (1, 1, 1), (3, 1, 3)])
def test_count_proof_completeness(k, lo, hi):
    agg, ctx, proof = _count(k, lo, hi)
    verify_count(proof, agg.alpha, agg.beta, K, **ctx)
    assert (proof.lo, proof.hi, len(proof.c), len(proof.z)) == (lo, hi, hi - lo + 1, hi - lo + 1)
    assert CountProof.from_json(proof.to_json()) == proof


def test_count_proof_soundness():
    agg, ctx, proof = _count(2, 0, 2)
    for i in range(3):
        cs = list(proof.c)
        cs[i] = (cs[i] + 1) % L
        with pytest.raises(ProofError, match="count proof does not verify"):
            verify_count(dataclasses.replace(proof, c=tuple(cs)), agg.alpha, agg.beta, K, **ctx)
        zs = list(proof.z)
        zs[i] = (zs[i] + 1) % L
        with pytest.raises(ProofError):
            verify_count(dataclasses.replace(proof, z=tuple(zs)), agg.alpha, agg.beta, K, **ctx)
    # the same proof does not hold for a sum encrypting 3
    with pytest.raises(ProofError):
        verify_count(proof, agg.alpha, [group.add(agg.beta[0], G), *agg.beta[1:]], K, **ctx)
    # commitments moved with the challenge recomputed: only the equations refuse
    a = list(proof.a)
    a[1] = group.add(a[1], G)
    c = count_challenge(FP, VOTER, "e", 0, 2, K, agg.alpha, agg.beta, [p for pair in zip(a, proof.b) for p in pair])
    cs = list(proof.c)
    cs[1] = (c - cs[0] - cs[2]) % L
    with pytest.raises(ProofError, match=r"count proof does not verify \(A'_1 ≠"):
        verify_count(dataclasses.replace(proof, c=tuple(cs), a=tuple(a)), agg.alpha, agg.beta, K, **ctx)
    # nor with a narrowed range
    with pytest.raises(ProofError):
        verify_count(dataclasses.replace(proof, lo=1, hi=3), agg.alpha, agg.beta, K, **ctx)
    with pytest.raises(ProofError):
        verify_count(proof, agg.alpha, agg.beta, K, **{**ctx, "voter": bytes(32)})


def test_count_prover_refuses_out_of_range():
    with pytest.raises(ValueError, match=r"number of selections 3 outside \[0, 2\]"):
        _count(3, 0, 2)


def test_count_proof_json_refusals():
    _, _, proof = _count(1, 0, 2)
    j = proof.to_json()
    with pytest.raises(ProofError, match="0 ≤ lo ≤ hi"):
        CountProof.from_json({**j, "lo": 3})
    with pytest.raises(ProofError, match="list of 3 scalars"):
        CountProof.from_json({**j, "c": j["c"][:2]})
    with pytest.raises(ProofError, match="list of 3 points"):
        CountProof.from_json({**j, "a": j["a"][:2]})
    with pytest.raises(ProofError, match="count proof b: not a valid group element"):
        CountProof.from_json({**j, "b": [group.IDENTITY.hex(), *j["b"][1:]]})
    with pytest.raises(ProofError, match="exactly lo, hi, c, z, a and b"):
        CountProof.from_json({k: j[k] for k in ("lo", "hi", "c", "z")})
    with pytest.raises(ProofError, match="0 ≤ lo ≤ hi"):
        CountProof.from_json({**j, "lo": True})


def test_share_proof_completeness_and_soundness():
    rand = TestDRBG(b"share")
    alpha = group.base_mul(rand())
    d = group.mul(SECRET, alpha)
    proof = prove_share(SECRET, 3, K, alpha, d, fingerprint=FP, rand=rand)
    verify_share(proof, 3, K, alpha, d, fingerprint=FP)
    assert ShareProof.from_json(proof.to_json()) == proof
    with pytest.raises(ProofError, match="trustee 3 does not verify"):
        verify_share(proof, 3, K, alpha, group.add(d, G), fingerprint=FP)
    with pytest.raises(ProofError):
        verify_share(proof, 4, K, alpha, d, fingerprint=FP)
    with pytest.raises(ProofError):
        verify_share(proof, 3, K, alpha, d, fingerprint=bytes(32))
    with pytest.raises(ProofError):
        verify_share(ShareProof(proof.c, (proof.z + 1) % L), 3, K, alpha, d, fingerprint=FP)
    # a wrong share with an honest-looking proof for the wrong secret
    wrong = group.mul(SECRET + 1, alpha)
    forged = prove_share(SECRET + 1, 3, K, alpha, wrong, fingerprint=FP, rand=rand)
    with pytest.raises(ProofError):
        verify_share(forged, 3, K, alpha, wrong, fingerprint=FP)


def test_share_proof_on_identity_aggregate():
    proof = prove_share(SECRET, 1, K, group.IDENTITY, group.IDENTITY, fingerprint=FP, rand=TestDRBG(b"i"))
    verify_share(proof, 1, K, group.IDENTITY, group.IDENTITY, fingerprint=FP)


def test_schnorr_completeness_and_soundness():
    proof = prove_key(SECRET, 2, K, context="gongjue.local/a/r1", rand=TestDRBG(b"k"))
    verify_key(proof, 2, K, context="gongjue.local/a/r1")
    assert KeyProof.from_json(proof.to_json()) == proof
    with pytest.raises(ProofError, match="trustee 2 does not verify"):
        verify_key(proof, 2, K, context="gongjue.local/a/r2")
    with pytest.raises(ProofError):
        verify_key(proof, 1, K, context="gongjue.local/a/r1")
    with pytest.raises(ProofError):
        verify_key(KeyProof(proof.c, proof.z + 1), 2, K, context="gongjue.local/a/r1")
    with pytest.raises(ProofError):
        verify_key(proof, 2, group.base_mul(SECRET + 1), context="gongjue.local/a/r1")
    with pytest.raises(GroupError):
        verify_key(proof, 2, group.IDENTITY, context="gongjue.local/a/r1")
