"""Security of the web service over HTTP: headers, sessions, CSRF, escaping, limits.

Sign-in limits, device cookies, fixation and the anonymous CSRF cookie: test_staff_signin.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from identity import staff as staff_store
from identity import store
from identity.models import Estate, RollVersion
from identity.roll import read_roll
from ledger.db import transaction
from tests.web.conftest import PASSWORD, TestClient, add_staff, csrf_of, sign_in
from tests.web.roll_upload import upload_roll
from web import sessions
from web.limits import SignInCounter
from web.security import CSP, MAX_BODY, MAX_UPLOAD, SESSION_COOKIE

EXPECTED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
                "frame-ancestors 'none'")
GOOD_ROLL = b"building,unit,room,area,owner\n1,1,101,88.50,A\n1,1,102,90,B\n"
TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _import(engine, slug="maple-court", name="枫林苑", data=GOOD_ROLL):
    with transaction(engine) as session:
        store.import_roll(session, slug, read_roll(data, "r.csv"), filename="r.csv", data=data, name=name)


def _assert_security_headers(response) -> None:
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_csp_constant_is_the_required_policy():
    assert CSP == EXPECTED_CSP


def test_every_kind_of_response_carries_the_security_headers(engine, client):
    _import(engine)
    responses = [
        client.get("/"),
        client.get("/estates/maple-court"),
        client.get("/signin"),
        client.get("/api/v1/estates"),
        client.get("/api/v1/openapi.json"),
        client.get("/static/css/site.css"),
        client.get("/no-such-page"),
        client.get("/api/v1/estates/nope"),
        client.post("/signin", data={"username": "x", "password": "y"}),  # 403: no CSRF token
        client.post("/roll/new", headers={"content-length": str(MAX_BODY + 1)}, content=b""),  # 413
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 200, 404, 404, 403, 413]
    for response in responses:
        _assert_security_headers(response)
        assert "strict-transport-security" not in response.headers  # plain http
    assert [r.headers.get("cache-control") for r in responses] == ["no-store"] * 5 + [None] + ["no-store"] * 4


def test_even_an_unhandled_error_carries_the_security_headers(app):
    def boom():
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    _assert_security_headers(response)


def test_https_responses_carry_hsts(engine, app):
    with TestClient(app, base_url="https://testserver") as c:
        response = c.get("/")
    _assert_security_headers(response)
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_templates_and_pages_have_no_inline_script_or_style(engine, supervisor):
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "<script" not in text, template.name
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # onclick= and friends
    _import(engine)
    for path in ("/", "/estates/maple-court", "/roll/new", "/estates/maple-court/roll", "/nope"):
        html = supervisor.get(path).text
        assert "<script" not in html and "<style" not in html and not re.search(r"\sstyle\s*=", html), path


def test_hostile_estate_name_is_escaped_everywhere(engine, supervisor):
    hostile = '<script>alert("x")</script>&<b>'
    _import(engine, name=hostile)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&lt;b&gt;"
    for path in ("/", "/estates/maple-court", "/estates/maple-court/roll"):
        html = supervisor.get(path).text
        assert hostile not in html and "<script>alert" not in html, path
        assert escaped in html, path
    assert supervisor.get("/api/v1/estates").json() == [{"slug": "maple-court", "name": hostile}]


def test_hostile_text_in_a_refused_roll_is_escaped(engine, supervisor):
    token = csrf_of(supervisor.get("/roll/new").text)
    bad = b"building,room,area,owner\n1,101,<img src=x>,A\n"
    r = supervisor.post("/roll/new", data={"csrf": token, "slug": "evil", "name": "<i>n</i>"},
                        files={"file": ("<b>r.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert "<img src=x>" not in r.text and "<b>r" not in r.text and "<i>n</i>" not in r.text
    assert "&lt;b&gt;r.csv:2: 面积 &#39;&lt;img src=x&gt;&#39; 不是有效数字" in r.text


# --- staff accounts and sessions -----------------------------------------------------------


def test_passwords_are_stored_as_argon2id_only(engine):
    add_staff(engine)
    with transaction(engine) as session:
        account = staff_store.find_staff(session, "ALICE")
        assert account.username == "alice" and account.role == "staff"
        assert account.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert PASSWORD not in account.password_hash
        assert staff_store.verify_password(session, "alice", PASSWORD).id == account.id
        assert staff_store.verify_password(session, "alice", PASSWORD + "x") is None
        assert staff_store.verify_password(session, "nobody", PASSWORD) is None


@pytest.mark.parametrize(("username", "password", "role", "message"), [
    ("a", PASSWORD, "supervisor", "用户名 'a' 无效"),
    ("bad name", PASSWORD, "supervisor", "用户名 'bad name' 无效"),
    ("bob", "123456789", "supervisor", "密码太短：至少 10 个字符"),
    ("bob", PASSWORD, "supervisor", "账户类型 'supervisor' 无效"),
    ("alice", PASSWORD, "admin", "用户名 'alice' 已存在"),
])
def test_create_staff_refusals(engine, username, password, role, message):
    add_staff(engine)
    with pytest.raises(staff_store.StaffError, match=re.escape(message)), transaction(engine) as session:
        staff_store.create_staff(session, username, password, role)
    assert _count(engine, staff_store.Staff) == 1


def test_password_of_exactly_minimum_length_is_accepted(engine):
    add_staff(engine, "bob", password="0123456789")
    assert _count(engine, staff_store.Staff) == 1


def test_session_cookie_is_httponly_lax_and_only_its_hash_is_stored(engine, client):
    add_staff(engine)
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http (tests); see the https test below
    token = client.cookies[SESSION_COOKIE]
    assert len(token) == 43
    with transaction(engine) as session:
        hashes = list(session.scalars(select(sessions.WebSession.token_hash)))
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes and all(token not in h for h in hashes)
    assert "alice（工作人员）" in client.get("/").text


def test_session_cookie_is_secure_over_https(engine, app):
    add_staff(engine)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        assert "Secure" in sign_in(c).headers["set-cookie"]


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(engine, client):
    add_staff(engine)
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD)):
        r = sign_in(client, username, password)
        assert r.status_code == 401
        assert "用户名或密码错误" in r.text
    assert "alice（" not in client.get("/").text


def test_sign_out_ends_the_session(engine, supervisor):
    old = supervisor.cookies[SESSION_COOKIE]
    token = csrf_of(supervisor.get("/").text)
    r = supervisor.post("/signout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/"
    with transaction(engine) as session:
        assert sessions.session_for(session, old) is None
    supervisor.cookies.set(SESSION_COOKIE, old)
    assert supervisor.get("/roll/new").status_code == 303  # back to the sign-in page


def test_session_expiry_boundary(engine):
    add_staff(engine)
    with transaction(engine) as session:
        account = staff_store.find_staff(session, "alice")
        token = sessions.open_session(session, account, at=1_000_000)
    with transaction(engine) as session:
        end = 1_000_000 + sessions.SESSION_SECONDS
        assert sessions.session_for(session, token, at=end - 1).username == "alice"
        assert sessions.session_for(session, token, at=end) is None
        assert sessions.session_for(session, "x" * 101, at=end - 1) is None


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example",
                                    ""])
def test_sign_in_never_redirects_off_site(engine, client, target):
    add_staff(engine)
    token = csrf_of(client.get("/signin", params={"next": target}).text)
    r = client.post("/signin", data={"csrf": token, "username": "alice", "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(engine, client):
    add_staff(engine)
    r = client.get("/roll/new")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/roll/new"
    token = csrf_of(client.get(r.headers["location"]).text)
    r = client.post("/signin", data={"csrf": token, "username": "alice", "password": PASSWORD, "next": "/roll/new"})
    assert r.headers["location"] == "/roll/new"
    assert client.get("/roll/new").status_code == 200


# --- CSRF ----------------------------------------------------------------------------------


def test_post_without_or_with_wrong_csrf_token_is_refused_and_writes_nothing(engine, app, supervisor):
    other_session = TestClient(app)
    other_token = csrf_of(other_session.get("/signin").text)
    own = csrf_of(supervisor.get("/roll/new").text)
    files = {"file": ("r.csv", GOOD_ROLL, "text/csv")}
    for data in ({"slug": "maple-court", "name": "枫林苑"},
                 {"slug": "maple-court", "name": "枫林苑", "csrf": ""},
                 {"slug": "maple-court", "name": "枫林苑", "csrf": "0" * 64},
                 {"slug": "maple-court", "name": "枫林苑", "csrf": other_token},
                 {"slug": "maple-court", "name": "枫林苑", "csrf": own[:-1]}):
        r = supervisor.post("/roll/new", data=data, files=files)
        assert r.status_code == 403, data
        assert "表单已过期或来源不明" in r.text
    assert _count(engine, Estate) == 0 and _count(engine, RollVersion) == 0
    rows = _count(engine, sessions.WebSession)
    assert supervisor.post("/signout", data={"csrf": other_token}).status_code == 403
    assert _count(engine, sessions.WebSession) == rows
    assert "alice（工作人员）" in supervisor.get("/").text


def test_sign_in_form_needs_its_csrf_token(engine, client):
    add_staff(engine)
    client.get("/signin")
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 403
    assert _count(engine, SignInCounter) == 0
    with TestClient(client.app) as fresh:  # no session cookie at all
        assert fresh.post("/signin", data={"csrf": "0" * 64, "username": "alice", "password": PASSWORD},
                          follow_redirects=False).status_code == 403


# --- roll upload ---------------------------------------------------------------------------


def test_upload_requires_a_signed_in_supervisor(engine, client):
    assert client.get("/roll/new").status_code == 303
    _import(engine)
    assert client.get("/estates/maple-court/roll").headers["location"] == "/signin?next=/estates/maple-court/roll"
    token = csrf_of(client.get("/signin").text)  # a valid anonymous form token
    for path in ("/roll/new", "/estates/maple-court/roll"):
        r = client.post(path, data={"csrf": token, "slug": "new-estate", "name": "新"},
                        files={"file": ("r.csv", GOOD_ROLL, "text/csv")})
        assert r.status_code == 401 and "请先以工作人员身份登录" in r.text
    assert _count(engine, Estate) == 1 and _count(engine, RollVersion) == 1


def test_refused_upload_lists_every_problem_with_its_line_and_writes_nothing(engine, supervisor):
    token = csrf_of(supervisor.get("/roll/new").text)
    bad = b"building,unit,room,area,owner\n1,1,101,88.505,A\n1,1,102,90,B\n1,1,101,70,C\n1,1,103,,D\n"
    r = supervisor.post("/roll/new", data={"csrf": token, "slug": "maple-court", "name": "枫林苑"},
                        files={"file": ("roll.csv", bad, "text/csv")})
    assert r.status_code == 422
    items = re.findall(r"<li><code>(.*?)</code></li>", r.text)
    assert items == [
        "roll.csv:2: 面积 &#39;88.505&#39; 超过两位小数 / area &#39;88.505&#39; has more than two decimals",
        "roll.csv:4: 房屋重复 / duplicate part 1-1-101 (first on line 2)",
        "roll.csv:5: 面积为空 / area is empty",
    ]
    assert "名册未导入：3 处错误" in r.text
    assert 'value="maple-court"' in r.text and 'value="枫林苑"' in r.text  # the form keeps its values
    assert _count(engine, Estate) == 0 and _count(engine, RollVersion) == 0


def test_refused_new_version_leaves_the_estate_unchanged(engine, supervisor):
    _import(engine)
    token = csrf_of(supervisor.get("/estates/maple-court/roll").text)
    r = supervisor.post("/estates/maple-court/roll", data={"csrf": token},
                        files={"file": ("v2.csv", b"building,room,area\n1,101,88\n", "text/csv")})
    assert r.status_code == 422
    assert "v2.csv:1: 缺少列 / missing column: owner | 业主编号" in r.text
    assert _count(engine, RollVersion) == 1


@pytest.mark.parametrize(("slug", "name", "message"), [
    ("Maple", "枫林苑", "小区代号 &#39;Maple&#39; 无效"),
    ("maple-court", "", "请填写小区名称"),
    ("maple-court", "长" * 201, "过长（最多 200 字）"),
    ("taken", "枫林苑", "小区代号 &#39;taken&#39; 已被使用"),
])
def test_new_estate_form_refusals(engine, supervisor, slug, name, message):
    _import(engine, slug="taken")
    token = csrf_of(supervisor.get("/roll/new").text)
    r = supervisor.post("/roll/new", data={"csrf": token, "slug": slug, "name": name},
                        files={"file": ("r.csv", GOOD_ROLL, "text/csv")})
    assert r.status_code == 422 and message in r.text
    assert _count(engine, Estate) == 1 and _count(engine, RollVersion) == 1


def test_upload_without_a_file_is_refused(engine, supervisor):
    token = csrf_of(supervisor.get("/roll/new").text)
    r = supervisor.post("/roll/new", data={"csrf": token, "slug": "x-y", "name": "n"},
                        files={"file": ("", b"", "text/csv")})
    assert r.status_code == 422 and "请选择名册 CSV 文件" in r.text
    assert _count(engine, Estate) == 0


def test_successful_uploads_redirect_with_a_one_time_flash(engine, supervisor):
    r = upload_roll(supervisor, "/roll/new", GOOD_ROLL, "C:\\rolls\\v1.csv", slug="maple-court", name=" 枫林苑 ")
    assert r.status_code == 303 and r.headers["location"] == "/estates/maple-court"  # after the preview's confirm
    page = supervisor.get("/estates/maple-court").text
    assert '<p class="flash" role="status">已导入第 1 版名册' in page
    assert "<h1>枫林苑</h1>" in page and "178.50 m²" in page
    assert "已导入第" not in supervisor.get("/estates/maple-court").text  # shown once
    r = upload_roll(supervisor, "/estates/maple-court/roll", b"building,room,area,owner\n1,101,100,A\n", "v2.csv",
                    name="ignored")
    assert r.status_code == 303
    assert "已导入第 2 版名册" in supervisor.get("/estates/maple-court").text
    with transaction(engine) as session:
        versions = session.execute(select(RollVersion.version, RollVersion.filename)
                                   .order_by(RollVersion.version)).all()
    assert [tuple(v) for v in versions] == [(1, "v1.csv"), (2, "v2.csv")]
    assert supervisor.get("/api/v1/estates/maple-court").json()["area"] == "100.00"


def test_upload_for_an_unknown_estate_is_404(engine, supervisor):
    assert supervisor.get("/estates/nope/roll").status_code == 404
    token = csrf_of(supervisor.get("/roll/new").text)
    r = supervisor.post("/estates/nope/roll", data={"csrf": token}, files={"file": ("r.csv", GOOD_ROLL, "text/csv")})
    assert r.status_code == 404 and _count(engine, Estate) == 0


def test_upload_size_limit(engine, supervisor):
    token = csrf_of(supervisor.get("/roll/new").text)
    form = {"csrf": token, "slug": "big-estate", "name": "大"}
    over = b"building,room,area,owner\n" + b"#" * (MAX_UPLOAD + 1 - 25)
    assert len(over) == MAX_UPLOAD + 1
    r = supervisor.post("/roll/new", data=form, files={"file": ("big.csv", over, "text/csv")})
    assert r.status_code == 413 and "上传内容太大（上限 5 MB）" in r.text
    exact = over[:-1]
    r = supervisor.post("/roll/new", data=form, files={"file": ("big.csv", exact, "text/csv")})
    assert r.status_code == 422  # read in full and judged (a bad CSV), not refused for size
    r = supervisor.post("/roll/new", headers={"content-type": "multipart/form-data; boundary=x"},
                        content=iter([b"x" * 65536] * (MAX_BODY // 65536 + 2)))  # chunked, no length
    assert r.status_code == 413
    assert _count(engine, Estate) == 0


# --- JSON API ------------------------------------------------------------------------------


def test_api_lists_estates_and_gives_figures_with_area_strings(engine, client):
    assert client.get("/api/v1/estates").json() == []
    _import(engine, slug="b-estate", name="乙")
    _import(engine, slug="a-estate", name="甲", data=b"building,room,area,owner,developer_held\n1,101,1234.5,A,no\n"
                                                     b"2,101,0.05,D,yes\n2,102,10,D,yes\n")
    assert client.get("/api/v1/estates").json() == [{"slug": "a-estate", "name": "甲"},
                                                    {"slug": "b-estate", "name": "乙"}]
    assert client.get("/api/v1/estates/a-estate").json() == {
        "slug": "a-estate", "name": "甲", "roll_version": 1, "buildings": 2, "parts": 3, "voters": 2,
        "area": "1244.55", "developer_parts": 2}
    r = client.get("/api/v1/estates/zzz")
    assert r.status_code == 404 and r.json() == {"detail": "没有这个小区 / no estate 'zzz'"}
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/estates", "/api/v1/estates/{slug}"} <= set(paths)


def test_overview_page_shows_figures_and_no_owner_names(engine, client):
    data = "building,room,area,owner,owner_name\n1,101,12345.67,A,张三丰\n1,102,0.01,B,李四光\n".encode()
    _import(engine, data=data)
    html = client.get("/estates/maple-court").text
    assert "张三丰" not in html and "李四光" not in html
    figures = re.findall(r"<dd>(.*?)</dd>", html)
    assert figures == ["1", "2", "2", "12,345.68 m²"]
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    assert client.get("/estates/none").status_code == 404


def test_a_form_that_cannot_be_read_gets_a_page_in_chinese(client):
    """Starlette refuses a form with too many fields in English; people get the reason in Chinese."""
    fields = {f"f{i}": "x" for i in range(11)}  # the owner forms read at most 10
    r = client.post("/estates/no-such-estate/owner/proxies", data=fields)
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    assert "无法读取表单：字段太多或某一部分太大" in r.text and "Too many fields" not in r.text
