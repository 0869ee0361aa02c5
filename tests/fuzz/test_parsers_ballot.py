"""Hypothesis fuzzing of the ballot parsers (issue #11.4): strict JSON, the signed ballot with its
0/1 and count proofs (SPEC §3.6), and a trustee's published key with its Schnorr proof (SPEC §3.5).

Every malformed input is refused with the module's own error (StrictJSONError, BallotError,
TrusteeError — all ValueError) and a message; never TypeError, KeyError, IndexError,
AttributeError, RecursionError, UnicodeDecodeError or MemoryError.
"""

from __future__ import annotations

import json

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.mutations import JSON_VALUES, mutated, mutated_text
from voting.crypto import ballot, group, strictjson, trustee
from voting.crypto.ballot import BallotError, ItemShape
from voting.crypto.drbg import TestDRBG
from voting.crypto.strictjson import StrictJSONError
from voting.crypto.trustee import TrusteeError

FP = bytes(range(32))
ITEMS = [ItemShape("m1", 3, 1, 1), ItemShape("选举", 3, 0, 2)]
KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
CONTEXT = "gongjue.local/maple-court/r1"
SECRETS = {1: 0x1234567890ABCDEF, 2: 0xFEDCBA0987654321}
PUBLICS = {j: trustee.public_key_json(s, j, context=CONTEXT, rand=TestDRBG(b"key %d" % j)) for j, s in SECRETS.items()}
JOINT = trustee.trustee_set([trustee.verify_public_key(k, context=CONTEXT) for k in PUBLICS.values()]).joint_key
SIGNED, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=JOINT, items=ITEMS,
                                  choices={"m1": [0, 1, 0], "选举": [1, 0, 1]}, signing_key=KEY, rand=TestDRBG(b"b"))
TEXT = json.dumps(SIGNED, separators=(",", ":"), ensure_ascii=False)
OPEN = json.dumps(ballot.make_open_ballot(fingerprint=FP, items=ITEMS, choices={"m1": [1, 0, 0], "选举": [0, 0, 0]},
                                          signing_key=KEY), ensure_ascii=False)
FUZZ = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def _refused(call, error: type[Exception]) -> None:
    """``call()`` either returns or raises ``error`` with a message; anything else fails the test."""
    try:
        call()
    except error as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"


def _verify_text(data, secrecy="secret"):
    return ballot.verify_ballot_text(data, secrecy=secrecy, fingerprint=FP, joint_key=JOINT, items=ITEMS)


def test_the_unmutated_documents_verify():
    assert _verify_text(TEXT).tracking and _verify_text(OPEN, "open")
    assert trustee.verify_public_key(PUBLICS[1], context=CONTEXT).trustee == 1


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=200))
def test_strict_json_refuses_any_bytes_with_its_own_error(data):
    _refused(lambda: strictjson.loads(data), StrictJSONError)


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_strict_json_refuses_deep_nesting(depth):
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(StrictJSONError, match="nested too deeply"):
            strictjson.loads(text)


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', "1.5", "1e3", "NaN", "Infinity", '"\\ud800"', "9007199254740992",
                                  b"\xff\xfe", b"", "  "])
def test_strict_json_refuses_what_the_strict_rule_forbids(text):
    with pytest.raises(StrictJSONError):
        strictjson.loads(text)


@FUZZ
@given(mutated_text(TEXT))
def test_a_mutated_secret_ballot_is_refused_with_a_ballot_error(data):
    _refused(lambda: _verify_text(data), BallotError)


@FUZZ
@given(mutated_text(OPEN))
def test_a_mutated_open_ballot_is_refused_with_a_ballot_error(data):
    _refused(lambda: _verify_text(data, "open"), BallotError)


@FUZZ
@given(mutated(SIGNED))
def test_a_mutated_ballot_object_is_refused_with_a_ballot_error(signed):
    _refused(lambda: ballot.verify_ballot(signed, fingerprint=FP, joint_key=JOINT, items=ITEMS), BallotError)


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_is_refused_as_a_ballot(value):
    data = json.dumps(value).encode()
    _refused(lambda: _verify_text(data), BallotError)
    _refused(lambda: _verify_text(data, "open"), BallotError)


@FUZZ
@given(mutated(PUBLICS[2]) | JSON_VALUES)
def test_a_mutated_trustee_key_is_refused_with_a_trustee_error(obj):
    _refused(lambda: trustee.verify_public_key(obj, context=CONTEXT), TrusteeError)


def test_points_from_hex_refuse_garbage():
    for text in ("", "zz" * 32, "00" * 31, "ff" * 32, "00" * 32, 5, None):
        with pytest.raises(ValueError):
            group.point_from_hex(text, what="key")
