"""The credential authority page in real Chromium: an admin records the key from KEYFILE.pub,
the authority uploads the signed credentials.json; phone and desktop, pagecheck screenshots."""

from __future__ import annotations

import json

import pytest

from identity import authority as au
from ledger.db import make_engine, migrate
from tests.chromium import launch, require_chromium
from tests.identity.test_authority import (
    AUTH,
    AUTH_PK,
    ORIGIN,
    SLUG,
    import_roll,
    key,
    latest_roll,
)
from tests.web.conftest import PASSWORD, add_staff
from tests.web.pagecheck import check_page
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

PAGE = f"/estates/{SLUG}/staff/authority"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_chromium()
    base = tmp_path_factory.mktemp("authority-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    import_roll(engine)
    add_staff(engine, "root", "admin")
    add_staff(engine, "office", "authority", estates=(SLUG,))
    with serving(create_app(engine)) as url:
        yield url, engine, base
    engine.dispose()


def _signed_in(browser, url, username, viewport):
    context = browser.new_context(base_url=url, viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto("/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda u: "/signin" not in u)
    return context, page


def test_record_key_and_statement(live):
    from playwright.sync_api import sync_playwright

    url, engine, base = live
    pub = base / "KEYFILE.pub"
    pub.write_text(json.dumps({"v": 1, "kind": "gongjue-authority-public-key", "name": "枫林街道办事处",
                               "contact": "服务中心 2 号窗口", "public_key": AUTH_PK}, ensure_ascii=False), "utf-8")
    version, voters = latest_roll(engine)
    creds = base / "credentials.json"
    creds.write_text(json.dumps(au.sign_statement(au.credentials_statement(
        ORIGIN, AUTH_PK, version, [(v, key(i)) for i, v in enumerate(voters)]), AUTH)), "utf-8")
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context, page = _signed_in(browser, url, "root", {"width": 1280, "height": 900})
            page.goto(PAGE)
            check_page(page, "h5-authority-empty-desktop")
            page.set_input_files("#key-file", str(pub))
            page.click("#authority-key-form button[type=submit]")
            page.wait_for_selector(".flash")
            assert page.inner_text("#authority-fingerprint") == au.fingerprint(AUTH_PK)
            check_page(page, "h5-authority-key-desktop")
            context.close()
            context, page = _signed_in(browser, url, "office", {"width": 390, "height": 844})
            page.goto(PAGE)
            page.set_input_files("#statement-file", str(creds))
            page.click("#statement-form button[type=submit]")
            page.wait_for_selector(".flash")
            assert "已登记 3 位表决权人的公钥" in page.inner_text(".flash")
            assert page.inner_text("#count-with-key") == "3" and page.inner_text("#count-without-key") == "0"
            check_page(page, "h5-authority-registered-phone")
            page.set_input_files("#statement-file", str(creds))  # the same list again: refused, clearly
            page.click("#statement-form button[type=submit]")
            page.wait_for_selector(".error")
            assert "未登记，未写入任何内容" in page.inner_text(".error")
            check_page(page, "h5-authority-refused-phone")
            context.close()
        finally:
            browser.close()
