"""Owners vote in real Chromium on a phone (390 × 844): the booth of issue #10 end to end.

A live Uvicorn server (SQLite file) with a round announced over the JSON API
(``tests.web.test_booth.CodedElection``: the owners' registered keys come from credential codes,
as the authority's letters do).  Each test drives the pages as an owner would:

- secret round: the letter's QR link ``/estates/<slug>/vote#c=<code>`` (the code taken from the
  fragment and cleared from the address bar), the SMS code, the choices item by item, review,
  seal, **audit** (the sealed ballot opened and checked, thrown away), seal again, cast, the
  receipt (tracking code, QR image, check link, the downloaded receipt verified against the log's
  key), the booth then says "voted"; no request ever carries the code;
- open round: sign-in with the code typed, a vote cast; another owner's cast **refused**
  (a ballot cast for them meanwhile: ``already_voted``) and shown in Chinese; a **proxy**
  granted on the proxies page (signed in the browser) and used in the booth ("whom").

Every page is checked with ``tests.web.pagecheck.check_page`` (axe, 44 px targets, screenshots).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ledger.db import make_engine, migrate, reading
from ledger.receipt import verify_receipt
from tests.chromium import launch, require_chromium
from tests.web.pagecheck import check_page
from tests.web.test_booth import CodedElection
from tests.web.uvicorn_server import serving
from voting import cast as casting
from web.app import create_app
from web.cli import simulate as sim

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def world(tmp_path, request):
    """(election, base URL) for a fresh estate with a round of the requested secrecy."""
    require_chromium()
    secrecy = request.param
    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    sms = tmp_path / "sms"
    sms.mkdir()
    saved = os.environ.get("GONGJUE_SMS_GATEWAY")
    os.environ["GONGJUE_SMS_GATEWAY"] = f"file:{sms}"
    app = create_app(engine)
    try:
        el = CodedElection(engine, app, f"booth-{secrecy}", sms, secrecy=secrecy, revote=False)
        with serving(app) as base:
            yield el, base
        el.close()
    finally:
        if saved is None:
            os.environ.pop("GONGJUE_SMS_GATEWAY", None)
        else:
            os.environ["GONGJUE_SMS_GATEWAY"] = saved
        engine.dispose()


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


class Owner:
    """One owner's phone: a browser context, every request it makes, every script problem."""

    def __init__(self, chromium, el: CodedElection, name: str):
        self.el, self.name = el, name
        self.context = chromium.new_context(viewport=PHONE, locale="zh-CN", accept_downloads=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda r: self.requests.append(f"{r.method} {r.url} {r.post_data or ''}"))
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def second_factor(self, shot: str | None = None) -> None:
        page = self.page
        page.wait_for_url("**/owner/verify**")
        if shot:
            check_page(page, shot)
        page.fill("#secret", sim._sms_code(self.el.sms_dir, self.el.estate.phones[self.name]))
        page.click("form.owner-form button[type=submit]")

    def sign_in_typed(self, base: str) -> None:
        page = self.page
        page.goto(f"{base}/estates/{self.el.slug}/owner")
        page.wait_for_selector("#signin-code[data-ready='1']")
        page.fill("#signin-credential", self.el.codes[self.name].lower())
        page.click("#signin-code button[type=submit]")
        self.second_factor()
        page.wait_for_url(f"**/estates/{self.el.slug}/owner")

    def mark(self, choices: list[str]) -> None:
        """Tap one choice per item (by its label), Next after each; ends on the review."""
        page = self.page
        for n, label in enumerate(choices):
            item = page.locator(f"fieldset.item[data-index='{n}']")
            item.wait_for(state="visible")
            item.locator("label.choice", has_text=label).click()
            item.locator(".item-next").click()
        page.locator("#step-review").wait_for(state="visible")

    def seal(self) -> str:
        self.page.click("#seal")
        self.page.locator("#step-sealed").wait_for(state="visible")
        return self.page.inner_text("#sealed-tracking").strip()

    def code_never_sent(self) -> None:
        code = self.el.codes[self.name]
        spaced = "-".join(code[i:i + 4] for i in range(0, 24, 4))
        for line in self.requests:
            for form in (code, code.lower(), spaced, spaced.lower(), spaced.replace("-", "%2D")):
                assert form not in line, line

    def close(self, allow: tuple[str, ...] = ()) -> None:
        problems = [p for p in self.problems if not any(a in p for a in allow)]
        assert problems == [], problems
        self.context.close()


def _wait_image(page, selector: str) -> None:
    """Until the image has loaded (wait_for_function evaluates a string: the CSP refuses that)."""
    for _ in range(100):
        if page.locator(selector).evaluate("img => img.complete && img.naturalWidth > 0"):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{selector} did not load")


