"""One verification rule (issue #7.3, SPEC §1, §3.6): strict JSON text, the Ed25519 rule, the kind
pinned to the round.  The cross-language agreement is in tests/vectors/crypto/invalid.json."""

import hashlib
import json

import nacl.bindings
import nacl.signing
import pytest

from voting.crypto import ballot, ed25519, group, strictjson
from voting.crypto.ballot import BallotError, ItemShape
from voting.crypto.group import L

KEY = nacl.signing.SigningKey(bytes(range(7, 39)))
K = group.base_mul(55555)
FP = hashlib.sha256(b"rule").digest()
ITEMS = [ItemShape("m", 3, 1, 1)]
ORDER8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


@pytest.mark.parametrize("text, value", [
    ('{"a": [1, -2, 0, true, null, "é\\n"]}', {"a": [1, -2, 0, True, None, "é\n"]}),
    ("9007199254740991", 2**53 - 1), ("-9007199254740991", -(2**53 - 1)), (' [ ] ', []),
    ('"\\ud83d\\ude00"', "😀"),
])
def test_strict_json_accepts(text, value):
    assert strictjson.loads(text) == value
    assert strictjson.loads(text.encode()) == value


@pytest.mark.parametrize("text, why", [
    ('{"v": 1.0}', "fraction or exponent"), ('{"v": 1e0}', "fraction or exponent"),
    ('{"v": 10E-1}', "fraction or exponent"), ('{"v": 1, "v": 1}', "duplicate key"),
    ('{"a": {"b": 1, "b": 2}}', "duplicate key"), ("9007199254740992", "outside"),
    ("-9007199254740992", "outside"), ("1" * 5000, "outside"), ("NaN", "not JSON"), ("[Infinity]", "not JSON"),
    ('"\\ud800"', "lone surrogate"), ('{"\\udc00": 1}', "lone surrogate"), ("{} x", "not JSON"),
    ("\ufeff{}", "not JSON"), ('"\x01"', "not JSON"), (b"\xff", "not UTF-8"), ("[01]", "not JSON"),
])
def test_strict_json_refuses(text, why):
    with pytest.raises(strictjson.StrictJSONError, match=why):
        strictjson.loads(text)


def _scalar(key: nacl.signing.SigningKey) -> int:
    h = bytearray(hashlib.sha512(key.encode()).digest()[:32])
    h[0] &= 248
    h[31] = (h[31] & 127) | 64
    return int.from_bytes(h, "little")


def _sign(a: int, public: bytes, msg: bytes, r: int, r_point: bytes) -> bytes:
    k = int.from_bytes(hashlib.sha512(r_point + public + msg).digest(), "little") % L
    return r_point + ((r + k * a) % L).to_bytes(32, "little")


def _plus_t8(p: bytes) -> bytes:
    """P + T8 through libsodium's Ed25519 addition (it accepts mixed-order encodings)."""
    return nacl.bindings.crypto_core_ed25519_add(p, ORDER8)


def _ed_base(r: int) -> bytes:
    """r·G as an Ed25519 (RFC 8032) encoding: signatures and keys are Ed25519, not ristretto255."""
    return nacl.bindings.crypto_scalarmult_ed25519_base_noclamp((r % L).to_bytes(32, "little"))


def test_ed25519_rule_accepts_rfc8032_signatures():
    msg = b"gongjue"
    ed25519.verify(bytes(KEY.verify_key), msg, KEY.sign(msg).signature)
    # RFC 8032 §7.1 test 1 (empty message)
    sk = nacl.signing.SigningKey(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert bytes(sk.verify_key).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    ed25519.verify(bytes(sk.verify_key), b"", sk.sign(b"").signature)


def test_ed25519_rule_refuses_r_with_a_small_order_component():
    msg, a, public = b"ballot", _scalar(KEY), bytes(KEY.verify_key)
    r = 123456789
    good = _sign(a, public, msg, r, _ed_base(r))
    ed25519.verify(public, msg, good)
    bad = _sign(a, public, msg, r, _plus_t8(_ed_base(r)))
    with pytest.raises(ed25519.SignatureError, match="R is not a point of the prime-order subgroup"):
        ed25519.verify(public, msg, bad)


def test_ed25519_rule_refuses_a_key_plus_t8_that_libsodium_accepts():
    msg, a = b"ballot", _scalar(KEY)
    public = _plus_t8(bytes(KEY.verify_key))
    r = 1
    while int.from_bytes(hashlib.sha512(_ed_base(r) + public + msg).digest(), "little") % L % 8:
        r += 1
    sig = _sign(a, public, msg, r, _ed_base(r))
    nacl.signing.VerifyKey(public).verify(msg, sig)  # the lenient rule accepts it
    assert not ed25519.is_valid_public_key(public)
    with pytest.raises(ed25519.SignatureError, match="not a valid Ed25519 key"):
        ed25519.verify(public, msg, sig)


@pytest.mark.parametrize("public", [b"\x01" + bytes(31), ORDER8, bytes(32), b"\x01" * 31, group.G])
def test_ed25519_rule_refuses_small_order_and_malformed_keys(public):
    assert not ed25519.is_valid_public_key(public)
    with pytest.raises(ed25519.SignatureError):
        ed25519.verify(public, b"m", bytes(64))


def test_ed25519_rule_refuses_unreduced_s():
    msg, public = b"m", bytes(KEY.verify_key)
    sig = KEY.sign(msg).signature
    s = int.from_bytes(sig[32:], "little") + L
    with pytest.raises(ed25519.SignatureError, match="S is not reduced"):
        ed25519.verify(public, msg, sig[:32] + s.to_bytes(32, "little"))
    with pytest.raises(ed25519.SignatureError, match="64 bytes"):
        ed25519.verify(public, msg, sig[:63])


def test_the_kind_is_the_rounds():
    secret, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=K, items=ITEMS, choices={"m": [1, 0, 0]},
                                      signing_key=KEY)
    opened = ballot.make_open_ballot(fingerprint=FP, items=ITEMS, choices={"m": [1, 0, 0]}, signing_key=KEY)
    common = dict(fingerprint=FP, items=ITEMS)
    assert ballot.verify_ballot_text(json.dumps(secret), secrecy="secret", joint_key=K, **common).voter
    assert ballot.verify_ballot_text(json.dumps(opened), secrecy="open", joint_key=None, **common).selections
    with pytest.raises(BallotError, match="kind must be 'secret'"):
        ballot.verify_ballot_text(json.dumps(opened), secrecy="secret", joint_key=K, **common)
    with pytest.raises(BallotError, match="kind must be 'open'"):
        ballot.verify_ballot_text(json.dumps(secret), secrecy="open", joint_key=None, **common)
    with pytest.raises(ValueError, match="secrecy must be"):
        ballot.verify_ballot_text(json.dumps(secret), secrecy="named", joint_key=K, **common)
    with pytest.raises(BallotError, match="not strict JSON"):
        ballot.verify_ballot_text(json.dumps(opened).replace('"v": 1', '"v": 1.0'), secrecy="open", joint_key=None,
                                  **common)
    with pytest.raises(BallotError, match="expected an object"):
        ballot.verify_ballot_text("[]", secrecy="open", joint_key=None, **common)
