"""Follow-through (SPEC §11): a passed decision followed from its record to completion and the
owners' rating; spending against the approved amount in exact 0.01 yuan; overruns only with a
reason; refusals write nothing; tampered entries named by the verifier (issue #12 part 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import log
from ledger.db import reading, transaction
from ledger.verify import verify_bundle
from tests.voting import loop_fixtures as lf
from voting import consultation_store as cstore
from voting import follow as fw
from voting import follow_store as fs
from voting.consultation import ConsultError
from voting.follow import FollowError
from web.cli.ledger import content_checks

MILESTONES = [{"id": "bid", "title": "选定施工单位", "due": "2027-01-15"},
              {"id": "work", "title": "完成施工并验收", "due": "2027-03-31"}]


def _open(sc, **kw):
    spec = {"follow": "lift-1", "round": sc.rid, "item": "m1", "title": "1 号楼加装电梯",
            "responsible": "业主委员会（实施：某某电梯公司）", "amount": 38000000, "milestones": MILESTONES}
    spec.update(kw)
    return fs.open_record(sc.engine, sc.slug, fs.Opening(**spec))


def _size(sc) -> int:
    with reading(sc.engine) as s:
        return log.size(s, sc.log_id)


@pytest.fixture
def sc(engine, tmp_path):
    return lf.decided(engine, tmp_path / "work")


def test_a_decision_followed_from_approval_to_rating(sc, tmp_path):
    _, _, decisions = fs.load(sc.engine, sc.slug)
    assert [(d.item, d.follow) for d in decisions] == [("m1", None), ("c2", None)]
    _open(sc)
    fs.update(sc.engine, sc.slug, "lift-1", status="done", milestone="bid", text="经公开比选，选定施工单位",
              files=[("比选结果.pdf", b"%PDF-1.4 bid result")])
    fs.spend(sc.engine, sc.slug, "lift-1", amount=12000050, payee="某某电梯公司", purpose="首期款")
    fs.spend(sc.engine, sc.slug, "lift-1", amount=25999950, payee="某某电梯公司", purpose="二期款")
    with pytest.raises(FollowError) as info:  # 0.01 yuan beyond the approved amount, no reason
        fs.spend(sc.engine, sc.slug, "lift-1", amount=1, payee="某某电梯公司", purpose="尾款")
    assert info.value.code == "overrun"
    fs.spend(sc.engine, sc.slug, "lift-1", amount=1, payee="某某电梯公司", purpose="尾款",
             overrun_reason="验收时增加防夹装置，业委会已公示并提请业主大会追认")
    with pytest.raises(FollowError) as info:
        fs.complete(sc.engine, sc.slug, "lift-1", text="完工")
    assert info.value.code == "milestones_open"
    fs.update(sc.engine, sc.slug, "lift-1", status="done", milestone="work", text="已通过验收")
    fs.complete(sc.engine, sc.slug, "lift-1", text="电梯已投入使用", files=[("验收报告.pdf", b"%PDF report")])
    _, book, decisions = fs.load(sc.engine, sc.slug)
    rec = book.records["lift-1"]
    assert rec.total == 38000001 and rec.overrun and fw.yuan(rec.total) == "380000.01"
    assert decisions[0].follow == "lift-1"
    with pytest.raises(FollowError):
        fs.update(sc.engine, sc.slug, "lift-1", status="note", milestone=None, text="完成后不能再更新")
    cstore.announce(sc.engine, sc.slug, lf.spec("lift-rating", follow="lift-1", questions=[
        {"id": "quality", "kind": "rating", "text": "对加装电梯工程质量的评价"}]))
    c = lf.consult_of(sc, "lift-rating")
    for owner, stars in (("A", 5), ("B", 4), ("F", 1)):
        cstore.respond(sc.engine, sc.slug, c.id, lf.response(sc, owner, c, [stars]), voter=sc.voter[owner],
                       factor="sms")
    cstore.close(sc.engine, sc.slug, c.id, now=lf.now() + timedelta(days=2))
    a, b, f = (lf.e2e.area_of(o) for o in "ABF")
    assert lf.consult_of(sc, c.id).close["counts"] == [{"id": "quality", "heads": [1, 0, 0, 1, 1],
                                                        "area": [f, 0, 0, b, a]}]
    report = verify_bundle(lf.export(sc, tmp_path / "b"), [], checks=content_checks())
    assert report.ok, [p.message for p in report.problems]
    assert report.counts["follow-through payments"] == 3


def test_refusals_write_nothing(sc):
    before = _size(sc)
    with pytest.raises(ConsultError):  # rating a record that is not complete (does not exist)
        cstore.announce(sc.engine, sc.slug, lf.spec("early", follow="lift-1"))
    for kw, code in (({"item": "m9"}, "not_decided"), ({"round": "r9"}, "not_decided"),
                     ({"responsible": "张三 13800138000"}, "bad_request"),
                     ({"milestones": [{"id": "x", "title": "t", "due": "2027-02-30"}]}, "bad_request")):
        with pytest.raises(FollowError) as info:
            _open(sc, **kw)
        assert info.value.code == code, (kw, info.value.message)
    assert _size(sc) == before
    _open(sc, amount=None)
    with pytest.raises(FollowError) as info:
        _open(sc, follow="lift-2")
    assert info.value.code == "duplicate"
    with pytest.raises(FollowError) as info:
        fs.spend(sc.engine, sc.slug, "lift-1", amount=100, payee="某公司", purpose="无批准金额")
    assert info.value.code == "no_amount"
    assert _size(sc) == before + 1


def _forge(sc, entry_type, body):
    with transaction(sc.engine) as s:
        return log.append(s, sc.log_id, entry_type, body).seq


def _named(sc, tmp_path, seq, words):
    report = verify_bundle(lf.export(sc, tmp_path / "t"), [], checks=content_checks())
    found = [p for p in report.problems if p.seq == seq]
    assert found and words in found[0].message, [(p.seq, p.message) for p in report.problems]


def test_altered_spending_total_is_named(sc, tmp_path):
    _open(sc)
    fs.spend(sc.engine, sc.slug, "lift-1", amount=100000, payee="某公司", purpose="首期款")
    seq = _forge(sc, fw.SPEND, {"v": 1, "follow": "lift-1", "amount": 50000, "payee": "某公司", "purpose": "二期款",
                                "documents": [], "total": 140000, "overrun": None})
    _named(sc, tmp_path, seq, "recomputed 150000")


def test_an_unreasoned_overrun_is_named(sc, tmp_path):
    _open(sc, amount=100000)
    seq = _forge(sc, fw.SPEND, {"v": 1, "follow": "lift-1", "amount": 100001, "payee": "某公司", "purpose": "超支",
                                "documents": [], "total": 100001, "overrun": None})
    _named(sc, tmp_path, seq, "overrun")


def test_a_record_for_a_failed_item_is_named(sc, tmp_path):
    with reading(sc.engine) as s:
        result = max(e.seq for e in log.entries(s, sc.log_id) if e.type == "round.result")
    seq = _forge(sc, fw.FOLLOW, {"v": 1, "follow": "x", "decision": {"round": sc.rid, "item": "zz", "result": result},
                                 "title": "t", "responsible": "r", "amount": None, "milestones": []})
    _named(sc, tmp_path, seq, "no item")


def test_milestones_and_completion_rules(sc):
    _open(sc, amount=None)
    before = _size(sc)
    for kw, code in (({"status": "done", "milestone": "nope"}, "bad_request"),
                     ({"status": "done", "milestone": None}, "bad_request"),
                     ({"status": "finished", "milestone": "bid"}, "bad_request")):
        with pytest.raises(FollowError) as info:
            fs.update(sc.engine, sc.slug, "lift-1", text="进展", **kw)
        assert info.value.code == code, (kw, info.value.message)
    assert _size(sc) == before
    fs.update(sc.engine, sc.slug, "lift-1", status="done", milestone="bid", text="已选定")
    with pytest.raises(FollowError) as info:
        fs.update(sc.engine, sc.slug, "lift-1", status="delayed", milestone="bid", text="再次")
    assert info.value.code == "milestone_done"
    fs.update(sc.engine, sc.slug, "lift-1", status="done", milestone="work", text="已验收")
    fs.complete(sc.engine, sc.slug, "lift-1", text="完成")
    for call in (lambda: fs.complete(sc.engine, sc.slug, "lift-1", text="再次完成"),
                 lambda: fs.update(sc.engine, sc.slug, "lift-1", status="note", milestone=None, text="补充")):
        with pytest.raises(FollowError) as info:
            call()
        assert info.value.code == "complete"
    _, book, _ = fs.load(sc.engine, sc.slug)
    assert book.records["lift-1"].complete[2]["spent"] == 0
