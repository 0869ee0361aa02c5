"""Homomorphic heads and weighted tallies, decryption, k-of-n (SPEC §3.8, §3.10)."""

import random

import nacl.bindings
import nacl.public
import nacl.signing
import pytest
from hypothesis import given, settings, strategies as st

from voting.crypto import ballot, dkg, dlog, elgamal, group, tally, trustee
from voting.crypto.ballot import ItemShape
from voting.crypto.drbg import TestDRBG
from voting.crypto.group import L

FP = bytes([9]) * 32
CTX = "gongjue.local/maple-court/round-1"
ITEMS = [ItemShape("m", 3, 1, 1), ItemShape("e", 3, 0, 2)]


def _trustees(n=3, seed=b"t"):
    rand = TestDRBG(seed)
    keys = [trustee.generate_key(j, context=CTX, rand=rand) for j in range(1, n + 1)]
    return [s for s, _ in keys], trustee.trustee_set([trustee.verify_public_key(p, context=CTX) for _, p in keys])


def _round(rng: random.Random, joint_key, n_ballots: int):
    """Cast and verify random ballots; return (verified with weights, expected heads, expected area)."""
    heads = [[0] * it.n for it in ITEMS]
    area = [[0] * it.n for it in ITEMS]
    out = []
    for v in range(n_ballots):
        key = nacl.signing.SigningKey(rng.randbytes(32))
        choices = {}
        for k, it in enumerate(ITEMS):
            ms = [0] * it.n
            for i in rng.sample(range(it.n), rng.randint(it.lo, it.hi)):
                ms[i] = 1
            choices[it.id] = ms
        w = rng.choice([0, 1, 6543, 12000, 12000, 999_999, rng.randrange(1, 2**20)])
        signed, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=joint_key, items=ITEMS, choices=choices,
                                          signing_key=key, rand=TestDRBG(rng.randbytes(8)))
        out.append((ballot.verify_ballot(signed, fingerprint=FP, joint_key=joint_key, items=ITEMS), w))
        for k, it in enumerate(ITEMS):
            for i, m in enumerate(choices[it.id]):
                heads[k][i] += m
                area[k][i] += m * w
    return out, heads, area


def _decrypt(agg, secrets, ts, present=None):
    present = present or list(range(1, len(secrets) + 1))
    shares = [trustee.verify_shares(trustee.compute_shares(secrets[j - 1], j, agg, rand=TestDRBG(bytes([j]))),
                                    aggregates=agg, trustees=ts) for j in present]
    return trustee.combine(agg, shares, trustees=ts)


@settings(max_examples=4, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=12))
def test_random_weighted_rounds_match_plaintext_sums(seed, n_ballots):
    rng = random.Random(seed)
    secrets, ts = _trustees()
    verified, heads, area = _round(rng, ts.joint_key, n_ballots)
    agg = tally.tally_secret(verified, fingerprint=FP, items=ITEMS)
    agg = tally.Aggregates.from_json(agg.to_json())
    assert agg.ballots == n_ballots and agg.total_weight == sum(w for _, w in verified)
    result = _decrypt(agg, secrets, ts)
    assert [list(r.heads) for r in result] == heads
    assert [list(r.area) for r in result] == area


def test_parallel_tally_equals_serial():
    rng = random.Random(3)
    _, ts = _trustees()
    verified, _, _ = _round(rng, ts.joint_key, 210)
    assert (tally.tally_secret(verified, fingerprint=FP, items=ITEMS, workers=2)
            == tally.tally_secret(verified, fingerprint=FP, items=ITEMS))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**40), min_size=0, max_size=40))
def test_weighted_sum_equals_naive(weights):
    points = [group.base_mul(i + 2) for i in range(len(weights))]
    plan = tally.plan_weights(weights)
    expected = group.base_mul(sum(w * (i + 2) for i, w in enumerate(weights)))
    plain = group.base_mul(sum(i + 2 for i in range(len(weights))))
    assert tally.weighted_sum(plan, points) == (expected, plain)


def test_zero_tally_is_the_identity_and_decrypts_to_zero():
    secrets, ts = _trustees()
    agg = tally.tally_secret([], fingerprint=FP, items=ITEMS)
    assert all(c == elgamal.ZERO for it in agg.items for c in it.heads + it.area)
    result = _decrypt(agg, secrets, ts)
    assert [r.heads for r in result] == [(0, 0, 0), (0, 0, 0)]
    assert [r.area for r in result] == [(0, 0, 0), (0, 0, 0)]


