"""The owner's second factor (SPEC §4.6, identity/factor.py): SMS codes and PINs, and their limits.

The roll lookups (which voter holds a part, which phone is on file) are H4's
``identity.store`` functions; here they are replaced by a fixed table so that each attack on
the factor itself is reproduced exactly: brute force, reuse, another voter's code, SMS bombing.
"""

from __future__ import annotations

import json

import pytest

from identity import factor, store
from ledger.db import transaction

SLUG = "maple-court"
T0 = 1_800_000_000
PARTS = {("1", "1", "101"): "a" * 32, ("2", "", "201"): "b" * 32, ("3", "2", "301"): "c" * 32}
PHONES = {"a" * 32: "13812345678", "b" * 32: "13987654321"}  # c has no phone
A, B, C = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def roll(monkeypatch):
    monkeypatch.setattr(store, "voter_for_part", lambda s, slug, b, u, r: PARTS.get((b, u, r)), raising=False)
    monkeypatch.setattr(store, "voter_phone", lambda s, slug, v: PHONES.get(v), raising=False)
    monkeypatch.setattr(store, "mask_phone", lambda p: p[:3] + "****" + p[-4:], raising=False)


@pytest.fixture
def outbox(tmp_path):
    return factor.FileGateway(tmp_path / "sms")


def sent(outbox) -> list[dict]:
    files = sorted(outbox.directory.iterdir()) if outbox.directory.exists() else []
    return [json.loads(f.read_text("utf-8")) for f in files]


def code_in(message: dict) -> str:
    import re

    return re.search(r"验证码 (\d{6})", message["text"]).group(1)


def begin(engine, outbox, part=("1", "1", "101"), client="10.0.0.1", at=T0) -> factor.Started:
    with transaction(engine) as s:
        return factor.begin(s, SLUG, *part, client=client, gateway=outbox, at=at)


def check(engine, voter, typed, client="10.0.0.1", at=T0 + 10) -> bool:
    with transaction(engine) as s:
        return factor.check_code(s, SLUG, voter, typed, client=client, at=at)


def test_sms_code_signs_in_once(engine, roll, outbox):
    started = begin(engine, outbox)
    assert started == factor.Started(A, "sms", "138****5678")
    (message,) = sent(outbox)
    assert message["to"] == "13812345678"
    code = code_in(message)
    assert check(engine, A, code) is True
    assert check(engine, A, code) is False  # single use: a replay fails


def test_code_of_one_voter_does_not_sign_in_another(engine, roll, outbox):
    begin(engine, outbox, ("1", "1", "101"))
    begin(engine, outbox, ("2", "", "201"))
    code_a = code_in(sent(outbox)[0])
    assert check(engine, B, code_a) is False
    assert check(engine, A, code_a) is True


def test_code_expires(engine, roll, outbox):
    begin(engine, outbox)
    code = code_in(sent(outbox)[0])
    assert check(engine, A, code, at=T0 + factor.OTP_SECONDS) is False  # expired at exactly 5 min
    # one second earlier it would still have worked: a fresh code
    begin(engine, outbox, at=T0 + factor.OTP_SECONDS + factor.RESEND_SECONDS)
    code = code_in(sent(outbox)[-1])
    assert check(engine, A, code, at=T0 + 2 * factor.OTP_SECONDS + factor.RESEND_SECONDS - 1) is True


def test_brute_force_kills_the_code_after_five_tries(engine, roll, outbox):
    begin(engine, outbox)
    code = code_in(sent(outbox)[0])
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, factor.MAX_CODE_ATTEMPTS + 1)]
    for guess in wrong:
        assert check(engine, A, guess) is False
    assert check(engine, A, code) is False  # the 6th try is the right code, but the code is dead


def test_attempts_limited_per_voter_across_codes(engine, roll, outbox):
    at = T0
    for _ in range(2):
        begin(engine, outbox, at=at)
        for i in range(factor.MAX_CODE_ATTEMPTS):
            check(engine, A, "000000" if i % 2 else "999999", at=at + 1 + i)
        at += factor.RESEND_SECONDS
    begin(engine, outbox, at=at)
    code = code_in(sent(outbox)[-1])
    with pytest.raises(factor.FactorError, match="too many attempts"):  # 10 failures within 15 minutes
        check(engine, A, code, at=at + 1)
    later = at + factor.FAILURE_WINDOW + 1  # the window slides past the failures
    begin(engine, outbox, at=later)
    assert check(engine, A, code_in(sent(outbox)[-1]), at=later + 1) is True


def test_attempts_limited_per_client(engine, roll, outbox, monkeypatch):
    monkeypatch.setattr(factor, "MAX_CLIENT_FAILURES", 3)
    begin(engine, outbox, ("1", "1", "101"), client="attacker")
    begin(engine, outbox, ("2", "", "201"), client="attacker")
    assert check(engine, A, "000001", client="attacker") is False
    assert check(engine, B, "000001", client="attacker") is False
    assert check(engine, B, "000002", client="attacker") is False
    code_b = code_in(sent(outbox)[1])
    with pytest.raises(factor.FactorError, match="too many attempts"):
        check(engine, B, code_b, client="attacker")
    assert check(engine, B, code_b, client="owner-b") is True  # another client is not locked out


