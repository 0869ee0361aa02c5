"""The owner's second factor (SPEC §4.6): a one-time code by SMS, or a PIN letter from the operator.

The credential authority never sees either. An owner names one part they hold; the server
finds the voter of the current roll (``identity.store.voter_for_part``) and then asks for:

- **sms**: a 6-digit code sent to the voter's phone (``identity.store.voter_phone``; private,
  never shown in full: ``mask_phone``) through an ``SmsGateway``. Valid ``OTP_SECONDS``, used
  once, ``MAX_CODE_ATTEMPTS`` tries; only an HMAC-SHA256 of it under a per-code random nonce is
  stored; compared in constant time; never logged.
- **pin**: the 10-digit PIN of the operator's PIN letter (``write_pin_letters``), stored only
  as a salted scrypt hash, for estates without phones on file.

Failures and sends are rows (``FactorEvent``), counted per voter and per client address over a
sliding window, so the limits hold across processes: ``MAX_VOTER_FAILURES`` and
``MAX_CLIENT_FAILURES`` per ``FAILURE_WINDOW``, ``MAX_VOTER_FAILURES_PER_DAY`` per voter a day; ``MAX_SENDS`` per voter and ``MAX_CLIENT_SENDS``
per client per ``SEND_WINDOW`` with ``RESEND_SECONDS`` between two sends to a voter (no SMS
bombing). Times are integer Unix seconds.

Gateways (``GONGJUE_SMS_GATEWAY``): ``file:DIR`` writes each message to a new file in DIR (tests,
development), ``console`` prints it on stderr (development); unset means no SMS, PIN only. A
production gateway implements ``SmsGateway.send``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import BigInteger, Boolean, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import letters, record, store
from identity.models import Estate
from ledger.db import Base
from ledger.entry import parse_entry
from ledger.models import Entry

GATEWAY_ENV = "GONGJUE_SMS_GATEWAY"
SMS = "sms"
PIN = "pin"
OTP_DIGITS = 6
OTP_SECONDS = 5 * 60
MAX_CODE_ATTEMPTS = 5
FAILURE_WINDOW = 15 * 60
MAX_VOTER_FAILURES = 10
MAX_CLIENT_FAILURES = 20
DAY = 24 * 3600
MAX_VOTER_FAILURES_PER_DAY = 30  # bounds a slow guess at one voter's 6-digit codes to 30 in 10^6 a day
SEND_WINDOW = 3600
MAX_SENDS = 5
MAX_CLIENT_SENDS = 20
RESEND_SECONDS = 60
PIN_DIGITS = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_MAC_TAG = b"gongjue/v1/otp"


class FactorError(ValueError):
    """A second-factor request refused; the message (Chinese / English) is shown to the owner."""


class OwnerPin(Base):
    """A voter's PIN (hash only) for an estate without phones on file."""

    __tablename__ = "identity_owner_pins"

    estate: Mapped[str] = mapped_column(String(63), primary_key=True)
    voter: Mapped[str] = mapped_column(String(64), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)


class OtpChallenge(Base):
    """One SMS code sent: its MAC (never the code), expiry, tries and whether it was used."""

    __tablename__ = "identity_otp_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    estate: Mapped[str] = mapped_column(String(63))
    voter: Mapped[str] = mapped_column(String(64), index=True)
    nonce: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class FactorEvent(Base):
    """A send or a failed attempt, for the sliding-window limits."""

    __tablename__ = "identity_factor_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    estate: Mapped[str] = mapped_column(String(63))
    voter: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "send" or "fail"


# --- gateways ---------------------------------------------------------------------------------


class SmsGateway(Protocol):
    """Delivers one text message; raises on failure (the owner is told to try again)."""

    def send(self, phone: str, text: str) -> None: ...


