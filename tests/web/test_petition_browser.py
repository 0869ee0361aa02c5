"""Petitions in real Chromium (SPEC §9.2): owners co-sign with the key their browser derives from
the letter's code (web/static/owner/petition.js); the code never leaves the browser; one owner
short of 20% by heads is not the line, the next signature is; a withdrawn signature; the
committee's response recorded on the page by a supervisor; the pages pass tests/web/pagecheck.py
on a phone."""

from __future__ import annotations

import secrets
import socket
import threading
import time

import pytest

from identity.credential import format_code
from ledger.db import make_engine, migrate, transaction
from tests.chromium import launch, require_chromium
from tests.voting import petition_estate as pe
from tests.web.conftest import PASSWORD, add_staff
from tests.web.pagecheck import PHONE, check_page
from web.app import create_app
from web.owner import OWNER_COOKIE, OwnerSessionRow, _hash

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import uvicorn

    require_chromium()
    base = tmp_path_factory.mktemp("petition-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    est = pe.make(engine)
    add_staff(engine, estates=(pe.SLUG,))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", engine, est
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()


@pytest.fixture(scope="module")
def chromium(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def _owner_page(chromium, live, owner):
    """A phone-sized page with ``owner``'s session (as the second factor leaves it) and a record of
    every request the page makes."""
    base, engine, est = live
    token = secrets.token_urlsafe(32)
    at = int(time.time())
    with transaction(engine) as s:
        s.add(OwnerSessionRow(token_hash=_hash(token), estate=pe.SLUG, voter=est.voters[owner], factor="sms",
                              verified=True, created_at=at, expires_at=at + 3600))
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    context.add_cookies([{"name": OWNER_COOKIE, "value": token, "url": base}])
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url} {r.post_data or ''}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, requests, problems


def _cosign(chromium, live, owner, action="petition.sign"):
    base, _, est = live
    context, page, requests, problems = _owner_page(chromium, live, owner)
    page.goto(f"{base}/estates/{pe.SLUG}/petitions/p1")
    page.wait_for_selector("html[data-petition='ready']")
    page.click(f"[data-petition-action='{action}']")
    page.wait_for_selector("#petition-code-field:not([hidden])")
    page.fill("#petition-code", format_code(est.codes[owner]))
    with page.expect_navigation():
        page.click(f"[data-petition-action='{action}']")
    page.wait_for_load_state()
    code = est.codes[owner]
    leaked = [r for r in requests if code in r.replace("-", "") or format_code(code) in r]
    assert leaked == [], "the credential code left the browser"
    assert problems == []
    return context, page


def test_petition_to_the_line_in_the_browser(chromium, live):
    base = live[0]
    context, page, _, problems = _owner_page(chromium, live, "O01")
    page.goto(f"{base}/estates/{pe.SLUG}/petitions/new")
    check_page(page, "petition-new")
    page.fill("#pt-title", "更换电梯维保单位")
    page.fill("#pt-text", "现维保单位响应慢，提议召开业主大会临时会议另行选聘。")
    page.select_option("#pt-matter", "hire_manager")
    page.set_input_files("#pt-files", files=[{"name": "报价单.pdf", "mimeType": "application/pdf",
                                             "buffer": b"%PDF-1.4 quote"}])
    with page.expect_navigation():
        page.click("form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/estates/{pe.SLUG}/petitions/p1?published=4")
    assert "您的提议已发布" in page.inner_text("main")
    check_page(page, "petition-page")
    context.close()

    # O03 signs and withdraws; O05 signs: one of ten, one owner short of the line
    context, page = _cosign(chromium, live, "O03")
    assert "您已联名此提议" in page.inner_text("main")
    context.close()
    context, page = _cosign(chromium, live, "O03", "petition.withdraw")
    assert "您已联名此提议" not in page.inner_text("main")
    context.close()
    context, page = _cosign(chromium, live, "O05")
    text = page.inner_text("main")
    assert "已联名业主：10 人中 1 人（法定比例：2 人）" in text and "正在征集联名" in text
    assert page.locator("[data-petition-action='petition.withdraw']").count() == 1
    context.close()
    # O07: two of ten — exactly 20% by heads
    context, page = _cosign(chromium, live, "O07")
    text = page.inner_text("main")
    assert "已联名业主：10 人中 2 人（法定比例：2 人）" in text and "已达 20%" in text
    assert page.locator("[data-petition-action='petition.withdraw']").count() == 0  # no withdrawal after the line
    check_page(page, "petition-line")
    context.close()

    # a supervisor records the committee's reasoned refusal on the page
    staff = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = staff.new_page()
    page.goto(f"{base}/signin")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form button[type=submit]")
    page.goto(f"{base}/estates/{pe.SLUG}/petitions/p1")
    check_page(page, "petition-staff")
    page.check("input[name=kind][value=refusal]")
    page.fill("#resp-reason", "所提事项已由上次业主大会表决通过，不召开临时会议。")
    with page.expect_navigation():
        page.click(".staff-response button[type=submit]")
    assert "业主委员会的答复已记录" in page.inner_text("main")
    assert "所提事项已由上次业主大会表决通过" in page.inner_text("main")
    staff.close()

    # the estate home lists the three notices; one prints on A4 with its QR code
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/estates/{pe.SLUG}")
    assert page.locator("ol.notices li").count() == 3
    check_page(page, "estate-notices")
    page.click("ol.notices li:nth-child(2) a")
    page.wait_for_selector("svg.qr-code")
    assert "联名已达业主人数的 20%" in page.inner_text("main")
    check_page(page, "notice-line")
    context.close()
    assert problems == []
