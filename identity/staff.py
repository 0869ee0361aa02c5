"""Staff accounts, their roles per estate, and the access log (SPEC §8).

Owners never sign in here (they vote with the credential on their letter, DESIGN.md
"Credentials"); these accounts are for the people who run an estate's rounds.

- An account is ``staff`` or ``admin`` (``ACCOUNT_ROLES``).  An admin assigns staff to estates
  with a role (``ESTATE_ROLES``: supervisor, scrutineer, auditor, authority = credential
  authority); what a role may do is checked per estate (web.security.require_estate_role,
  SPEC §8).  Assignments name the estate by slug, so an admin may assign the supervisor of an
  estate before its first roll is uploaded.
- Every assignment, removal, account creation and sign-in is a row of the access log
  (``identity_access_log``; never the public ledger: it names people).

- An account may add a second factor: a TOTP authenticator app (RFC 6238: HMAC-SHA1, 6 digits,
  30-second steps, one step of clock drift either way).  ``totp_start`` makes a secret to show
  as a QR code, ``totp_confirm`` turns it on once the app's first code is right, ``totp_check``
  accepts each time step at most once (a code seen over a shoulder cannot be replayed);
  ``totp_disable`` turns it off (the account itself with a code, or an admin).  The secret is
  never logged nor shown again after enrolment; the web layer rate-limits codes like passwords.

- Passwords are stored only as argon2id hashes (RFC 9106, argon2-cffi's default parameters).
  ``password_record`` reads a hash and ``password_matches`` checks it with no database work, so
  the web layer runs argon2 outside any transaction.  Sign-in sessions, CSRF and sign-in limits
  belong to the web layer (web.sessions, web.limits, web.signin).

Times are integer Unix seconds (UTC) to compare the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import functools
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import core as argon2_core
from argon2.low_level import ffi, lib
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.db import Base

ACCOUNT_ROLES = ("staff", "admin")
ROLES = ACCOUNT_ROLES  # the account kinds ``create_staff`` accepts
ESTATE_ROLES = ("supervisor", "scrutineer", "auditor", "authority")
ROLE_NAMES = {"staff": "工作人员", "admin": "管理员", "supervisor": "监督员", "scrutineer": "监票人",
              "auditor": "审计员", "authority": "凭证机构"}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106 second recommended option)


@functools.cache
def _dummy_hash() -> str:
    """A hash verified against for unknown usernames (made on first use: not at every import)."""
    return _hasher.hash(secrets.token_hex(16))


class StaffError(ValueError):
    """A staff request refused (bad username, weak password, duplicate account)."""


class Staff(Base):
    __tablename__ = "identity_staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)  # base32; None: no TOTP
    totp_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the last step accepted
    totp_pending: Mapped[str | None] = mapped_column(String(64), nullable=True)  # being enrolled

    def __repr__(self) -> str:  # never the secrets
        return f"Staff(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class Assignment(Base):
    """A staff member's role in one estate (by slug)."""

    __tablename__ = "identity_staff_assignments"
    __table_args__ = (UniqueConstraint("staff_id", "estate", "role", name="uq_identity_staff_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("identity_staff.id", ondelete="CASCADE"), index=True)
    estate: Mapped[str] = mapped_column(String(63), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))


class AccessLog(Base):
    """One staff event: ``staff.add``, ``assign``, ``unassign``, ``signin``, ``signin.failed``, ``signout``."""

    __tablename__ = "identity_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who did it (None: nobody signed in)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # whom it concerns
    estate: Mapped[str | None] = mapped_column(String(63), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)


def now() -> int:
    return int(time.time())


def normalize_username(username: str) -> str:
    return username.strip().casefold()


def check_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise StaffError(f"用户名 '{username}' 无效：2–64 个小写字母、数字或 . _ - / "
                         f"username must be 2-64 lowercase letters, digits, '.', '_' or '-'")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"密码太短：至少 {MIN_PASSWORD} 个字符 / password must have at least "
                         f"{MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"密码太长 / password longer than {MAX_PASSWORD} characters")
    return password


def create_staff(session: Session, username: str, password: str, role: str = "staff", *,
                 by: str | None = None) -> Staff:
    """Create an account (``staff`` or ``admin``) with an argon2id hash of ``password``.

    Estate roles are given separately with ``assign``.  Caller's transaction; logged.
    """
    name = check_username(username)
    check_password(password)
    if role not in ACCOUNT_ROLES:
        raise StaffError(f"账户类型 '{role}' 无效（staff|admin；小区角色用 assign 分配）/ role must be one of "
                         f"{', '.join(ACCOUNT_ROLES)} (estate roles are given with assign)")
    if session.scalar(select(Staff.id).where(Staff.username == name)) is not None:
        raise StaffError(f"用户名 '{name}' 已存在 / username '{name}' already exists")
    staff = Staff(username=name, password_hash=_hasher.hash(password), role=role, created_at=now())
    session.add(staff)
    session.flush()
    log_access(session, "staff.add", actor=by, username=name, role=role)
    return staff


def _account(session: Session, username: str) -> Staff:
    staff = find_staff(session, username)
    if staff is None:
        raise StaffError(f"没有工作人员账户 '{username}' / no staff account '{username}'")
    return staff


def _check_assignment(slug: str, role: str) -> None:
    from identity.store import EstateError, check_slug

    try:
        check_slug(slug)
    except EstateError as exc:
        raise StaffError(str(exc)) from None
    if role not in ESTATE_ROLES:
        raise StaffError(f"小区角色 '{role}' 无效（{'|'.join(ESTATE_ROLES)}）/ estate role must be one of "
                         f"{', '.join(ESTATE_ROLES)}")


def assign(session: Session, username: str, slug: str, role: str, by: str) -> bool:
    """Give ``username`` the estate ``role`` in ``slug``; False if they had it already. Logged."""
    _check_assignment(slug, role)
    staff = _account(session, username)
    if role in roles_in(session, staff.id, slug):
        return False
    session.add(Assignment(staff_id=staff.id, estate=slug, role=role, created_at=now(), created_by=by[:64]))
    log_access(session, "assign", actor=by, username=staff.username, estate=slug, role=role)
    session.flush()
    return True


def unassign(session: Session, username: str, slug: str, role: str, by: str) -> bool:
    """Take the estate ``role`` in ``slug`` from ``username``; False if they did not have it. Logged."""
    _check_assignment(slug, role)
    staff = _account(session, username)
    gone = session.execute(delete(Assignment).where(Assignment.staff_id == staff.id, Assignment.estate == slug,
                                                    Assignment.role == role)).rowcount
    if gone:
        log_access(session, "unassign", actor=by, username=staff.username, estate=slug, role=role)
    return bool(gone)


def roles_in(session: Session, staff_id: int, slug: str) -> frozenset[str]:
    """The estate roles of the account ``staff_id`` in the estate ``slug``."""
    return frozenset(session.scalars(select(Assignment.role).where(Assignment.staff_id == staff_id,
                                                                   Assignment.estate == slug)))


@dataclass(frozen=True)
class Role:
    """One assignment as listed: who, where, what, since when, given by whom."""

    username: str
    estate: str
    role: str
    created_at: int
    created_by: str


def assignments(session: Session, *, slug: str | None = None, username: str | None = None) -> list[Role]:
    """Assignments, by estate then username then role; optionally of one estate or one account."""
    query = (select(Staff.username, Assignment.estate, Assignment.role, Assignment.created_at, Assignment.created_by)
             .join(Staff, Staff.id == Assignment.staff_id)
             .order_by(Assignment.estate, Staff.username, Assignment.role))
    if slug is not None:
        query = query.where(Assignment.estate == slug)
    if username is not None:
        query = query.where(Staff.username == normalize_username(username))
    return [Role(*row) for row in session.execute(query)]


def log_access(session: Session, action: str, *, actor: str | None = None, username: str | None = None,
               estate: str | None = None, role: str | None = None, client: str | None = None,
               at: int | None = None) -> None:
    """Append one event to the access log (caller's transaction)."""
    session.add(AccessLog(at=now() if at is None else at, action=action, actor=actor and actor[:64],
                          username=username and username[:64], estate=estate and estate[:63], role=role,
                          client=client and client[:64]))


def access_log(session: Session, *, limit: int = 100, username: str | None = None) -> list[AccessLog]:
    """The latest ``limit`` access-log rows, newest first."""
    query = select(AccessLog).order_by(AccessLog.id.desc()).limit(limit)
    if username is not None:
        query = query.where(AccessLog.username == normalize_username(username))
    return list(session.scalars(query))


def find_staff(session: Session, username: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.username == normalize_username(username)))


