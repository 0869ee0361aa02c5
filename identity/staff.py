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

- Passwords are stored only as argon2id hashes (RFC 9106, argon2-cffi's default parameters).
  ``password_record`` reads a hash and ``password_matches`` checks it with no database work, so
  the web layer runs argon2 outside any transaction.  Sign-in sessions, CSRF and sign-in limits
  belong to the web layer (web.sessions, web.limits, web.signin).

Times are integer Unix seconds (UTC) to compare the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import time
from dataclasses import dataclass

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
    encoded = _DUMMY_HASH if password_hash is None or too_long else password_hash
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
    "normalize_username",
    "password_matches",
    "password_record",
    "rehash",
    "roles_in",
    "staff_count",
    "unassign",
    "verify_password",
]

