"""Roll import with a preview (web/roll_pages.py): refusals with line numbers, the differences,
"identical", confirm imports exactly what was previewed; the voters-and-totals page."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from identity import store
from identity.models import Estate, RollVersion
from identity.roll import read_roll
from ledger.db import transaction
from tests.web.conftest import TestClient, add_staff, assign, csrf_of, sign_in

V1 = "building,unit,room,area,owner,owner_name\n1,1,101,88.50,M001,张三\n1,1,102,90,M002,李四\n2,1,201,100.25,M003,\n"
V2 = "building,unit,room,area,owner,owner_name\n1,1,101,88.51,M001,张三\n1,1,102,90,M004,\n3,1,301,50,M005,\n"
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _import(engine, text=V1, slug="maple-court", name="枫林苑"):
    with transaction(engine) as session:
        store.import_roll(session, slug, read_roll(text.encode(), "v1.csv"), filename="v1.csv", data=text.encode(),
                          name=name)


def _preview(c, path, text, **fields):
    token = csrf_of(c.get(path).text)
    return c.post(path, data={"csrf": token, **fields}, files={"file": ("v2.csv", text.encode(), "text/csv")})


def _confirm_form(page: str) -> tuple[str, dict]:
    action = re.search(r'<form method="post" action="([^"]+)" class="stack" id="roll-confirm">', page).group(1)
    return action, {k: html.unescape(v) for k, v in HIDDEN.findall(page.split('id="roll-confirm"')[1])}


def test_preview_shows_the_differences_and_writes_nothing_until_confirmed(engine, supervisor):
    _import(engine)
    r = _preview(supervisor, "/estates/maple-court/roll", V2)
    assert r.status_code == 200
    page = r.text
    assert _count(engine, RollVersion) == 1  # nothing written by the preview
    totals = page.split('id="roll-totals"')[1].split("</table>")[0]
    rows = [re.findall(r">([^<>]+)</t[hd]>", row) for row in totals.split("<tr")[2:]]
    assert rows == [["全小区", "3", "3", "278.75", "228.51"],
                    ["1 号楼", "2", "2", "178.50", "178.51"],
                    ["2 号楼", "1", "0", "100.25", "0.00"],
                    ["3 号楼", "0", "1", "0.00", "50.00"]]
    counts = re.findall(r"<dd>(\d+)</dd>", page.split('id="roll-counts"')[1].split("</dl>")[0])
    assert counts == ["1", "1", "2"]  # added, removed, changed
    assert "3-1-301" in page.split('id="roll-added"')[1].split("</table>")[0]
    assert "2-1-201" in page.split('id="roll-removed"')[1].split("</table>")[0]
    changed = page.split('id="roll-changed"')[1].split("</table>")[0]
    assert "面积 88.50 m²" in changed and "面积 88.51 m²" in changed and "业主 M002" in changed and "业主 M004" in changed
    assert 'id="roll-removed-warning"' in page
    action, fields = _confirm_form(page)
    assert action == "/estates/maple-court/roll/confirm"
    r = supervisor.post(action, data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/estates/maple-court"
    assert "已导入第 2 版名册" in supervisor.get("/estates/maple-court").text
    with transaction(engine) as session:
        view = store.current_roll(session, "maple-court")
    assert view.version == 2 and [p.label for p in view.roll.parts] == ["1-1-101", "1-1-102", "3-1-301"]
    assert supervisor.post(action, data=fields).status_code == 409  # a replay is stale now
    assert _count(engine, RollVersion) == 2


def test_identical_file_is_said_identical_and_offers_no_import(engine, supervisor):
    _import(engine)
    r = _preview(supervisor, "/estates/maple-court/roll", V1)
    assert r.status_code == 200 and 'id="roll-identical"' in r.text
    assert "逐字节相同" in r.text and 'id="roll-confirm"' not in r.text
    reordered = V1.splitlines(keepends=True)
    same_meaning = reordered[0] + "".join(reordered[1:]) .replace("88.50", "88.5")
    r = _preview(supervisor, "/estates/maple-court/roll", same_meaning)
    assert 'id="roll-identical"' in r.text and "逐字节相同" not in r.text and "内容与当前名册" in r.text
    assert _count(engine, RollVersion) == 1


def test_bad_rows_are_listed_with_their_line_numbers(engine, supervisor):
    _import(engine)
    bad = "building,unit,room,area,owner\n1,1,101,88.505,M001\n1,1,102,90,M002\n1,1,101,70,M003\n"
    r = _preview(supervisor, "/estates/maple-court/roll", bad)
    assert r.status_code == 422
    items = [html.unescape(x) for x in re.findall(r"<li><code>(.*?)</code></li>", r.text)]
    assert items[0].startswith("v2.csv:2: 面积 '88.505' 超过两位小数")
    assert items[1].startswith("v2.csv:4: 房屋重复")
    assert "名册未导入：2 处错误，未写入任何内容" in r.text and 'id="roll-confirm"' not in r.text
    assert _count(engine, RollVersion) == 1


def test_file_changed_between_preview_and_confirm_is_refused(engine, supervisor):
    _import(engine)
    action, fields = _confirm_form(_preview(supervisor, "/estates/maple-court/roll", V2).text)
    import base64
    import zlib
    other = V2.replace("50,M005", "5000,M005").encode()
    forged = dict(fields, payload=base64.b64encode(zlib.compress(other)).decode())
    r = supervisor.post(action, data=forged)
    assert r.status_code == 409 and "不是预览过的文件" in r.text
    import hashlib
    forged["sha256"] = hashlib.sha256(other).hexdigest()  # the hash alone is not enough: the token binds it
    assert supervisor.post(action, data=forged).status_code == 409
    assert supervisor.post(action, data=dict(fields, base="2")).status_code == 409
    assert _count(engine, RollVersion) == 1


def test_another_import_after_the_preview_makes_it_stale(engine, supervisor):
    _import(engine)
    action, fields = _confirm_form(_preview(supervisor, "/estates/maple-court/roll", V2).text)
    _import(engine, V1.replace("100.25", "100.26"))  # version 2 by someone else
    r = supervisor.post(action, data=fields)
    assert r.status_code == 409 and "预览之后又导入了" in r.text
    assert _count(engine, RollVersion) == 2


def test_new_estate_preview_and_confirm(engine, supervisor):
    r = _preview(supervisor, "/roll/new", V1, slug="pine-garden", name="松园")
    assert r.status_code == 200 and "这将是本小区的第一份名册" in r.text and _count(engine, Estate) == 0
    action, fields = _confirm_form(r.text)
    assert action == "/roll/new/confirm" and fields["slug"] == "pine-garden" and fields["name"] == "松园"
    assert supervisor.post(action, data=dict(fields, name="别的名字")).status_code == 409  # token binds the name
    r = supervisor.post(action, data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/estates/pine-garden"
    assert supervisor.post(action, data=fields).status_code == 409  # now the estate exists
    assert _count(engine, Estate) == 1 and _count(engine, RollVersion) == 1


def test_confirm_needs_csrf_the_role_and_the_same_session(engine, app, supervisor):
    _import(engine)
    action, fields = _confirm_form(_preview(supervisor, "/estates/maple-court/roll", V2).text)
    assert supervisor.post(action, data={k: v for k, v in fields.items() if k != "csrf"}).status_code == 403
    add_staff(engine, "bob", "scrutineer")
    add_staff(engine, "carol", "supervisor")
    with TestClient(app, follow_redirects=False) as other:
        assert sign_in(other, "bob").status_code == 303
        token = csrf_of(other.get("/").text)
        assert other.post(action, data=dict(fields, csrf=token)).status_code == 403  # a scrutineer
        assert other.get("/estates/maple-court/roll").status_code == 403
        totals_only = other.get("/estates/maple-court/staff/voters")  # a scrutineer: totals, no names
        assert totals_only.status_code == 200 and 'id="scope-totals"' in totals_only.text
        assert 'id="voters"' not in totals_only.text and "张三" not in totals_only.text
    with TestClient(app, follow_redirects=False) as other:
        assert sign_in(other, "carol").status_code == 303  # a supervisor, but not the one who previewed
        token = csrf_of(other.get("/").text)
        assert other.post(action, data=dict(fields, csrf=token)).status_code == 409
    with TestClient(app, follow_redirects=False) as public:
        token = csrf_of(public.get("/signin").text)
        assert public.post(action, data=dict(fields, csrf=token)).status_code == 401
        assert public.get("/estates/maple-court/staff/voters").status_code == 303
    assert _count(engine, RollVersion) == 1


def test_voters_and_totals_per_scope(engine, supervisor):
    _import(engine)
    page = supervisor.get("/estates/maple-court/staff/voters")
    assert page.status_code == 200
    assert re.search(r'id="whole-heads">3<', page.text) and re.search(r'id="whole-area">278.75<', page.text)
    table = page.text.split('id="scope-totals"')[1].split("</table>")[0]
    rows = [re.findall(r">([^<>]+)</t[hd]>", row) for row in table.split("<tr")[2:]]
    assert rows == [["1 号楼", "2", "178.50", "2"], ["1 号楼 1 单元", "2", "178.50", "2"],
                    ["2 号楼", "1", "100.25", "1"], ["2 号楼 1 单元", "1", "100.25", "1"]]
    voters = page.text.split('id="voters"')[1]
    assert "张三" in voters and "M003" in voters


def test_voters_page_of_an_estate_without_a_roll(engine, supervisor):
    with transaction(engine) as session:
        store.create_estate(session, "pine-garden", "松园")
    assert "还没有导入名册" in supervisor.get("/estates/pine-garden/staff/voters").text
    assert supervisor.get("/estates/nope/staff/voters").status_code == 404


def test_only_a_supervisor_of_that_estate_previews(engine, app):
    _import(engine)
    add_staff(engine, "dave", "staff")
    assign(engine, "dave", "pine-garden", "supervisor")
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, "dave").status_code == 303
        token = csrf_of(c.get("/roll/new").text)
        r = c.post("/estates/maple-court/roll", data={"csrf": token},
                   files={"file": ("v2.csv", V2.encode(), "text/csv")})
        assert r.status_code == 403
    assert _count(engine, RollVersion) == 1


def test_setup_pages_refuse_a_signed_in_owner(engine, app):
    """An owner's session (their own cookie) is no staff session: every setup page sends them to
    the staff sign-in, every POST is refused, nothing is written."""
    from web import owner

    _import(engine)
    with transaction(engine) as session:
        voter = store.roll_openings(session, "maple-court")["voters"][0]["voter"]
        token = owner._open(session, "maple-court", voter, "sms", True)
    pages = ["/estates/maple-court/roll", "/estates/maple-court/staff/voters", "/estates/maple-court/staff/authority",
             "/estates/maple-court/staff/rounds/r1/paper", "/estates/maple-court/staff/rounds/r1/proxies"]
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set(owner.OWNER_COOKIE, token)
        for path in pages:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin"), path
        token_csrf = csrf_of(c.get("/signin").text)
        for path in ["/estates/maple-court/roll", "/estates/maple-court/roll/confirm",
                     "/estates/maple-court/staff/authority/statements", "/estates/maple-court/staff/rounds/r1/paper",
                     "/estates/maple-court/staff/rounds/r1/proxies"]:
            assert c.post(path, data={"csrf": token_csrf}).status_code == 401, path
    assert _count(engine, RollVersion) == 1
