"""The evidence report of a round and the delivery entries it rests on (issue #13 part 3), both
databases: a simulated round (tests/web/e2e_fixtures.py) with notices, a letter and the result
delivered; the public report's numbers equal the published result and the record; the staff copy
names flats and only staff with the role see it; every refused delivery writes nothing; a
delivery entry the server should have refused is named by ``gongjue verify``."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger import bundle, checkpoint, keys, log
from ledger.db import reading, transaction
from tests.web import e2e_fixtures as fx
from tests.web.conftest import sign_in
from voting import count_round, delivery
from web.cli import main

REPORT = f"/estates/{fx.SLUG}/audit/rounds/{fx.ROUND}/evidence.html"
STAFF_REPORT = f"/estates/{fx.SLUG}/staff/rounds/{fx.ROUND}/evidence.html"
OUTSIDER = "f" * 32


def _size(engine, sc) -> int:
    with reading(engine) as s:
        return log.size(s, sc.log_id)


def _record(engine, **kw) -> int:
    with transaction(engine) as s:
        return delivery.record(s, fx.SLUG, **kw)


@pytest.fixture
def counted(engine, tmp_path):
    """A round announced, the notice delivered by post to A, B and C and posted on the board, D's
    letter handed over; then voted, closed and counted; the result sent by SMS to everyone."""
    sc = fx.build(engine, tmp_path / "work", upto=fx.ANNOUNCED)
    now = datetime.now(UTC).replace(microsecond=0)
    voters = [sc.voter[o] for o in "ABC"]
    _record(engine, round_id=fx.ROUND, what="notice", method="post", at=now - timedelta(hours=2), voters=voters,
            evidence="ab" * 32, now=now)
    _record(engine, round_id=fx.ROUND, what="notice", method="board", at=now - timedelta(hours=3), voters=[], now=now)
    _record(engine, round_id=None, what="letter", method="hand", at=now - timedelta(hours=1), voters=[sc.voter["D"]],
            now=now)
    fx.resume(sc, fx.COUNTED)
    with reading(engine) as s:
        result_seq = count_round.published(s, fx.SLUG, fx.ROUND)["result"]["seq"]
        result_time = datetime.strptime(log.get_entry(s, sc.log_id, result_seq).time, "%Y-%m-%dT%H:%M:%SZ")
    later = result_time.replace(tzinfo=UTC) + timedelta(hours=1)
    _record(engine, round_id=fx.ROUND, what="result", method="sms", at=later, voters=list(sc.voter.values()),
            now=later + timedelta(minutes=5))
    return sc


def test_refused_deliveries_write_nothing(engine, tmp_path):
    sc = fx.build(engine, tmp_path / "work", upto=fx.ANNOUNCED)
    now = datetime.now(UTC).replace(microsecond=0)
    before = _size(engine, sc)
    cases = [
        (dict(round_id=fx.ROUND, what="notice", method="post", at=now, voters=[OUTSIDER]), "not_eligible"),
        (dict(round_id=fx.ROUND, what="notice", method="post", at=now + timedelta(hours=1), voters=[sc.voter["A"]]),
         "bad_time"),
        (dict(round_id=fx.ROUND, what="notice", method="post", at=now - timedelta(days=30), voters=[sc.voter["A"]]),
         "bad_time"),
        (dict(round_id=fx.ROUND, what="notice", method="board", at=now, voters=[sc.voter["A"]]), "bad_delivery"),
        (dict(round_id=fx.ROUND, what="notice", method="post", at=now, voters=[]), "bad_delivery"),
        (dict(round_id=fx.ROUND, what="notice", method="pigeon", at=now, voters=[sc.voter["A"]]), "bad_delivery"),
        (dict(round_id=None, what="notice", method="post", at=now, voters=[sc.voter["A"]]), "bad_delivery"),
        (dict(round_id="r9", what="notice", method="post", at=now, voters=[sc.voter["A"]]), "no_round"),
        (dict(round_id=fx.ROUND, what="result", method="sms", at=now, voters=[sc.voter["A"]]), "no_result"),
        (dict(round_id=fx.ROUND, what="notice", method="post", at=now, voters=[sc.voter["A"]], evidence="xyz"),
         "bad_delivery"),
        (dict(round_id=None, what="letter", method="hand", at=now, voters=[OUTSIDER]), "not_eligible"),
    ]
    for kw, code in cases:
        with pytest.raises(delivery.DeliveryError) as e:
            _record(engine, now=now, **kw)
        assert e.value.code == code, (kw, e.value.message)
        assert e.value.message
    assert _size(engine, sc) == before


def test_public_report_equals_the_record(engine, app, counted, tmp_path):
    sc = counted
    page = TestClient(app).get(REPORT)
    assert page.status_code == 200, page.text
    html = page.text
    assert "证据报告" in html and fx.NAME in html
    with reading(engine) as s:
        pub = count_round.published(s, fx.SLUG, fx.ROUND)
        row = checkpoint.latest(s, sc.log_id)
        out = tmp_path / "bundle"
        bundle.write_dir(s, sc.log_id, out)
    tally = pub["result"]["tally"]
    # participation and every item's counts are the published result's
    assert tally["participation"]["heads"] == 4 and tally["totals"]["heads"] == 7
    assert re.search(rf'<td class="num">{tally["participation"]["heads"]}</td><td class="num">7</td>', html)
    for c in pub["result"]["counts"]:
        for h in c["heads"]:
            assert f'<td class="num">{h}</td>' in html
    # the covering checkpoint, its root and the SHA-256 of entries.jsonl at its size
    size = row.size
    assert f"{size}" in html and row.root.hex() in html and row.note.split("\n")[0] in html
    lines = (out / "entries.jsonl").read_bytes().splitlines(keepends=True)[:size]
    assert hashlib.sha256(b"".join(lines)).hexdigest() in html
    # deliveries: post to 3, the board (counts all 7), D's letter, the result to all 7; 4 not reached by the notice
    assert html.count("挂号信") >= 1 and "公告栏" in html and "短信" in html
    assert "ab" * 32 in html
    assert "未收到本人送达公告的业主：4 位。" in html
    # the public copy names pseudonyms, never a flat
    assert sc.voter["A"] in html and "1-1-101" not in html and "员工副本" not in html
    assert "<script" not in html and ' style="' not in html


def test_staff_copy_names_flats_for_the_roles_only(engine, app, counted):
    sc = counted
    with TestClient(app, follow_redirects=False) as anon:
        assert anon.get(STAFF_REPORT).status_code in (401, 303)
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, sc.staff["scrutineer"]).status_code == 303
        assert c.get(STAFF_REPORT).status_code == 403
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, sc.staff["auditor"]).status_code == 303
        page = c.get(STAFF_REPORT)
        assert page.status_code == 200
        assert "员工副本" in page.text and "1-1-101、1-1-102" in page.text and sc.voter["A"] in page.text


def test_verify_checks_deliveries_and_names_a_bad_one(engine, counted, tmp_path, capsys, monkeypatch):
    sc = counted
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", url)
    good = tmp_path / "good"
    with reading(engine) as s:
        bundle.write_dir(s, sc.log_id, good)
    capsys.readouterr()
    assert main(["verify", str(good), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {c["check"]: c["count"] for c in report["checks"]}.get("deliveries") == 4
    # a server that skips voting.delivery.record's checks: a voter outside the snapshot
    later = datetime.now(UTC) + timedelta(days=3)
    body = {"v": 1, "round": fx.ROUND, "what": "notice", "method": "post", "at": "2026-01-01T00:00:00Z",
            "voters": [OUTSIDER], "evidence": None}
    with transaction(engine) as s:
        bad = log.append(s, sc.log_id, delivery.DELIVERY, body, time=later).seq
        checkpoint.sign(s, sc.log_id, keys.log_key())
    out = tmp_path / "bad"
    with reading(engine) as s:
        bundle.write_dir(s, sc.log_id, out)
    capsys.readouterr()
    assert main(["verify", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["first"]["seq"] == bad
    assert "not in round 'r1'" in report["first"]["message"] and "before the document existed" in json.dumps(
        report, ensure_ascii=False)


def test_delivery_cli_resolves_flats_with_line_numbers(engine, tmp_path, monkeypatch, capsys):
    sc = fx.build(engine, tmp_path / "work", upto=fx.ANNOUNCED)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    flats = tmp_path / "flats.csv"
    flats.write_text("building,unit,room\n1,1,101\n1,2,201\n9,9,909\n", "utf-8")
    before = _size(engine, sc)
    args = ["delivery", "--estate", fx.SLUG, "--round", fx.ROUND, "--what", "notice", "--method", "hand",
            "--at", (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert main(args + ["--flats", str(flats)]) == 2
    assert f"{flats}:4:" in capsys.readouterr().err and _size(engine, sc) == before
    flats.write_text("1,1,101\n1,1,102\n1,2,201\n", "utf-8")
    evidence = tmp_path / "sheet.pdf"
    evidence.write_bytes(b"signed delivery sheet")
    assert main(args + ["--flats", str(flats), "--evidence", str(evidence)]) == 0
    assert "2 位业主" in capsys.readouterr().out  # A's two flats are one owner
    with reading(engine) as s:
        e = log.get_entry(s, sc.log_id, before)
    body = json.loads(e.data)["body"]
    assert body["voters"] == sorted([sc.voter["A"], sc.voter["B"]])
    assert body["evidence"] == hashlib.sha256(b"signed delivery sheet").hexdigest()
    assert main(["delivery", "--estate", fx.SLUG, "--round", fx.ROUND, "--what", "notice", "--method", "board",
                 "--at", "2026-11-20 10:00", "--all"]) == 2
