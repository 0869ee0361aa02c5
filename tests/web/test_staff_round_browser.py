"""The staff round pages in real Chromium: a supervisor creates a round (scope picker, preview of
the notice), is refused a short notice with a clear message, corrects the draft and announces it;
owners vote; the live turnout page and the printable notice.  Every page passes
``tests/web/pagecheck.check_page`` (axe-core, 44 px tap targets) at phone and desktop sizes, with
screenshots in test-artifacts/screenshots/.

A live Uvicorn server over a SQLite file; the clock is pinned (``app.state.clock``) at T0 =
1 December 2026 10:00 Beijing time, later at the voting window.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.db import make_engine, migrate, reading
from tests.chromium import launch, require_chromium
from tests.voting.rounds_fixtures import SLUG, T0, credential_key, make_estate
from tests.web.conftest import PASSWORD, add_staff
from tests.web.pagecheck import check_page
from tests.web.uvicorn_server import serving
from voting import cast as casting
from voting import rounds
from voting.crypto import ballot as ballots_
from web.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
BASE = f"/estates/{SLUG}/staff/rounds"


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit], form button[type=submit] >> nth=-1")
    page.wait_for_load_state()


def _both(page, name: str) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        check_page(page, name)
    page.set_viewport_size(PHONE)


def test_create_announce_and_watch_turnout(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    estate = make_estate(engine)
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    app = create_app(engine)
    clock = {"now": T0}
    app.state.clock = lambda: clock["now"]
    with serving(app) as base, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport=PHONE)
            _sign_in(page, base)
            page.goto(f"{base}{BASE}")
            _both(page, "staff-rounds-empty")
            page.click(f"a[href='{BASE}/new']")
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == "新建表决轮次"
            _both(page, "staff-round-new")
            page.fill("#round", "2027-lift")
            page.check("input[name=unit][value='[\"1\", \"2\"]']")
            page.fill("#item0_title", "加装电梯")
            page.select_option("#item0_matter", "rebuild")
            page.check("input[name=secrecy][value=open]")
            page.fill("#opens", "2026-12-15T10:00")  # 14 days of notice: to be refused
            page.fill("#closes", "2026-12-29T10:00")
            page.click("button[value=preview]")
            page.wait_for_load_state()
            assert page.locator(".preview").is_visible()
            assert "加装电梯" in page.locator(".preview").inner_text()
            assert "1 号楼 2 单元" in page.locator(".preview").inner_text()
            _both(page, "staff-round-preview")
            page.click("button[value=save]")
            page.wait_for_load_state()
            assert page.locator(".flash").inner_text() == "草稿已保存。"
            assert "公告将被拒绝" in page.locator(".check.bad").inner_text()
            _both(page, "staff-round-draft")
            page.click("#announce-title ~ form button[type=submit]")
            page.wait_for_load_state()
            refusal = page.locator("#refusal").inner_text()
            assert "未公告" in refusal and "14 天" in refusal and "2026-12-16" in refusal
            _both(page, "staff-round-refused")
            with reading(engine) as s:
                assert rounds.load(s, SLUG, "2027-lift").announcement is None
            # correct the draft and announce
            page.click(f"a[href='{BASE}/2027-lift/edit']")
            page.wait_for_load_state()
            assert page.locator("input[name=unit][value='[\"1\", \"2\"]']").is_checked()
            page.fill("#opens", "2026-12-16T10:00")
            page.click("button[value=save]")
            page.wait_for_load_state()
            assert "若现在公告，公告期为 15 天" in page.locator(".check.ok").inner_text()
            page.click("#announce-title ~ form button[type=submit]")
            page.wait_for_load_state()
            assert page.locator(".flash").inner_text().startswith("已公告")
            _both(page, "staff-round-announced")
            # owners O-3 and O-5 (stairwell 1-2) vote in the window
            with reading(engine) as s:
                view = rounds.load(s, SLUG, "2027-lift")
            clock["now"] = T0 + timedelta(days=15, hours=1)
            for owner in ("O-3",):
                signed = ballots_.make_open_ballot(fingerprint=view.fingerprint, items=view.items,
                                                   choices={"m1": [1, 0, 0]}, signing_key=credential_key(owner))
                casting.cast(engine, SLUG, "2027-lift", casting.dumps(signed), voter=estate.pseudonym[owner],
                             factor="sms", now=clock["now"])
            page.goto(f"{base}{BASE}/2027-lift/turnout")
            heads = page.locator("#line-heads").inner_text()
            assert "1 / 2 人" in heads and "还差 1 人" in heads
            assert page.locator("svg.timeline-chart polyline").count() == 2
            assert page.locator("table.non-voters tbody tr").count() == 1
            _both(page, "staff-turnout")
            page.goto(f"{base}/estates/{SLUG}/rounds/2027-lift/notice.html")
            assert page.locator("svg.qr-code").count() == 1
            assert "业主大会表决公告" in page.locator(".doc-title").inner_text()
            _both(page, "print-notice")
            page.emulate_media(media="print")
            assert not page.locator(".site-header").is_visible()
            page.emulate_media(media="screen")
        finally:
            browser.close()
    engine.dispose()


def test_result_pages_after_the_count(tmp_path):
    """A counted round: the staff round page (result, print links) and the printable results
    announcement pass pagecheck at phone and desktop sizes."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    from ledger.db import transaction
    from tests.voting import count_estate
    from tests.voting.cast_estate import SLUG as COUNT_SLUG
    from voting import count_round

    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    r = count_estate.make(engine)
    for owner, choice in (("A-01", [1, 0, 0]), ("B-02", [1, 0, 0]), ("C-03", [0, 1, 0]), ("D-04", [1, 0, 0])):
        r.cast(owner, choice)
    count_round.close_round(engine, COUNT_SLUG, "r1", now=r.after)
    shares = r.shares(tmp_path / "bundle")
    for j in (1, 2):
        with transaction(engine) as s:
            count_round.submit_shares(s, COUNT_SLUG, "r1", shares[j], now=r.after)
    add_staff(engine, "alice", "supervisor", estates=(COUNT_SLUG,))
    app = create_app(engine)
    app.state.clock = lambda: r.after
    with serving(app) as base, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport=PHONE)
            _sign_in(page, base)
            page.goto(f"{base}/estates/{COUNT_SLUG}/staff/rounds/r1")
            assert "结果已公布" in page.locator("#result-title").inner_text()
            _both(page, "staff-round-published")
            page.goto(f"{base}/estates/{COUNT_SLUG}/rounds/r1/announcement.html")
            assert "通过" in page.locator(".outcome").first.inner_text()
            assert page.locator("svg.qr-code").count() == 1
            _both(page, "print-announcement")
        finally:
            browser.close()
    engine.dispose()
