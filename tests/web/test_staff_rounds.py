"""Staff round pages (web.staff_rounds): create, preview, edit, candidates, trustees, announce,
extend, on both databases, with every refusal shown on the page and nothing written.

The estate is tests/voting/rounds_fixtures.py's (two buildings, building 1 with two stairwells,
six voters, credentials registered); the clock is pinned at T0 = 1 December 2026 10:00 Beijing
time, so a round opening on 16 December has exactly 15 days of notice and one opening on the
15th has 14.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from identity import store
from ledger import log
from ledger.db import reading
from tests.voting.rounds_fixtures import SLUG, T0, make_estate
from tests.web.conftest import add_staff, csrf_of, sign_in
from voting import candidates as cands
from voting import rounds
from voting.crypto import trustee

BASE = f"/estates/{SLUG}/staff/rounds"


def size(engine) -> int:
    with reading(engine) as s:
        return log.size(s, store.get_estate(s, SLUG).log_id)


def drafts(engine) -> list[str]:
    with reading(engine) as s:
        return [v.round_id for v in rounds.list_rounds(s, SLUG)]


@pytest.fixture
def estate(engine, app):
    est = make_estate(engine)
    app.state.clock = lambda: T0
    return est


@pytest.fixture
def staff(engine, app, estate):
    """Signed-in clients: supervisor alice, scrutineer zhao, auditor sun, supervisor of another estate bob."""
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    add_staff(engine, "zhao", "scrutineer", estates=(SLUG,))
    add_staff(engine, "sun", "auditor", estates=(SLUG,))
    add_staff(engine, "bob", "supervisor", estates=("pine-garden",))
    add_staff(engine, "root", "admin")
    out = {}
    for name in ("alice", "zhao", "sun", "bob", "root"):
        c = TestClient(app, follow_redirects=False)
        c.__enter__()
        assert sign_in(c, name).status_code == 303
        out[name] = c
    yield out
    for c in out.values():
        c.__exit__(None, None, None)


def form(**over) -> dict:
    """A valid new-round form: opens 16 December 10:00 Beijing time (15 days after T0)."""
    data = {"round": "r1", "rules": "civil-code-2021", "item_count": "2",
            "item0_title": "续聘物业公司", "item0_kind": "motion", "item0_matter": "hire_manager",
            "item1_title": "", "item1_kind": "motion", "item1_matter": "hire_manager",
            "secrecy": "open", "form": "written", "opens": "2026-12-16T10:00", "closes": "2026-12-23T10:00",
            "duplicate": "first", "objection_days": "7", "cosigners": "5", "proxy_cap": "3", "action": "save"}
    data.update(over)
    return data


def post(client, path, data, files=None):
    token = csrf_of(client.get(f"{BASE}/new").text) if "csrf" not in data else data["csrf"]
    return client.post(path, data={**data, "csrf": token}, files=files)


def test_new_round_form_shows_scope_picker_from_the_roll(staff):
    page = staff["alice"].get(f"{BASE}/new")
    assert page.status_code == 200
    html = page.text
    assert "新建表决轮次" in html and 'name="csrf"' in html
    assert 'name="building" value="1"' in html and 'name="building" value="2"' in html
    assert 'value="[&#34;1&#34;, &#34;2&#34;]"' in html  # building 1 stairwell 2
    assert "民法典" in html and "Create a round" not in html


def test_create_a_draft_and_see_it(engine, staff):
    before = size(engine)
    r = post(staff["alice"], f"{BASE}/new", form(building="1", unit=json.dumps(["2", "1"])))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{BASE}/r1?saved=1"
    with reading(engine) as s:
        spec = rounds.draft_spec(s, SLUG, "r1")
    assert spec["agenda"]["scope"] == {"buildings": ["1"], "units": [{"building": "2", "unit": "1"}]}
    assert spec["agenda"]["items"] == [{"id": "m1", "kind": "motion", "matter": "hire_manager", "title": "续聘物业公司"}]
    assert spec["opens"] == "2026-12-16T02:00:00Z" and spec["closes"] == "2026-12-23T02:00:00Z"  # Beijing → UTC
    assert spec["policies"]["proxy_cap"] == 3 and spec["secrecy"] == "open"
    page = staff["alice"].get(r.headers["location"]).text
    assert "草稿已保存" in page and "续聘物业公司" in page and "15 天" in page
    assert "2026年12月16日 10:00" in page  # Beijing time
    assert size(engine) == before  # a draft is not in the ledger


def test_preview_writes_nothing_and_shows_the_notice(engine, staff):
    r = post(staff["alice"], f"{BASE}/new", form(action="preview"))
    assert r.status_code == 200
    assert "公告预览" in r.text and "业主大会表决公告" in r.text and "续聘物业公司" in r.text
    assert "草稿" in r.text and drafts(engine) == []


def test_add_item_row(staff):
    r = post(staff["alice"], f"{BASE}/new", form(action="add_item"))
    assert r.status_code == 200 and 'name="item2_title"' in r.text


@pytest.mark.parametrize(("over", "shown"), [
    ({"opens": "tomorrow"}, "投票开始日期"),
    ({"closes": "2026-12-10T10:00"}, "截止时间须晚于开始时间"),
    ({"round": "Bad Id"}, "轮次编号"),
    ({"item0_title": ""}, "至少添加一个事项"),
    ({"rules": "custom", "rules_custom": "civil-code-2021+estate:quorum=3/5"}, "agenda"),
    ({"attachments": "not-a-hash file.pdf"}, "sha256sum"),
    ({"proxy_cap": "three"}, "整数"),
])
def test_bad_form_is_refused_on_the_page_and_nothing_written(engine, staff, over, shown):
    r = post(staff["alice"], f"{BASE}/new", form(**over))
    assert r.status_code == 422, r.text
    assert "草稿未保存" in r.text and shown in r.text
    assert drafts(engine) == []


def test_duplicate_round_id_is_refused(engine, staff):
    assert post(staff["alice"], f"{BASE}/new", form()).status_code == 303
    r = post(staff["alice"], f"{BASE}/new", form())
    assert r.status_code == 409 and "已存在" in r.text


def test_csrf_missing_or_wrong_is_refused(engine, staff):
    c = staff["alice"]
    r = c.post(f"{BASE}/new", data=form())
    assert r.status_code == 403 and drafts(engine) == []
    r = c.post(f"{BASE}/new", data={**form(), "csrf": "0" * 64})
    assert r.status_code == 403 and drafts(engine) == []


def _draft(staff, **over):
    assert post(staff["alice"], f"{BASE}/new", form(**over)).status_code == 303


@pytest.mark.parametrize("who", ["zhao", "sun", "bob", "root", "public"])
def test_supervisor_actions_refuse_others(engine, app, staff, who):
    _draft(staff)
    before = size(engine)
    if who == "public":
        c = TestClient(app, follow_redirects=False)
        token = csrf_of(c.get("/signin").text)
    else:
        c = staff[who]
        token = csrf_of(c.get("/").text) if 'name="csrf"' in c.get("/").text else "x"
    for path, data in ((f"{BASE}/new", form(round="r9")), (f"{BASE}/r1/announce", {}),
                       (f"{BASE}/r1/edit", form()), (f"{BASE}/r1/extend", {"closes": "2027-01-01T10:00", "reason": "x"})):
        r = c.post(path, data={**data, "csrf": token})
        assert r.status_code == (401 if who == "public" else 403), (path, r.status_code)
    assert c.get(f"{BASE}/new").status_code == (401 if who == "public" else 403)
    assert size(engine) == before and drafts(engine) == ["r1"]


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("zhao", 200), ("sun", 200), ("bob", 403),
                                             ("root", 403), ("public", 401)])
def test_round_pages_by_role(app, staff, who, status):
    _draft(staff)
    c = TestClient(app, follow_redirects=False) if who == "public" else staff[who]
    assert c.get(BASE).status_code == status
    assert c.get(f"{BASE}/r1").status_code == status
    assert c.get(f"{BASE}/r1/notice-preview").status_code == status


def test_edit_draft(engine, staff):
    _draft(staff)
    page = staff["alice"].get(f"{BASE}/r1/edit")
    assert page.status_code == 200 and 'value="续聘物业公司"' in page.text and 'value="2026-12-16T10:00"' in page.text
    r = post(staff["alice"], f"{BASE}/r1/edit", form(item0_title="解聘物业公司", opens="2026-12-17T10:00"))
    assert r.status_code == 303
    with reading(engine) as s:
        spec = rounds.draft_spec(s, SLUG, "r1")
    assert spec["agenda"]["items"][0]["title"] == "解聘物业公司" and spec["opens"] == "2026-12-17T02:00:00Z"


def test_list_shows_drafts(staff):
    _draft(staff)
    page = staff["alice"].get(BASE).text
    assert "续聘物业公司" in page and "草稿" in page and f"{BASE}/r1" in page and f"{BASE}/new" in page
    assert f"{BASE}/new" not in staff["zhao"].get(BASE).text


def test_announce_exactly_fifteen_days(engine, staff):
    _draft(staff)
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "若现在公告，公告期为 15 天" in page and "足够" in page
    before = size(engine)
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}/r1?announced=1"
    assert size(engine) == before + 1
    page = staff["alice"].get(r.headers["location"]).text
    assert "已公告" in page and "notice.html" in page and "延长投票期" in page
    # announced: the draft is locked
    r = post(staff["alice"], f"{BASE}/r1/edit", form())
    assert r.status_code == 409 and "已公告" in r.text
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code == 409 and "已经公告" in r.text and size(engine) == before + 1


def test_announce_notice_too_short_is_refused_clearly(engine, staff):
    _draft(staff, opens="2026-12-15T10:00")
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "14 天" in page and "公告将被拒绝" in page and "2026-12-16" in page
    before = size(engine)
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code == 409
    assert "未公告" in r.text and "14 天" in r.text and "15 天" in r.text and "2026-12-16" in r.text
    assert size(engine) == before


def test_short_notice_with_a_reason_is_announced(engine, staff):
    _draft(staff, opens="2026-12-10T10:00", short_notice_reason="临时会议：电梯故障需尽快决定")
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "9 天" in page and "临时会议" in page
    assert post(staff["alice"], f"{BASE}/r1/announce", {}).status_code == 303
    notice = staff["alice"].get(f"/estates/{SLUG}/rounds/r1/notice.html").text
    assert "临时会议：电梯故障需尽快决定" in notice and "9 天" in notice


def test_announce_opens_in_past(engine, app, staff):
    _draft(staff)
    app.state.clock = lambda: T0 + timedelta(days=20)
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "修改草稿中的开始时间" in page
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code == 409 and "已过" in r.text


def test_secret_round_needs_trustees_then_takes_their_files(engine, staff, estate):
    _draft(staff, secrecy="secret")
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code == 409 and "监票人公钥" in r.text
    context = f"{estate.origin}/r1"
    page = staff["zhao"].get(f"{BASE}/r1").text
    assert context in page
    for j, secret in ((1, 0x1234567890ABCDEF), (2, 0xFEDCBA0987654321)):
        pub = json.dumps(trustee.public_key_json(secret, j, context=context)).encode()
        token = csrf_of(staff["zhao"].get(f"{BASE}/r1").text)
        r = staff["zhao"].post(f"{BASE}/r1/trustees", data={"csrf": token}, files={"key": ("t.pub", pub, "application/json")})
        assert r.status_code == 303, r.text
    wrong = json.dumps(trustee.public_key_json(5, 3, context="other/r1")).encode()
    token = csrf_of(staff["zhao"].get(f"{BASE}/r1").text)
    r = staff["zhao"].post(f"{BASE}/r1/trustees", data={"csrf": token}, files={"key": ("t.pub", wrong, "application/json")})
    assert r.status_code == 422 and "监票人公钥无效" in r.text
    r = staff["zhao"].post(f"{BASE}/r1/trustees", data={"csrf": token}, files={"key": ("t.pub", b"nonsense", "text/plain")})
    assert r.status_code == 422 and ".pub" in r.text
    with reading(engine) as s:
        assert [k["trustee"] for k in rounds.draft_spec(s, SLUG, "r1")["trustees"]["keys"]] == [1, 2]
    # editing the draft keeps the keys
    assert post(staff["alice"], f"{BASE}/r1/edit", form(secrecy="secret", item0_title="新标题")).status_code == 303
    with reading(engine) as s:
        assert len(rounds.draft_spec(s, SLUG, "r1")["trustees"]["keys"]) == 2
    assert post(staff["alice"], f"{BASE}/r1/announce", {}).status_code == 303


def test_election_candidates_nominate_vet_announce(engine, staff):
    over = {"item0_title": "选举业主委员会", "item0_kind": "election", "item0_choices": "张三\n李四", "item0_seats": "1",
            "opens": "2026-12-16T10:00"}
    _draft(staff, **over)
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "候选人" in page and "登记提名" in page
    r = post(staff["alice"], f"{BASE}/r1/announce", {})
    assert r.status_code in (409, 422) and "候选人" in r.text
    for name in ("张三", "李四", "王五"):
        r = post(staff["alice"], f"{BASE}/r1/candidates", {"item": "e1", "candidate": name,
                                                           "nominated_by": "organiser", "statement": f"{name}的陈述"},
                 files={"signatures": ("", b"", "application/octet-stream")})
        assert r.status_code == 303, r.text
    r = post(staff["alice"], f"{BASE}/r1/candidates", {"item": "e1", "candidate": "赵六", "nominated_by": "owners",
                                                       "statement": ""})
    assert r.status_code == 422 and "签名" in r.text
    for name, status in (("张三", "approved"), ("李四", "approved"), ("王五", "rejected")):
        r = post(staff["alice"], f"{BASE}/r1/candidates/vet", {"item": "e1", "candidate": name, "status": status,
                                                               "note": "资格审核通过" if status == "approved" else "非本小区业主"})
        assert r.status_code == 303
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "已通过" in page and "未通过审核" in page
    assert post(staff["alice"], f"{BASE}/r1/announce", {}).status_code == 303
    notice = staff["alice"].get(f"/estates/{SLUG}/rounds/r1/notice.html").text
    assert "张三" in notice and "李四" in notice and "组织方提名" in notice
    with reading(engine) as s:
        assert len(cands.nominations(s, SLUG, "r1")) == 3


def test_extend_with_reason_and_refusals(engine, app, staff):
    _draft(staff)
    assert post(staff["alice"], f"{BASE}/r1/announce", {}).status_code == 303
    before = size(engine)
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "2026-12-30T10:00", "reason": ""})
    assert r.status_code == 422 and "理由" in r.text and size(engine) == before
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "2026-12-20T10:00", "reason": "缩短"})
    assert r.status_code == 409 and "只能延长" in r.text and size(engine) == before
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "someday", "reason": "x"})
    assert r.status_code == 422 and "新的截止" in r.text and size(engine) == before
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "2026-12-30T10:00", "reason": "春节前业主外出"})
    assert r.status_code == 303 and size(engine) == before + 1
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "2026年12月30日 10:00" in page and "春节前业主外出" in page
    app.state.clock = lambda: T0 + timedelta(days=40)
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "2027-02-01T10:00", "reason": "再延"})
    assert r.status_code == 409 and "已截止" in r.text and size(engine) == before + 1


def test_extend_a_draft_is_refused(engine, staff):
    _draft(staff)
    r = post(staff["alice"], f"{BASE}/r1/extend", {"closes": "2027-01-10T10:00", "reason": "x"})
    assert r.status_code == 409 and "尚未公告" in r.text


def test_unknown_round_is_404(staff):
    assert staff["alice"].get(f"{BASE}/nope").status_code == 404
    assert staff["alice"].get(f"/estates/{SLUG}/rounds/nope/notice.html").status_code == 404


def test_draft_notice_is_not_public(app, staff):
    _draft(staff)
    public = TestClient(app)
    assert public.get(f"/estates/{SLUG}/rounds/r1/notice.html").status_code == 404
    preview = staff["alice"].get(f"{BASE}/r1/notice-preview")
    assert preview.status_code == 200 and "草稿：尚未公告" in preview.text and "<svg" in preview.text


def test_xss_in_titles_and_candidates_is_escaped(staff):
    _draft(staff, item0_title="<script>alert(1)</script>", item0_kind="choice", item0_choices="<b>x</b>\n都不选")
    page = staff["alice"].get(f"{BASE}/r1").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page


def test_a_signed_in_owner_is_refused(engine, app, staff, estate):
    """An owner's verified session (cookie ``gongjue_owner``) is no staff session: 401, nothing written."""
    from web import owner

    _draft(staff)
    with __import__("ledger.db", fromlist=["transaction"]).transaction(engine) as s:
        token = owner._open(s, SLUG, estate.pseudonym["O-1"], "sms", True)
    c = TestClient(app, follow_redirects=False)
    c.cookies.set(owner.OWNER_COOKIE, token)
    before = size(engine)
    for path in (BASE, f"{BASE}/new", f"{BASE}/r1", f"{BASE}/r1/edit", f"{BASE}/r1/turnout",
                 f"{BASE}/r1/non-voters.csv", f"{BASE}/r1/notice-preview"):
        assert c.get(path).status_code == 401, path
    token = csrf_of(c.get("/signin").text)
    for path in (f"{BASE}/new", f"{BASE}/r1/announce", f"{BASE}/r1/close", f"{BASE}/r1/shares", f"{BASE}/r1/final"):
        assert c.post(path, data={**form(round="r7"), "csrf": token}).status_code == 401, path
    assert size(engine) == before and drafts(engine) == ["r1"]


def test_pages_in_english_when_chosen(staff):
    _draft(staff)
    c = staff["alice"]
    c.cookies.set("gongjue_lang", "en")
    try:
        page = c.get(f"{BASE}/r1").text
        assert "Notice period if announced now: 15 days" in page and "Announce round r1 now" in page
        assert "16 Dec 2026, 10:00 (Beijing time)" in page
        assert "Create a round" in c.get(f"{BASE}/new").text
        r = post(c, f"{BASE}/new", form(round="r2", closes="2026-12-10T10:00"))
        assert r.status_code == 422 and "Voting must close after it opens." in r.text
    finally:
        c.cookies.delete("gongjue_lang")
