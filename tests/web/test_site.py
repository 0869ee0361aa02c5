"""The site's pages without a browser (both databases): the layout and its language switch, the home
page, error pages in the visitor's language, the sign-in page, the estate staff-roles page."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from identity import staff as staff_store
from ledger.db import transaction
from tests.web.conftest import TestClient, add_staff, csrf_of, sign_in
from tests.web.owner_fixtures import SLUG, make_estate
from web import app as web_app
from web import i18n


def _client(app, host: str = "10.8.0.1", lang: str | None = None) -> TestClient:
    client = TestClient(app, base_url="http://testserver.local", client=(host, 50000), follow_redirects=False)
    if lang:
        client.cookies.set(i18n.COOKIE, lang, domain="testserver.local")
    return client


def test_layout_is_chinese_with_a_switch_that_returns_to_the_same_page(engine, app):
    make_estate(engine)
    with _client(app) as c:
        page = c.get(f"/signin?next=/estates/{SLUG}").text
        assert '<html lang="zh-CN">' in page and "<h1>工作人员登录</h1>" in page
        assert 'class="en"' not in page and "Staff sign-in" not in page  # no doubled English
        switch = re.findall(r'<a href="(/lang/(?:zh|en)\?next=[^"]+)"', page)
        assert switch == ["/lang/zh?next=/signin%3Fnext%3D/estates/maple-court",
                          "/lang/en?next=/signin%3Fnext%3D/estates/maple-court"]  # the path and its query
        assert 'aria-current="true">中文</a>' in page
        answer = c.get(switch[1])
        assert answer.status_code == 303 and answer.headers["location"] == f"/signin?next=/estates/{SLUG}"
        page = c.get(answer.headers["location"]).text
        assert '<html lang="en">' in page and "<h1>Staff sign-in</h1>" in page
        assert 'aria-current="true">English</a>' in page


def test_home_page_lists_estates_in_both_languages(engine, app):
    make_estate(engine)
    with _client(app) as c:
        page = c.get("/").text
        assert "<h1>小区</h1>" in page and "枫林苑" in page and f'href="/estates/{SLUG}"' in page
        assert "新建小区并导入名册" not in page  # staff only
        assert 'href="/signin"' in page  # the staff sign-in link, in the footer
    with _client(app, lang="en") as c:
        page = c.get("/").text
        assert "<h1>Estates</h1>" in page and "Choose your estate" in page


def test_empty_home_page(engine, app):
    with _client(app) as c:
        assert "还没有小区。" in c.get("/").text


def test_staff_header_links_and_sign_out(engine, app):
    add_staff(engine, "root", "admin")
    add_staff(engine)
    with _client(app) as c:
        assert sign_in(c, "alice").status_code == 303
        page = c.get("/").text
        assert "alice（工作人员）" in page and 'href="/staff/totp"' in page and 'href="/admin/staff"' not in page
        assert "新建小区并导入名册" in page
        token = csrf_of(page)
        assert c.post("/signout", data={"csrf": token}).status_code == 303
        assert "alice（工作人员）" not in c.get("/").text
    with _client(app, "10.8.0.2", lang="en") as c:
        assert sign_in(c, "root").status_code == 303
        page = c.get("/").text
        assert "root (Administrator)" in page and 'href="/admin/staff"' in page and "Sign out" in page


@pytest.mark.parametrize(("lang", "title", "message"), [
    ("zh", "找不到页面", "这个地址没有页面"),
    ("en", "Page not found", "There is no page at this address"),
])
def test_error_pages_speak_the_visitors_language(engine, app, lang, title, message):
    with _client(app, lang=lang) as c:
        answer = c.get("/no/such/page")
        assert answer.status_code == 404
        assert f"<h1>{title}</h1>" in answer.text and message in answer.text
        assert "content-security-policy" in answer.headers


@pytest.mark.parametrize(("lang", "shown", "hidden"), [
    ("zh", "没有这个小区", "no estate"),
    ("en", "no estate", "没有这个小区"),
])
def test_a_bilingual_message_is_shown_in_one_language(engine, app, lang, shown, hidden):
    with _client(app, lang=lang) as c:
        answer = c.get("/estates/nowhere")
        assert answer.status_code == 404
        main = answer.text.split("<main", 1)[1]
        assert shown in main and hidden not in main


def test_one_language_leaves_other_messages_alone():
    scope = {"type": "http", "headers": [(b"cookie", b"gongjue_lang=en")], "path": "/", "query_string": b""}
    request = Request(scope)
    assert web_app._one_language(request, "没有权限 / not allowed") == "not allowed"
    assert web_app._one_language(request, "a / b") == "a / b"  # no Chinese on the left: not bilingual
    assert web_app._one_language(request, "面积 / 面积") == "面积 / 面积"  # no English on the right
    zh = Request({**scope, "headers": []})
    assert web_app._one_language(zh, "没有权限 / not allowed") == "没有权限"


@pytest.mark.parametrize(("lang", "shown"), [("zh", "请求无效"), ("en", "Request not understood")])
def test_validation_error_page(engine, app, lang, shown):
    make_estate(engine)
    with _client(app, lang=lang) as c:
        answer = c.get(f"/estates/{SLUG}/audit/checkpoints/not-a-number")
        assert answer.status_code == 422 and f"<h1>{shown}</h1>" in answer.text


def test_401_page_offers_the_sign_in(engine, app):
    with _client(app) as c:
        token = csrf_of(c.get("/signin").text)
        answer = c.post("/staff/totp", data={"csrf": token, "action": "start"})
        assert answer.status_code == 401 and "请先以工作人员身份登录" in answer.text
        assert 'href="/signin?next=/staff/totp"' in answer.text


def test_signin_page_warns_owners_and_has_no_english_duplicates(engine, app):
    with _client(app) as c:
        page = c.get("/signin").text
        assert "业主不在这里登录" in page and 'autocomplete="current-password"' in page
    with _client(app, lang="en") as c:
        answer = sign_in(c, "nobody", "wrong password 123")
        assert answer.status_code == 401 and "Wrong username or password." in answer.text
        assert "用户名或密码错误" not in answer.text


# --- the estate's staff roles ---------------------------------------------------------------------


@pytest.fixture
def roles(engine, app):
    make_estate(engine)
    add_staff(engine, "root", "admin")
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    add_staff(engine, "sam", "scrutineer", estates=(SLUG,))
    add_staff(engine, "carol", "supervisor", estates=("pine-garden",))
    return app


def test_estate_roles_page_lists_who_holds_which_role(engine, roles):
    with _client(roles) as c:
        assert sign_in(c, "alice").status_code == 303
        page = c.get(f"/estates/{SLUG}/staff/roles").text
        assert "<h1>枫林苑 的工作人员</h1>" in page
        assert re.search(r"<h2>监督员</h2>\s*<ul[^>]*>\s*<li><span>alice", page)
        assert re.search(r"<h2>监票人</h2>\s*<ul[^>]*>\s*<li><span>sam", page)
        assert re.search(r"<h2>审计员</h2>\s*<p class=\"empty\">无。</p>", page)
        assert "年" in page and "由 tests 分配" in page  # since when (Beijing time), given by whom
        assert 'value="unassign"' not in page and 'value="assign"' not in page  # read only for a supervisor
        assert f'<a class="estate-link" href="/estates/{SLUG}">枫林苑</a>' in page
        token = csrf_of(page)
        answer = c.post(f"/estates/{SLUG}/staff/roles", data={"csrf": token, "action": "assign", "username": "carol",
                                                              "role": "auditor"})
        assert answer.status_code == 403
    with transaction(engine) as session:
        assert [a.username for a in staff_store.assignments(session, slug=SLUG)] == ["alice", "sam"]


def test_estate_roles_page_refuses_others(engine, roles):
    with _client(roles) as c:
        assert c.get(f"/estates/{SLUG}/staff/roles").headers["location"] == f"/signin?next=/estates/{SLUG}/staff/roles"
        assert sign_in(c, "sam").status_code == 303  # a scrutineer: not this page
        assert c.get(f"/estates/{SLUG}/staff/roles").status_code == 403
    with _client(roles, "10.8.0.3") as c:
        assert sign_in(c, "carol").status_code == 303  # a supervisor elsewhere
        assert c.get(f"/estates/{SLUG}/staff/roles").status_code == 403


def test_admin_assigns_and_removes_on_the_estate_roles_page(engine, roles):
    with _client(roles) as c:
        assert sign_in(c, "root").status_code == 303
        page = c.get(f"/estates/{SLUG}/staff/roles").text
        assert 'value="assign"' in page and '<option value="carol">' in page
        token = csrf_of(page)
        answer = c.post(f"/estates/{SLUG}/staff/roles", data={"csrf": token, "action": "assign", "username": "carol",
                                                              "role": "auditor", "estate": "pine-garden"})
        assert answer.status_code == 303 and answer.headers["location"] == f"/estates/{SLUG}/staff/roles"
        page = c.get(answer.headers["location"]).text
        assert "已分配：carol · maple-court · 审计员" in page  # the estate comes from the address, not the form
        with transaction(engine) as session:
            carol = staff_store.find_staff(session, "carol").id
            assert staff_store.roles_in(session, carol, SLUG) == {"auditor"}
            assert staff_store.roles_in(session, carol, "pine-garden") == {"supervisor"}
        answer = c.post(f"/estates/{SLUG}/staff/roles", data={"csrf": token, "action": "unassign",
                                                              "username": "carol", "role": "auditor"})
        assert answer.status_code == 303
        assert "已收回：carol · maple-court · 审计员" in c.get(answer.headers["location"]).text
        for fields, message in (({"username": "nobody", "role": "auditor"}, "没有工作人员账户“nobody”"),
                                ({"username": "carol", "role": "admin"}, "“admin”不是小区角色"),
                                ({"username": "carol", "role": "auditor", "action": "totp_off"}, "未知操作")):
            answer = c.post(f"/estates/{SLUG}/staff/roles", data={"csrf": token, "action": "assign", **fields})
            assert answer.status_code == 422 and message in answer.text
    with transaction(engine) as session:
        assert staff_store.roles_in(session, carol, SLUG) == frozenset()


def test_base_blocks_estate_and_nav_render_in_the_header():
    from web.templating import _context, templates

    request = Request({"type": "http", "headers": [], "path": "/estates/x/thing", "query_string": b"a=1",
                       "scheme": "http", "server": ("testserver", 80), "state": {}})
    page = templates.env.from_string(
        '{% extends "base.html" %}{% block title %}T{% endblock %}'
        '{% block estate %}<a class="estate-link" href="/estates/x">枫林苑</a>{% endblock %}'
        '{% block nav %}<a class="nav-link" href="/estates/x/vote">投票</a>{% endblock %}'
        '{% block content %}<p>body</p>{% endblock %}').render(request=request, **_context(request))
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    assert '<div class="header-estate"><a class="estate-link" href="/estates/x">枫林苑</a></div>' in header
    assert '<nav class="site-nav" aria-label="菜单">' in header and 'href="/estates/x/vote">投票</a>' in header
    assert 'href="/lang/en?next=/estates/x/thing%3Fa%3D1"' in header
    assert "<title>T · 共决 Gongjue</title>" in page and '<main id="main" tabindex="-1">' in page
    plain = templates.env.from_string('{% extends "base.html" %}').render(request=request, **_context(request))
    assert 'class="site-nav"' not in plain and '<div class="header-estate"></div>' in plain
