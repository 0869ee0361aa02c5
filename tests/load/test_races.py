"""Races over real HTTP (issue #11 part 1), on SQLite and PostgreSQL: a real Uvicorn server with
several worker processes (``benchmarks.harness.Server``), clients in threads of this process.

1. N concurrent casters, some voters casting two different ballots at the same instant: every
   single caster is acknowledged, exactly one of each simultaneous pair wins (the other is
   refused ``already_voted``, 409), the exported bundle passes ``gongjue verify``, holds exactly one
   ballot entry per acknowledged receipt (at the receipt's seq, with its tracking code) and one per
   voter, and every checkpoint handed out is consistent with the final one (no gap, no fork, no
   lost or duplicated ballot).  The ledger self-check and the count scheduler of every worker run
   each second meanwhile: no error, no false alarm.
2. The close racing with casts and with other closers: the window of an open (named) round with
   no objection days ends while owners are casting; the count scheduler runs every second in each
   worker and supervisors post the close API at the same time.  Exactly one ``round.close``, one
   ``round.result`` and one ``round.final`` entry; every cast is acknowledged (its ballot is in the
   log before the close and in the close's counts) or refused ``round_not_open`` — never lost,
   never half-written, never a server error.

Correctness only: speed is measured by benchmarks/cast_bench.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from benchmarks import harness
from ledger import selfcheck
from ledger.db import make_engine, migrated_engine, reading

WORKERS = 3


def _entries(bundle: Path) -> list[dict]:
    return harness.entries(bundle)


def _no_server_errors(server: harness.Server) -> None:
    log = server.log_tail(200_000)
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


def test_concurrent_casters_and_simultaneous_pairs(db_url, tmp_path):
    singles, pairs = 36, 8
    election = harness.prepare(db_url, voters=singles + pairs, seed=11)
    order = list(range(singles + pairs)) + list(range(singles, singles + pairs))  # pair voters: a 2nd ballot
    ballots = harness.make_ballots(election, voters=order, jobs=1)  # few: no process pool to start
    first, second = ballots[:singles + pairs], ballots[singles + pairs:]
    assert len({t for _, t in ballots}) == len(ballots)  # the pair's two ballots differ
    results: dict[tuple[int, int], tuple[int, dict]] = {}
    lock = threading.Lock()
    env = {"GONGJUE_SELFCHECK_SECONDS": "1", "GONGJUE_COUNT_SECONDS": "1"}  # both background threads, busy
    with harness.Server(db_url, workers=WORKERS, env=env, log=tmp_path / "server.log") as server:
        jobs = [[] for _ in range(8)]  # 8 casting threads over the singles …
        for n, (i, text) in enumerate(first[:singles]):
            jobs[n % 8].append((i, 0, text))
        for (i, text), (j, text2) in zip(first[singles:], second):  # … and one thread per pair ballot
            assert i == j
            jobs.append([(i, 0, text)])
            jobs.append([(i, 1, text2)])
        start = threading.Barrier(len(jobs))

        def run(work: list) -> None:
            with httpx.Client(timeout=120) as http:
                start.wait()
                for i, k, text in work:
                    got = harness.cast(server.url, election.voters[i], text, election, http=http)
                    with lock:
                        results[(i, k)] = got

        threads = [threading.Thread(target=run, args=(w,)) for w in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(2)  # a self-check of every worker after the last cast
        _no_server_errors(server)
    engine = make_engine(db_url)
    try:
        with reading(engine) as s:
            assert selfcheck.problems(s) == []
            assert [st.ok for st in s.scalars(select(selfcheck.SelfCheck))] == [True]
    finally:
        engine.dispose()
    assert len(results) == singles + 2 * pairs
    for i in range(singles):
        status, body = results[(i, 0)]
        assert status == 201, body
    receipts = [results[(i, 0)][1] for i in range(singles)]
    for i in range(singles, singles + pairs):
        got = sorted([results[(i, 0)], results[(i, 1)]], key=lambda r: r[0])
        assert [got[0][0], got[1][0]] == [201, 409], got
        assert got[1][1]["detail"]["code"] == "already_voted"
        receipts.append(got[0][1])
    assert len({r["seq"] for r in receipts}) == len(receipts)
    assert len({r["tracking"] for r in receipts}) == len(receipts)

    bundle = harness.export(db_url, election.slug, tmp_path / "bundle")
    ok, out = harness.verify(bundle)
    assert ok, out[-3000:]
    check = harness.check_receipts(bundle, receipts)
    assert check.lost == [] and check.inconsistent == []
    assert check.found == check.acknowledged == singles + pairs == check.ballot_entries
    entries = _entries(bundle)
    assert [e["seq"] for e in entries] == list(range(len(entries)))  # no gap
    signers = Counter(e["body"]["ballot"]["ballot"]["voter"] for e in entries if e["type"] == "ballot")
    assert len(signers) == singles + pairs and set(signers.values()) == {1}  # one ballot per voter


def _round_closing_soon(db_url: str, voters: int) -> tuple[harness.Election, list, float]:
    """An estate whose round closes a few seconds after its ballots are made: on a busy machine the
    setup may outlast the lead, then a fresh estate is made with twice the lead."""
    for attempt in range(4):
        lead = 10 * 2**attempt
        closes = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead)
        election = harness.prepare(db_url, voters=voters, seed=12, slug=f"close-{attempt}", closes=closes,
                                   secrecy="open", policies={"objection_days": 0})
        ballots = harness.make_ballots(election, jobs=1)
        if time.time() < closes.timestamp() - 3:
            return election, ballots, closes.timestamp()
    raise AssertionError("the machine is too slow to make a round and its ballots in 80 s")


def test_close_races_casts_and_other_closers(db_url, tmp_path):
    voters = 40
    migrated_engine(db_url).dispose()  # the server first: the round is made while it runs
    outcomes: dict[int, tuple[int, dict]] = {}
    closers: list[tuple[int, dict]] = []
    lock = threading.Lock()
    env = {"GONGJUE_COUNT_SECONDS": "1"}  # the scheduler of every worker tries to close each second
    with harness.Server(db_url, workers=WORKERS, env=env, log=tmp_path / "server.log") as server:
        election, ballots, end = _round_closing_soon(db_url, voters)
        closes = datetime.fromtimestamp(end, UTC)
        token = harness.staff_session(db_url, election.slug)
        close_url = f"/api/v1/estates/{election.slug}/rounds/{election.round_id}/close"
        begin = time.time()
        span = end + 3 - begin  # ballots spread evenly until 3 s after the window closes
        at = {i: begin + span * n / len(ballots) for n, (i, _) in enumerate(ballots)}

        def caster(work: list) -> None:
            with httpx.Client(timeout=120) as http:
                for i, text in work:
                    time.sleep(max(0.0, at[i] - time.time()))
                    got = harness.cast(server.url, election.voters[i], text, election, http=http)
                    with lock:
                        outcomes[i] = got

        def closer() -> None:
            with httpx.Client(base_url=server.url, timeout=120, cookies={harness.STAFF_COOKIE: token}) as http:
                time.sleep(max(0.0, end - 0.5 - time.time()))
                while time.time() < end + 4:
                    r = http.post(close_url, content=b"{}", headers=harness.JSON)
                    with lock:
                        closers.append((r.status_code, r.json()))
                    time.sleep(0.1)

        threads = [threading.Thread(target=caster, args=(ballots[k::6],)) for k in range(6)]
        threads += [threading.Thread(target=closer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.5)  # the schedulers' last attempts
        _no_server_errors(server)

    assert len(outcomes) == voters
    acknowledged = {i: body for i, (status, body) in outcomes.items() if status == 201}
    refused = {i: body for i, (status, body) in outcomes.items() if status != 201}
    assert all(outcomes[i][0] == 409 and body["detail"]["code"] == "round_not_open" for i, body in refused.items()), \
        {i: outcomes[i] for i in refused}
    assert acknowledged and refused, "the close did not fall among the casts"
    close_codes = Counter((s, b.get("detail", {}).get("code") if s != 201 else "closed") for s, b in closers)
    assert set(close_codes) <= {(201, "closed"), (409, "already_closed"), (409, "window_open")}, close_codes
    assert close_codes[(201, "closed")] <= 1

    bundle = harness.export(db_url, election.slug, tmp_path / "bundle")
    ok, out = harness.verify(bundle)
    assert ok, out[-3000:]
    entries = _entries(bundle)
    kinds = Counter(e["type"] for e in entries)
    assert kinds["round.close"] == 1, kinds  # exactly one process closed the round …
    assert kinds["round.result"] == 1, kinds  # … counted it (an open round is counted at the close) …
    assert kinds["round.final"] == 1, kinds  # … and announced it final (no objection days)
    close = next(e for e in entries if e["type"] == "round.close")
    result = next(e for e in entries if e["type"] == "round.result")
    final = next(e for e in entries if e["type"] == "round.final")
    assert close["seq"] < result["seq"] < final["seq"]
    heads = [sum(c["heads"]) for c in close["body"]["counts"]]  # one mark per item on every ballot counted
    assert heads == [len(acknowledged)] * len(heads), heads
    assert close["time"] >= harness._fmt(closes)
    ballot_seqs = [e["seq"] for e in entries if e["type"] == "ballot"]
    assert all(seq < close["seq"] for seq in ballot_seqs)  # nothing written after the close
    assert close["body"]["ballots"] == len(ballot_seqs) == len(acknowledged)  # every acknowledged one counted
    check = harness.check_receipts(bundle, list(acknowledged.values()))
    assert check.lost == [] and check.inconsistent == [] and check.found == len(acknowledged)
    if close_codes[(201, "closed")] == 1:  # a supervisor won: its answer names that entry
        won = next(b for s, b in closers if s == 201)
        assert won["seq"] == close["seq"] and won["ballots"] == len(acknowledged), json.dumps(won)
