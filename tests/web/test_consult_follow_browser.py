"""Issue #12 parts 2 and 3 in real Chromium, on a phone: owners answer a satisfaction
consultation with their credential keys (web/static/owner/consult.js signs in the browser), staff
moderate the free text, the published results show exact heads and areas, and a decision's page
shows its follow-through from approval to the owners' rating.  Screenshots:
test-artifacts/screenshots/e2e-NN-loop-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.db import make_engine, migrate, transaction
from tests.chromium import launch, require_chromium, wait_marked
from tests.voting import loop_fixtures as lf
from tests.web import e2e_fixtures as ef
from tests.web.test_e2e_browser import PHONE, Story
from tests.web.uvicorn_server import serving
from voting import consultation_store as cstore
from voting import follow_store as fs
from web import owner
from web.app import create_app


def _owner_context(story: Story, who: str):
    """A phone whose owner session is open (the SMS sign-in is the e2e story's; here the cookie)."""
    with transaction(story.sc.engine) as s:
        token = owner._open(s, story.sc.slug, story.sc.voter[who], "sms", True)
    context = story.context(PHONE)
    context.add_cookies([{"name": owner.OWNER_COOKIE, "value": token, "url": story.base}])
    return context


def _answer(story: Story, who: str, consult_id: str, picks: list[tuple[str, str]], text: str | None) -> None:
    sc = story.sc
    context = _owner_context(story, who)
    page = context.new_page()
    page.goto(f"{story.base}/estates/{sc.slug}/consult/{consult_id}")
    wait_marked(page, "consult", "ready", timeout=60_000)
    for name, value in picks:
        page.check(f"input[name='q-{name}'][value='{value}']")
    if text is not None:
        page.fill("#consult-text", text)
    page.click("#consult-submit")
    page.wait_for_selector("#consult-code-field:not([hidden])")
    page.fill("#consult-code", sc.codes[who])
    story.shot(page, f"loop-answer-{who}")
    page.click("#consult-submit")
    page.wait_for_selector("#consult-result[data-outcome='flash']", timeout=60_000)
    context.close()


@pytest.mark.browser
def test_consultation_and_follow_through_in_chromium(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    require_chromium()
    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    sc = lf.decided(engine, tmp_path / "work")
    fs.open_record(engine, sc.slug, fs.Opening("lift", sc.rid, "m1", "1 号楼加装电梯", "业主委员会（施工：某电梯公司）",
                                               38000000, [{"id": "m1", "title": "施工并验收", "due": "2027-03-31"}]))
    fs.update(engine, sc.slug, "lift", status="done", milestone="m1", text="已通过验收",
              files=[("验收报告.pdf", b"%PDF acceptance")])
    fs.spend(engine, sc.slug, "lift", amount=38000001, payee="某电梯公司", purpose="工程款",
             overrun_reason="增加防夹装置，提请业主大会追认")
    fs.complete(engine, sc.slug, "lift", text="电梯已投入使用")
    app = create_app(engine)
    a, b = ef.area_of("A"), ef.area_of("B")
    with serving(app) as base, sync_playwright() as p:
        browser = launch(p)
        story = Story(base, app, browser, sc)
        try:
            context, page = story.staff("supervisor")  # the rating consultation, from the record's page
            page.goto(f"{base}/estates/{sc.slug}/staff/follow/lift")
            page.click("#follow-rate")
            page.fill("#c-id", "lift-rating")
            page.fill("#c-title", "加装电梯工程满意度")
            page.fill("#c-questions", "评分|对工程质量的评价\n单选|是否按期完成|按期|延期")
            page.fill("#c-opens", "2020-01-01T08:00")
            story.shot(page, "loop-staff-announce")
            page.click("#consult-new button[type=submit]")
            page.wait_for_url("**/staff/consult/lift-rating")
            context.close()
            _answer(story, "A", "lift-rating", [("q1", "5"), ("q2", "0")], "施工期间噪音大，但质量很好")
            _answer(story, "B", "lift-rating", [("q1", "2")], "某某在 1-2-201，电话见群")
            context, page = story.staff("supervisor")
            page.goto(f"{base}/estates/{sc.slug}/staff/consult/lift-rating")
            cards = page.locator("#consult-pending li")
            assert cards.count() == 2
            for i, decision in ((0, "publish"), (1, "withhold")):
                card = page.locator("#consult-pending li").first
                card.locator(f"input[value='{decision}']").check()
                if decision == "withhold":
                    card.locator("input[name=reason]").fill("含个人信息")
                card.locator("button[type=submit]").click()
                page.wait_for_selector("#consult-flash")
            story.shot(page, "loop-staff-moderated")
            context.close()
            cstore.close(engine, sc.slug, "lift-rating", now=lf.now() + timedelta(days=30))
            context = story.context(PHONE)
            page = context.new_page()
            page.goto(f"{base}/estates/{sc.slug}/consult/lift-rating")
            assert page.locator("#counts-q1 tbody tr").nth(4).get_attribute("data-heads") == "1"
            assert page.locator("#counts-q1 tbody tr").nth(4).get_attribute("data-area") == str(a)
            assert page.locator("#counts-q1 tbody tr").nth(1).get_attribute("data-area") == str(b)
            assert page.locator("#counts-q2 tbody tr").nth(0).get_attribute("data-area") == str(a)
            texts = page.locator("#consult-texts").inner_text()
            assert "质量很好" in texts and "1-2-201" not in page.content()
            story.shot(page, "loop-results")
            page.goto(f"{base}/estates/{sc.slug}/decisions/{sc.rid}/m1")
            assert page.locator("#follow-spent").get_attribute("data-fen") == "38000001"
            assert page.locator("#follow-overrun").is_visible()
            assert page.locator("#follow-ratings a").get_attribute("href").endswith("/consult/lift-rating")
            story.shot(page, "loop-decision")
            page.goto(f"{base}/estates/{sc.slug}")
            assert "加装电梯工程满意度" in page.content()
            context.close()
        finally:
            browser.close()
    assert story.problems == [], story.problems
    story.codes_never_sent()
    engine.dispose()
