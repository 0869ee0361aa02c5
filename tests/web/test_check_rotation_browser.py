"""The in-browser record checks after a log-key rotation (SPEC §2.4, issue #13), in real Chromium.

One counted open round, then ``rotation.rotate_site``: the record page's check follows the
``log.key`` entry (its hand-over checkpoint signed by both keys, proved by the entry's receipt at
size seq + 1) and refuses a hand-over whose checkpoint lacks the old key's signature, naming the
entry; "check my ballot" follows it too (``/audit/log-keys.json`` lists the log.key entries), for a
QR link and for a receipt kept from before the rotation, and refuses the same broken hand-over, or
a new key that no log.key entry hands the record over to."""

from __future__ import annotations

import base64
import json

import pytest

from ledger import keys, rotation
from ledger.db import make_engine, migrate
from tests.chromium import launch, require_chromium
from tests.web.results_fixtures import SLUG, make_round
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

WAIT = 120_000


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    require_chromium()
    base = tmp_path_factory.mktemp("check-rotation")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GONGJUE_LOG_KEY_FILE", str(base / "log.key"))
        _, receipts = make_round(engine, mp, secrecy="open")
        old = keys.log_key()
        new = rotation.rotate_site(engine, "test rotation")
        with engine.connect() as conn:
            seq = conn.exec_driver_sql("SELECT seq FROM ledger_entries WHERE type = 'log.key'").scalar_one()
        app = create_app(engine)
        with serving(app) as url:
            yield url, receipts, seq, old, new
    engine.dispose()


@pytest.fixture(scope="module")
def browser(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


def _run_record_check(page, url: str) -> dict:
    page.goto(f"{url}/estates/{SLUG}/audit")
    page.wait_for_selector("html[data-record-check=ready]")
    page.click("#run-check")
    page.wait_for_selector("#check-result[data-state]", timeout=WAIT)
    result = page.locator("#check-result")
    return {"state": result.get_attribute("data-state"), "seq": result.get_attribute("data-seq"),
            "text": result.text_content()}


def _without_signature_by(key):
    """A route handler that drops ``key``'s signature line from a receipt's checkpoint."""
    key_id = key.vkey.split("+")[1]

    def handler(route):
        response = route.fetch()
        body = json.loads(response.body())
        lines = [line for line in body["checkpoint"].split("\n")
                 if not (line.startswith("\u2014 ") and base64.b64decode(line.split(" ")[2])[:4].hex() == key_id)]
        body["checkpoint"] = "\n".join(lines)
        route.fulfill(response=response, body=json.dumps(body))

    return handler


def test_record_check_follows_the_rotation(live, page):
    url, _receipts, _seq, _old, _new = live
    got = _run_record_check(page, url)
    assert got["state"] == "ok", got["text"]


def test_record_check_refuses_a_handover_without_the_old_key(live, page):
    url, _receipts, seq, old, _new = live
    page.route(f"**/entries/{seq}/receipt.json?size={seq + 1}", _without_signature_by(old))
    got = _run_record_check(page, url)
    assert got["state"] == "bad", got["text"]
    assert got["seq"] == str(seq) and f"log.key entry {seq}" in got["text"], got["text"]


def _check_ballot(page, url: str, receipt: dict, *, paste: bool) -> dict:
    if paste:  # the receipt kept from before the rotation: its checkpoint is signed by the old key
        page.goto(f"{url}/estates/{SLUG}/check")
        page.wait_for_selector("html[data-ballot-check=ready]")
        page.fill("#receipt-text", json.dumps(receipt, ensure_ascii=False))
        page.click("#receipt-form button[type=submit]")
    else:
        page.goto(f"{url}/estates/{SLUG}/check#r={receipt['seq']}.{receipt['tracking']}")
    page.wait_for_selector("#ballot-result[data-state=ok], #ballot-result[data-state=bad]", timeout=WAIT)
    result = page.locator("#ballot-result")
    return {"state": result.get_attribute("data-state"), "text": result.text_content()}


@pytest.mark.parametrize("paste", [False, True])
def test_check_my_ballot_follows_the_rotation(live, page, paste):
    url, receipts, _seq, _old, _new = live
    r = next(iter(receipts.values()))
    assert r["checkpoint"].count("\n\u2014 ") == 1  # signed by the old key alone
    keys_seen = []
    page.on("request", lambda req: keys_seen.append(req.url) if "log-keys.json" in req.url else None)
    got = _check_ballot(page, url, r, paste=paste)
    assert got["state"] == "ok", got["text"]
    assert r["short"] in got["text"] and len(keys_seen) == 1


def test_check_my_ballot_refuses_a_handover_without_the_old_key(live, page):
    url, receipts, seq, old, _new = live
    page.route(f"**/entries/{seq}/receipt.json?size={seq + 1}", _without_signature_by(old))
    got = _check_ballot(page, url, next(iter(receipts.values())), paste=False)
    assert got["state"] == "bad", got["text"]


def test_check_my_ballot_refuses_a_key_no_log_key_entry_hands_over_to(live, page):
    url, receipts, _seq, _old, _new = live

    def no_rotations(route):
        response = route.fetch()
        body = json.loads(response.body())
        body["rotations"] = []
        route.fulfill(response=response, body=json.dumps(body))

    page.route("**/log-keys.json", no_rotations)
    got = _check_ballot(page, url, next(iter(receipts.values())), paste=False)
    assert got["state"] == "bad", got["text"]
