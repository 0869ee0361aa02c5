"""Staff accounts, their roles per estate, the access log; (until moved) sessions and limits.

Owners never sign in here (they vote with the credential on their letter, DESIGN.md
"Credentials"); these accounts are for the people who run an estate's rounds.

- An account is ``staff`` or ``admin`` (``ACCOUNT_ROLES``).  An admin assigns staff to estates
  with a role (``ESTATE_ROLES``: supervisor, scrutineer, auditor, authority = credential
  authority); what a role may do is checked per estate (web.security.require_estate_role,
  SPEC §8).  Assignments name the estate by slug, so an admin may assign the supervisor of an
  estate before its first roll is uploaded.
- Every assignment, removal, account creation and sign-in is a row of the access log
  (``identity_access_log``; never the public ledger: it names people).

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
from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, delete, func, select
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
    "ACCOUNT_ROLES", "ESTATE_ROLES", "Assignment", "AccessLog", "Role", "assign", "unassign", "roles_in",
    "assignments", "log_access", "access_log",
    "ROLES", "ROLE_NAMES", "Staff", "StaffSession", "SignInFailure", "SignedIn", "StaffError",
    "create_staff", "find_staff", "verify_password", "open_session", "session_for", "close_session", "csrf_token",
    "csrf_ok", "set_flash", "pop_flash", "signin_limited", "record_failure", "clear_failures",
    "check_username", "check_password", "staff_count",
]

