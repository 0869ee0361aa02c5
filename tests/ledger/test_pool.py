"""An engine keeps ``ledger.db.POOL_SIZE`` connections open (docs/DEPLOY.md).

With SQLAlchemy's default of 5, a worker whose threads held 6–10 connections at once closed the
extra ones when they came back and opened new ones for the next burst: on PostgreSQL a new server
process (fork, authentication) for one cast in five under load. The pool now keeps 10, and opens
at most 10 more.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ledger.db import POOL_OVERFLOW, POOL_SIZE


def _opened(engine) -> list[int]:
    """A counter of the new DBAPI connections ``engine`` opens from now on."""
    count = [0]

    @event.listens_for(engine, "connect")
    def _count(dbapi_connection, record) -> None:
        count[0] += 1

    return count


def _burst(engine, n: int) -> None:
    """Hold ``n`` connections at once (``connect`` checks one out of the pool), then give them all back."""
    with ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(engine.connect())


def test_a_burst_of_ten_connections_is_kept_for_the_next(engine) -> None:
    assert (POOL_SIZE, POOL_OVERFLOW) == (10, 10)
    idle = engine.pool.checkedin()  # left open by the migration
    opened = _opened(engine)
    _burst(engine, 10)
    assert opened[0] == 10 - idle
    assert engine.pool.checkedin() == 10
    before = opened[0]
    _burst(engine, 10)
    assert opened[0] == before  # the second burst opened no connection
    _burst(engine, 12)
    assert opened[0] == before + 2  # two beyond the pool: opened, then closed on return
    assert engine.pool.checkedin() == 10


def test_at_most_twenty_at_once(engine) -> None:
    engine.pool._timeout = 0.2
    with ExitStack() as stack:
        for _ in range(POOL_SIZE + POOL_OVERFLOW):
            stack.enter_context(engine.connect())
        with pytest.raises(PoolTimeout):
            engine.connect()