class FileGateway:
    """Writes each message as a JSON file ``{"to", "text"}`` (mode 0600) into a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, phone: str, text: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.json"
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"to": phone, "text": text}, f, ensure_ascii=False)


class ConsoleGateway:
    """Prints each message on stderr (development only: the terminal is the phone)."""

    def send(self, phone: str, text: str) -> None:
        print(f"[SMS → {phone}] {text}", file=sys.stderr, flush=True)


def gateway_from_env() -> SmsGateway | None:
    """The gateway ``GONGJUE_SMS_GATEWAY`` names (``file:DIR`` or ``console``); None when unset."""
    value = os.environ.get(GATEWAY_ENV, "").strip()
    if not value:
        return None
    if value == "console":
        return ConsoleGateway()
    if value.startswith("file:") and len(value) > 5:
        return FileGateway(Path(value[5:]))
    raise FactorError(f"{GATEWAY_ENV}={value!r}：应为 file:<目录> 或 console / must be file:<DIR> or console")


# --- codes and PINs ---------------------------------------------------------------------------


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _mac(nonce: str, code: str) -> str:
    return hmac.new(bytes.fromhex(nonce), _MAC_TAG + b"\x00" + code.encode("ascii"), hashlib.sha256).hexdigest()


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` of a PIN (RFC 7914)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("ascii"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(pin.encode("ascii"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


_DUMMY_PIN = hash_pin("0" * PIN_DIGITS)


def format_pin(pin: str) -> str:
    """A PIN as printed: ``12345 67890``."""
    return f"{pin[:5]} {pin[5:]}"


def _clean(typed: str, digits: int) -> str | None:
    """The digits of typed input (spaces and hyphens dropped, full-width digits mapped), or None."""
    text = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" else c for c in typed if c not in " -\u3000\t")
    return text if len(text) == digits and text.isascii() and text.isdigit() else None


# --- limits -----------------------------------------------------------------------------------


def now() -> int:
    return int(time.time())


def _count(session: Session, kind: str, since: int, **where: str) -> int:
    query = select(func.count()).select_from(FactorEvent).where(FactorEvent.kind == kind, FactorEvent.at > since)
    for column, value in where.items():
        query = query.where(getattr(FactorEvent, column) == value)
    return session.scalar(query) or 0


def _event(session: Session, kind: str, slug: str, voter: str, client: str, at: int) -> None:
    session.add(FactorEvent(at=at, estate=slug, voter=voter, client=client[:64], kind=kind))
    session.flush()


TOO_MANY = (f"尝试次数过多，请 {FAILURE_WINDOW // 60} 分钟后再试 / too many attempts; "
            f"try again in {FAILURE_WINDOW // 60} minutes")


def attempts_limited(session: Session, slug: str, voter: str, client: str, at: int | None = None) -> bool:
    """True when the voter or the client used up their failed attempts in the window."""
    at = now() if at is None else at
    since = at - FAILURE_WINDOW
    return (_count(session, "fail", since, estate=slug, voter=voter) >= MAX_VOTER_FAILURES
            or _count(session, "fail", since, client=client[:64]) >= MAX_CLIENT_FAILURES
            or _count(session, "fail", at - DAY, estate=slug, voter=voter) >= MAX_VOTER_FAILURES_PER_DAY)


# --- the flow ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The second factor asked of an owner after they named a part."""

    voter: str
    factor: str  # "sms" or "pin"
    masked_phone: str | None = None


def count_events(session: Session, kind: str, since: int, **where: str) -> int:
    """How many events of ``kind`` (``fail``, ``send``, or a caller's own kind such as the proxies
    page's lookups) happened after ``since``, for the given ``estate``, ``voter`` or ``client``."""
    return _count(session, kind, since, **where)


def record_event(session: Session, kind: str, slug: str, voter: str, client: str, at: int) -> None:
    """Record one event (the limits above count them)."""
    _event(session, kind, slug, voter, client, at)


def refuse_busy_client(session: Session, client: str, at: int) -> None:
    """FactorError(TOO_MANY) when ``client`` failed too often lately (before any lookup: this also
    bounds guessing which parts or keys exist)."""
    if _count(session, "fail", at - FAILURE_WINDOW, client=client[:64]) >= MAX_CLIENT_FAILURES:
        raise FactorError(TOO_MANY)