def _ballots(el: CodedElection) -> list[casting.BallotRow]:
    with reading(el.engine) as s:
        return list(s.query(casting.BallotRow).filter_by(log_id=el.log_id, round_id="r1"))


@pytest.mark.parametrize("world", ["secret"], indirect=True)
def test_secret_round_letter_link_audit_cast_and_receipt(chromium, world, tmp_path):
    el, base = world
    o = Owner(chromium, el, "O1")
    page = o.page
    # the letter's QR link: the booth asks for sign-in, the code comes along in the fragment
    page.goto(f"{base}/estates/{el.slug}/vote#c={el.codes['O1']}")
    page.wait_for_selector("#signin-code[data-ready='1']")
    assert "#c=" not in page.url and el.codes["O1"] not in page.url  # cleared from the address bar at once
    assert page.input_value("#signin-credential").replace("-", "") == el.codes["O1"]
    check_page(page, "owner-signin")
    page.click("#signin-code button[type=submit]")
    o.second_factor(shot="owner-verify")
    page.wait_for_url(f"**/estates/{el.slug}/vote?round=r1")
    page.wait_for_selector("html[data-booth='ready']")
    page.locator("fieldset.item[data-index='0']").wait_for(state="visible")  # the code was kept in the tab
    check_page(page, "booth-item")
    # an item needs a choice before going on
    page.click("fieldset.item[data-index='0'] .item-next")
    assert "请先选择一项" in page.inner_text("fieldset.item[data-index='0'] .item-error")
    o.mark(["同意", "greenleaf"])
    review = page.inner_text("#review-list")
    assert "同意" in review and "greenleaf" in review
    check_page(page, "booth-review")
    first = o.seal()
    assert page.inner_text("#cast-error") == ""
    assert len(first) == 14 and first.count("-") == 2
    check_page(page, "booth-sealed")
    # audit: the sealed ballot opened, checked, thrown away
    page.click("#audit")
    page.locator("#step-audit").wait_for(state="visible")
    assert page.get_attribute("#audit-result", "data-outcome") == "ok"
    assert "同意" in page.inner_text("#audit-list") and "greenleaf" in page.inner_text("#audit-list")
    assert page.inner_text("#audit-tracking").strip() == first
    check_page(page, "booth-audit")
    assert _ballots(el) == []  # an audited ballot is never cast
    page.click("#again")
    page.locator("#step-review").wait_for(state="visible")
    second = o.seal()
    assert second != first  # fresh randomness
    page.click("#cast")
    page.locator("#step-receipt").wait_for(state="visible")
    assert page.inner_text("#receipt-tracking").strip() == second
    _wait_image(page, "#receipt-qr")
    rows = _ballots(el)
    assert len(rows) == 1 and rows[0].voter == el.voter["O1"] and rows[0].proxy is None
    seq, tracking = rows[0].seq, rows[0].tracking
    assert tracking[:12].upper() == second.replace("-", "")
    assert page.get_attribute("#receipt-check", "href") == f"/estates/{el.slug}/check#r={seq}.{tracking}"
    assert page.get_attribute("#receipt-qr", "src") == f"/estates/{el.slug}/receipt.svg?r={seq}.{tracking}"
    check_page(page, "booth-receipt")
    with page.expect_download() as got:
        page.click("#receipt-download")
    saved = Path(got.value.path())
    receipt = json.loads(saved.read_text("utf-8"))
    assert verify_receipt(receipt, el.vkey()).seq == seq and receipt["tracking"] == tracking
    # back on the booth: voted, nothing to cast
    page.goto(f"{base}/estates/{el.slug}/vote?round=r1")
    assert "您已在本轮投票" in page.inner_text("main")
    page.goto(f"{base}/estates/{el.slug}")
    assert "已投票" in page.inner_text("main")
    check_page(page, "estate-home-owner")
    page.goto(f"{base}/estates/{el.slug}/rounds/r1")
    check_page(page, "round-page")
    page.set_viewport_size({"width": 1280, "height": 900})  # desktop too
    for path, name in (("", "estate-home-owner"), ("/rounds/r1", "round-page"), ("/vote?round=r1", "booth-voted"),
                       ("/owner", "owner-my-page"), ("/owner/proxies?round=r1", "owner-proxies")):
        page.goto(f"{base}/estates/{el.slug}{path}")
        check_page(page, name)
    o.code_never_sent()
    o.close()


