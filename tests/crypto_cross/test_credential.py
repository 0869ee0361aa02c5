"""Credential codes and key derivation (SPEC §4, identity/credential.py)."""

import hashlib
import hmac
import math

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity import credential as cr
from identity.credential import ALPHABET, CodeError

ORIGIN = "gongjue.local/maple-court"
symbols23 = st.text(alphabet=ALPHABET, min_size=23, max_size=23)


def full(body: str) -> str:
    return body + cr.check_symbol(body)


def test_alphabet_is_31_symbols_without_confusables():
    assert len(ALPHABET) == 31 == len(set(ALPHABET))
    assert not set("0O1IL") & set(ALPHABET)
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def test_entropy_is_at_least_100_bits():
    assert cr.ENTROPY_BITS == 23 * math.log2(31)
    assert 113.9 < cr.ENTROPY_BITS < 114.0
    assert cr.ENTROPY_BITS >= 100


def test_check_symbol_known_values():
    assert cr.check_symbol("2" * 23) == "2"  # all values 0
    # v_i = 1 for every i: Σ (i+1) = 276 = 8·31 + 28 → ALPHABET[28] = "X"
    assert cr.check_symbol("3" * 23) == "X"
    assert cr.check_symbol("3" + "2" * 22) == "3"  # 1·1
    assert cr.check_symbol("2" * 22 + "3") == ALPHABET[23]  # 23·1
    with pytest.raises(ValueError):
        cr.check_symbol("2" * 22)
    with pytest.raises(ValueError):
        cr.check_symbol("2" * 22 + "0")


@settings(max_examples=60, deadline=None)
@given(symbols23)
def test_every_single_substitution_is_detected(body):
    code = full(body)
    assert cr.normalise_code(code) == code
    for i in range(24):
        for s in ALPHABET:
            if s == code[i]:
                continue
            wrong = code[:i] + s + code[i + 1:]
            with pytest.raises(CodeError) as e:
                cr.normalise_code(wrong)
            assert e.value.kind == "check"


@settings(max_examples=200, deadline=None)
@given(symbols23)
def test_every_adjacent_transposition_is_detected(body):
    code = full(body)
    for i in range(23):  # includes swapping the last random symbol with the check symbol
        if code[i] == code[i + 1]:
            continue
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
        with pytest.raises(CodeError) as e:
            cr.normalise_code(swapped)
        assert e.value.kind == "check"
        assert "code mistyped" in str(e.value) and "凭证码有误" in str(e.value)


def test_symbols_are_uniform_by_rejection():
    # Feeding every byte value once: 0..247 give each symbol exactly 8 times, 248..255 are redrawn.
    stream = iter(range(256))
    drawn = []
    for _ in range(248):
        drawn.append(cr.random_symbol(lambda n: bytes([next(stream)])))
    assert {s: drawn.count(s) for s in ALPHABET} == {s: 8 for s in ALPHABET}
    rest = iter([248, 249, 255, 30])
    assert cr.random_symbol(lambda n: bytes([next(rest)])) == ALPHABET[30]


def test_generated_code_is_valid_and_fresh():
    codes = {cr.generate_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 24 and set(code) <= set(ALPHABET)
        assert cr.normalise_code(code) == code
    fixed = iter(bytes(range(23)))
    assert cr.generate_code(lambda n: bytes([next(fixed)])) == full(ALPHABET[:23])


def test_format_and_normalise_round_trip():
    code = full("ABCDEFGHJKMNPQRSTUVWXYZ")
    printed = cr.format_code(code)
    assert printed == "ABCD-EFGH-JKMN-PQRS-TUVW-XYZU"  # the example in SPEC §4.1
    assert printed.count("-") == 5 and all(len(g) == 4 for g in printed.split("-"))
    typed = [printed, printed.lower(), printed.replace("-", " "), " " + printed.replace("-", "\u3000") + "\n",
             "\t".join(printed.split("-")), code.lower()]
    for text in typed:
        assert cr.normalise_code(text) == code


@pytest.mark.parametrize("char", ["0", "O", "o", "1", "I", "i", "L", "l"])
def test_confusable_characters_are_refused_by_name(char):
    code = full("2" * 23)
    with pytest.raises(CodeError) as e:
        cr.normalise_code(char + code[1:])
    assert e.value.kind == "character"
    assert str(e.value) == (f"凭证码中没有字符 “{char}”（码中不使用 0、O、1、I、L），请核对信上的号码 / "
                            f"credential codes never contain '{char}' (no 0, O, 1, I or L are used)")


@pytest.mark.parametrize("char,shown", [("#", "#"), ("_", "_"), ("Ａ", "Ａ"), ("－", "－"), ("，", "，"),
                                        ("\u200b", "U+200B"), ("é", "é")])
def test_other_characters_are_refused_by_name(char, shown):
    with pytest.raises(CodeError) as e:
        cr.normalise_code("2222" + char + "2222")
    assert e.value.kind == "character"
    assert str(e.value) == (f"凭证码中不能有字符 “{shown}”，只用数字 2–9 和大写字母 / "
                            f"character '{shown}' is not allowed: codes use only digits 2-9 and letters")


@pytest.mark.parametrize("n", [0, 1, 23, 25, 48])
def test_wrong_length_is_refused(n):
    with pytest.raises(CodeError) as e:
        cr.normalise_code("2" * n)
    assert e.value.kind == "length"
    assert str(e.value) == (f"凭证码应为 24 个字符，您输入了 {n} 个，请核对信上的号码 / "
                            f"a credential code has 24 characters, you entered {n}")


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 written out with hmac, independent of the code under test."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def test_rfc5869_helper_matches_test_case_1():
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    assert _hkdf_sha256(ikm, salt, info, 42).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def test_seed_is_hkdf_sha256_of_code_salted_with_origin():
    code = full("ABCDEFGHJKMNPQRSTUVWXYZ")
    seed = cr.derive_seed(cr.format_code(code).lower(), ORIGIN)
    assert seed == _hkdf_sha256(code.encode(), ORIGIN.encode(), b"gongjue/v1/credential", 32)
    assert cr.public_key_hex(code, ORIGIN) == nacl.signing.SigningKey(seed).verify_key.encode().hex()


def test_key_derivation_known_answers():
    code = full("2" * 23)
    assert code == "2" * 24
    assert cr.derive_seed(code, ORIGIN).hex() == _hkdf_sha256(b"2" * 24, ORIGIN.encode(), b"gongjue/v1/credential",
                                                                32).hex()
    assert cr.public_key_hex(code, ORIGIN) == "612154bbb09d0791c7f61c8d5620f468fb9ce25f15e2ac4d23449efc5cfc2bfb"


def test_same_code_gives_unrelated_keys_in_other_estates():
    code = cr.generate_code()
    keys = {cr.public_key_hex(code, f"gongjue.local/{slug}") for slug in ("maple-court", "pine-garden", "maple-cour")}
    assert len(keys) == 3
    assert cr.public_key_hex(code, "gongjue.local/枫林苑") != cr.public_key_hex(code, ORIGIN)


def test_derivation_refuses_a_mistyped_code():
    code = full("2" * 23)
    with pytest.raises(CodeError):
        cr.derive_seed(code[:-1] + "3", ORIGIN)


def test_signing_key_signs_verifiably():
    key = cr.signing_key(cr.generate_code(), ORIGIN)
    signed = key.sign(b"gongjue")
    assert key.verify_key.verify(signed) == b"gongjue"
