"""Real-browser tests: Debian's Chromium driven by Playwright against a real Uvicorn server.

The server runs in a background thread on 127.0.0.1 (a free port) over a migrated SQLite file
holding the demo estate.  Pages are opened on a 360×740 phone viewport in Chinese; every test
fails on any console error (CSP violations are reported there) or failed request.

Chromium missing: skipped, unless GONGJUE_REQUIRE_BROWSER=1 (then a failure).
Set GONGJUE_SCREENSHOT_DIR to keep the phone screenshots for a human look.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from identity import staff as staff_store
from ledger.db import make_engine, migrate, transaction
from tests.chromium import launch, require_chromium
from web.app import create_app
from web.demo import DEMO_NAME, DEMO_SLUG, create_demo

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A live server over a SQLite file with the demo estate: (base URL, demo password, engine)."""
    import uvicorn

    require_chromium()
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'gongjue.db'}")
    migrate(engine)
    demo = create_demo(engine)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(engine), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", demo.password, engine
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()


@pytest.fixture(scope="module")
def chromium(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


class Console:
    """Console messages, page errors and failed requests of one page."""

    def __init__(self, page):
        self.problems: list[str] = []
        self.expected: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)

    def expect(self, text: str) -> None:
        """A problem the test provokes on purpose (e.g. a refused form's 422 status)."""
        self.expected.append(text)

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(e in p for e in self.expected)]


@pytest.fixture
def phone(chromium, server):
    """A fresh phone-sized Chinese page and its console record; fails the test on any problem."""
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                   locale="zh-CN", base_url=server[0])
    page = context.new_page()
    console = Console(page)
    yield page, console
    context.close()
    assert console.unexpected() == []


def _no_horizontal_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert widths == [PHONE["width"]] * 3, widths


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("GONGJUE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def _sign_in(page, password: str, tmp_path: Path | None = None) -> None:
    page.goto("/signin")
    _no_horizontal_scroll(page)
    if tmp_path is not None:
        _screenshot(page, tmp_path, "phone-signin.png")
    page.fill("#username", "demo")
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('登录')")
    page.wait_for_url("**/")
    assert page.inner_text(".who") == "demo（工作人员）"


def test_phone_overview_is_chinese_readable_and_fits(phone, tmp_path):
    page, _ = phone
    page.goto(f"/estates/{DEMO_SLUG}")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.title() == f"{DEMO_NAME} · 共决 Gongjue"
    assert page.inner_text("h1") == DEMO_NAME
    figures = page.locator(".figures dd").all_inner_texts()
    assert figures == ["5", "160", "141", "15,262.79 m²", "10"]
    assert "M0007" not in page.content() and "黄洋娜" not in page.content()  # no owner ids or names
    # the site stylesheet applied under the CSP: large type on a paper background
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "20px"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(251, 250, 247)"
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.figures dd')).fontSize)") >= 30
    _no_horizontal_scroll(page)
    _screenshot(page, tmp_path, "phone-overview.png")
    page.goto("/")
    assert page.locator(".cards a").all_inner_texts() == [f"{DEMO_NAME}\n{DEMO_SLUG}"]
    _no_horizontal_scroll(page)


def test_sign_in_and_upload_a_roll_through_the_form(phone, server, tmp_path):
    page, console = phone
    console.expect("status of 403")
    _sign_in(page, server[1], tmp_path)
    roll = tmp_path / "松园.csv"
    roll.write_text("楼栋,单元,房号,面积,业主编号,业主姓名\n1,1,101,88.50,A,张三\n1,1,102,90,A,张三\n2,1,101,100.05,B,李四\n")

    def new_estate() -> None:
        page.goto("/")
        page.click("text=新建小区并导入名册")
        _no_horizontal_scroll(page)
        page.fill("#slug", "pine-garden")
        page.fill("#name", "松园")
        page.set_input_files("#file", str(roll))
        page.click("button[type=submit]:has-text('检查文件并显示变化')")

    new_estate()  # the demo supervisor is supervisor of the demo estate only (SPEC §8.1)
    assert "没有权限：需要在小区 'pine-garden' 担任监督员" in page.inner_text("main")
    with transaction(server[2]) as session:
        staff_store.assign(session, "demo", "pine-garden", "supervisor", by="admin")
    new_estate()
    page.click("#roll-confirm button[type=submit]")  # the preview, then the confirm
    page.wait_for_url("**/estates/pine-garden")
    assert page.inner_text(".flash") == "已导入第 1 版名册"
    assert page.locator(".figures dd").all_inner_texts() == ["2", "3", "2", "278.55 m²"]
    _no_horizontal_scroll(page)
    page.click("text=上传新版名册")
    roll.write_text("building,room,area,owner\n1,101,50,A\n")
    page.set_input_files("#file", str(roll))
    page.click("button[type=submit]:has-text('检查文件并显示变化')")
    page.click("#roll-confirm button[type=submit]")
    page.wait_for_url("**/estates/pine-garden")
    assert page.inner_text(".flash") == "已导入第 2 版名册"
    page.reload()
    assert page.locator(".flash").count() == 0


def test_a_bad_file_shows_every_problem_with_its_line(phone, server, tmp_path):
    page, console = phone
    console.expect("the server responded with a status of 422")
    _sign_in(page, server[1])
    page.goto(f"/estates/{DEMO_SLUG}/roll")
    bad = tmp_path / "bad.csv"
    bad.write_text("building,room,area,owner\n1,101,88.505,A\n1,102,-3,B\n1,103,70,110101199003071234\n")
    page.set_input_files("#file", str(bad))
    page.click("button[type=submit]:has-text('检查文件并显示变化')")
    assert page.url.endswith(f"/estates/{DEMO_SLUG}/roll")
    assert page.inner_text(".error > p") == "名册未导入：3 处错误，未写入任何内容"
    problems = page.locator(".problems li").all_inner_texts()
    assert [p.split(": ")[0] for p in problems] == ["bad.csv:2", "bad.csv:3", "bad.csv:4"]
    assert "超过两位小数" in problems[0] and "不是有效数字" in problems[1] and "身份证号" in problems[2]
    _no_horizontal_scroll(page)
    _screenshot(page, tmp_path, "phone-roll-refused.png")
    page.goto(f"/estates/{DEMO_SLUG}")
    assert page.inner_text(".lead").startswith("业主名册第 1 版")


def test_console_watch_does_catch_a_csp_violation(chromium, server):
    """The console check above can fail: an inline script injected into a page is reported."""
    context = chromium.new_context(viewport=PHONE, base_url=server[0])
    page = context.new_page()
    console = Console(page)
    page.goto("/")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.bad = 1';"
                  " document.body.appendChild(s); }")
    page.wait_for_timeout(200)
    assert page.evaluate("window.bad === undefined")
    context.close()
    assert any("Content Security Policy" in p for p in console.problems), console.problems


@pytest.mark.parametrize(("required", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_chromium_skips_unless_required(monkeypatch, required, outcome):
    monkeypatch.setenv("GONGJUE_REQUIRE_BROWSER", required)
    with pytest.raises(outcome, match="/nonexistent/chromium not found"):
        require_chromium("/nonexistent/chromium")
