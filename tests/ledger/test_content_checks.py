"""Content checks are an explicit argument of the verifier (SPEC §2.8 item 7, issue #7.3).

There is no process-global registry any more: ``verify_bundle`` called as a library must be given
its ``checks`` (a required keyword), and with the election checks it catches a bad roll total.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from identity import record
from identity.roll import read_roll
from ledger import keys, log, verify
from ledger.bundle import write_dir
from ledger.db import transaction
from ledger.verify import NO_CONTENT_CHECKS, ContentChecks, verify_bundle
from web.cli.ledger import content_checks

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/roll.csv"
SEEN: list[tuple[int, int, str]] = []  # (pid, seq, type) seen by the whole-log check


def _bad_roll_bundle(engine, out: Path) -> int:
    """A bundle whose second roll entry states one head too many; returns the stated number."""
    roll = read_roll(EXAMPLE.read_bytes(), "roll.csv")
    key = keys.log_key()
    bad = record.roll_body(2, roll)
    stated = bad["totals"]["estate"]["heads"] = bad["totals"]["estate"]["heads"] + 1
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
        log.append(s, log_id, "estate", record.estate_body(SLUG, "枫林苑", ORIGIN, key.vkey))
        log.append(s, log_id, "roll", record.roll_body(1, roll))
        log.append(s, log_id, "roll", bad)
        from ledger import checkpoint

        checkpoint.sign(s, log_id, key)
    with transaction(engine) as s:
        write_dir(s, log_id, out)
    return stated


def test_library_call_with_the_election_checks_catches_a_bad_roll_total(engine, tmp_path):
    stated = _bad_roll_bundle(engine, tmp_path / "b")
    report = verify_bundle(tmp_path / "b", checks=content_checks())
    assert not report.ok
    assert [(p.check, p.seq) for p in report.problems] == [("content", 2)]
    assert re.fullmatch(f"entry 2 \\(roll\\): totals.estate.heads: stated {stated}, the (parts|voters) give {stated - 1}",
                        report.problems[0].message), report.problems[0].message
    assert verify_bundle(tmp_path / "b", checks=NO_CONTENT_CHECKS).ok  # the structure alone holds


def test_checks_is_a_required_keyword(engine, tmp_path):
    _bad_roll_bundle(engine, tmp_path / "b")
    with pytest.raises(TypeError, match="checks"):
        verify_bundle(tmp_path / "b")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):  # the old (path, olds, progress) order
        verify_bundle(tmp_path / "b", None, None)  # type: ignore[misc]
    with pytest.raises(TypeError, match="ContentChecks"):
        verify_bundle(tmp_path / "b", checks={"roll": []})  # type: ignore[arg-type]
    assert not hasattr(verify, "register_content_check")


def _odd_i(entry, ctx):  # noqa: ANN001, ANN202
    return [f"i={entry.body['i']} is odd (pid {os.getpid()})"] if entry.body["i"] % 7 == 3 else []


def _boom(entry, ctx):  # noqa: ANN001, ANN202
    raise KeyError("area")


def _record_order(entries, ctx):  # noqa: ANN001, ANN202
    for e in entries:
        SEEN.append((os.getpid(), e.seq, e.type))
    yield None, f"saw {len(SEEN)} entries of {ctx.origin}"
    yield 5, "entry five is suspicious"


@pytest.mark.parametrize("jobs", [1, 2])
def test_whole_log_checks_see_every_entry_in_order_in_the_main_process(sqlite_engine, tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(verify, "CHUNK", 4)  # 10 chunks: with jobs=2 the per-entry checks run in workers
    fill(sqlite_engine, ORIGIN, 40, keys.log_key())
    with transaction(sqlite_engine) as s:
        write_dir(s, log.get_log(s, ORIGIN).id, tmp_path / "b")
    SEEN.clear()
    checks = ContentChecks.merge(ContentChecks({"test": [_odd_i]}),
                                 ContentChecks({"test": [_odd_i]}, [_record_order]))
    report = verify_bundle(tmp_path / "b", checks=checks, jobs=jobs)
    assert SEEN == [(os.getpid(), i, "test") for i in range(40)]
    assert [(p.seq, p.message.split(" (pid")[0]) for p in report.problems] == (
        [(i, f"entry {i} (test): i={i} is odd") for i in range(3, 40, 7)]
        + [(None, f"saw 40 entries of {ORIGIN}"), (5, "entry 5: entry five is suspicious")])


def test_a_check_that_raises_is_a_finding_not_a_crash(sqlite_engine, tmp_path):
    fill(sqlite_engine, ORIGIN, 3, keys.log_key())
    with transaction(sqlite_engine) as s:
        write_dir(s, log.get_log(s, ORIGIN).id, tmp_path / "b")
    report = verify_bundle(tmp_path / "b", checks=ContentChecks({"test": [_boom]}))
    assert [(p.check, p.seq) for p in report.problems] == [("content", 0), ("content", 1), ("content", 2)]
    assert report.problems[0].message == (
        "entry 0 (test): tests.ledger.test_content_checks._boom could not check it: KeyError: 'area'")


def test_merge_keeps_order_and_runs_a_check_once():
    a = ContentChecks({"roll": [_odd_i], "estate": [_boom]})
    b = ContentChecks({"roll": [_boom, _odd_i]}, [_record_order])
    merged = ContentChecks.merge(a, b, ContentChecks(whole_log=[_record_order]))
    assert merged.per_entry == {"roll": (_odd_i, _boom), "estate": (_boom,)}
    assert merged.whole_log == (_record_order,)
    assert ContentChecks.merge() == NO_CONTENT_CHECKS


def test_gongjue_verify_runs_the_checks_of_every_package():
    from identity import authority
    from voting import round_record

    merged = content_checks()
    for part in (record.CHECKS, authority.CHECKS, round_record.CHECKS):
        for entry_type, fns in part.per_entry.items():
            assert set(fns) <= set(merged.per_entry[entry_type])
        assert set(part.whole_log) <= set(merged.whole_log)
    assert authority.check_log in merged.whole_log and round_record.check_rounds in merged.whole_log
