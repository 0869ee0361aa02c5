"""Batch verification and the native multi-scalar multiplication (SPEC §3.1, §3.11).

The C sum (voting.crypto._msm, libdecaf) is compared with libsodium (voting.crypto.group) on random
and edge inputs, its decoding with libsodium's validity on RFC 9496's bad encodings and on random
bytes; the Batch API is run on both backends (native and the libsodium fallback).
"""

from __future__ import annotations

import os
import random

import pytest

from voting.crypto import batch, group
from voting.crypto.batch import Batch
from voting.crypto.group import IDENTITY, G, GroupError, L

# RFC 9496 Appendix A.2: encodings that must not decode.
RFC9496_BAD = [
    # non-canonical field encodings
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    # negative field elements
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
    "c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
    "47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
    "f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
    "87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
    # non-square x²
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    "bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
    "2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
    "f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
    "8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
    "2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
    # negative xy value
    "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
    "d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
    "8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
    "32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
    "227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
    "5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
    "445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
    # s = −1, which gives y = 0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]
EDGE_SCALARS = [0, 1, 2, 15, 16, 17, 2**128 - 1, 2**128, 2**252, L - 1, L, L + 1, 2**253 - 1, 2**255 + 19,
                2**256 - 1]


def test_native_is_there_when_required():
    """scripts/test.sh sets GONGJUE_REQUIRE_NATIVE=1: a missing libdecaf build fails, not skips."""
    if os.environ.get("GONGJUE_REQUIRE_NATIVE") == "1" and os.environ.get("GONGJUE_NATIVE") != "0":
        assert batch.NATIVE is True
    assert batch.NATIVE is (batch._msm is not None)


@pytest.fixture
def msm():
    if not batch.NATIVE:
        if os.environ.get("GONGJUE_REQUIRE_NATIVE") == "1" and os.environ.get("GONGJUE_NATIVE") != "0":
            pytest.fail("GONGJUE_REQUIRE_NATIVE=1 but voting.crypto._msm is not built (libdecaf-dev?)")
        pytest.skip("voting.crypto._msm is not built (or GONGJUE_NATIVE=0)")
    return batch._msm


def _sodium_sum(scalars, points) -> bytes:
    return group.add_all([group.mul(s, p) for s, p in zip(scalars, points)])


def _join(scalars, points) -> tuple[bytes, bytes]:
    return b"".join(points), b"".join(s.to_bytes(32, "little") for s in scalars)


def _points(rnd: random.Random, n: int) -> list[bytes]:
    return [group.base_mul(rnd.randrange(1, L)) for _ in range(n)]


# --- the native sum against libsodium ------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 40, 129, 1000])
def test_msm_agrees_with_libsodium(msm, n):
    """Straus (n ≤ 128) and Pippenger (n > 128, threaded from 512 terms) give libsodium's sum."""
    rnd = random.Random(f"msm-{n}")
    points = _points(rnd, n)
    scalars = [rnd.randrange(2**256) for _ in range(n)]
    expected = _sodium_sum(scalars, points)
    for threads in (1, 2, 0):
        assert msm.msm(*_join(scalars, points), threads=threads) == expected
    assert msm.check(*_join(scalars + [1], points + [group.neg(expected)])) is True
    assert msm.check(*_join(scalars + [2], points + [group.neg(expected)])) is (expected == IDENTITY)


@pytest.mark.parametrize("n", [1, 3, 200])
def test_msm_edge_scalars(msm, n):
    """0, 1, ℓ−1, ℓ, 2^255+19, 2^256−1, short (128-bit) scalars: reduced mod ℓ like libsodium."""
    rnd = random.Random(f"edge-{n}")
    for k in EDGE_SCALARS:
        points = _points(rnd, n)
        scalars = [k] * n
        assert msm.msm(*_join(scalars, points)) == _sodium_sum(scalars, points), hex(k)
    points = _points(rnd, len(EDGE_SCALARS) * n)
    scalars = EDGE_SCALARS * n
    assert msm.msm(*_join(scalars, points)) == _sodium_sum(scalars, points)
    short = [rnd.randrange(2**128) for _ in points]
    assert msm.msm(*_join(short, points)) == _sodium_sum(short, points)


def test_msm_empty_repeated_and_cancelling(msm):
    assert msm.msm(b"", b"") == IDENTITY and msm.check(b"", b"") is True
    assert msm.msm(*_join([3, 4], [G, G])) == group.base_mul(7)
    assert msm.check(*_join([5, L - 5], [G, G])) is True
    assert msm.check(*_join([0] * 300, [G] * 300)) is True
    assert msm.msm(*_join([1], [G])) == G
    for k in range(1, 17):  # decode, then encode, of small multiples (RFC 9496 A.1 lists 0..15)
        assert msm.msm(*_join([1], [group.base_mul(k)])) == group.base_mul(k)


def test_msm_refuses_malformed_arguments(msm):
    with pytest.raises(ValueError):
        msm.check(G + b"\x00", bytes(33))
    with pytest.raises(ValueError):
        msm.check(G, bytes(64))
    with pytest.raises(ValueError):
        msm.check(G, bytes(32), threads=-1)
    with pytest.raises(TypeError):
        msm.check("00" * 32, bytes(32))


# --- decoding against libsodium's validity ---------------------------------------------------------

@pytest.mark.parametrize("bad", RFC9496_BAD + ["00" * 32])
def test_decode_refuses_rfc9496_bad_encodings_and_the_identity(msm, bad):
    raw = bytes.fromhex(bad)
    assert not group.is_valid(raw)
    rnd = random.Random(bad)
    for at, n in ((0, 1), (5, 9), (600, 700)):  # Straus, and Pippenger's threaded decoding
        points = _points(rnd, n) if n < 100 else [group.base_mul(k) for k in range(1, n + 1)]
        points[at] = raw
        with pytest.raises(ValueError) as err:
            msm.check(*_join([1] * n, points))
        assert err.value.args[1] == at
    with pytest.raises(ValueError) as err:  # a zero scalar does not skip the check
        msm.check(*_join([0, 0], [G, raw]))
    assert err.value.args[1] == 1


def test_decode_agrees_with_libsodium_on_random_bytes(msm):
    """Random encodings (about 1 in 8 with an even, canonical s decodes): the same verdict each."""
    rnd = random.Random("random-encodings")
    valid = 0
    for _ in range(3000):
        raw = bytearray(rnd.randbytes(32))
        raw[0] &= 0xFE
        raw[31] &= 0x7F
        raw = bytes(raw)
        try:
            msm.check(raw, bytes(32))
            native = True
        except ValueError:
            native = False
        assert native is group.is_valid(raw), raw.hex()
        valid += native
    assert 150 < valid < 900


# --- the Batch API, on both backends --------------------------------------------------------------

@pytest.fixture(params=["native", "sodium"])
def backend(request, monkeypatch):
    if request.param == "native":
        if not batch.NATIVE:
            pytest.skip("voting.crypto._msm is not built (or GONGJUE_NATIVE=0)")
    else:
        monkeypatch.setattr(batch, "_msm", None)
        monkeypatch.setattr(batch, "NATIVE", False)
    return request.param


def _proof_equations(rnd: random.Random, count: int) -> list[list[tuple[int, bytes]]]:
    """True equations shaped like a 0/1 proof's (SPEC §3.4): A = z·G − c·α and B = z·K − c·(β − v·G),
    written as A − z·G + c·α = O and B − z·K + c·β − c·v·G = O; α, β shared by two equations."""
    K = group.base_mul(rnd.randrange(1, L))
    equations = []
    while len(equations) < count:
        r, v = rnd.randrange(1, L), rnd.randrange(2)
        alpha, beta = group.base_mul(r), group.add(group.mul(r, K), group.base_mul(v))
        z, c = rnd.randrange(L), rnd.randrange(L)
        a = group.sub(group.base_mul(z), group.mul(c, alpha))
        b = group.sub(group.mul(z, K), group.mul(c, group.sub(beta, group.base_mul(v))))
        equations.append([(1, a), (-z, G), (c, alpha)])
        equations.append([(1, b), (-z, K), (c, beta), (-c * v, G)])
    return equations[:count]


def _batch(equations) -> Batch:
    b = Batch()
    for terms in equations:
        b.equation(terms)
    return b


def test_true_equations_pass(backend):
    equations = _proof_equations(random.Random("true"), 120)
    b = _batch(equations)
    assert len(b) == 120
    assert b.check() is True
    assert b.first_failure() is None
    assert Batch().check() is True and Batch().first_failure() is None and len(Batch()) == 0


def test_one_false_equation_among_500_is_found(backend):
    rnd = random.Random("false")
    equations = _proof_equations(rnd, 501)
    s, point = equations[317][1]
    equations[317][1] = (s + 1, point)  # z off by one: B ≠ z·K − c·(β − v·G)
    b = _batch(equations)
    assert b.check() is False
    assert b.first_failure() == 317
    assert b.check() is False  # checking does not consume the batch


def test_false_equations_do_not_cancel(backend):
    """P = O and −P = O are both false; their unweighted sum is O, the weighted sum is not."""
    p = group.base_mul(12345)
    b = _batch([[(1, p)], [(-1, p)]])
    assert b.check() is False
    assert b.first_failure() == 0
    b = _batch([[(1, p), (-1, p)], [(2, G), (L - 2, G)]])  # true, and merged to zero coefficients
    assert b.check() is True and b.first_failure() is None


@pytest.mark.parametrize("bad", [RFC9496_BAD[0], RFC9496_BAD[6], RFC9496_BAD[12], RFC9496_BAD[-1], "00" * 32])
def test_an_invalid_point_raises_group_error_naming_it(backend, bad):
    raw = bytes.fromhex(bad)
    equations = _proof_equations(random.Random("invalid"), 6)
    for coefficient in (5, 0):  # a point with a zero coefficient is checked too
        b = _batch(equations + [[(coefficient, raw), (1, G), (-1, G)]] + equations[:2])
        with pytest.raises(GroupError, match=f"point {bad}: not a valid non-identity group element"):
            b.check()
        with pytest.raises(GroupError, match=bad):
            b.first_failure()
    b = _batch([[(1, G)], [(1, raw)]])  # a false equation first: the invalid point still raises
    with pytest.raises(GroupError, match=bad):
        b.first_failure()
    for wrong in (raw[:31], raw + b"\x00"):
        with pytest.raises(GroupError, match="not a valid non-identity group element"):
            _batch([[(1, wrong)]]).check()


def test_coefficients_are_integers(backend):
    b = _batch([[(1.0, G), (-1, G)]])
    with pytest.raises(TypeError):
        b.check()


def test_both_backends_give_the_same_verdicts(monkeypatch):
    rnd = random.Random("same")
    equations = _proof_equations(rnd, 40)
    verdicts = []
    for native in (True, False):
        if not native:
            monkeypatch.setattr(batch, "_msm", None)
            monkeypatch.setattr(batch, "NATIVE", False)
        row = []
        for broken in (None, 0, 39):
            eqs = [list(t) for t in equations]
            if broken is not None:
                eqs[broken][0] = (2, eqs[broken][0][1])
            b = _batch(eqs)
            row.append((b.check(), b.first_failure()))
        verdicts.append(row)
    assert verdicts[0] == verdicts[1] == [(True, None), (False, 0), (False, 39)]


def test_each_equation_is_weighted_by_16_fresh_csprng_bytes(monkeypatch):
    """ρ_k is the k-th 16 bytes drawn from os.urandom (little-endian), one draw per 256 equations."""
    draws = []

    def urandom(n):
        draws.append(bytes(random.Random(len(draws)).randbytes(n)))
        return draws[-1]

    monkeypatch.setattr(batch.os, "urandom", urandom)
    points = [group.base_mul(k) for k in range(1, 301)]
    b = _batch([[(7, p)] for p in points])
    assert [len(d) for d in draws] == [16 * 256, 16 * 256]
    stream = b"".join(draws)
    for k, p in enumerate(points):
        assert b._coefficients[p] == 7 * int.from_bytes(stream[16 * k : 16 * k + 16], "little")


def test_cancelling_false_equations_never_pass(backend):
    """P = O and −P = O pass together only if ρ_1 ≡ ρ_2: with 128-bit weights never in 2,000 fresh
    batches (with 8-bit weights ~8 times)."""
    p = group.base_mul(99)
    assert not any(_batch([[(1, p)], [(-1, p)]]).check() for _ in range(2000))


def test_weights_are_fresh_128_bit_values():
    b = Batch()
    weights = [b._weight() for _ in range(600)]  # crosses the 256-weight refill twice
    assert len(set(weights)) == 600
    assert all(0 <= w < 2**128 for w in weights)
    assert max(weights) >= 2**120  # full width (all 600 below 2^120: probability 2^-4800)