def test_no_sms_bombing(engine, roll, outbox):
    begin(engine, outbox, at=T0)
    begin(engine, outbox, at=T0 + 1)  # within RESEND_SECONDS: no second message
    assert len(sent(outbox)) == 1
    for i in range(1, factor.MAX_SENDS):
        begin(engine, outbox, at=T0 + i * factor.RESEND_SECONDS)
    assert len(sent(outbox)) == factor.MAX_SENDS
    with pytest.raises(factor.FactorError, match="too many codes sent"):
        begin(engine, outbox, at=T0 + factor.MAX_SENDS * factor.RESEND_SECONDS)
    assert len(sent(outbox)) == factor.MAX_SENDS
    begin(engine, outbox, at=T0 + factor.SEND_WINDOW + factor.RESEND_SECONDS)  # the hour has passed
    assert len(sent(outbox)) == factor.MAX_SENDS + 1


def test_a_new_code_replaces_the_old(engine, roll, outbox):
    begin(engine, outbox, at=T0)
    old = code_in(sent(outbox)[0])
    begin(engine, outbox, at=T0 + factor.RESEND_SECONDS)
    new = code_in(sent(outbox)[1])
    if old != new:
        assert check(engine, A, old, at=T0 + factor.RESEND_SECONDS + 1) is False
    assert check(engine, A, new, at=T0 + factor.RESEND_SECONDS + 2) is True


def test_no_code_is_stored(engine, roll, outbox):
    begin(engine, outbox)
    code = code_in(sent(outbox)[0])
    with transaction(engine) as s:
        rows = s.query(factor.OtpChallenge).all()
    assert len(rows) == 1 and code not in (rows[0].mac + rows[0].nonce)
    assert rows[0].mac == factor._mac(rows[0].nonce, code)


def test_unknown_part_and_no_factor(engine, roll, outbox):
    with pytest.raises(factor.FactorError, match="no such part"):
        begin(engine, outbox, ("9", "9", "999"))
    with pytest.raises(factor.FactorError, match="no phone on file and no PIN letter"):
        begin(engine, outbox, ("3", "2", "301"))
    with pytest.raises(factor.FactorError, match="SMS is not available"):
        begin(engine, None, ("1", "1", "101"))  # a phone, but no gateway configured and no PIN


def test_pin(engine, roll, outbox):
    pin = "0123456789"
    with transaction(engine) as s:
        s.add(factor.OwnerPin(estate=SLUG, voter=C, pin_hash=factor.hash_pin(pin), created_at=T0))
    assert begin(engine, outbox, ("3", "2", "301")) == factor.Started(C, "pin")
    with transaction(engine) as s:
        assert factor.check_pin(s, SLUG, C, "01234 56789", client="x", at=T0) is True
        assert factor.check_pin(s, SLUG, C, "０１２３４５６７８９", client="x", at=T0) is True  # full-width digits
        assert factor.check_pin(s, SLUG, A, pin, client="x", at=T0) is False  # not A's PIN (A has none)
        assert factor.check_pin(s, SLUG, C, "0123456788", client="x", at=T0) is False
    with transaction(engine) as s:
        for i in range(factor.MAX_VOTER_FAILURES - 1):
            factor.check_pin(s, SLUG, C, f"{i:010d}", client=f"c{i}", at=T0 + 1)
    with transaction(engine) as s, pytest.raises(factor.FactorError, match="too many attempts"):
        factor.check_pin(s, SLUG, C, pin, client="y", at=T0 + 2)


def test_pin_hash_format():
    stored = factor.hash_pin("5555555555", salt=bytes(16))
    assert stored.startswith("scrypt$16384$8$1$" + "00" * 16 + "$")
    assert factor.pin_matches("5555555555", stored) and not factor.pin_matches("5555555556", stored)
    assert not factor.pin_matches("5555555555", "garbage")


def test_gateway_from_env(monkeypatch, tmp_path):
    monkeypatch.delenv(factor.GATEWAY_ENV, raising=False)
    assert factor.gateway_from_env() is None
    monkeypatch.setenv(factor.GATEWAY_ENV, f"file:{tmp_path}")
    assert isinstance(factor.gateway_from_env(), factor.FileGateway)
    monkeypatch.setenv(factor.GATEWAY_ENV, "console")
    assert isinstance(factor.gateway_from_env(), factor.ConsoleGateway)
    monkeypatch.setenv(factor.GATEWAY_ENV, "carrier-pigeon")
    with pytest.raises(factor.FactorError, match="file:<DIR> or console"):
        factor.gateway_from_env()


def test_daily_cap_per_voter(engine, roll, outbox):
    """Spread over many clients and 15-minute windows, a voter still gets at most 30 wrong tries a day."""
    at = T0
    failures = 0
    while failures < factor.MAX_VOTER_FAILURES_PER_DAY:
        begin(engine, outbox, at=at, client=f"c{failures}")
        for _ in range(min(5, factor.MAX_VOTER_FAILURES_PER_DAY - failures)):
            assert check(engine, A, "000000" if code_in(sent(outbox)[-1]) != "000000" else "111111",
                         client=f"c{failures}", at=at + 1) is False
            failures += 1
        at += factor.FAILURE_WINDOW + factor.RESEND_SECONDS  # a fresh 15-minute window each time
    begin(engine, outbox, at=at, client="fresh")
    with pytest.raises(factor.FactorError, match="too many attempts"):
        check(engine, A, code_in(sent(outbox)[-1]), client="fresh", at=at + 1)