def begin(session: Session, slug: str, building: str, unit: str, room: str, *, client: str,
          gateway: SmsGateway | None, at: int | None = None) -> Started:
    """Find the voter holding a part and start their second factor (sends the SMS code)."""
    at = now() if at is None else at
    refuse_busy_client(session, client, at)
    try:
        voter = store.voter_for_part(session, slug, building.strip(), unit.strip(), room.strip())
    except ValueError as e:  # identity.store.RollTampered: the tables disagree with the ledger
        raise FactorError(f"名册数据与账本不符，暂不能登录，请联系工作人员 / the roll does not match the ledger; "
                          f"sign-in is refused until staff fix it ({e})") from None
    if voter is None:
        _event(session, "fail", slug, "", client, at)
        raise FactorError("名册中没有这套房屋，请核对楼栋、单元、房号 / no such part in the roll; check building, "
                          "unit and room")
    return start(session, slug, voter, client=client, gateway=gateway, at=at)


def start(session: Session, slug: str, voter: str, *, client: str, gateway: SmsGateway | None, at: int) -> Started:
    """Start the second factor of ``voter`` once found (by a part, or by a registered key): the SMS
    code when a phone is on file and a gateway is set, else the PIN letter's PIN."""
    phone = store.voter_phone(session, slug, voter)
    if phone and gateway is not None:
        _send(session, slug, voter, phone, client, gateway, at)
        return Started(voter, SMS, store.mask_phone(phone))
    if session.get(OwnerPin, (slug, voter)) is not None:
        return Started(voter, PIN)
    if phone:
        raise FactorError("短信服务暂不可用，请稍后再试或联系业主委员会 / SMS is not available now; try later or "
                          "contact the owners' committee")
    raise FactorError("没有登记手机号，也没有 PIN 信：请联系业主委员会 / no phone on file and no PIN letter: "
                      "contact the owners' committee")


def _send(session: Session, slug: str, voter: str, phone: str, client: str, gateway: SmsGateway, at: int) -> bool:
    """Send a fresh code unless the voter got one less than RESEND_SECONDS ago (False: that one stays valid)."""
    last = session.scalar(select(func.max(OtpChallenge.created_at))
                          .where(OtpChallenge.estate == slug, OtpChallenge.voter == voter))
    if last is not None and at - last < RESEND_SECONDS:
        return False
    if (_count(session, "send", at - SEND_WINDOW, estate=slug, voter=voter) >= MAX_SENDS
            or _count(session, "send", at - SEND_WINDOW, client=client[:64]) >= MAX_CLIENT_SENDS):
        raise FactorError(f"验证码发送次数过多，请 {SEND_WINDOW // 60} 分钟后再试 / too many codes sent; "
                          f"try again in {SEND_WINDOW // 60} minutes")
    session.execute(delete(FactorEvent).where(FactorEvent.at < at - DAY))  # nothing older counts
    session.execute(delete(OtpChallenge).where(OtpChallenge.expires_at < at - DAY))
    code = _digits(OTP_DIGITS)
    nonce = secrets.token_hex(16)
    for old in session.scalars(select(OtpChallenge).where(OtpChallenge.estate == slug, OtpChallenge.voter == voter,
                                                          OtpChallenge.used.is_(False))):
        old.used = True  # a new code replaces every earlier one
    session.add(OtpChallenge(estate=slug, voter=voter, nonce=nonce, mac=_mac(nonce, code), created_at=at,
                             expires_at=at + OTP_SECONDS, attempts=0, used=False))
    _event(session, "send", slug, voter, client, at)
    gateway.send(phone, f"【共决】您的登录验证码 {code}，{OTP_SECONDS // 60} 分钟内有效，仅限本人使用，请勿告诉任何人。"
                        f"/ Gongjue sign-in code {code}, valid {OTP_SECONDS // 60} min; never share it.")
    return True