# --- TOTP (RFC 6238) ---------------------------------------------------------------------------------

TOTP_STEP = 30  # seconds
TOTP_DIGITS = 6
TOTP_DRIFT = 1  # steps either way
TOTP_ISSUER = "共决 Gongjue"


def new_totp_secret() -> str:
    """A random 160-bit secret in base32 (RFC 4226 recommends 160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, issuer: str = TOTP_ISSUER) -> str:
    """The ``otpauth://totp/…`` link an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).provisioning_uri(name=username,
                                                                                       issuer_name=issuer)


def normalize_code(code: str) -> str:
    """Digits only: full-width digits (Chinese input methods) made ASCII, spaces and dashes dropped."""
    text = unicodedata.normalize("NFKC", code or "")[:32]
    return "".join(ch for ch in text if ch not in " -\t")


def totp_code(secret: str, at: int | None = None) -> str:
    """The code of ``secret`` at Unix time ``at`` (for tests and scripts)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).at(now() if at is None else at)


def _matching_step(secret: str, code: str, at: int, after: int | None) -> int | None:
    """The time step within the drift whose code is ``code`` and which is later than ``after``."""
    code = normalize_code(code)
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    found = None
    for step in range(at // TOTP_STEP - TOTP_DRIFT, at // TOTP_STEP + TOTP_DRIFT + 1):
        if hmac.compare_digest(otp.generate_otp(step), code) and (after is None or step > after):
            found = step  # every candidate is compared: the same work whichever matches
    return found


def totp_enabled(session: Session, staff_id: int) -> bool:
    return session.scalar(select(Staff.totp_secret).where(Staff.id == staff_id)) is not None


def totp_start(session: Session, staff_id: int) -> str:
    """A new secret being enrolled for the account (replaces one being enrolled); returns it."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise StaffError("没有这个工作人员账户 / no such staff account")
    staff.totp_pending = new_totp_secret()
    return staff.totp_pending


