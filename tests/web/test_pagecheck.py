"""tests/web/pagecheck.py itself, in real Chromium: pages served with the app's strict CSP (so
axe-core must arrive through the DevTools protocol), one that passes and one with known faults.
"""

from __future__ import annotations

import pytest

from tests.chromium import launch, require_chromium
from tests.web.pagecheck import SCREENSHOTS, check_page, problems
from web.security import CSP

pytestmark = pytest.mark.browser

ORIGIN = "http://pagecheck.test"
STYLE = """
body { font: 18px/1.6 sans-serif; color: #1a1a1a; background: #fff; margin: 0; padding: 16px; }
a, button { display: inline-block; min-height: 44px; min-width: 44px; padding: 10px 12px; box-sizing: border-box; }
p a.inline { display: inline; min-height: 0; min-width: 0; padding: 0; }
.small { min-height: 0; min-width: 0; padding: 2px; font-size: 14px; }
.faint { color: #bbb; }
#name { height: 48px; width: 200px; }
label.big { display: flex; align-items: center; gap: 8px; min-height: 48px; }
.hidden-input { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
"""
GOOD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Good</title>
<link rel="stylesheet" href="/s.css"></head><body>
<header><nav aria-label="main"><a href="/a">Home</a> <a href="/b">Rounds</a></nav></header>
<main><h1>A good page</h1>
<p>Read <a class="inline" href="/guide">the guide</a> before you vote.</p>
<form><label class="big"><input type="checkbox" name="x"> I agree</label>
<label for="name">Name</label><input id="name" name="name">
<button type="submit">Send</button></form></main></body></html>"""
BAD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bad</title>
<link rel="stylesheet" href="/s.css"></head><body>
<main><h1>A bad page</h1>
<nav aria-label="tiny"><a class="small" id="tiny-link" href="/x">x</a></nav>
<button class="small" id="tiny-button">Go</button>
<p class="faint">Hard to read text.</p>
<img src="/i.png">
<label class="small" id="radio-label"><input type="radio" name="r" class="hidden-input"> Yes</label>
</main></body></html>"""


def _serve(route) -> None:
    path = route.request.url[len(ORIGIN):]
    headers = {"content-security-policy": CSP}
    if path == "/s.css":
        route.fulfill(status=200, body=STYLE, content_type="text/css", headers=headers)
    elif path == "/i.png":
        route.fulfill(status=404, body="", headers=headers)
    else:
        route.fulfill(status=200, body=BAD if path == "/bad" else GOOD, content_type="text/html; charset=utf-8",
                      headers=headers)


@pytest.fixture(scope="module")
def page():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        pg = context.new_page()
        pg.route(f"{ORIGIN}/**", _serve)
        yield pg
        browser.close()


def test_a_good_page_passes_and_leaves_a_screenshot(page):
    page.goto(f"{ORIGIN}/good")
    path = check_page(page, "pagecheck-self-good")
    assert path == SCREENSHOTS / "pagecheck-self-good-390.png" and path.stat().st_size > 0
    assert page.evaluate("typeof window.axe.run") == "function"  # injected despite the CSP


def test_a_bad_page_lists_every_offender_with_selector_and_size(page):
    page.goto(f"{ORIGIN}/bad")
    with pytest.raises(AssertionError) as failure:
        check_page(page, "pagecheck-self-bad")
    text = str(failure.value)
    assert "#tiny-link" in text and "#tiny-button" in text and "#radio-label" in text
    assert "axe color-contrast (serious)" in text and "axe image-alt (critical)" in text
    assert "px < 44×44" in text
    assert (SCREENSHOTS / "pagecheck-self-bad-390.png").exists()  # taken before the checks


def test_allow_excuses_rules_and_selectors(page):
    page.goto(f"{ORIGIN}/bad")
    left = problems(page, allow=("color-contrast", "image-alt", "#tiny-link", "#radio-label"))
    assert len(left) == 1 and "#tiny-button" in left[0]
