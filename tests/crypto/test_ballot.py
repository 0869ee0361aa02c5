"""Secret and open ballots: encryption, signatures, verification refusals, reveal (SPEC §3.6)."""

import copy

import nacl.signing
import pytest
from hypothesis import given, settings, strategies as st

from voting.crypto import ballot, group
from voting.crypto.ballot import BallotError, ItemShape, Reveal, VerifiedBallot, VerifiedOpenBallot
from voting.crypto.drbg import TestDRBG
from voting.crypto.group import L

K = group.base_mul(987654321)
FP = bytes(range(32))
ITEMS = [ItemShape("motion-1", 3, 1, 1), ItemShape("选举", 4, 0, 2)]
CHOICES = {"motion-1": [0, 1, 0], "选举": [1, 0, 0, 1]}
KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
OTHER = nacl.signing.SigningKey(bytes(range(2, 34)))


def _encrypt(choices=CHOICES, key=KEY, seed=b"ballot"):
    return ballot.encrypt_ballot(fingerprint=FP, joint_key=K, items=ITEMS, choices=choices, signing_key=key,
                                 rand=TestDRBG(seed))


def _verify(signed, **kw):
    return ballot.verify_ballot(signed, fingerprint=FP, joint_key=K, items=ITEMS, **kw)


def _resign(signed, key=KEY):
    """Re-sign a modified body, so only the proof check can catch the change."""
    body = signed["ballot"]
    return {"ballot": body, "sig": key.sign(ballot.signing_bytes(body)).signature.hex()}


def test_round_trip_and_tracking_code():
    signed, reveal = _encrypt()
    v = _verify(signed, voter_key=bytes(KEY.verify_key))
    full, short = ballot.tracking_code(signed)
    assert v.tracking == full == reveal.tracking and len(full) == 64
    assert short == f"{full[:4]}-{full[4:8]}-{full[8:12]}".upper()
    assert v.voter == bytes(KEY.verify_key) and v.item_ids == ("motion-1", "选举")
    assert [len(c) for c in v.ciphertexts] == [3, 4]
    assert ballot.check_reveal(signed, reveal, joint_key=K, items=ITEMS) == CHOICES
    assert Reveal.from_json(reveal.to_json()) == reveal


def test_deterministic_with_the_test_drbg():
    assert _encrypt()[0] == _encrypt()[0]
    assert _encrypt()[0] != _encrypt(seed=b"other")[0]
    signed, reveal = _encrypt()
    # draw order (SPEC §3.9): the first draw is the first selection's nonce
    r0 = TestDRBG(b"ballot")()
    assert signed["ballot"]["items"][0]["selections"][0]["alpha"] == group.base_mul(r0).hex()
    assert reveal.items[0][2][0] == r0


def test_signed_body_shape():
    signed, _ = _encrypt()
    body = signed["ballot"]
    assert set(signed) == {"ballot", "sig"} and len(signed["sig"]) == 128
    assert (body["v"], body["kind"], body["round"], body["voter"]) == (1, "secret", FP.hex(), bytes(KEY.verify_key).hex())
    assert body["items"][1]["count_proof"]["lo"] == 0 and body["items"][1]["count_proof"]["hi"] == 2
    assert len(body["items"][1]["count_proof"]["c"]) == 3


def test_encrypt_refuses_bad_choices():
    with pytest.raises(ValueError, match=r"item 'motion-1': 2 selections, allowed 1..1"):
        _encrypt({"motion-1": [1, 1, 0], "选举": [0, 0, 0, 0]})
    with pytest.raises(ValueError, match=r"item '选举': 3 selections, allowed 0..2"):
        _encrypt({"motion-1": [1, 0, 0], "选举": [1, 1, 1, 0]})
    with pytest.raises(ValueError, match="expected 3 selections, each 0 or 1"):
        _encrypt({"motion-1": [2, 0, 0], "选举": [0, 0, 0, 0]})
    with pytest.raises(ValueError, match="every agenda item exactly once"):
        _encrypt({"motion-1": [1, 0, 0]})


