"""Staff web sessions, the server's signing key, and the values it signs (SPEC §8.2).

- A session is a random 256-bit token held by the browser in a cookie; the database keeps only
  SHA-256(token), so a copy of the database does not sign anyone in.  Sessions exist only for
  signed-in staff: an anonymous visitor has no row (issue #8.2: a GET of the sign-in form
  writes nothing).
- The CSRF token of a session is HMAC-SHA256(token, "gongjue/v1/csrf") (OWASP "synchronizer
  token"): bound to the session, never stored.  Anonymous forms use a signed double-submit
  cookie instead: the browser holds a random nonce, the form carries
  HMAC-SHA256(server key, "gongjue/v1/anon-csrf|" + nonce) (OWASP "signed double-submit cookie").
- The server key (32 random bytes, ``web_keys``) is created by migration web_0001, so every
  process of one deployment signs alike; it also signs device cookies (web.signin).

Times are integer Unix seconds (UTC) to compare the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import BigInteger, Engine, ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity.staff import Staff
from ledger.db import Base, reading

SESSION_SECONDS = 12 * 3600  # a signed-in session lasts one working day, then sign in again
TOKEN_MAX = 100  # longer cookie values are not looked up
_CSRF_TAG = b"gongjue/v1/csrf"
_ANON_CSRF_TAG = "gongjue/v1/anon-csrf|"
SIGNING_KEY = "signing"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class WebSession(Base):
    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("identity_staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    flash: Mapped[str | None] = mapped_column(String(500), nullable=True)


class WebKey(Base):
    __tablename__ = "web_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex


@dataclass(frozen=True)
class SignedIn:
    """The holder of a live session token: a staff member."""

    token_hash: str
    staff_id: int
    username: str
    role: str  # the account kind: "staff" or "admin" (estate roles: identity.staff.roles_in)
    expires_at: int

    @property
    def is_staff(self) -> bool:
        return True


def now() -> int:
    return int(time.time())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, staff: Staff, at: int | None = None) -> str:
    """Start a signed-in session for ``staff`` and return its token (shown once, in a cookie)."""
    at = now() if at is None else at
    session.execute(delete(WebSession).where(WebSession.expires_at <= at))
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=hash_token(token), staff_id=staff.id, created_at=at,
                           expires_at=at + SESSION_SECONDS))
    session.flush()
    return token


def session_for(session: Session, token: str | None, at: int | None = None) -> SignedIn | None:
    """The live session named by ``token``, or None (unknown, malformed or expired)."""
    if not token or len(token) > TOKEN_MAX:
        return None
    at = now() if at is None else at
    row = session.execute(
        select(WebSession.token_hash, WebSession.staff_id, Staff.username, Staff.role, WebSession.expires_at)
        .join(Staff, Staff.id == WebSession.staff_id)
        .where(WebSession.token_hash == hash_token(token), WebSession.expires_at > at)
    ).first()
    return SignedIn(*row) if row else None


def close_session(session: Session, token: str | None) -> None:
    """End the session named by ``token`` (sign out); unknown tokens are ignored."""
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


def set_flash(session: Session, token: str | None, message: str) -> None:
    """Keep a one-time message for the session's next page (signed-in sessions only)."""
    stored = session.get(WebSession, hash_token(token)) if token else None
    if stored is not None:
        stored.flash = message[:500]


def pop_flash(session: Session, token: str | None) -> str | None:
    """Take the session's one-time message, if any."""
    stored = session.get(WebSession, hash_token(token)) if token else None
    if stored is None or stored.flash is None:
        return None
    message, stored.flash = stored.flash, None
    return message


# --- the server key and what it signs ------------------------------------------------------------

_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_keys_lock = threading.Lock()


class MissingKey(RuntimeError):
    """The database has no signing key: it was not migrated (``gongjue migrate``)."""


def server_key(engine: Engine) -> bytes:
    """The deployment's signing key (read once per engine)."""
    key = _keys.get(engine)
    if key is None:
        with reading(engine) as session:
            value = session.scalar(select(WebKey.value).where(WebKey.name == SIGNING_KEY))
        if value is None:
            raise MissingKey("数据库没有签名密钥，请先运行 gongjue migrate / the database has no signing key; "
                             "run gongjue migrate")
        key = bytes.fromhex(value)
        with _keys_lock:
            _keys[engine] = key
    return key


def sign(key: bytes, tag: str, value: str) -> str:
    """Hex HMAC-SHA256(key, tag + value)."""
    return hmac.new(key, (tag + value).encode(), hashlib.sha256).hexdigest()


def session_csrf(token: str) -> str:
    """The CSRF token bound to the session ``token``: hex HMAC-SHA256(token, tag)."""
    return hmac.new(token.encode(), _CSRF_TAG, hashlib.sha256).hexdigest()


def anonymous_csrf(key: bytes, nonce: str) -> str:
    """The CSRF token of an anonymous form whose browser holds the cookie ``nonce``."""
    return sign(key, _ANON_CSRF_TAG, nonce)


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def valid_nonce(nonce: str | None) -> bool:
    return nonce is not None and _NONCE.fullmatch(nonce) is not None


__all__ = [
    "SESSION_SECONDS",
    "MissingKey",
    "SignedIn",
    "WebKey",
    "WebSession",
    "anonymous_csrf",
    "close_session",
    "hash_token",
    "new_nonce",
    "open_session",
    "pop_flash",
    "server_key",
    "session_csrf",
    "session_for",
    "set_flash",
    "sign",
    "valid_nonce",
]
