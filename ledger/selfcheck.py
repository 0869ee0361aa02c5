"""The server's self-check: every log re-hashed from its stored bytes against its signed checkpoints.

SPEC §2.9, issue #8.5.  ``run(engine)`` checks every log with ``ledger.recheck`` (each entry's
bytes, leaf hash, prev chain, stored hashes; every signed checkpoint's signature and root) in a
read-only transaction per log (``ledger.db.reading``: it never holds the write lock), then
records the outcome per log in ``ledger_selfcheck`` — ok, or the first bad entry and why.
``gongjue serve`` runs it on start and the web app every GONGJUE_SELFCHECK_SECONDS (default 300);
the estate's audit page and staff pages warn from the recorded outcome (``status``, ``problems``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger import log as logs
from ledger.db import reading, transaction
from ledger.models import Log, SelfCheck
from ledger.recheck import Finding, recheck

INTERVAL_ENV = "GONGJUE_SELFCHECK_SECONDS"
DEFAULT_INTERVAL = 300
LOG = logging.getLogger("gongjue.selfcheck")


@dataclass(frozen=True)
class Outcome:
    """One log's self-check: ``finding`` is None when every check held."""

    origin: str
    size: int
    checked_at: datetime
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None

    @property
    def slug(self) -> str:
        return self.origin.rsplit("/", 1)[-1]


def interval() -> int:
    """Seconds between periodic self-checks (GONGJUE_SELFCHECK_SECONDS; 0 turns them off)."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{INTERVAL_ENV} 必须是秒数 / must be a whole number of seconds (got {text!r})")
    return int(text)


def check_log(session: Session, log_id: int, origin: str) -> Outcome:
    """Re-hash one log from its bytes (in the caller's transaction; use a reading one)."""
    size = logs.size(session, log_id)
    return Outcome(origin, size, datetime.now(UTC), recheck(session, log_id, 0, size))


def run(engine: Engine) -> list[Outcome]:
    """Check every log and record each outcome; problems are also logged as warnings."""
    with reading(engine) as session:
        found = list(session.execute(select(Log.id, Log.origin).order_by(Log.id)))
    outcomes = []
    for log_id, origin in found:
        with reading(engine) as session:
            outcome = check_log(session, log_id, origin)
        with transaction(engine) as session:
            _record(session, log_id, outcome)
        if not outcome.ok:
            LOG.warning("账本自检失败 / ledger self-check failed: %s: %s", origin, outcome.finding.message)
        outcomes.append(outcome)
    return outcomes


def _record(session: Session, log_id: int, outcome: Outcome) -> None:
    """Insert or replace the log's row in one statement (two workers checking the same log for the
    first time at once must not collide on its primary key)."""
    values = {"checked_at": outcome.checked_at, "size": outcome.size, "ok": outcome.ok,
              "seq": outcome.finding.seq if outcome.finding else None,
              "message": outcome.finding.message if outcome.finding else None}
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    session.execute(upsert(SelfCheck).values(log_id=log_id, **values)
                    .on_conflict_do_update(index_elements=[SelfCheck.log_id], set_=values))
    session.expire_all()


def status(session: Session, log_id: int) -> SelfCheck | None:
    """The last recorded self-check of the log (None before the first run)."""
    return session.get(SelfCheck, log_id)


def problems(session: Session) -> list[tuple[str, SelfCheck]]:
    """(origin, last self-check) of every log whose last self-check failed."""
    rows = session.execute(select(Log.origin, SelfCheck).join(SelfCheck, SelfCheck.log_id == Log.id)
                           .where(SelfCheck.ok.is_(False)).order_by(Log.origin))
    return [(origin, row) for origin, row in rows]