def test_refusals_name_the_reason():
    signed, _ = _encrypt()

    def refused(mutate, match, resign=True, **kw):
        s = copy.deepcopy(signed)
        mutate(s)
        if resign:
            s = _resign(s)
        with pytest.raises(BallotError, match=match):
            _verify(s, **kw)

    refused(lambda s: None, "voter key is not the expected credential", voter_key=bytes(OTHER.verify_key))
    refused(lambda s: s.update(sig="00" * 64), "signature does not verify", resign=False)
    refused(lambda s: s["ballot"]["items"][0]["selections"][0].update(alpha=s["ballot"]["items"][0]["selections"][1]["alpha"]),
            "signature does not verify", resign=False)
    refused(lambda s: s["ballot"].update(v=2), r"unsupported version")
    refused(lambda s: s["ballot"].update(kind="open"), "kind must be 'secret'")
    refused(lambda s: s["ballot"].update(round="00" * 32), "cast for another round")
    refused(lambda s: s["ballot"]["items"].reverse(), "items do not match the round's agenda")
    refused(lambda s: s["ballot"]["items"][0]["selections"].pop(), r"item 'motion-1': expected 3 selections, got 2")
    # swapping two selections' ciphertexts: index is in the transcript
    def swap(s):
        sels = s["ballot"]["items"][0]["selections"]
        sels[0], sels[1] = sels[1], sels[0]
    refused(swap, r"item 'motion-1' selection 0: selection proof does not verify")
    # replacing a ciphertext with Enc(1) of another ballot keeps the proof of that ballot: fails the count proof
    def double_vote(s):
        sels = s["ballot"]["items"][0]["selections"]
        sels[0]["beta"] = group.add(bytes.fromhex(sels[0]["beta"]), group.G).hex()
    refused(double_vote, r"item 'motion-1' selection 0: selection proof does not verify")
    refused(lambda s: s["ballot"]["items"][1]["selections"][2]["proof"]["z"].reverse(),
            r"item '选举' selection 2: selection proof does not verify")
    refused(lambda s: s["ballot"]["items"][1]["count_proof"].update(hi=3),
            r"item '选举': count proof c: expected a list of 4 scalars")
    refused(lambda s: s["ballot"]["items"][1]["count_proof"].update(lo=1, hi=3),
            r"item '选举': count proof range \[1, 3\] is not the item's \[0, 2\]")
    refused(lambda s: s["ballot"]["items"][1]["count_proof"]["c"].reverse(), r"item '选举': count proof does not verify")
    refused(lambda s: s["ballot"]["items"][0]["selections"][1].update(alpha=group.IDENTITY.hex()),
            r"item 'motion-1' selection 1: invalid ciphertext point")
    order8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
    refused(lambda s: s["ballot"]["items"][0]["selections"][1].update(beta=order8),
            r"item 'motion-1' selection 1: invalid ciphertext point")
    refused(lambda s: s["ballot"]["items"][0]["selections"][1].update(beta="AB" * 32),
            r"item 'motion-1' selection 1 beta: expected 64 lowercase hex")
    refused(lambda s: s["ballot"]["items"][0]["selections"][1].update(extra=1),
            r"item 'motion-1' selection 1: expected exactly alpha, beta and proof")
    refused(lambda s: s["ballot"]["items"][0]["selections"][1]["proof"].update(c=["00" * 32]),
            r"item 'motion-1' selection 1: selection proof c: expected a list of 2 scalars")
    refused(lambda s: s.update(extra=1), "expected an object with exactly ballot and sig", resign=False)


def test_a_proof_copied_into_another_voters_ballot_fails():
    mine, _ = _encrypt()
    theirs, _ = _encrypt(key=OTHER, seed=b"theirs")
    forged = copy.deepcopy(theirs)
    forged["ballot"]["items"] = copy.deepcopy(mine["ballot"]["items"])
    forged = _resign(forged, OTHER)
    with pytest.raises(BallotError, match=r"item 'motion-1' selection 0: selection proof does not verify"):
        _verify(forged)


def test_another_round_or_key_fails():
    signed, _ = _encrypt()
    with pytest.raises(BallotError, match="cast for another round"):
        ballot.verify_ballot(signed, fingerprint=bytes(32), joint_key=K, items=ITEMS)
    with pytest.raises(BallotError, match="selection proof does not verify"):
        ballot.verify_ballot(signed, fingerprint=FP, joint_key=group.base_mul(5), items=ITEMS)


def test_verified_objects_cannot_be_forged():
    with pytest.raises(TypeError, match="only built by ballot.verify_ballot"):
        VerifiedBallot(b"", FP, (), (), "")
    with pytest.raises(TypeError, match="only built by ballot.verify_open_ballot"):
        VerifiedOpenBallot(b"", FP, (), (), "")


