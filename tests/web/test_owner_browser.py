"""The owner's key check in real Chromium (SPEC §4.7): match, mismatch (a swapped key), a mistyped
code — and the code never leaves the browser.

A live Uvicorn server over a SQLite file; the owner signs in with an SMS code read from the file
gateway, then types the code from their letter on a phone-sized page. Every request the page
makes is recorded: none may carry the code in any form.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from identity import authority as au
from identity import factor
from identity.credential import format_code
from ledger.db import make_engine, migrate
from tests.chromium import launch, require_chromium
from tests.web.owner_fixtures import AUTHORITY_NAME, SLUG, make_estate
from web.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, estate, SMS directory): A's registered key is swapped, B's is right."""
    import uvicorn

    require_chromium()
    base = tmp_path_factory.mktemp("owner-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    estate = make_estate(engine, swapped=("A",))
    sms = base / "sms"
    saved = factor.os.environ.get(factor.GATEWAY_ENV)
    factor.os.environ[factor.GATEWAY_ENV] = f"file:{sms}"
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
    yield f"http://127.0.0.1:{port}", estate, sms
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()
    if saved is None:
        factor.os.environ.pop(factor.GATEWAY_ENV, None)
    else:
        factor.os.environ[factor.GATEWAY_ENV] = saved


@pytest.fixture(scope="module")
def chromium(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def _last_code(sms) -> str:
    newest = max(sms.iterdir())
    return re.search(r"验证码 (\d{6})", json.loads(newest.read_text("utf-8"))["text"]).group(1)


def _signed_in_page(chromium, live, part=None, code=None):
    """Sign in on a phone-sized page: with the letter's code (only the derived key is posted) or,
    without it, with a flat (the fold under the code form)."""
    base, _, sms = live
    context = chromium.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url} {r.post_data or ''}"))
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base}/estates/{SLUG}/owner")
    page.wait_for_selector("#signin-code[data-ready='1']")
    if code is not None:
        page.fill("#signin-credential", code)
        page.click("#signin-code button[type=submit]")
    else:
        page.click("#signin-flat-fold summary")
        page.fill("#building", part[0])
        page.fill("#unit", part[1])
        page.fill("#room", part[2])
        page.click("#signin-flat button[type=submit]")
    page.wait_for_url(f"**/estates/{SLUG}/owner/verify")
    page.fill("#secret", _last_code(sms))
    page.click("form.owner-form button[type=submit]")
    page.wait_for_url(f"**/estates/{SLUG}/owner")
    page.wait_for_selector("#keycheck[data-ready='1']")
    return context, page, requests, problems


def _check(page, typed: str) -> tuple[str, str]:
    page.fill("#code", typed)
    page.click("#check")
    result = page.locator("#result")
    result.wait_for(state="visible")
    return result.get_attribute("data-outcome"), result.inner_text()


def test_match_mismatch_and_the_code_stays_in_the_browser(chromium, live):
    _, estate, _ = live
    # B signs in with the letter's code typed in lower case and full width (a Chinese input method)
    typed_in = format_code(estate.codes["B"]).lower().translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    context, page, requests, problems = _signed_in_page(chromium, live, code=typed_in)
    assert au.fingerprint(estate.keys["B"]) in page.inner_text("#registered")
    before = len(requests)
    outcome, text = _check(page, format_code(estate.codes["B"]).lower())
    assert outcome == "match" and "一致" in text
    outcome, text = _check(page, estate.codes["C"])  # a valid code, but not the one registered for B
    assert outcome == "mismatch" and AUTHORITY_NAME in text and "不一致" in text
    outcome, text = _check(page, estate.codes["B"][:-1] + ("2" if estate.codes["B"][-1] != "2" else "3"))
    assert outcome == "invalid" and "凭证码有误" in text
    page.wait_for_timeout(200)
    typed = [estate.codes["B"], format_code(estate.codes["B"]), estate.codes["C"], typed_in]
    later = requests[before:]
    assert later == [], later  # checking makes no request at all
    for line in requests:
        assert not any(c in line or c.lower() in line for c in typed)
    assert any(f"key={estate.keys['B']}" in line for line in requests if "/owner/identify" in line)
    assert problems == []
    context.close()


def test_swapped_key_is_shown_as_a_mismatch(chromium, live):
    _, estate, _ = live
    context, page, requests, problems = _signed_in_page(chromium, live, part=("1", "1", "101"))  # A: key swapped
    assert au.fingerprint(estate.keys["A"]) not in page.inner_text("#registered")
    outcome, text = _check(page, estate.codes["A"])  # A's own letter
    assert outcome == "mismatch"
    assert au.fingerprint(estate.keys["A"]) in text  # what A's code gives …
    assert page.inner_text("#registered") in text  # … against what was registered
    assert "联系凭证机构" in text and AUTHORITY_NAME in text
    assert all(estate.codes["A"] not in line for line in requests)
    assert problems == []
    context.close()