def totp_cancel(session: Session, staff_id: int) -> None:
    """Forget the secret being enrolled."""
    staff = session.get(Staff, staff_id)
    if staff is not None:
        staff.totp_pending = None


def totp_confirm(session: Session, staff_id: int, code: str, *, at: int | None = None,
                 client: str | None = None) -> bool:
    """Turn TOTP on with the secret being enrolled if ``code`` is its current code. Logged."""
    at = now() if at is None else at
    staff = session.get(Staff, staff_id)
    if staff is None or staff.totp_pending is None:
        return False
    step = _matching_step(staff.totp_pending, code, at, None)
    if step is None:
        return False
    staff.totp_secret, staff.totp_pending, staff.totp_since, staff.totp_last_step = staff.totp_pending, None, at, step
    log_access(session, "totp.on", actor=staff.username, username=staff.username, client=client, at=at)
    return True


def totp_check(session: Session, staff_id: int, code: str, *, at: int | None = None) -> bool:
    """True if ``code`` is a current code of the account's TOTP secret not accepted before
    (its time step is then remembered).  False without TOTP or with a wrong or used code."""
    at = now() if at is None else at
    staff = session.get(Staff, staff_id, with_for_update=True)  # two tabs posting one code: one wins
    if staff is None or staff.totp_secret is None:
        return False
    step = _matching_step(staff.totp_secret, code, at, staff.totp_last_step)
    if step is None:
        return False
    staff.totp_last_step = step
    return True


def totp_disable(session: Session, username: str, *, by: str, client: str | None = None) -> bool:
    """Turn the account's TOTP off (and forget one being enrolled); False if it was off. Logged."""
    staff = _account(session, username)
    was_on = staff.totp_secret is not None
    staff.totp_secret = staff.totp_since = staff.totp_last_step = staff.totp_pending = None
    if was_on:
        log_access(session, "totp.off", actor=by, username=staff.username, client=client)
    return was_on


@dataclass(frozen=True)
class PasswordRecord:
    """What checking a password needs, read in a short transaction before argon2 runs."""

    staff_id: int
    username: str
    password_hash: str