def test_reveal_refusals():
    signed, reveal = _encrypt()
    j = reveal.to_json()
    j["items"][0]["selections"] = [1, 0, 0]
    with pytest.raises(BallotError, match=r"reveal item 'motion-1' selection 0: re-encryption does not match"):
        ballot.check_reveal(signed, Reveal.from_json(j), joint_key=K, items=ITEMS)
    j = reveal.to_json()
    j["items"][1]["nonces"][3] = group.scalar_to_hex(5)
    with pytest.raises(BallotError, match=r"reveal item '选举' selection 3: re-encryption does not match"):
        ballot.check_reveal(signed, Reveal.from_json(j), joint_key=K, items=ITEMS)
    j = reveal.to_json()
    j["tracking"] = "00" * 32
    with pytest.raises(BallotError, match="tracking code does not match"):
        ballot.check_reveal(signed, Reveal.from_json(j), joint_key=K, items=ITEMS)
    j = reveal.to_json()
    j["items"][0]["nonces"][0] = L.to_bytes(32, "little").hex()
    with pytest.raises(BallotError, match="not reduced modulo ℓ"):
        Reveal.from_json(j)


def test_open_ballot():
    signed = ballot.make_open_ballot(fingerprint=FP, items=ITEMS, choices=CHOICES, signing_key=KEY)
    v = ballot.verify_open_ballot(signed, fingerprint=FP, items=ITEMS, voter_key=bytes(KEY.verify_key))
    assert v.selections == ((0, 1, 0), (1, 0, 0, 1))
    assert v.tracking == ballot.tracking_code(signed)[0]
    assert signed["ballot"]["kind"] == "open"
    bad = copy.deepcopy(signed)
    bad["ballot"]["items"][0]["selections"] = [1, 1, 0]
    with pytest.raises(BallotError, match="signature does not verify"):
        ballot.verify_open_ballot(bad, fingerprint=FP, items=ITEMS)
    with pytest.raises(BallotError, match=r"item 'motion-1': 2 selections, allowed 1..1"):
        ballot.verify_open_ballot(_resign(bad), fingerprint=FP, items=ITEMS)
    bad["ballot"]["items"][0]["selections"] = [True, 0, 0]
    with pytest.raises(BallotError, match=r"item 'motion-1' selection 0: must be 0 or 1"):
        ballot.verify_open_ballot(_resign(bad), fingerprint=FP, items=ITEMS)
    with pytest.raises(BallotError, match="kind must be 'secret'"):
        _verify(signed)


def test_item_shape_refusals():
    with pytest.raises(ValueError, match="need 0 ≤ lo ≤ hi ≤ n"):
        ItemShape("x", 2, 1, 3)
    with pytest.raises(ValueError, match="non-empty string"):
        ItemShape("", 2, 1, 1)


def test_verify_ballots_in_parallel_keeps_order_and_reasons():
    signed = [_encrypt(key=nacl.signing.SigningKey(bytes([i + 1]) * 32), seed=bytes([i]))[0] for i in range(70)]
    signed[33] = copy.deepcopy(signed[33])
    signed[33]["ballot"]["items"][0]["selections"][2]["proof"]["c"].reverse()
    signed[33] = _resign(signed[33], nacl.signing.SigningKey(bytes([34]) * 32))
    results = ballot.verify_ballots(signed, fingerprint=FP, joint_key=K, items=ITEMS, workers=2)
    assert len(results) == 70
    assert isinstance(results[33], BallotError)
    assert "item 'motion-1' selection 2: selection proof does not verify" in str(results[33])
    ok = [r for i, r in enumerate(results) if i != 33]
    assert all(isinstance(r, VerifiedBallot) for r in ok)
    assert [r.tracking for r in ok] == [ballot.tracking_code(s)[0] for i, s in enumerate(signed) if i != 33]
    serial = ballot.verify_ballots(signed[:5], fingerprint=FP, joint_key=K, items=ITEMS, workers=1)
    assert serial == results[:5]


@settings(max_examples=8, deadline=None)
@given(st.data())
def test_any_valid_choice_round_trips(data):
    n = data.draw(st.integers(min_value=1, max_value=5))
    lo = data.draw(st.integers(min_value=0, max_value=n))
    hi = data.draw(st.integers(min_value=lo, max_value=n))
    k = data.draw(st.integers(min_value=lo, max_value=hi))
    ms = [1] * k + [0] * (n - k)
    data.draw(st.randoms()).shuffle(ms)
    items = [ItemShape("x", n, lo, hi)]
    signed, reveal = ballot.encrypt_ballot(fingerprint=FP, joint_key=K, items=items, choices={"x": ms},
                                           signing_key=KEY)
    v = ballot.verify_ballot(signed, fingerprint=FP, joint_key=K, items=items)
    assert len(v.ciphertexts[0]) == n and len(signed["ballot"]["items"][0]["count_proof"]["c"]) == hi - lo + 1
    assert ballot.check_reveal(signed, reveal, joint_key=K, items=items) == {"x": ms}


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=12), st.text(max_size=12))
def test_fast_canonical_json_equals_rfc8785_on_ballot_shapes(item_id, other):
    import rfc8785
    body = {"v": 1, "kind": "open", "round": FP.hex(), "voter": other,
            "items": [{"id": item_id, "selections": [0, 1, 65535]}, {"id": other, "selections": []}]}
    try:
        expected = rfc8785.dumps(body)
    except Exception:
        return  # not representable (lone surrogates): refused either way
    assert ballot._jcs_ballot(body) == expected


