"""The site's own pages in real Chromium at phone and desktop sizes: home, language switch, staff
sign-in with the two-step code, the two-step enrolment, the admin and estate roles pages, an
error page — each through ``pagecheck.check_page`` (axe-core, tap targets ≥ 44 px, screenshot)."""

from __future__ import annotations

import time

import pytest

from identity import staff as staff_store
from ledger.db import make_engine, migrate, transaction
from tests.chromium import launch, require_chromium
from tests.web.conftest import PASSWORD, add_staff
from tests.web.owner_fixtures import SLUG, make_estate
from tests.web.pagecheck import check_page
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_chromium()
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('site-browser') / 'gongjue.db'}")
    migrate(engine)
    make_estate(engine)
    add_staff(engine, "root", "admin")
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    with serving(create_app(engine)) as base:
        yield base, engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_public_pages_and_the_language_switch(live, browser, size, viewport):
    base, _engine = live
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.inner_text("h1") == "小区" and "枫林苑" in page.inner_text("main")
    check_page(page, f"site-home-{size}")
    page.click(".lang-switch a[lang=en]")
    page.wait_for_load_state()
    assert page.url == f"{base}/" and page.locator("html").get_attribute("lang") == "en"
    assert page.inner_text("h1") == "Estates"
    assert page.locator(".lang-switch a[aria-current=true]").inner_text() == "English"
    check_page(page, f"site-home-en-{size}")
    page.goto(f"{base}/signin?next=/admin/staff")
    assert page.inner_text("h1") == "Staff sign-in"  # the choice is remembered
    page.click(".lang-switch a[lang=zh-CN]")
    page.wait_for_load_state()
    assert page.url == f"{base}/signin?next=/admin/staff"  # back to the same page, query kept
    assert page.inner_text("h1") == "工作人员登录"
    check_page(page, f"site-signin-{size}")
    page.goto(f"{base}/no/such/page")
    assert page.inner_text("h1") == "找不到页面"
    check_page(page, f"site-404-{size}")
    context.close()


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_staff_pages_two_step_enrolment_and_sign_in(live, browser, size, viewport):
    base, engine = live
    username = f"totp-{size}"
    add_staff(engine, username, "supervisor", estates=(SLUG,))
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_in(page, base, username)
    assert f"{username}（工作人员）" in page.inner_text(".who")
    page.click("a.nav-link[href='/staff/totp']")
    page.wait_for_load_state()
    check_page(page, f"site-totp-off-{size}")
    page.click("form.actions button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("svg.qr").is_visible()
    with transaction(engine) as session:
        secret = staff_store.find_staff(session, username).totp_pending
    check_page(page, f"site-totp-enrol-{size}")
    page.fill("#code", staff_store.totp_code(secret))
    page.click("ol.steps button[type=submit]")
    page.wait_for_load_state()
    assert "两步验证已开启" in page.inner_text(".flash")
    check_page(page, f"site-totp-on-{size}")
    page.click("header form.inline button.nav-link")  # sign out
    page.wait_for_load_state()
    _sign_in(page, base, username)
    assert page.locator("#code").is_visible() and "正在登录" in page.inner_text("main")
    check_page(page, f"site-signin-code-{size}")
    page.fill("#code", staff_store.totp_code(secret, int(time.time()) + staff_store.TOTP_STEP))
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    assert f"{username}（工作人员）" in page.inner_text(".who")
    page.goto(f"{base}/estates/{SLUG}/staff/roles")
    assert username in page.inner_text("main")
    check_page(page, f"site-estate-roles-supervisor-{size}")
    context.close()


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_admin_pages(live, browser, size, viewport):
    base, _engine = live
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_in(page, base, "root")
    page.goto(f"{base}/admin/staff")
    assert page.inner_text("h1") == "工作人员角色"
    check_page(page, f"site-admin-{size}")
    page.goto(f"{base}/estates/{SLUG}/staff/roles")
    check_page(page, f"site-estate-roles-admin-{size}")
    page.goto(f"{base}/lang/en?next=/admin/staff")
    assert page.inner_text("h1") == "Staff roles" and "Access log" in page.inner_text("main")
    check_page(page, f"site-admin-en-{size}")
    context.close()
