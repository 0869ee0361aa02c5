"""Staff accounts: supervisors and admins, their sign-in sessions, and sign-in rate limits.

Owners never sign in here (they vote with the credential on their letter, DESIGN.md
"Credentials"); these accounts are for the people who run an estate's rounds.

- Passwords are stored only as argon2id hashes (RFC 9106, argon2-cffi's default parameters).
- A session is a random 256-bit token held by the browser in a cookie; the database keeps only
  SHA-256(token), so a copy of the database does not sign anyone in.  A session may be
  anonymous (``staff_id`` empty): the sign-in form needs one to bind its CSRF token to.
- The CSRF token of a session is HMAC-SHA256(token, "gongjue/v1/csrf") (OWASP "synchronizer
  token"): bound to the session, derivable only by its holder, never stored.
- Failed sign-ins are rows in the database, counted per username and per client address over
  a sliding window, so the limit holds across processes and restarts.

Times are integer Unix seconds (UTC) to compare the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BigInteger, ForeignKey, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.db import Base

ROLES = ("supervisor", "admin")
ROLE_NAMES = {"supervisor": "监督员", "admin": "管理员"}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
SESSION_SECONDS = 12 * 3600  # a signed-in session lasts one working day, then sign in again
ANONYMOUS_SECONDS = 3600  # an unused sign-in form expires after an hour
FAILURE_WINDOW = 15 * 60
MAX_FAILURES = 5  # failures per username, and per client address, within FAILURE_WINDOW
_CSRF_TAG = b"gongjue/v1/csrf"

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106 second recommended option)
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))  # verified against for unknown usernames


class StaffError(ValueError):
    """A staff request refused (bad username, weak password, duplicate account)."""


class Staff(Base):
    __tablename__ = "identity_staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)


class StaffSession(Base):
    __tablename__ = "identity_staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("identity_staff.id", ondelete="CASCADE"),
                                                 nullable=True, index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    flash: Mapped[str | None] = mapped_column(String(500), nullable=True)


class SignInFailure(Base):
    __tablename__ = "identity_signin_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)


@dataclass(frozen=True)
class SignedIn:
    """The holder of a valid session token: a staff member, or nobody yet (anonymous)."""

    token_hash: str
    staff_id: int | None
    username: str | None
    role: str | None
    expires_at: int

    @property
    def is_staff(self) -> bool:
        return self.staff_id is not None


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


def create_staff(session: Session, username: str, password: str, role: str = "supervisor") -> Staff:
    """Create a staff account with an argon2id hash of ``password`` (caller's transaction)."""
    name = check_username(username)
    check_password(password)
    if role not in ROLES:
        raise StaffError(f"角色 '{role}' 无效（supervisor|admin）/ role must be one of {', '.join(ROLES)}")
    if session.scalar(select(Staff.id).where(Staff.username == name)) is not None:
        raise StaffError(f"用户名 '{name}' 已存在 / username '{name}' already exists")
    staff = Staff(username=name, password_hash=_hasher.hash(password), role=role, created_at=now())
    session.add(staff)
    session.flush()
    return staff


def find_staff(session: Session, username: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.username == normalize_username(username)))


def verify_password(session: Session, username: str, password: str) -> Staff | None:
    """The account if ``password`` is right, else None; the same argon2 work either way."""
    name = normalize_username(username)
    staff = session.scalar(select(Staff).where(Staff.username == name)) if len(password) <= MAX_PASSWORD else None
    try:
        _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if staff is None:
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token bound to the session ``token``: hex HMAC-SHA256(token, tag)."""
    return hmac.new(token.encode(), _CSRF_TAG, hashlib.sha256).hexdigest()


def csrf_ok(token: str, submitted: str) -> bool:
    return hmac.compare_digest(csrf_token(token), submitted)


def open_session(session: Session, staff: Staff | None, at: int | None = None) -> str:
    """Start a session (anonymous when ``staff`` is None) and return its token (shown once)."""
    at = now() if at is None else at
    _purge_expired(session, at)
    token = secrets.token_urlsafe(32)
    lifetime = ANONYMOUS_SECONDS if staff is None else SESSION_SECONDS
    session.add(StaffSession(token_hash=_hash_token(token), staff_id=staff.id if staff else None,
                             created_at=at, expires_at=at + lifetime))
    session.flush()
    return token


def session_for(session: Session, token: str, at: int | None = None) -> SignedIn | None:
    """The live session named by ``token``, or None (unknown, malformed or expired)."""
    if not token or len(token) > 100:
        return None
    at = now() if at is None else at
    row = session.execute(
        select(StaffSession, Staff.username, Staff.role)
        .outerjoin(Staff, Staff.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == _hash_token(token), StaffSession.expires_at > at)
    ).first()
    if row is None:
        return None
    stored, username, role = row
    return SignedIn(stored.token_hash, stored.staff_id, username, role, stored.expires_at)


def close_session(session: Session, token: str) -> None:
    """End the session named by ``token`` (sign out); unknown tokens are ignored."""
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _hash_token(token)))


def set_flash(session: Session, token: str, message: str) -> None:
    """Keep a one-time message for the session's next page."""
    stored = session.get(StaffSession, _hash_token(token))
    if stored is not None:
        stored.flash = message[:500]


def pop_flash(session: Session, token: str) -> str | None:
    """Take the session's one-time message, if any."""
    stored = session.get(StaffSession, _hash_token(token))
    if stored is None or stored.flash is None:
        return None
    message, stored.flash = stored.flash, None
    return message


def _purge_expired(session: Session, at: int) -> None:
    session.execute(delete(StaffSession).where(StaffSession.expires_at <= at))


def signin_limited(session: Session, username: str, client: str, at: int | None = None) -> bool:
    """True when ``username`` or ``client`` has MAX_FAILURES failures within FAILURE_WINDOW."""
    at = now() if at is None else at
    since = at - FAILURE_WINDOW
    name = normalize_username(username)[:64]
    by_name = session.scalar(select(func.count()).select_from(SignInFailure)
                             .where(SignInFailure.username == name, SignInFailure.at > since))
    by_client = session.scalar(select(func.count()).select_from(SignInFailure)
                               .where(SignInFailure.client == client[:64], SignInFailure.at > since))
    return by_name >= MAX_FAILURES or by_client >= MAX_FAILURES


def record_failure(session: Session, username: str, client: str, at: int | None = None) -> None:
    """Count one failed sign-in against ``username`` and ``client``; forget old failures."""
    at = now() if at is None else at
    session.execute(delete(SignInFailure).where(SignInFailure.at <= at - FAILURE_WINDOW))
    session.add(SignInFailure(at=at, username=normalize_username(username)[:64], client=client[:64]))
    session.flush()


def clear_failures(session: Session, username: str) -> None:
    """Forget a username's failures after it signs in (its client's failures still count)."""
    session.execute(delete(SignInFailure).where(SignInFailure.username == normalize_username(username)[:64]))


def staff_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Staff))


__all__ = [
    "ROLES", "ROLE_NAMES", "Staff", "StaffSession", "SignInFailure", "SignedIn", "StaffError",
    "create_staff", "find_staff", "verify_password", "open_session", "session_for", "close_session", "csrf_token",
    "csrf_ok", "set_flash", "pop_flash", "signin_limited", "record_failure", "clear_failures",
    "check_username", "check_password", "staff_count",
]