def test_tally_refuses_unverified_and_duplicates():
    rng = random.Random(4)
    _, ts = _trustees()
    verified, _, _ = _round(rng, ts.joint_key, 2)
    with pytest.raises(tally.TallyError, match="only VerifiedBallot objects can be tallied"):
        tally.tally_secret([({"ballot": {}}, 1)], fingerprint=FP, items=ITEMS)
    with pytest.raises(tally.TallyError, match="two ballots from voter"):
        tally.tally_secret([verified[0], verified[0]], fingerprint=FP, items=ITEMS)
    with pytest.raises(tally.TallyError, match="another round or agenda"):
        tally.tally_secret(verified, fingerprint=bytes(32), items=ITEMS)
    with pytest.raises(tally.TallyError, match="non-negative integers"):
        tally.tally_secret([(verified[0][0], 1.5)], fingerprint=FP, items=ITEMS)


def test_open_tally():
    keys = [nacl.signing.SigningKey(bytes([i]) * 32) for i in range(1, 4)]
    choices = [{"m": [1, 0, 0], "e": [1, 1, 0]}, {"m": [0, 1, 0], "e": [0, 0, 0]}, {"m": [1, 0, 0], "e": [0, 1, 0]}]
    vs = [(ballot.verify_open_ballot(ballot.make_open_ballot(fingerprint=FP, items=ITEMS, choices=c, signing_key=k),
                                     fingerprint=FP, items=ITEMS), w) for k, c, w in zip(keys, choices, [100, 250, 7])]
    counts = tally.tally_open(vs, fingerprint=FP, items=ITEMS)
    assert counts[0] == tally.ItemCount("m", (2, 1, 0), (107, 250, 0))
    assert counts[1] == tally.ItemCount("e", (1, 2, 0), (100, 107, 0))


def test_n_of_n_refuses_missing_trustee_and_bad_shares():
    secrets, ts = _trustees()
    verified, _, _ = _round(random.Random(5), ts.joint_key, 3)
    agg = tally.tally_secret(verified, fingerprint=FP, items=ITEMS)
    shares = [trustee.verify_shares(trustee.compute_shares(s, j, agg), aggregates=agg, trustees=ts)
              for j, s in zip((1, 2), secrets)]
    with pytest.raises(trustee.TrusteeError, match=r"needs every trustee; missing \[3\]"):
        trustee.combine(agg, shares, trustees=ts)
    bad = trustee.compute_shares(secrets[2], 3, agg)
    bad["items"][1]["area"][2]["d"] = group.add(bytes.fromhex(bad["items"][1]["area"][2]["d"]), group.G).hex()
    with pytest.raises(trustee.TrusteeError, match=r"shares of trustee 3, item 'e' area 2: .*trustee 3 does not verify"):
        trustee.verify_shares(bad, aggregates=agg, trustees=ts)
    wrong_secret = trustee.compute_shares(secrets[0], 3, agg)
    with pytest.raises(trustee.TrusteeError, match="key is not the trustee's registered key"):
        trustee.verify_shares(wrong_secret, aggregates=agg, trustees=ts)
    with pytest.raises(trustee.TrusteeError, match="only verified shares"):
        trustee.combine(agg, [trustee.compute_shares(s, j, agg) for j, s in enumerate(secrets, 1)], trustees=ts)


def test_trustee_key_refusals():
    _, pub = trustee.generate_key(1, context=CTX)
    with pytest.raises(trustee.TrusteeError, match="made for ceremony"):
        trustee.verify_public_key(pub, context="elsewhere")
    with pytest.raises(trustee.TrusteeError, match="expected trustee 2, got 1"):
        trustee.verify_public_key(pub, context=CTX, trustee=2)
    other = trustee.generate_key(1, context=CTX)[1]
    with pytest.raises(trustee.TrusteeError, match="key possession proof of trustee 1 does not verify"):
        trustee.verify_public_key({**pub, "proof": other["proof"]}, context=CTX)
    with pytest.raises(trustee.TrusteeError, match="not a valid group element"):
        trustee.verify_public_key({**pub, "key": group.IDENTITY.hex()}, context=CTX)
    v = trustee.verify_public_key(pub, context=CTX)
    with pytest.raises(trustee.TrusteeError, match="two keys for trustee 1"):
        trustee.trustee_set([v, v])


