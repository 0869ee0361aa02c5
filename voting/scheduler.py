"""The in-app count scheduler: closes rounds at the end of their window and announces them final
after the objection window (issue #9 part 7; no cron), and closes and counts consultations at
the end of theirs (SPEC §10.4, issue #12).

``run_once(engine, now)`` looks at every estate (``voting.count_round.due``: a read of the
round-state entries only, in ``ledger.db.reading``) and, for each round that is due, opens a
write transaction and calls ``count_round.close`` or ``count_round.finalise``.  Those re-check
everything inside the transaction after locking the log, so when several app processes run the
scheduler at once exactly one of them appends the ``round.close`` (or ``round.final``); the
others find it there and do nothing.  Consultations the same way: ``consultation_store.due``
(announcements and closes only) names those whose window has ended, and
``consultation_store.close`` — the staff close, same counts — re-checks under the log lock; a
worker that comes second gets ``already_closed`` and records nothing.

Before any of that, ``claim`` lets one process at a time do the scheduler's work (a try-lock:
PostgreSQL ``pg_try_advisory_lock``, SQLite an ``flock`` on ``<database>-scheduler.lock``); the
others skip that run.  Correctness never rests on it — the log lock does — it keeps several
workers from each recomputing the same close (the audit of every ballot) at the busiest moment,
the end of a window, on the same cores that serve the owners.

``CountScheduler`` is the background thread the app's lifespan starts
(``GONGJUE_COUNT_SECONDS``, default 30; 0 = off).  A failure is logged, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine

from identity.store import list_estates
from ledger import db
from ledger.db import reading, transaction
from voting import consultation_store, count_round
from voting.consultation import ConsultError

DEFAULT_SECONDS = 30
LOG = logging.getLogger("gongjue.count")
ADVISORY_KEY = 0x676F6E676A756531  # "gongjue1": the PostgreSQL advisory lock of the count scheduler


def interval() -> int:
    """Seconds between two runs (GONGJUE_COUNT_SECONDS; 0 = the scheduler is off)."""
    try:
        return max(0, int(os.environ.get("GONGJUE_COUNT_SECONDS", DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


def claim(engine: Engine) -> AbstractContextManager[bool]:
    """True in the one process (or thread) that does the scheduler's work now, False in the others
    while it holds the claim (``ledger.db.claim``)."""
    return db.claim(engine, ADVISORY_KEY, "-scheduler.lock")


def run_once(engine: Engine, now: datetime | None = None) -> list[tuple[str, str, str, int | None]]:
    """Close and finalise whatever is due; returns (slug, round or consultation id, action — "close",
    "final" or "consult.close" —, seq or None when another process did it first) for each attempt; [] when another process holds the ``claim``.  A
    refused attempt is logged and skipped."""
    with claim(engine) as mine:
        return _run(engine, now) if mine else []


def _run(engine: Engine, now: datetime | None) -> list[tuple[str, str, str, int | None]]:
    now = now or datetime.now(UTC)
    with reading(engine) as session:
        estates = [e.slug for e in list_estates(session)]
        work = [(slug, rid, action) for slug in estates for rid, action in count_round.due(session, slug, now)]
        consults = [(slug, cid) for slug in estates for cid in consultation_store.due(session, slug, now)]
    done = []
    for slug, rid, action in work:
        try:
            if action == "close":  # ballots verified from a read snapshot, then re-checked under the lock
                entry = count_round.close_round(engine, slug, rid, now=now)
            else:
                with transaction(engine) as session:
                    entry = count_round.finalise(session, slug, rid, now=now)
            done.append((slug, rid, action, entry.seq if entry is not None else None))
        except count_round.CountError as e:
            LOG.warning("轮次 %s/%s 的 %s 未完成 / %s of round %s/%s refused: %s", slug, rid, action, action, slug, rid,
                        e.message)
    for slug, cid in consults:
        try:
            receipt = consultation_store.close(engine, slug, cid, now=now)
            done.append((slug, cid, "consult.close", receipt["seq"]))
        except ConsultError as e:
            if e.code == "already_closed":  # another process closed it first
                done.append((slug, cid, "consult.close", None))
            else:
                LOG.warning("意见征集 %s/%s 未能结束 / consultation %s/%s not closed: %s", slug, cid, slug, cid,
                            e.message)
    return done


class CountScheduler(threading.Thread):
    """Runs ``run_once`` every ``seconds`` until ``stop``."""

    def __init__(self, engine: Engine, seconds: int) -> None:
        super().__init__(name="gongjue-count", daemon=True)
        self.engine, self.seconds, self.stopping = engine, seconds, threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.seconds):
            try:
                run_once(self.engine)
            except Exception:
                LOG.exception("计票调度未能运行 / the count scheduler could not run")

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:
    """Starts the scheduler over ``app.state.engine`` for the app's lifetime."""
    seconds = interval()
    worker = CountScheduler(app.state.engine, seconds) if seconds > 0 else None
    if worker:
        worker.start()
    app.state.count_scheduler = worker
    try:
        yield
    finally:
        if worker:
            worker.stop()