def test_round_fingerprint():
    import hashlib
    agenda = {"items": [{"id": "m", "title": "加装电梯"}]}
    fp = ballot.round_fingerprint(origin="gongjue.local/maple-court", round_id="r1", secrecy="secret", agenda=agenda,
                                  rules="civil-code-2021", roll="ab" * 32, joint_key=K)
    raw = ('{"agenda":{"items":[{"id":"m","title":"加装电梯"}]},"joint_key":"' + K.hex()
           + '","origin":"gongjue.local/maple-court","roll":"' + "ab" * 32
           + '","round":"r1","rules":"civil-code-2021","secrecy":"secret","v":1}').encode()
    assert fp == hashlib.sha256(raw).digest()
    open_fp = ballot.round_fingerprint(origin="gongjue.local/maple-court", round_id="r1", secrecy="open",
                                       agenda=agenda, rules="civil-code-2021", roll="ab" * 32, joint_key=None)
    assert open_fp == hashlib.sha256(raw.replace(b'"' + K.hex().encode() + b'"', b"null")
                                     .replace(b'"secret"', b'"open"')).digest()


@pytest.mark.parametrize("change, message", [
    ({"secrecy": "secret", "joint_key": None}, "needs its joint key"),
    ({"secrecy": "open"}, "has no joint key"),
    ({"secrecy": "named"}, "secrecy must be"),
    ({"origin": ""}, "origin must be"),
    ({"round_id": 7}, "round_id must be"),
    ({"joint_key": group.IDENTITY}, "joint key"),
])
def test_round_fingerprint_refuses_bad_inputs(change, message):
    args = dict(origin="o", round_id="r", secrecy="secret", agenda={}, rules="x", roll="ab", joint_key=K)
    with pytest.raises(ValueError, match=message):
        ballot.round_fingerprint(**{**args, **change})


def test_ballot_never_replays_into_another_round_with_the_same_agenda_roll_and_key():
    """Issue #7.3: the fingerprint binds the round id and the log origin (SPEC §3.6)."""
    common = dict(secrecy="secret", agenda={"items": [{"id": i.id} for i in ITEMS]}, rules="civil-code-2021",
                  roll="cd" * 32, joint_key=K)
    home = ballot.round_fingerprint(origin="gongjue.local/maple-court", round_id="2026-1", **common)
    signed, _ = ballot.encrypt_ballot(fingerprint=home, joint_key=K, items=ITEMS, choices=CHOICES, signing_key=KEY)
    ballot.verify_ballot(signed, fingerprint=home, joint_key=K, items=ITEMS)
    for origin, round_id in (("gongjue.local/maple-court", "2026-2"), ("gongjue.local/pine-garden", "2026-1")):
        other = ballot.round_fingerprint(origin=origin, round_id=round_id, **common)
        assert other != home
        with pytest.raises(BallotError, match="cast for another round"):
            ballot.verify_ballot(signed, fingerprint=other, joint_key=K, items=ITEMS)
        # rewriting the round field (and re-signing with the stolen key) still fails: the proofs are bound
        forged = copy.deepcopy(signed)
        forged["ballot"]["round"] = other.hex()
        with pytest.raises(BallotError, match="proof does not verify"):
            ballot.verify_ballot(_resign(forged), fingerprint=other, joint_key=K, items=ITEMS)


def test_tracking_code_fast_path_is_the_jcs_hash():
    """tracking_code takes a fast encoding for ballot-shaped values; it must equal SHA-256(JCS)."""
    import hashlib

    import rfc8785

    signed, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=K, items=ITEMS,
                                      choices={"motion-1": [1, 0, 0], "选举": [1, 0, 1, 0]},
                                      signing_key=nacl.signing.SigningKey(bytes(32)))
    odd = [signed, {"b": 1, "a": [True, None, -(2**53) + 1, "\u0001\n\"\\\u007f é 中 \u2028"]},
           {"é": 1, "e": 2}, {"a": 2**53}, {"\ud800x": 1}, {"z": "\U0001f600", "a": {"y": [], "x": {}}},
           {"a": 1.5}]
    for value in odd:
        try:
            want = hashlib.sha256(rfc8785.dumps(value)).hexdigest()
        except Exception:  # noqa: BLE001 — JCS refuses it; so must the tracking code
            with pytest.raises(Exception):  # noqa: B017
                ballot.tracking_code(value)
            continue
        assert ballot.tracking_code(value)[0] == want