def _signing(i):
    return nacl.signing.SigningKey(bytes([i]) * 32)


def _transport(i):
    return nacl.public.PrivateKey(bytes([100 + i]) * 32)


def _commitments(poly, i, rand=None):
    return dkg.commitments_json(poly, i, context=CTX, signing_key=_signing(i).verify_key,
                                transport=_transport(i).public_key, rand=rand)


def _dkg(n, k, seed=b"dkg"):
    rand = TestDRBG(seed)
    polys = [dkg.new_polynomial(k, rand=rand) for _ in range(n)]
    dealers = [dkg.verify_commitments(_commitments(p, i, rand), context=CTX, threshold=k, trustees=n)
               for i, p in enumerate(polys, 1)]
    secrets = [dkg.combine_secret(j, {i: p.at(j) for i, p in enumerate(polys, 1)}, dealers) for j in range(1, n + 1)]
    return polys, dealers, secrets, dkg.trustee_set(dealers, trustees=n)


def test_k_of_n_decrypts_with_any_k_trustees():
    polys, dealers, secrets, ts = _dkg(5, 3)
    assert ts.joint_key == group.base_mul(sum(p.coefficients[0] for p in polys))
    assert all(ts.keys[j] == group.base_mul(secrets[j - 1]) for j in range(1, 6))
    verified, heads, area = _round(random.Random(6), ts.joint_key, 6)
    agg = tally.tally_secret(verified, fingerprint=FP, items=ITEMS)
    for present in ([1, 2, 3], [2, 4, 5], [1, 3, 4, 5], [1, 2, 3, 4, 5]):
        result = _decrypt(agg, secrets, ts, present)
        assert [list(r.heads) for r in result] == heads and [list(r.area) for r in result] == area
    with pytest.raises(trustee.TrusteeError, match="2 trustees present, 3 needed"):
        _decrypt(agg, secrets, ts, [1, 5])


def test_dkg_names_a_cheating_dealer():
    polys, dealers, _, _ = _dkg(3, 2)
    shares = {i: p.at(2) for i, p in enumerate(polys, 1)}
    shares[3] = (shares[3] + 1) % L
    with pytest.raises(dkg.DKGError, match="share from trustee 3 to trustee 2 does not match its commitments") as e:
        dkg.combine_secret(2, shares, dealers)
    assert e.value.dealer == 3
    pub = _commitments(polys[0], 1)
    with pytest.raises(dkg.DKGError, match="expected threshold 3"):
        dkg.verify_commitments(pub, context=CTX, threshold=3, trustees=3)
    with pytest.raises(dkg.DKGError, match="key possession proof of trustee 2 does not verify"):
        dkg.verify_commitments({**pub, "trustee": 2}, context=CTX, threshold=2, trustees=3)


@pytest.mark.parametrize("field", ["signing_key", "transport"])
def test_dkg_proof_covers_the_dealers_public_keys(field):
    """Swapping a dealer's signing or transport key in its published commitments breaks its proof (SPEC §3.10)."""
    polys, _, _, _ = _dkg(3, 2)
    pub = _commitments(polys[0], 1)
    other = _commitments(polys[1], 2)
    with pytest.raises(dkg.DKGError, match="key possession proof of trustee 1 does not verify"):
        dkg.verify_commitments({**pub, field: other[field]}, context=CTX, threshold=2, trustees=3)


