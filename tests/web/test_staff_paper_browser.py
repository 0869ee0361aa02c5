"""Paper ballot double entry in real Chromium, in a secret round: two scrutineers on their own
phones enter one ballot; the scan's SHA-256 is computed in the browser (the scan is not sent)
and the station ballot is encrypted there (paper.js with gongjue-crypto.js); the second entry
records that ballot.  Also the written proxy page.  Screenshots via pagecheck."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs

import pytest

from ledger.db import make_engine, migrate
from tests.chromium import launch, require_chromium, wait_marked
from tests.voting.test_paper_entry import (
    ROUND_ID,
    SLUG,
    build,
    paper_entries,
    pending_rows,
)
from tests.web.conftest import PASSWORD, add_staff
from tests.web.pagecheck import check_page
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

URL = f"/estates/{SLUG}/staff/rounds/{ROUND_ID}/paper"
PHONE = {"width": 390, "height": 844}
SCAN = b"%PDF-1.4 scanned paper ballot of 1-1-101"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_chromium()
    base = tmp_path_factory.mktemp("paper-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    built = build(engine, "secret")
    for name, role in (("zhao", "scrutineer"), ("qian", "scrutineer"), ("alice", "supervisor")):
        add_staff(engine, name, role, estates=(SLUG,))
    scan = base / "ballot-scan.pdf"
    scan.write_bytes(SCAN)
    with serving(create_app(engine)) as url:
        yield url, built, scan
    engine.dispose()


@pytest.fixture(scope="module")
def browser(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _signed_in(browser, url, username, viewport=PHONE):
    context = browser.new_context(base_url=url, viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto("/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda u: "/signin" not in u)
    return context, page


def _enter(page, scan):
    page.goto(URL)
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer or b"") if r.method == "POST" else None)
    page.fill("#building", "1")
    page.fill("#unit", "1")
    page.fill("#room", "101")
    page.check("input[name='m:m1'][value=agree]")
    page.check("input[name='m:e1'][value=K1]")
    page.check("input[name='m:e1'][value=K3]")
    page.check("input[name='m:c1'][value=P2]")
    page.set_input_files("#scan-file", str(scan))
    wait_marked(page, "scanHashed")
    assert page.input_value("#scan_sha256") == hashlib.sha256(SCAN).hexdigest()
    page.click("#paper-form button[type=submit]")
    page.wait_for_selector("#paper-flash")
    assert all(SCAN not in body for body in sent)  # the scan itself never left the browser
    form = parse_qs(sent[-1].decode())
    station = json.loads(form["station"][0])  # made by paper.js with gongjue-crypto.js
    assert station["signed"]["ballot"]["kind"] == "secret" and set(station) == {"signed", "reveal"}
    return page.inner_text("#paper-flash"), station


def test_double_entry_in_a_secret_round(live, browser):
    url, built, scan = live
    zhao, page = _signed_in(browser, url, "zhao")
    try:
        page.goto(URL)
        assert "本轮为秘密投票" in page.inner_text("main")
        check_page(page, "h5-paper-form-phone")
        assert "第一次录入已保存" in _enter(page, scan)[0]
        assert page.inner_text("#count-waiting") == "1" and "由您录入" in page.inner_text("#paper-waiting")
        check_page(page, "h5-paper-first-entry-phone")
        assert pending_rows(built) and paper_entries(built) == []
        # the same scrutineer again: refused, nothing recorded
        page.goto(URL)
        page.fill("#building", "1")
        page.fill("#room", "101")
        page.fill("#unit", "1")
        for selector in ("input[name='m:m1'][value=agree]", "input[name='m:c1'][value=P2]"):
            page.check(selector)
        page.fill("#scan_sha256", hashlib.sha256(SCAN).hexdigest())
        page.click("#paper-form button[type=submit]")
        page.wait_for_selector("#paper-refused")
        assert "同一位监票人不能录入同一张纸质选票两次" in page.inner_text("#paper-refused")
        check_page(page, "h5-paper-same-scrutineer-phone")
    finally:
        zhao.close()
    qian, page = _signed_in(browser, url, "qian")
    try:
        flash, station = _enter(page, scan)
        assert "两次录入一致：纸质选票已记录" in flash
        assert page.inner_text("#count-recorded") == "1" and page.inner_text("#count-waiting") == "0"
        check_page(page, "h5-paper-recorded-phone")
    finally:
        qian.close()
    (entry,) = paper_entries(built)
    assert entry.body["ballot"]["ballot"]["kind"] == "secret" and entry.body["scan"] == hashlib.sha256(SCAN).hexdigest()
    assert entry.body["ballot"] == station["signed"]  # encrypted in the second scrutineer's browser
    assert pending_rows(built) == []
    assert built.audit().counted == 1
    alice, page = _signed_in(browser, url, "alice", {"width": 1280, "height": 900})
    try:
        page.goto(URL)
        assert page.locator("#paper-form").count() == 0
        check_page(page, "h5-paper-supervisor-desktop")
    finally:
        alice.close()


def test_written_proxy_hash_in_the_browser(live, browser):
    url, built, scan = live
    alice, page = _signed_in(browser, url, "alice")
    try:
        page.goto(f"/estates/{SLUG}/staff/rounds/{ROUND_ID}/proxies")
        check_page(page, "h5-proxy-form-phone")
        page.fill("#vb", "1")
        page.fill("#vu", "1")
        page.fill("#vr", "102")
        page.fill("#pb", "2")
        page.fill("#pu", "1")
        page.fill("#pr", "101")
        page.set_input_files("#scan", str(scan))
        wait_marked(page, "scanHashed")
        page.click("#proxy-form button[type=submit]")
        page.wait_for_selector("#proxy-flash")
        assert "书面委托已记录" in page.inner_text("#proxy-flash")
        check_page(page, "h5-proxy-recorded-phone")
    finally:
        alice.close()
    grants = [e for e in built.entries() if e.type == "proxy.grant"]
    assert grants[-1].body["authorisation"] == {"kind": "written", "scan_sha256": hashlib.sha256(SCAN).hexdigest()}
