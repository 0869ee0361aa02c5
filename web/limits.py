"""Sign-in limits that cost an attacker more than the account's owner (issue #8.2, SPEC §8.3).

Every attempt first *reserves* itself against its counters, in one write transaction that locks
the counter rows (PostgreSQL ``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``), before any
password is checked: a burst of concurrent attempts can never check more passwords than the
counters allow.  A reserved attempt counts as a failure; a successful one is refunded after.

Counters (a counter is forgotten FAILURE_WINDOW after its last counted attempt and delay):

- ``as:`` account *and* source address: MAX_FAILURES, then refused; from the second failure
  each next try waits 2, 4, 8 … s.  One source cannot lock the account for the others.
- ``s:`` source address, over all accounts: SOURCE_MAX (guessing many names from one place).
- ``a:`` account, over every source without a device cookie: ACCOUNT_FREE failures, then a
  progressive delay (15 s, 30 s, … up to FAILURE_WINDOW) between tries, never a hard lock: a
  flood from many addresses gets about one guess per window on a known account.
- ``d:`` a device cookie (OWASP "device cookies"): a browser where the account signed in before
  is judged by its own counter only (MAX_FAILURES, delays as ``as:``), so the owner's right
  password gets through while the account is attacked from elsewhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Engine, Integer, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity.staff import normalize_username
from ledger.db import Base

FAILURE_WINDOW = 15 * 60
MAX_FAILURES = 5  # per account and source, and per device cookie
SOURCE_MAX = 10  # per source address, over all accounts
ACCOUNT_FREE = 10  # per account from unknown devices, before the progressive delay
ACCOUNT_BASE_DELAY = 15
PURGE_EVERY = 60  # seconds between sweeps of forgotten counters (per process)


class SignInCounter(Base):
    __tablename__ = "web_signin_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[int] = mapped_column(BigInteger)
    next_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


@dataclass(frozen=True)
class Rule:
    cap: int | None  # failures after which the counter refuses until forgotten (None: never)
    free: int  # failures before tries are spaced
    base: int  # the first spacing, doubled per further failure, at most FAILURE_WINDOW

    def delay(self, failures: int) -> int:
        if failures < self.free:
            return 0
        return min(FAILURE_WINDOW, self.base << min(failures - self.free, 16))


RULES = {"as": Rule(MAX_FAILURES, 2, 2), "d": Rule(MAX_FAILURES, 2, 2), "s": Rule(SOURCE_MAX, SOURCE_MAX, 0),
         "a": Rule(None, ACCOUNT_FREE, ACCOUNT_BASE_DELAY)}
# "as"/"d": after the 1st failure no wait, then 2, 4, 8 s; the 5th refuses for FAILURE_WINDOW.


@dataclass(frozen=True)
class Refused:
    """Why an attempt was not allowed to check a password, and when to try again."""

    kind: str  # the counter: "as", "s", "a" or "d"
    retry_after: int  # seconds


def keys_for(username: str, client: str, device: str | None) -> list[str]:
    """The counters one attempt reserves: the device's alone when it holds a valid device cookie."""
    name = normalize_username(username)[:64]
    if device is not None:
        return [f"d:{device[:64]}"]
    return sorted([f"as:{name}|{client[:64]}", f"s:{client[:64]}", f"a:{name}"])


def _forgotten(row: SignInCounter, at: int) -> bool:
    return at >= row.expires_at


def reserve(session: Session, keys: list[str], at: int | None = None) -> Refused | None:
    """Count one attempt against every counter in ``keys``, or none of them if one refuses.

    Caller's transaction; on a refusal the caller must roll back (``transaction`` does when the
    refusal is raised, see web.signin) or simply not have changed anything: this function only
    changes rows after every counter has agreed.
    """
    at = now() if at is None else at
    _purge(session, at)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for key in sorted(keys):  # one lock order: no deadlock between two attempts
        session.execute(insert(SignInCounter).values(key=key, failures=0, last_at=0, next_at=0, expires_at=0)
                        .on_conflict_do_nothing(index_elements=["key"]))
    rows = list(session.scalars(select(SignInCounter).where(SignInCounter.key.in_(sorted(keys)))
                                .order_by(SignInCounter.key).with_for_update()))
    refusals = [refusal for row in rows if (refusal := _judge(row, at))]
    if refusals:
        return max(refusals, key=lambda r: r.retry_after)
    for row in rows:
        rule = RULES[row.key.split(":", 1)[0]]
        failures = 1 if _forgotten(row, at) else row.failures + 1
        next_at = at + rule.delay(failures)
        session.execute(update(SignInCounter).where(SignInCounter.key == row.key).values(
            failures=failures, last_at=at, next_at=next_at, expires_at=max(at, next_at) + FAILURE_WINDOW))
    return None


def _judge(row: SignInCounter, at: int) -> Refused | None:
    if _forgotten(row, at):
        return None
    kind = row.key.split(":", 1)[0]
    rule = RULES[kind]
    if rule.cap is not None and row.failures >= rule.cap:
        return Refused(kind, row.expires_at - at)
    if row.next_at > at:
        return Refused(kind, row.next_at - at)
    return None


def refund(session: Session, keys: list[str], *, forget: tuple[str, ...] = ("as", "d")) -> None:
    """Take back one reserved attempt (it succeeded, or was never checked); counters whose kind
    is in ``forget`` are forgotten altogether (the owner's own pair or device after a success)."""
    at = now()
    for key in keys:
        if key.split(":", 1)[0] in forget:
            session.execute(delete(SignInCounter).where(SignInCounter.key == key))
        else:
            session.execute(update(SignInCounter).where(SignInCounter.key == key, SignInCounter.failures > 0)
                            .values(failures=SignInCounter.failures - 1))
    session.execute(delete(SignInCounter).where(SignInCounter.key.in_(keys), SignInCounter.failures <= 0,
                                                SignInCounter.next_at <= at))


_last_purge: dict[int, int] = {}
_purge_lock = threading.Lock()


def _purge(session: Session, at: int) -> None:
    """Forget expired counters, at most once per PURGE_EVERY seconds per process and database."""
    engine: Engine = session.get_bind().engine
    with _purge_lock:
        if at - _last_purge.get(id(engine), 0) < PURGE_EVERY:
            return
        _last_purge[id(engine)] = at
    session.execute(delete(SignInCounter).where(SignInCounter.expires_at <= at))


def now() -> int:
    return int(time.time())


def counter(session: Session, key: str) -> SignInCounter | None:
    return session.get(SignInCounter, key)


__all__ = [
    "ACCOUNT_FREE",
    "FAILURE_WINDOW",
    "MAX_FAILURES",
    "RULES",
    "SOURCE_MAX",
    "Refused",
    "SignInCounter",
    "counter",
    "keys_for",
    "refund",
    "reserve",
]
