"""Consultations close by themselves at the end of their window (SPEC §10.4, issue #12): the count
scheduler's ``run_once`` appends the ``consult.close`` — the staff close, with the same counts —
exactly once however many workers run it at the same moment; one whose window is still open is
left alone (both databases)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from ledger.db import make_engine, reading
from ledger.models import Entry
from ledger.verify import verify_bundle
from tests.voting import loop_fixtures as lf
from tests.web import e2e_fixtures as e2e
from voting import consultation as cs
from voting import consultation_store as store
from voting import scheduler
from voting.consultation import ConsultError
from web.cli.ledger import content_checks

A, B, C = (e2e.area_of(o) for o in "ABC")
COUNTS = [{"id": "overall", "heads": [0, 1, 0, 0, 2], "area": [0, B, 0, 0, A + C]},
          {"id": "renew", "heads": [1, 1, 0], "area": [A, B, 0]}]  # as the staff close in test_consultation


def _respond(sc, owner, answers, consult="survey"):
    c = lf.consult_of(sc, consult)
    store.respond(sc.engine, sc.slug, c.id, lf.response(sc, owner, c, answers), voter=sc.voter[owner], factor="sms")


@pytest.fixture
def sc(engine, tmp_path):
    sc = e2e.build(engine, tmp_path / "work", upto=e2e.CREDENTIALS)
    t = lf.now()
    store.announce(engine, sc.slug, lf.spec("survey", closes=t + timedelta(days=1)))
    store.announce(engine, sc.slug, lf.spec("later", closes=t + timedelta(days=3)))
    _respond(sc, "A", [5, 0])
    _respond(sc, "B", [2, 1])
    _respond(sc, "C", [5, None])
    _respond(sc, "A", [3, 2], consult="later")
    sc.t = t
    return sc


def _closes(sc) -> list[int]:
    with reading(sc.engine) as s:
        return list(s.scalars(select(Entry.seq).where(Entry.log_id == sc.log_id, Entry.type == cs.CLOSE)))


def _race(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_a_due_consultation_is_closed_once_by_racing_schedulers(sc, tmp_path):
    with reading(sc.engine) as s:
        assert store.due(s, sc.slug, sc.t + timedelta(hours=1)) == []
        assert store.due(s, sc.slug, sc.t + timedelta(days=1)) == ["survey"]
    assert scheduler.run_once(sc.engine, sc.t + timedelta(hours=12)) == []  # nothing due yet
    when = sc.t + timedelta(days=2)
    url = sc.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(4)]  # as four app processes would be
    try:
        done = _race(4, lambda i: scheduler.run_once(engines[i], when))
    finally:
        for e in engines:
            e.dispose()
    acts = [d for ds in done for d in ds]
    assert [(slug, cid, act) for slug, cid, act, _ in acts if _ is not None] == [(sc.slug, "survey", "consult.close")]
    assert len(_closes(sc)) == 1
    c = lf.consult_of(sc, "survey")
    assert c.close["participation"] == {"heads": 3, "area": A + B + C} and c.close["responses"] == 3
    assert c.close["counts"] == COUNTS
    later = lf.consult_of(sc, "later")
    assert later.close is None and later.state(when) == "open"  # not yet due: left open
    with pytest.raises(ConsultError) as info:  # a staff close afterwards is refused, as for a round
        store.close(sc.engine, sc.slug, "survey", now=when)
    assert info.value.code == "already_closed"
    assert scheduler.run_once(sc.engine, when) == []  # closed once
    late = sc.t + timedelta(days=4)
    assert [(cid, act) for _, cid, act, seq in scheduler.run_once(sc.engine, late) if seq] == [("later", "consult.close")]
    assert lf.consult_of(sc, "later").close["participation"] == {"heads": 1, "area": A}
    report = verify_bundle(lf.export(sc, tmp_path / "bundle"), [], checks=content_checks())
    assert report.ok, [p.message for p in report.problems]


def test_the_lock_decides_when_the_claim_is_bypassed(sc, tmp_path):
    """Workers past the claim (as after a lost advisory lock) still append one close: the others
    find it under the log lock and record nothing."""
    when = sc.t + timedelta(days=2)
    done = _race(4, lambda i: scheduler._run(sc.engine, when))
    seqs = [seq for ds in done for _, cid, act, seq in ds if cid == "survey"]
    assert len(seqs) == 4 and len([s for s in seqs if s is not None]) == 1
    assert len(_closes(sc)) == 1
    assert lf.consult_of(sc, "survey").close["counts"] == COUNTS
    report = verify_bundle(lf.export(sc, tmp_path / "bundle"), [], checks=content_checks())
    assert report.ok, [p.message for p in report.problems]
