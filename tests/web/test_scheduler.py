"""The count scheduler runs inside the app (no cron): the app's lifespan starts it next to the
ledger self-check, and it closes a round whose window has ended without anyone asking."""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime, timedelta

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting import count_estate as ce
from tests.voting.test_count import VOTES
from web.app import create_app


def test_the_app_closes_a_round_by_itself(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_COUNT_SECONDS", "1")
    rnd = ce.make(engine, secrecy="open", t0=datetime.now(UTC).replace(microsecond=0) - timedelta(days=20))
    for owner, choice in VOTES.items():
        rnd.cast(owner, choice)
    app = create_app(engine)
    with TestClient(app) as c:
        assert app.state.count_scheduler is not None and app.state.selfcheck is not None  # both run
        body = {}
        for _ in range(600):  # until the scheduler has run (no timing is asserted)
            body = c.get("/api/v1/estates/maple-court/rounds/r1/result").json()
            if body["result"] is not None:
                break
            time.sleep(0.1)
        assert body["close"]["ballots"] == 4
        assert body["result"]["tally"]["items"]["m1"]["outcome"] == "passed"
    assert not app.state.count_scheduler.is_alive()  # stopped with the app


def test_the_scheduler_is_off_with_zero_seconds(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_COUNT_SECONDS", "0")
    app = create_app(engine)
    with TestClient(app):
        assert app.state.count_scheduler is None


def test_two_app_instances_close_a_round_once(engine, monkeypatch, tmp_path):
    """Two apps over their own engines (as two server processes would be) both run the scheduler."""
    from ledger.db import make_engine
    from ledger.verify import verify_bundle
    from web.cli.ledger import content_checks

    monkeypatch.setenv("GONGJUE_COUNT_SECONDS", "1")
    rnd = ce.make(engine, t0=datetime.now(UTC).replace(microsecond=0) - timedelta(days=20))
    for owner, choice in VOTES.items():
        rnd.cast(owner, choice)
    url = engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    apps = [create_app(e) for e in engines]
    with TestClient(apps[0]) as c, TestClient(apps[1]):
        body = {}
        for _ in range(600):
            body = c.get("/api/v1/estates/maple-court/rounds/r1/result").json()
            if body["close"] is not None:
                break
            time.sleep(0.1)
        time.sleep(2.5)  # let both schedulers run again after the close
    for e in engines:
        e.dispose()
    entries = _types(engine)
    assert entries.count("round.close") == 1
    rnd.export(tmp_path / "b")
    assert verify_bundle(tmp_path / "b", [], checks=content_checks()).problems == []


def _types(engine) -> list[str]:
    from sqlalchemy import select

    from ledger.db import reading
    from ledger.models import Entry

    with reading(engine) as s:
        return list(s.scalars(select(Entry.type).order_by(Entry.seq)))
