"""Fiat–Shamir challenge encoding and the test DRBG (SPEC §3.2, §3.9)."""

import hashlib

import pytest

from voting.crypto import transcript
from voting.crypto.drbg import TestDRBG
from voting.crypto.group import L


def test_challenge_encoding_is_length_prefixed():
    fields = [b"\x00" * 32, "q1", 7]
    raw = (b"\x00\x00\x00\x0egongjue/v1/bit" + b"\x00\x00\x00\x20" + b"\x00" * 32
           + b"\x00\x00\x00\x02q1" + b"\x00\x00\x00\x04\x00\x00\x00\x07")
    expected = int.from_bytes(hashlib.sha512(raw).digest(), "little") % L
    assert transcript.challenge("gongjue/v1/bit", *fields) == expected
    assert expected == 5839952553875708670854970199462612439971123832898510568027761247153675611615


def test_challenge_fields_do_not_run_together():
    assert transcript.challenge("t", "ab", "c") != transcript.challenge("t", "a", "bc")
    assert transcript.challenge("t", "项目") == transcript.challenge("t", "项目".encode())


def test_challenge_refuses_bad_fields():
    with pytest.raises(ValueError, match="out of range"):
        transcript.challenge("t", 2**32)
    with pytest.raises(ValueError, match="out of range"):
        transcript.challenge("t", -1)
    with pytest.raises(TypeError, match="booleans"):
        transcript.challenge("t", True)
    with pytest.raises(TypeError, match="unsupported"):
        transcript.challenge("t", 1.5)


def test_drbg_known_values():
    d = TestDRBG(b"seed")
    assert d() == 5241111277595531192443740516261648922669258489816054729421300279116117449518
    assert d() == 4592484721205142030220532824842343900147948439258031840975193308730799433166
    raw = b"gongjue/v1/test-drbg" + b"seed" + (2).to_bytes(4, "big")
    assert d() == int.from_bytes(hashlib.sha512(raw).digest(), "little") % L