@pytest.mark.parametrize("world", ["open"], indirect=True)
def test_open_round_vote_refusal_in_chinese_and_a_proxy(chromium, world):
    el, base = world
    # O6 votes in the open round (no audit there: an open ballot is not encrypted)
    o6 = Owner(chromium, el, "O6")
    o6.sign_in_typed(base)
    check_page(o6.page, "owner-my-page")
    o6.page.click(f"a[href='/estates/{el.slug}/vote?round=r1']")
    o6.page.wait_for_selector("html[data-booth='ready']")
    o6.mark(["反对", "harbour"])
    o6.seal()
    assert o6.page.locator("#audit").count() == 0
    o6.page.click("#cast")
    o6.page.locator("#step-receipt").wait_for(state="visible")
    assert [r.voter for r in _ballots(el)] == [el.voter["O6"]]
    o6.code_never_sent()
    o6.close()
    # O2's ballot is sealed, but a ballot for O2 is cast meanwhile (another session): refused, in Chinese
    o2 = Owner(chromium, el, "O2")
    o2.sign_in_typed(base)
    o2.page.goto(f"{base}/estates/{el.slug}/vote?round=r1")
    o2.page.wait_for_selector("html[data-booth='ready']")
    o2.mark(["同意", "greenleaf"])
    o2.seal()
    meanwhile = o2.context.request.post(f"{base}{el.base}/ballots", headers={"content-type": "application/json"},
                                        data=casting.dumps(el.ballot("O2", "abstain", "none")))  # same session
    assert meanwhile.status == 201, meanwhile.text()
    o2.page.click("#cast")
    error = o2.page.locator("#cast-error")
    error.wait_for(state="visible")
    assert error.get_attribute("data-code") == "already_voted"
    assert error.inner_text().startswith("本轮已经有一张选票为您投出")
    check_page(o2.page, "booth-refused")
    o2.close(allow=("status of 409",))  # the refused cast's own response
    # O3 authorises O7 on the proxies page (signed in the browser) …
    o3 = Owner(chromium, el, "O3")
    o3.sign_in_typed(base)
    o3.page.goto(f"{base}/estates/{el.slug}/owner/proxies?round=r1")
    check_page(o3.page, "owner-proxies")
    f = el.flat["O7"]
    o3.page.fill("#p-building", f.building)
    o3.page.fill("#p-unit", f.unit)
    o3.page.fill("#p-room", f.room)
    o3.page.click("form.card button[type=submit]")
    o3.page.locator("#proxy-confirm").wait_for(state="visible")
    check_page(o3.page, "owner-proxies-confirm")
    # the page names the proxy by the flat typed, never by the voter number (SPEC §7.8, by reference)
    assert el.voter["O7"] not in o3.page.content()
    o3.page.click("[data-proxy-action='proxy.grant']")
    o3.page.locator("[data-proxy-action='proxy.revoke']").wait_for(state="visible")
    assert f"{f.building}-{f.unit}-{f.room}" in o3.page.inner_text("main")
    assert el.voter["O7"] not in o3.page.content()
    o3.code_never_sent()
    o3.close()
    # … and O7 votes for O3 in the booth
    o7 = Owner(chromium, el, "O7")
    o7.sign_in_typed(base)
    o7.page.goto(f"{base}/estates/{el.slug}/vote?round=r1")
    o7.page.wait_for_selector("html[data-booth='ready']")
    o7.page.locator("#step-whom").wait_for(state="visible")
    check_page(o7.page, "booth-whom")
    o7.page.check(f"input[name='whom'][value='{el.voter['O3']}']")
    o7.page.click("#whom-next")
    o7.mark(["弃权", "none"])
    assert el.voter["O3"] in o7.page.inner_text("#review-whom")
    o7.seal()
    o7.page.click("#cast")
    o7.page.locator("#step-receipt").wait_for(state="visible")
    rows = {r.voter: r for r in _ballots(el)}
    assert rows[el.voter["O3"]].proxy == el.voter["O7"]
    # … then for themselves with the same marks: an open ballot names whom it is cast for (SPEC
    # §3.6 for), so it is not the same signed ballot as the one for O3
    o7.page.goto(f"{base}/estates/{el.slug}/vote?round=r1")
    o7.page.wait_for_selector("html[data-booth='ready']")
    assert not o7.page.locator("#step-whom").is_visible()  # O3 has a ballot: only O7 is left
    o7.mark(["弃权", "none"])
    o7.seal()
    o7.page.click("#cast")
    o7.page.locator("#step-receipt").wait_for(state="visible")
    rows = {r.voter: r for r in _ballots(el)}
    assert rows[el.voter["O7"]].proxy is None and rows[el.voter["O7"]].tracking != rows[el.voter["O3"]].tracking
    o7.code_never_sent()
    o7.close()
