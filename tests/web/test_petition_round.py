"""After a petition (SPEC §9, issue #12): the round the committee announced in answer to it says so
on its public page, with a link back to the petition (read from the petition replay, no new
entry); ``gongjue petition list|show`` prints each proposal's support by heads and area, the line
with its date and deadline, and the response (read-only)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.db import reading, transaction
from ledger.models import Entry
from tests.web import e2e_fixtures as e2e
from tests.web.conftest import csrf_of, sign_in
from voting import petition as pt
from voting import petition_store as ps
from web import i18n
from web.cli import main

SLUG = e2e.SLUG


def _petition(engine, sc, pid="p1", title="更换电梯维保单位", signers=("A", "B")):
    with transaction(engine) as s:
        p, _ = ps.publish(s, SLUG, author=sc.voter["A"], title=title, text="维保响应慢。\n提议召开临时会议。",
                          matter="hire_manager", scope={}, attachments=[ps.Attachment("报价单.pdf", "application/pdf",
                                                                                        b"%PDF-1.4 quote")])
    assert p.id == pid
    for owner in signers:
        key, sig = pt.sign(pt.SIGN, p.hash, sc.voter[owner], sc.key(owner))
        with transaction(engine) as s:
            ps.record_signed(s, SLUG, pt.SIGN, p.id, voter=sc.voter[owner], key=key, sig=sig,
                             by_voter=sc.voter[owner])
    return p


def test_the_round_page_names_the_petition_it_answers(engine, app, tmp_path):
    sc = e2e.build(engine, tmp_path / "w", upto=e2e.ANNOUNCED)
    _petition(engine, sc)  # two of seven owners: the line (⌈7/5⌉ = 2) is reached
    _petition(engine, sc, "p2", "公开维修资金账目", signers=("C",))
    page = f"/estates/{SLUG}/rounds/{sc.rid}"
    with TestClient(app, follow_redirects=False) as public:
        before = public.get(page)
        assert before.status_code == 200 and "应业主联名提议" not in before.text and "data-petition" not in before.text
    with TestClient(app, follow_redirects=False) as st:
        assert sign_in(st, e2e.STAFF["supervisor"]).status_code == 303
        token = csrf_of(st.get(f"/estates/{SLUG}/petitions/p1").text)
        r = st.post(f"/estates/{SLUG}/petitions/p1/response", data={"csrf": token, "kind": "round", "round": sc.rid})
        assert r.status_code == 303, r.text
    with reading(engine) as s:
        types = list(s.scalars(select(Entry.type)))
    assert types.count(pt.RESPONSE) == 1 and all(t in types for t in (pt.PETITION, pt.SIGN, pt.LINE))
    with TestClient(app, follow_redirects=False) as public:
        after = public.get(page)
        assert after.status_code == 200
        assert f'<p class="notice" data-petition="p1"><a href="/estates/{SLUG}/petitions/p1">应业主联名提议 p1 召开</a>: ' \
               "更换电梯维保单位</p>" in after.text
        assert 'data-petition="p2"' not in after.text  # p2 named no round
        back = public.get(f"/estates/{SLUG}/petitions/p1")
        assert back.status_code == 200 and sc.rid in back.text
        public.cookies.set(i18n.COOKIE, "en")
        english = public.get(page).text
        assert f'<a href="/estates/{SLUG}/petitions/p1">Convened in answer to the owners\' petition p1</a>' in english


def test_gongjue_petition_list_and_show(engine, tmp_path, capsys, monkeypatch):
    sc = e2e.build(engine, tmp_path / "w", upto=e2e.ANNOUNCED)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    p1 = _petition(engine, sc)
    _petition(engine, sc, "p2", "公开维修资金账目", signers=("C",))
    with transaction(engine) as s:
        ps.respond(s, SLUG, "p1", kind="round", round_id=sc.rid, reason=None)
    areas = {o: e2e.area_of(o) for o in e2e.OWNERS}
    total = sum(areas.values())

    capsys.readouterr()
    assert main(["petition", "list", "--estate", SLUG, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [d["petition"] for d in got] == ["p1", "p2"]
    one, two = got
    assert one["state"] == "answered" and one["support"] == {"heads": 2, "area": areas["A"] + areas["B"]}
    assert one["totals"] == {"heads": 7, "area": total} and one["needed"] == 2
    assert one["line"]["support"] == one["support"] and one["line"]["deadline"] > one["line"]["date"]
    assert one["response"]["kind"] == "round" and one["response"]["round"] == sc.rid and not one["overdue"]
    assert two["state"] == "collecting" and two["support"] == {"heads": 1, "area": areas["C"]} and two["line"] is None
    assert two["response"] is None

    assert main(["petition", "list", "--estate", SLUG]) == 0
    text = capsys.readouterr().out
    a_b = areas["A"] + areas["B"]
    assert f"联名 support: 2/7 人 owners (法定比例 line: 2) · {a_b // 100}.{a_b % 100:02d}/" in text
    assert f"答复期限 deadline: {one['line']['deadline']}" in text and f"round {sc.rid} announced" in text
    assert "p2\t征集联名 collecting\t公开维修资金账目" in text and "未达到 not reached" in text

    assert main(["petition", "show", "--estate", SLUG, "p1"]) == 0
    text = capsys.readouterr().out
    assert "维保响应慢。\n提议召开临时会议。" in text and "报价单.pdf" in text and p1.hash in text
    assert main(["petition", "show", "--estate", SLUG, "p1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["signatures"]) == 2 and shown["withdrawals"] == [] and shown["response"] == one["response"]

    assert main(["petition", "show", "--estate", SLUG, "p9"]) == 2
    assert capsys.readouterr().err.startswith("no_petition: ")
    assert main(["petition", "list", "--estate", "nowhere"]) == 2
    assert capsys.readouterr().err.startswith("no_estate: ")
