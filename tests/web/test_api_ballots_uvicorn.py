"""Casting through a real Uvicorn server (both databases): owners cast at the same time over real
HTTP, one of them twice at once; every acknowledged ballot has a receipt that verifies against the
signed checkpoint, exactly one of the simultaneous pair is acknowledged, and the audit of the
record counts each voter once.  Correctness only; latency is measured outside the tests."""

from __future__ import annotations

import threading

import httpx
import pytest

from ledger.receipt import verify_receipt
from tests.voting.test_cast import _audit
from tests.web.test_api_ballots import JSON, URL, _est, _vkey, owner_cookie
from tests.web.uvicorn_server import serving
from web.owner import OWNER_COOKIE


@pytest.fixture
def server(app):
    with serving(app) as url:
        yield url


def test_simultaneous_casts_over_real_http(engine, server):
    est = _est(engine)
    jobs = [("A-01", est.text("A-01", [1, 0, 0])), ("A-01", est.text("A-01", [0, 1, 0])),
            ("B-02", est.text("B-02", [0, 0, 1])), ("C-03", est.text("C-03", [1, 0, 0])),
            ("D-04", est.text("D-04", [0, 1, 0]))]
    tokens = [owner_cookie(engine, est, owner) for owner, _ in jobs]
    results: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        with httpx.Client(base_url=server, timeout=120, cookies={OWNER_COOKIE: tokens[i]}) as c:
            start.wait()
            results[i] = c.post(URL, content=jobs[i][1].encode(), headers=JSON)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r.status_code for r in results]
    assert statuses[2:] == [201, 201, 201], [r.text for r in results]
    assert sorted(statuses[:2]) == [201, 409]
    loser = results[0] if statuses[0] == 409 else results[1]
    assert loser.json()["detail"]["code"] == "already_voted"
    vkey = _vkey(engine)
    for r in results:
        if r.status_code == 201:
            assert verify_receipt(r.json(), vkey).type == "ballot"
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 4
