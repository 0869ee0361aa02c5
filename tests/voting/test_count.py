"""Close, count and publish (issue #9 part 7; SPEC §7.3, §7.10), on both databases.

Each test announces a real round (voting.rounds), casts real ballots (voting.cast), closes it
through the scheduler or ``voting.count_round``, takes the trustees' shares as ``gongjue trustee
decrypt`` makes them from the exported bundle, and checks the published tally to the exact
integer — then that ``gongjue verify`` (the bundle check with every content check) accepts the
honest record and names the entry of every forgery.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from identity import store
from ledger import log
from ledger.db import reading, transaction
from ledger.verify import verify_bundle
from tests.voting import count_estate as ce
from tests.voting.cast_estate import SLUG
from voting import cast, count_round, scheduler
from voting.count_round import CountError
from web.cli.ledger import content_checks

AGREE, OPPOSE, ABSTAIN = [1, 0, 0], [0, 1, 0], [0, 0, 1]
# A-01 88.50 m², B-02 120.00, C-03 65.43, D-04 100.00, E-05 50.00; D-04 does not vote
VOTES = {"A-01": AGREE, "B-02": ABSTAIN, "C-03": AGREE, "E-05": AGREE}
EXPECTED = {"rules": "civil-code-2021", "totals": {"heads": 5, "area": "423.93"},
            "participation": {"heads": 4, "area": "323.93"}, "quorum": True,
            "items": {"m1": {"outcome": "passed", "agree": {"heads": 3, "area": "203.93"},
                             "oppose": {"heads": 0, "area": "0.00"}, "abstain": {"heads": 1, "area": "120.00"}}}}


def _verify(rnd: ce.Round, out) -> list:
    rnd.export(out)
    report = verify_bundle(out, [], checks=content_checks())
    return [(p.seq, p.message) for p in report.problems]


def _cast_all(rnd: ce.Round, votes=VOTES) -> None:
    for owner, choice in votes.items():
        rnd.cast(owner, choice)


def _published(rnd: ce.Round) -> dict:
    with reading(rnd.engine) as s:
        return count_round.published(s, SLUG, ce.ROUND_ID)


def _submit(rnd: ce.Round, shares: dict, now=None):
    with transaction(rnd.engine) as s:
        return count_round.submit_shares(s, SLUG, ce.ROUND_ID, shares, now=now or rnd.after)


def test_secret_round_closed_by_the_scheduler_counted_from_two_trustees(engine, tmp_path):
    rnd = ce.make(engine)
    _cast_all(rnd)
    assert scheduler.run_once(engine, rnd.during) == []  # the window is open: nothing to do
    done = scheduler.run_once(engine, rnd.after)
    assert [(slug, rid, action) for slug, rid, action, _ in done] == [(SLUG, "r1", "close")]
    assert scheduler.run_once(engine, rnd.after) == []  # closed once
    view = _published(rnd)
    assert view["close"]["ballots"] == 4 and view["result"] is None and view["needed"] == 2

    shares = rnd.shares(tmp_path / "b1")
    first = _submit(rnd, shares[1])
    assert first.result is None and first.present == (1,)
    second = _submit(rnd, shares[2])
    assert second.result is not None and second.present == (1, 2)
    view = _published(rnd)
    assert view["result"]["tally"] == EXPECTED  # the plaintext sum, exactly
    assert view["result"]["counts"] == [{"id": "m1", "heads": [3, 0, 1], "area": [20393, 0, 12000]}]
    assert view["result"]["deemed"] is None
    assert view["result"]["objection_until"] == (rnd.after + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "同意面积 203.93 m² / 参与面积 323.93 m²" in view["explanation"]
    assert _verify(rnd, tmp_path / "b2") == []

    # the objection window runs; then the scheduler announces the result final
    assert scheduler.run_once(engine, rnd.after + timedelta(days=6)) == []
    done = scheduler.run_once(engine, rnd.after + timedelta(days=7))
    assert [a for _, _, a, _ in done] == ["final"]
    assert _published(rnd)["final"] is not None
    assert _verify(rnd, tmp_path / "b3") == []


def test_close_is_refused_while_the_window_is_open_and_shares_before_the_close(engine, tmp_path):
    rnd = ce.make(engine)
    rnd.cast("A-01", AGREE)
    with pytest.raises(CountError) as exc, transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.during)
    assert exc.value.code == "window_open"
    with pytest.raises(CountError) as exc, transaction(engine) as s:
        count_round.submit_shares(s, SLUG, ce.ROUND_ID, {"v": 1, "trustee": 1}, now=rnd.during)
    assert exc.value.code == "round_not_closed"
    with pytest.raises(CountError) as exc, transaction(engine) as s:
        count_round.close(s, SLUG, "r9", now=rnd.after)
    assert exc.value.code == "no_round"


def test_open_round_is_counted_at_the_close(engine, tmp_path):
    rnd = ce.make(engine, secrecy="open")
    _cast_all(rnd)
    with transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    view = _published(rnd)
    assert view["result"]["tally"] == EXPECTED and view["shares"] == [] and view["needed"] is None
    with pytest.raises(CountError) as exc:
        _submit(rnd, {"v": 1, "trustee": 1})
    assert exc.value.code == "open_round"
    assert _verify(rnd, tmp_path / "b") == []


def test_k_of_n_counts_with_one_trustee_missing(engine, tmp_path):
    rnd = ce.make(engine, k_of_n=True)
    _cast_all(rnd)
    scheduler.run_once(engine, rnd.after)
    shares = rnd.shares(tmp_path / "b1", trustees=[3, 1])  # trustee 2 has lost its key
    assert _submit(rnd, shares[3]).result is None
    done = _submit(rnd, shares[1])
    assert done.result is not None and done.present == (1, 3) and done.needed == 2
    assert _published(rnd)["result"]["tally"] == EXPECTED
    with pytest.raises(CountError) as exc:  # a late third share set changes nothing
        _submit(rnd, rnd.shares(tmp_path / "b2", trustees=[2])[2])
    assert exc.value.code == "already_counted"
    assert _verify(rnd, tmp_path / "b3") == []


def test_deemed_consent_publishes_the_actual_and_the_deemed_result(engine, tmp_path):
    rnd = ce.make(engine, deemed=True, secrecy="open")
    _cast_all(rnd, {"A-01": AGREE, "C-03": AGREE, "E-05": AGREE})  # 3 of 5 heads: no quorum (3·3 < 2·5)
    with transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    result = _published(rnd)["result"]
    assert result["tally"]["quorum"] is False and result["tally"]["items"]["m1"]["outcome"] == "no_quorum"
    deemed = result["deemed"]
    # B-02 and D-04 (2 heads, 220.00 m²) follow the majority of those who voted: agree
    assert deemed["participation"] == {"heads": 5, "area": "423.93"} and deemed["quorum"] is True
    assert deemed["items"]["m1"] == {"outcome": "passed", "agree": {"heads": 5, "area": "423.93"},
                                     "oppose": {"heads": 0, "area": "0.00"}, "abstain": {"heads": 0, "area": "0.00"}}
    assert _published(rnd)["deemed_explanation"].count("✓") > 0
    assert _verify(rnd, tmp_path / "b") == []


def test_a_forged_share_is_refused_at_submission_and_caught_by_verify(engine, tmp_path):
    rnd = ce.make(engine)
    _cast_all(rnd)
    scheduler.run_once(engine, rnd.after)
    shares = rnd.shares(tmp_path / "b1")
    forged = json.loads(json.dumps(shares[1]))
    forged["items"][0]["heads"][0]["d"] = shares[2]["items"][0]["heads"][0]["d"]  # another trustee's D
    with pytest.raises(CountError) as exc:
        _submit(rnd, forged)
    assert exc.value.code == "bad_shares" and "item 'm1' heads 0" in exc.value.message
    wrong = dict(shares[1], key=shares[2]["key"])
    with pytest.raises(CountError) as exc:
        _submit(rnd, wrong)
    assert exc.value.code == "wrong_key"
    assert _published(rnd)["shares"] == []  # nothing was written
    # an operator who writes the forged share straight into the ledger is caught by the verifier
    with transaction(engine) as s:
        seq = log.append(s, store.get_estate(s, SLUG).log_id, "round.shares",
                         {"v": 1, "round": ce.ROUND_ID, "shares": forged}, time=rnd.after).seq
    problems = _verify(rnd, tmp_path / "b2")
    assert [p for p in problems if p[0] == seq and "item 'm1' heads 0" in p[1]], problems


def test_a_changed_result_is_caught_by_verify(engine, tmp_path):
    rnd = ce.make(engine)
    _cast_all(rnd)
    scheduler.run_once(engine, rnd.after)
    shares = rnd.shares(tmp_path / "b1")
    _submit(rnd, shares[1])
    with transaction(engine) as s:  # the operator records trustee 2's shares and a result of its own
        lid = store.get_estate(s, SLUG).log_id
        entries = count_round._parsed(s, lid)
        rec = count_round._round(entries, ce.ROUND_ID)
        s2 = log.append(s, lid, "round.shares", {"v": 1, "round": ce.ROUND_ID, "shares": shares[2]},
                        time=rnd.after).seq
        tally = json.loads(json.dumps(EXPECTED))
        tally["items"]["m1"]["agree"] = {"heads": 4, "area": "303.93"}
        tally["items"]["m1"]["abstain"] = {"heads": 0, "area": "0.00"}
        body = {"v": 1, "round": ce.ROUND_ID, "close": rec.close[0], "shares": [rec.of("round.shares")[0][0], s2],
                "counts": [{"id": "m1", "heads": [4, 0, 0], "area": [32393, 0, 0]}], "tally": tally, "deemed": None,
                "objection_until": (rnd.after + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        seq = log.append(s, lid, "round.result", body, time=rnd.after).seq
    problems = _verify(rnd, tmp_path / "b2")
    mine = [m for s_, m in problems if s_ == seq]
    assert any("item 'm1' selection 0 heads is 4, recomputed 3" in m for m in mine), problems
    assert any("item 'm1' (outcome 'passed') differs" in m for m in mine), problems


def test_exactly_one_close_when_threads_race(engine, tmp_path):
    rnd = ce.make(engine)
    _cast_all(rnd)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def closer():
        try:
            barrier.wait()
            with transaction(engine) as s:
                e = count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
            results.append(e.seq if e is not None else None)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len([r for r in results if r is not None]) == 1 and results.count(None) == 3
    assert _verify(rnd, tmp_path / "b") == []


def test_a_close_racing_with_casts_loses_no_ballot(engine, tmp_path):
    rnd = ce.make(engine)
    texts = {o: rnd.text(o, c) for o, c in VOTES.items()}  # encrypted before the race
    barrier = threading.Barrier(len(texts) + 1)
    receipts, refused, errors, closes = {}, {}, [], []

    def caster(owner):
        try:
            barrier.wait()
            receipts[owner] = cast.cast(engine, SLUG, ce.ROUND_ID, texts[owner], voter=rnd.voters[owner],
                                        factor="sms", now=rnd.during)
        except cast.CastError as e:
            refused[owner] = e.code
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def closer():  # the scheduler's way: ballots verified from a read snapshot, re-checked under the lock
        barrier.wait()
        closes.append(count_round.close_round(engine, SLUG, ce.ROUND_ID, now=rnd.after))

    threads = [threading.Thread(target=caster, args=(o,)) for o in texts] + [threading.Thread(target=closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    close_seq = closes[0].seq
    assert set(receipts) | set(refused) == set(texts) and set(refused.values()) <= {"round_not_open"}
    assert all(r["seq"] < close_seq for r in receipts.values())  # every acknowledged ballot is before the close
    assert _published(rnd)["close"]["ballots"] == len(receipts)  # … and counted
    assert _verify(rnd, tmp_path / "b") == []


PROCESS = """
import sys, time, os
from datetime import datetime
from pathlib import Path
from ledger.db import make_engine
from voting import count_round
engine = make_engine(sys.argv[1])
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
e = count_round.close_round(engine, "maple-court", "r1", now=datetime.fromisoformat(sys.argv[3]))
print(e.seq if e is not None else "none")
"""


def test_exactly_one_close_when_two_processes_race(engine, tmp_path):
    import os
    import subprocess
    import sys

    rnd = ce.make(engine)
    _cast_all(rnd)
    url = engine.url.render_as_string(hide_password=False)
    go = tmp_path / "go"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, url, str(go), rnd.after.isoformat()], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    said = sorted(o[0].strip() for o in outs)
    assert said[1] == "none" and said[0].isdigit(), said
    assert _verify(rnd, tmp_path / "b") == []


def test_a_prepared_close_outdated_by_a_ballot_is_recomputed_under_the_lock(engine, tmp_path):
    rnd = ce.make(engine)
    rnd.cast("A-01", AGREE)
    with reading(engine) as s:
        prepared = count_round.prepare_close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    assert prepared.audit.counted == 1
    rnd.cast("B-02", ABSTAIN)  # lands after the snapshot, before the close takes the lock
    with transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after, prepared=prepared)
    assert _published(rnd)["close"]["ballots"] == 2
    assert _verify(rnd, tmp_path / "b") == []


COMPOUND = [{"id": "m1", "kind": "motion", "matter": "hire_manager"},
            {"id": "fund", "kind": "motion", "matter": "raise_maintenance_fund", "requires": ["m1"]},
            {"id": "E", "kind": "election", "matter": "elect_committee", "seats": 2, "candidates": ["K1", "K2", "K3"]},
            {"id": "C", "kind": "choice", "matter": "hire_manager", "options": ["greenleaf", "harbour", "none"]}]
# owner → (m1, fund, E, C) as BALLOTS.csv cells and as ballot selections
COMPOUND_VOTES = {
    "A-01": (("agree", "agree", "K1;K2", "greenleaf"), {"m1": AGREE, "fund": AGREE, "E": [1, 1, 0], "C": [1, 0, 0]}),
    "B-02": (("abstain", "oppose", "K2;K3", "harbour"), {"m1": ABSTAIN, "fund": OPPOSE, "E": [0, 1, 1], "C": [0, 1, 0]}),
    "C-03": (("agree", "agree", "K1", "greenleaf"), {"m1": AGREE, "fund": AGREE, "E": [1, 0, 0], "C": [1, 0, 0]}),
    "D-04": (("agree", "agree", "K1;K2", "greenleaf"), {"m1": AGREE, "fund": AGREE, "E": [1, 1, 0], "C": [1, 0, 0]}),
}


@pytest.mark.parametrize("secrecy", ["secret", "open"])
def test_a_compound_round_publishes_what_gongjue_tally_gives_for_the_same_ballots(engine, tmp_path, secrecy):
    from tests.voting.cast_estate import OWNERS
    from voting.report import to_json
    from web.cli.tally import tally as offline_tally

    rnd = ce.make(engine, secrecy=secrecy, items=COMPOUND)
    for owner, (_, choices) in COMPOUND_VOTES.items():
        rnd.cast(owner, choices)
    scheduler.run_once(engine, rnd.after)
    if secrecy == "secret":
        for shares in rnd.shares(tmp_path / "b1").values():
            _submit(rnd, shares)
    published = _published(rnd)["result"]["tally"]

    (tmp_path / "roll.csv").write_text("building,unit,room,area,owner\n" + "".join(
        f"{b},1,{101 + i},{area // 100}.{area % 100:02d},{owner}\n" for i, (owner, (b, area)) in enumerate(OWNERS.items())))
    (tmp_path / "agenda.json").write_text(json.dumps({"rules": "civil-code-2021", "items": COMPOUND}))
    (tmp_path / "ballots.csv").write_text("owner,m1,fund,E,C\n" + "".join(
        f"{owner},{','.join(cells)}\n" for owner, (cells, _) in COMPOUND_VOTES.items()))
    _, offline = offline_tally(tmp_path / "roll.csv", tmp_path / "agenda.json", tmp_path / "ballots.csv")
    assert published == to_json(offline)
    items = published["items"]
    assert items["m1"]["outcome"] == "passed" and items["C"]["adopted"] == "greenleaf"
    assert items["E"]["elected"] == ["K2", "K1"]  # 3 heads each; K2 has more area (308.50 m² against 253.93)
    assert items["fund"]["outcome"] == "failed"  # 4·Y ≥ 3·P: heads 12 ≥ 12 holds, area 4 × 253.93 < 3 × 373.93
    assert _verify(rnd, tmp_path / "b2") == []


def test_a_close_before_the_window_ends_and_an_early_final_are_caught_by_verify(engine, tmp_path):
    from voting.round_record import close_body

    rnd = ce.make(engine, secrecy="open")
    _cast_all(rnd)
    with transaction(engine) as s:  # an operator closes early, straight into the ledger
        lid = store.get_estate(s, SLUG).log_id
        counts = [{"id": "m1", "heads": [3, 0, 1], "area": [20393, 0, 12000]}]
        early = log.append(s, lid, "round.close", close_body(ce.ROUND_ID, ballots=4, counts=counts),
                           time=rnd.during).seq
    problems = _verify(rnd, tmp_path / "b1")
    assert any(s_ == early and "before the voting window ends" in m for s_, m in problems), problems


def test_an_early_final_is_caught_by_verify(engine, tmp_path):
    rnd = ce.make(engine, secrecy="open")
    _cast_all(rnd)
    with transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    with pytest.raises(CountError) as exc, transaction(engine) as s:
        count_round.finalise(s, SLUG, ce.ROUND_ID, now=rnd.after + timedelta(days=6))
    assert exc.value.code == "objection_window"
    with transaction(engine) as s:
        lid = store.get_estate(s, SLUG).log_id
        result_seq = _published(rnd)["result"]["seq"]
        seq = log.append(s, lid, "round.final", {"v": 1, "round": ce.ROUND_ID, "result": result_seq},
                         time=rnd.after + timedelta(days=6)).seq
    problems = _verify(rnd, tmp_path / "b")
    assert any(s_ == seq and "before the objection window ends" in m for s_, m in problems), problems


def test_two_trustees_submitting_at_once_give_one_result(engine, tmp_path):
    rnd = ce.make(engine)
    _cast_all(rnd)
    scheduler.run_once(engine, rnd.after)
    shares = rnd.shares(tmp_path / "b1")
    barrier = threading.Barrier(2)
    done, errors = [], []

    def submit(j):
        try:
            barrier.wait()
            done.append(_submit(rnd, shares[j]))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(j,)) for j in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(d.result is not None for d in done) == [False, True]
    assert _published(rnd)["result"]["tally"] == EXPECTED
    assert _verify(rnd, tmp_path / "b2") == []


def test_an_extension_moves_the_close(engine, tmp_path):
    from voting import rounds

    rnd = ce.make(engine)
    _cast_all(rnd)
    later = rnd.closes + timedelta(days=3)
    with transaction(engine) as s:
        rounds.extend(s, SLUG, ce.ROUND_ID, closes=later, reason="延长三天 / three more days", by="tests",
                      now=rnd.during)
    assert scheduler.run_once(engine, rnd.after) == []  # the old end has passed, the window is still open
    with pytest.raises(CountError) as exc, transaction(engine) as s:
        count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    assert exc.value.code == "window_open"
    assert [a for _, _, a, _ in scheduler.run_once(engine, later)] == ["close"]
    assert _verify(rnd, tmp_path / "b") == []
