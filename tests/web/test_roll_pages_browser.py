"""The roll preview in real Chromium, phone and desktop: upload, see the differences, confirm;
the identical file; the voters-and-totals page.  Screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from identity import store
from identity.roll import read_roll
from ledger.db import make_engine, migrate, transaction
from tests.chromium import launch, require_chromium
from tests.web.conftest import PASSWORD, add_staff
from tests.web.pagecheck import check_page
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

V1 = ("楼栋,单元,房号,面积,业主编号,业主姓名\n" + "".join(
    f"{b},{u},{u}0{r},{88 + r}.50,M{b}{u}{r},业主{b}{u}{r}\n" for b in (1, 2) for u in (1, 2) for r in (1, 2, 3)))
V2 = V1.replace("1,1,101,89.50", "1,1,101,89.75").replace("2,2,203,91.50,M223", "2,2,203,91.50,M999") \
    .replace("2,2,202,90.50,M222,业主222\n", "") + "3,1,101,120.00,M311,\n"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_chromium()
    base = tmp_path_factory.mktemp("roll-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    with transaction(engine) as session:
        store.import_roll(session, "maple-court", read_roll(V1.encode(), "v1.csv"), filename="v1.csv",
                          data=V1.encode(), name="枫林苑")
    add_staff(engine, "alice", "supervisor", estates=("maple-court",))
    with serving(create_app(engine)) as url:
        yield url, engine, base
    engine.dispose()


@pytest.fixture(scope="module")
def browser(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _signed_in(browser, url, size):
    context = browser.new_context(base_url=url, viewport=SIZES[size], locale="zh-CN")
    page = context.new_page()
    page.goto("/signin")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda u: "/signin" not in u)
    return context, page


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_roll_preview_identical_and_voters(live, browser, size):
    url, _engine, base = live
    context, page = _signed_in(browser, url, size)
    try:
        page.goto("/estates/maple-court/roll")
        check_page(page, f"h5-roll-upload-{size}")
        same = base / f"same-{size}.csv"
        same.write_text(V1, "utf-8")
        page.set_input_files("#file", str(same))
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#roll-identical")
        assert "逐字节相同" in page.inner_text("#roll-identical") and page.locator("#roll-confirm").count() == 0
        check_page(page, f"h5-roll-identical-{size}")
        page.goto("/estates/maple-court/staff/voters")
        assert page.inner_text("#whole-heads") == "12"
        check_page(page, f"h5-roll-voters-{size}")
    finally:
        context.close()


def test_roll_preview_then_confirm(live, browser):
    url, engine, base = live
    context, page = _signed_in(browser, url, "phone")
    try:
        page.goto("/estates/maple-court/roll")
        changed = base / "v2.csv"
        changed.write_text(V2, "utf-8")
        page.set_input_files("#file", str(changed))
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#roll-confirm")
        assert page.locator("#roll-counts dd").all_inner_texts() == ["1", "1", "2"]
        assert page.locator("#roll-removed-warning").is_visible()
        whole = page.locator("#roll-totals tbody tr").first.locator("td").all_inner_texts()
        assert whole == ["12", "12", "1,086.00", "1,115.75"]
        check_page(page, "h5-roll-preview-phone")
        with transaction(engine) as session:
            assert store.current_roll(session, "maple-court").version == 1  # nothing written yet
        page.click("#roll-confirm button[type=submit]")
        page.wait_for_url("**/estates/maple-court")
        assert "已导入第 2 版名册" in page.inner_text("main")
        check_page(page, "h5-roll-imported-phone")
        with transaction(engine) as session:
            assert store.current_roll(session, "maple-court").version == 2
    finally:
        context.close()
