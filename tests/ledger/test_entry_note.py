"""Entry encoding (RFC 8785) and C2SP signed notes, vkeys and cosignatures."""

from __future__ import annotations

import base64

import pytest
import rfc8785
from hypothesis import given, settings, strategies as st

from ledger.checkpoint import CheckpointError, checkpoint_text, parse_checkpoint
from ledger.entry import ZERO_PREV, EntryError, canonical, encode_entry, parse_entry
from ledger.note import (COSIGNATURE_V1, NoteError, Signer, cosign, generate_signer, parse_note, parse_skey,
                         parse_vkey, sign_note, verify_cosignature, verify_note)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_is_rfc8785(value):
    try:
        want = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # lone surrogates: no UTF-8 form
    assert canonical(value) == want


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_encode_parse_round_trip(body):
    try:
        data = encode_entry(7, "ab" * 32, "roll", "2026-11-23T08:00:00Z", body)
    except (UnicodeEncodeError, ValueError):
        return
    e = parse_entry(data)
    assert (e.seq, e.prev, e.type, e.time, e.body) == (7, "ab" * 32, "roll", "2026-11-23T08:00:00Z", body)


def test_utf16_key_order():
    assert canonical({"\U0001F600": 1, "\ufb01": 2}) == '{"\U0001F600":1,"\ufb01":2}'.encode()


@pytest.mark.parametrize("body, message", [
    ({"a": 1.5}, "body.a: floating-point numbers are not allowed"),
    ({"a": [1, 2**53]}, "body.a[1]: integer 9007199254740992 is outside"),
    ({1: "x"}, "body: key 1 is not a string"),
    ({"a": b"x"}, "body.a: bytes is not a JSON value"),
])
def test_body_refusals(body, message):
    with pytest.raises(EntryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        encode_entry(0, ZERO_PREV, "x", "2026-11-23T08:00:00Z", body)


GOOD = b'{"body":{},"prev":"' + b"0" * 64 + b'","seq":0,"time":"2026-11-23T08:00:00Z","type":"x"}'


@pytest.mark.parametrize("data, message", [
    (GOOD.replace(b"{}", b"{ }"), "not the RFC 8785 canonical form"),
    (GOOD.replace(b"{}", b'{"a":1.0}'), "floating-point number 1.0"),
    (GOOD.replace(b"{}", b'{"a":1,"a":1}'), "not the RFC 8785 canonical form"),
    (GOOD.replace(b'"seq":0', b'"seq":-1'), "seq must be a non-negative integer"),
    (GOOD.replace(b'"0000', b'"A000'), "prev must be 64 lowercase hex digits"),
    (GOOD.replace(b"08:00:00Z", b"08:00:00.5Z"), "is not RFC 3339 UTC with whole seconds"),
    (GOOD.replace(b"11-23", b"02-30"), "is not RFC 3339 UTC"),
    (GOOD.replace(b'"type":"x"', b'"type":"X"'), "type 'X' must match"),
    (GOOD.replace(b'"body":{},', b""), "exactly the fields body, prev, seq, time, type"),
    (b"\xff" + GOOD, "not valid UTF-8 JSON"),
])
def test_parse_refusals(data, message):
    parse_entry(GOOD)
    with pytest.raises(EntryError, match=message.replace("(", r"\(")):
        parse_entry(data)


# golang.org/x/mod/sumdb/note's documented example key and signature
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_go_note_vector():
    signer = parse_skey(SKEY)
    assert signer.verifier.vkey == VKEY and signer.skey == SKEY
    note = sign_note(TEXT, signer)
    assert note == TEXT + "\n" + SIG
    verify_note(parse_note(note), parse_vkey(VKEY))
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(parse_note(note.replace("answer", "Answer")), parse_vkey(VKEY))


def test_vkey_refusals():
    with pytest.raises(NoteError, match="does not match its name and key"):
        parse_vkey(VKEY.replace("PeterNeumann", "PeterNeuman"))
    with pytest.raises(NoteError, match="type byte 0x01 or 0x04"):
        parse_vkey("a+00000000+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode())
    with pytest.raises(NoteError, match="invalid key name"):
        generate_signer("bad name")


def test_cosignature_round_trip_and_message():
    witness = generate_signer("witness.example/w1", COSIGNATURE_V1)
    text = "example.com/log\n5\n" + base64.b64encode(b"\x01" * 32).decode() + "\n"
    line = cosign(text, witness, 1679315147)
    assert line.key_id == witness.verifier.key_id and line.signature[:8] == (1679315147).to_bytes(8, "big")
    from nacl.signing import VerifyKey

    VerifyKey(witness.verifier.public_key).verify(
        b"cosignature/v1\ntime 1679315147\n" + text.encode(), line.signature[8:])
    log_signer = Signer("example.com", 0x01, b"\x07" * 32)
    note = parse_note(sign_note(text, log_signer) + line.line)
    assert verify_cosignature(note, witness.verifier) == 1679315147
    verify_note(note, log_signer.verifier)
    forged = parse_note(sign_note(text.replace("\n5\n", "\n6\n"), log_signer) + line.line)
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(forged, witness.verifier)


def test_checkpoint_parse_refusals():
    signer = Signer("gongjue.local", 0x01, b"\x09" * 32)
    good = sign_note(checkpoint_text("gongjue.local/a", 12, b"\x02" * 32), signer)
    cp = parse_checkpoint(good)
    assert (cp.origin, cp.size, cp.root) == ("gongjue.local/a", 12, b"\x02" * 32)
    for bad, msg in [(good.replace("\n12\n", "\n012\n"), "leading zeros"),
                     (good.replace("\n12\n", "\n-1\n"), "decimal number"),
                     (sign_note("gongjue.local/a\n12\nAAAA\n", signer), "base64 of 32 bytes"),
                     (sign_note("gongjue.local/a\n12\n", signer), "must have 3 lines"),
                     (good.replace("\n\n", "\n"), "not a signed note")]:
        with pytest.raises(CheckpointError, match=msg):
            parse_checkpoint(bad)