def check_code(session: Session, slug: str, voter: str, typed: str, *, client: str, at: int | None = None) -> bool:
    """True (and the code used up) when ``typed`` is the voter's live SMS code; FactorError when limited."""
    at = now() if at is None else at
    if attempts_limited(session, slug, voter, client, at):
        raise FactorError(TOO_MANY)
    challenge = session.scalar(select(OtpChallenge).where(
        OtpChallenge.estate == slug, OtpChallenge.voter == voter, OtpChallenge.used.is_(False),
        OtpChallenge.expires_at > at).order_by(OtpChallenge.id.desc()).limit(1).with_for_update())
    code = _clean(typed, OTP_DIGITS)
    ok = (challenge is not None and code is not None
          and hmac.compare_digest(_mac(challenge.nonce, code), challenge.mac))
    if ok:
        challenge.used = True
        session.flush()
        return True
    if challenge is not None:
        challenge.attempts += 1
        if challenge.attempts >= MAX_CODE_ATTEMPTS:
            challenge.used = True  # this code is dead: a new one must be sent
    _event(session, "fail", slug, voter, client, at)
    return False


def check_pin(session: Session, slug: str, voter: str, typed: str, *, client: str, at: int | None = None) -> bool:
    """True when ``typed`` is the voter's PIN; FactorError when the attempts are used up."""
    at = now() if at is None else at
    if attempts_limited(session, slug, voter, client, at):
        raise FactorError(TOO_MANY)
    row = session.get(OwnerPin, (slug, voter))
    pin = _clean(typed, PIN_DIGITS)
    ok = pin_matches(pin or "x", row.pin_hash if row is not None else _DUMMY_PIN) and row is not None and pin is not None
    if not ok:
        _event(session, "fail", slug, voter, client, at)
    return ok


# --- PIN letters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinLetters:
    path: Path
    count: int


PINS_FILE = "pins.html"


def write_pin_letters(session: Session, slug: str, out_dir: Path) -> PinLetters:
    """Draw a PIN for each voter of the current roll without one, store its hash, print the letters.

    Runs in the caller's transaction: the file is written last, so a failure stores nothing; an
    existing ``pins.html`` is never overwritten.
    """
    opened = current_voters(session, slug)
    todo = [v for v in opened.voters if session.get(OwnerPin, (slug, v.voter_id)) is None]
    if not todo:
        raise FactorError("每位表决权人都已有 PIN 信 / every voter already has a PIN letter")
    path = Path(out_dir) / PINS_FILE
    if path.exists():
        raise FactorError(f"文件已存在，不会覆盖 / {path} already exists; refusing to overwrite")
    at = now()
    pages = []
    for voter in todo:
        pin = _digits(PIN_DIGITS)
        session.add(OwnerPin(estate=slug, voter=voter.voter_id, pin_hash=hash_pin(pin), created_at=at))
        pages.append((voter.owner, voter.parts, format_pin(pin)))
    session.flush()
    letters.write_private(path, letters.render_pin_letters(opened.estate_name, slug, pages))
    return PinLetters(path, len(todo))


@dataclass(frozen=True)
class CurrentVoters:
    estate_name: str
    voters: list  # identity.letters.LetterVoter


def current_voters(session: Session, slug: str) -> CurrentVoters:
    """The current roll's voters with owner ids and parts: the ledger's roll entry opened (C2)."""
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None:
        raise FactorError(f"小区 '{slug}' 不存在 / no estate '{slug}'")
    data = session.scalar(select(Entry.data).where(Entry.log_id == estate.log_id, Entry.type == record.ROLL)
                          .order_by(Entry.seq.desc()).limit(1))
    if data is None:
        raise FactorError(f"小区 '{slug}' 尚未导入名册 / estate '{slug}' has no roll")
    body = parse_entry(bytes(data)).body
    try:
        opened = record.open_roll(body, store.roll_openings(session, slug, body["version"]))
    except ValueError as e:
        raise FactorError(f"名册与账本不符 / the roll does not match the ledger: {e}") from None
    return CurrentVoters(estate.name, letters.letter_voters(opened))