def test_dkg_refuses_a_signing_key_outside_the_ed25519_rule():
    polys, _, _, _ = _dkg(3, 2)
    bad = nacl.bindings.crypto_core_ed25519_add(  # an Ed25519 key plus a point of order 8
        bytes(_signing(1).verify_key), bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
    pub = dkg.commitments_json(polys[0], 1, context=CTX, signing_key=bad, transport=_transport(1).public_key)
    with pytest.raises(dkg.DKGError, match="signing_key is not a valid Ed25519 key"):
        dkg.verify_commitments(pub, context=CTX, threshold=2, trustees=3)


def test_dkg_sealed_share_round_trip():
    polys, dealers, _, _ = _dkg(3, 2)
    sealed = dkg.seal_share(polys[0].at(2), to=2, recipient=_transport(2).public_key, context=CTX, dealer=1,
                            signing_key=_signing(1))
    assert dkg.open_share(sealed, _transport(2), to=2, context=CTX, dealer=dealers[0]) == polys[0].at(2)
    with pytest.raises(dkg.DKGError, match="does not open with trustee 2's transport key") as e:
        dkg.open_share(sealed, _transport(3), to=2, context=CTX, dealer=dealers[0])
    assert e.value.dealer == 1
    # replayed to another recipient or another ceremony: the signature does not cover it
    for kw in ({"to": 3}, {"context": CTX + "/other"}):
        with pytest.raises(dkg.DKGError, match="refused as forged") as e:
            dkg.open_share(sealed, _transport(2), **{"to": 2, "context": CTX, "dealer": dealers[0], **kw})
        assert e.value.dealer is None


def test_an_outsider_cannot_get_an_honest_dealer_excluded():
    """Issue #7.3: a bad share sealed "from" honest dealer 1 by someone else is refused as forged and
    names nobody; the same bad share really signed by dealer 1 names dealer 1."""
    polys, dealers, _, _ = _dkg(3, 2)
    bad = (polys[0].at(2) + 1) % L
    outsider = nacl.signing.SigningKey(bytes([77]) * 32)
    forged = dkg.seal_share(bad, to=2, recipient=_transport(2).public_key, context=CTX, dealer=1, signing_key=outsider)
    with pytest.raises(dkg.DKGError) as e:
        dkg.open_share(forged, _transport(2), to=2, context=CTX, dealer=dealers[0])
    assert e.value.dealer is None
    assert "refused as forged (trustee 1 is not at fault)" in str(e.value)
    assert "does not match its commitments" not in str(e.value)
    # a dealer's own signature on another share does not transfer to a forged ciphertext
    genuine = dkg.seal_share(polys[0].at(2), to=2, recipient=_transport(2).public_key, context=CTX, dealer=1,
                             signing_key=_signing(1))
    with pytest.raises(dkg.DKGError, match="refused as forged") as e:
        dkg.open_share({**forged, "sig": genuine["sig"]}, _transport(2), to=2, context=CTX, dealer=dealers[0])
    assert e.value.dealer is None
    really = dkg.seal_share(bad, to=2, recipient=_transport(2).public_key, context=CTX, dealer=1,
                            signing_key=_signing(1))
    with pytest.raises(dkg.DKGError, match="share from trustee 1 to trustee 2 does not match its commitments") as e:
        dkg.open_share(really, _transport(2), to=2, context=CTX, dealer=dealers[0])
    assert e.value.dealer == 1


def test_lagrange_recovers_the_secret():
    poly = dkg.Polynomial((11, 22, 33))
    for present in ([1, 2, 3], [2, 5, 7]):
        assert sum(trustee.lagrange_at_zero(j, present) * poly.at(j) for j in present) % L == 11


@pytest.mark.parametrize("m,bound", [(0, 0), (0, 10), (10, 10), (1, 1), (99, 100), (12_345_678, 20_000_000)])
def test_dlog_boundaries(m, bound):
    assert dlog.dlog(group.base_mul(m), bound) == m


def test_dlog_refuses_out_of_bound():
    with pytest.raises(dlog.DlogError, match=r"not in \[0, 10\]"):
        dlog.dlog(group.base_mul(11), 10)
    with pytest.raises(dlog.DlogError):
        dlog.dlog(group.base_mul(L - 1), 1000)
    for bound in (-1, dlog.MAX_BOUND + 1, True, 10.0):
        with pytest.raises(dlog.DlogError, match="outside"):
            dlog.dlog(group.G, bound)


def test_decryption_is_bounded_by_the_rounds_recorded_totals():
    """Issue #7.3: beyond the recorded totals a clear TrusteeError naming the item and the bound (SPEC §3.8)."""
    import dataclasses
    secrets, ts = _trustees()
    verified, heads, area = _round(random.Random(8), ts.joint_key, 4)
    agg = tally.tally_secret(verified, fingerprint=FP, items=ITEMS)
    assert [list(r.heads) for r in _decrypt(agg, secrets, ts)] == heads
    top = max(heads[0])
    low = dataclasses.replace(agg, ballots=top - 1)
    with pytest.raises(trustee.TrusteeError) as e:
        _decrypt(low, secrets, ts)
    index = heads[0].index(top)
    assert str(e.value) == (f"item 'm' heads {index}: the decrypted total is not in [0, {top - 1}] (the round's "
                            f"recorded ballots): the record or a share is inconsistent")
    low = dataclasses.replace(agg, total_weight=max(area[0]) - 1)
    with pytest.raises(trustee.TrusteeError, match=rf"item 'm' area {area[0].index(max(area[0]))}: .*"
                                                   rf"not in \[0, {max(area[0]) - 1}\] \(the round's recorded total_weight\)"):
        _decrypt(low, secrets, ts)
    for name, value in (("ballots", dlog.MAX_BOUND + 1), ("total_weight", dlog.MAX_BOUND + 1), ("ballots", -1)):
        with pytest.raises(trustee.TrusteeError, match=rf"recorded {name} {value} is outside the decryptable range "
                                                      rf"\[0, {dlog.MAX_BOUND}\]"):
            _decrypt(dataclasses.replace(agg, **{name: value}), secrets, ts)
    # exactly at the bound still decrypts
    exact = dataclasses.replace(agg, ballots=top, total_weight=max(max(a) for a in area))
    assert [list(r.area) for r in _decrypt(exact, secrets, ts)] == area


def test_dlog_up_to_ten_to_the_ten():
    assert dlog.dlog(group.base_mul(10**10), 10**10) == 10**10
    assert dlog.dlog(group.base_mul(7_777_777_777), 10**10) == 7_777_777_777


def test_dlog_table_encodings_equal_libsodium():
    """The table keys are the RFC 8032 encodings of 4·(j·G) (the ristretto255 element j·G with its
    4-torsion ambiguity removed), equal to libsodium's Ed25519 encodings of (4j)·B."""
    from voting.crypto.dlog import _decode, _encode_all, _niels, _walk

    def ed(k: int) -> bytes:
        return b"\x01" + bytes(31) if k % L == 0 else \
            nacl.bindings.crypto_scalarmult_ed25519_base_noclamp((k % L).to_bytes(32, "little"))
    gx, gy = _decode(group.G)
    chain = _walk(0, 1, _niels(gx, gy), 300)
    assert _encode_all(chain) == [ed(4 * j) for j in range(300)]
    q = group.base_mul(123456789)
    x, y = _decode(q)
    assert _encode_all(_walk(x, y, _niels((-gx) % (2**255 - 19), gy), 3)) == [ed(4 * (123456789 - i)) for i in range(3)]


def test_aggregates_json_refusals():
    agg = tally.tally_secret([], fingerprint=FP, items=ITEMS).to_json()
    assert tally.Aggregates.from_json(agg).to_json() == agg
    with pytest.raises(tally.TallyError, match="^aggregates: ballots must be a non-negative integer$"):
        tally.Aggregates.from_json({**agg, "ballots": -1})
    bad = {**agg, "items": [{**agg["items"][0], "heads": agg["items"][0]["heads"][:2]}]}
    with pytest.raises(tally.TallyError, match="^aggregates: each item needs id, heads and area of equal length$"):
        tally.Aggregates.from_json(bad)
    order8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
    bad = {**agg, "items": [{**agg["items"][0], "heads": [{"alpha": order8, "beta": order8}] * 3}]}
    with pytest.raises(tally.TallyError, match="aggregate m heads.alpha: not a valid group element"):
        tally.Aggregates.from_json(bad)


def test_shares_json_refusals():
    secrets, ts = _trustees()
    agg = tally.tally_secret([], fingerprint=FP, items=ITEMS)
    good = trustee.compute_shares(secrets[0], 1, agg)
    with pytest.raises(trustee.TrusteeError, match="items do not match the aggregates"):
        trustee.verify_shares({**good, "items": ["x", "y"]}, aggregates=agg, trustees=ts)
    with pytest.raises(trustee.TrusteeError, match="unknown trustee 9"):
        trustee.verify_shares({**good, "trustee": 9}, aggregates=agg, trustees=ts)
    with pytest.raises(trustee.TrusteeError, match="made for another round"):
        trustee.verify_shares({**good, "round": "00" * 32}, aggregates=agg, trustees=ts)
    bad = trustee.compute_shares(secrets[0], 1, agg)
    bad["items"][0]["heads"][0]["d"] = group.G.hex()
    with pytest.raises(trustee.TrusteeError, match=r"item 'm' heads 0: share of an identity α must be the identity"):
        trustee.verify_shares(bad, aggregates=agg, trustees=ts)
    bad["items"][0]["heads"][0]["d"] = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
    with pytest.raises(trustee.TrusteeError, match=r"item 'm' heads 0: .*not a valid group element"):
        trustee.verify_shares(bad, aggregates=agg, trustees=ts)
