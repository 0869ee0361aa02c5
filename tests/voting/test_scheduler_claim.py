"""The count scheduler's claim (voting.scheduler.claim): one process at a time does the work,
the others skip that run; the claim is released at the end of the block (both databases)."""

from __future__ import annotations

from ledger.db import make_engine
from voting import scheduler


def test_one_claim_at_a_time(engine):
    other = make_engine(engine.url.render_as_string(hide_password=False))  # as another process would
    try:
        with scheduler.claim(engine) as first:
            assert first is True
            with scheduler.claim(other) as second:
                assert second is False
            assert scheduler.run_once(other) == []  # skipped while the first holds the claim
        with scheduler.claim(other) as again:  # released
            assert again is True
            with scheduler.claim(engine) as meanwhile:
                assert meanwhile is False
        with scheduler.claim(engine) as last:
            assert last is True
    finally:
        other.dispose()