def password_record(session: Session, username: str) -> PasswordRecord | None:
    """The account's id, name and hash, or None when there is no such account."""
    row = session.execute(select(Staff.id, Staff.username, Staff.password_hash)
                          .where(Staff.username == normalize_username(username)[:64])).first()
    return PasswordRecord(*row) if row else None


def password_matches(password_hash: str | None, password: str) -> bool:
    """argon2id check of ``password``; the same work for an unknown account (``None``). No database.

    The hash is recomputed on one thread (its p lanes one after another; the same result as
    argon2's own verify, which runs a thread per lane): one check occupies at most one core, so
    a flood of wrong sign-ins cannot take every core from the public pages (issue #8.2).
    """
    too_long = len(password) > MAX_PASSWORD  # never right; checked (against nothing) all the same
    encoded = _dummy_hash() if password_hash is None or too_long else password_hash
    secret = password[:MAX_PASSWORD].encode()
    try:
        same = _verify_on_one_thread(encoded, secret)
    except ValueError:
        try:  # not an argon2id hash (an older kind): argon2's own verify decides
            same = _hasher.verify(encoded, secret)
        except (VerificationError, InvalidHashError):
            same = False
    return same and password_hash is not None and not too_long


_PHC = re.compile(r"\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")


def _verify_on_one_thread(encoded: str, secret: bytes) -> bool:
    """argon2id (RFC 9106) of ``secret`` with the parameters and salt of ``encoded``, computed with
    one thread, compared in constant time with the digest of ``encoded``.  ValueError when
    ``encoded`` is not an argon2id PHC string."""
    match = _PHC.fullmatch(encoded)
    if match is None:
        raise ValueError("not an argon2id hash")
    version, memory, time_cost, lanes = (int(g) for g in match.groups()[:4])
    salt, digest = (base64.b64decode(g + "=" * (-len(g) % 4)) for g in match.groups()[4:])
    out = ffi.new("uint8_t[]", len(digest))
    pwd = ffi.new("uint8_t[]", secret) if secret else ffi.NULL
    csalt = ffi.new("uint8_t[]", salt)
    context = ffi.new("argon2_context *", {
        "out": out, "outlen": len(digest), "pwd": pwd, "pwdlen": len(secret), "salt": csalt, "saltlen": len(salt),
        "secret": ffi.NULL, "secretlen": 0, "ad": ffi.NULL, "adlen": 0, "t_cost": time_cost, "m_cost": memory,
        "lanes": lanes, "threads": 1, "version": version, "allocate_cbk": ffi.NULL, "free_cbk": ffi.NULL,
        "flags": lib.ARGON2_DEFAULT_FLAGS})
    if argon2_core(context, Type.ID.value) != lib.ARGON2_OK:
        raise ValueError("argon2 refused the parameters")
    return hmac.compare_digest(bytes(ffi.buffer(out, len(digest))), digest)


def rehash(password_hash: str, password: str) -> str | None:
    """A new hash when ``password_hash`` has outdated parameters (after a successful check), else None."""
    return _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None


def verify_password(session: Session, username: str, password: str) -> Staff | None:
    """The account if ``password`` is right, else None (argon2 inside the caller's transaction:
    for scripts and tests; the web layer uses password_record + password_matches)."""
    record = password_record(session, username) if len(password) <= MAX_PASSWORD else None
    if not password_matches(record.password_hash if record else None, password):
        return None
    staff = session.get(Staff, record.staff_id)
    if (new_hash := rehash(staff.password_hash, password)) is not None:
        staff.password_hash = new_hash
    return staff


def staff_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Staff))


__all__ = [
    "ACCOUNT_ROLES",
    "ESTATE_ROLES",
    "ROLES",
    "ROLE_NAMES",
    "AccessLog",
    "Assignment",
    "PasswordRecord",
    "Role",
    "Staff",
    "StaffError",
    "access_log",
    "assign",
    "assignments",
    "check_password",
    "check_username",
    "create_staff",
    "find_staff",
    "log_access",
    "new_totp_secret",
    "normalize_code",
    "normalize_username",
    "password_matches",
    "password_record",
    "rehash",
    "roles_in",
    "staff_count",
    "totp_cancel",
    "totp_check",
    "totp_code",
    "totp_confirm",
    "totp_disable",
    "totp_enabled",
    "totp_start",
    "totp_uri",
    "unassign",
    "verify_password",
]

