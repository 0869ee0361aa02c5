"""The in-browser checks of the public record in real Chromium (issue #10): the record page's
one-tap check and "check my ballot".

One counted secret round (``results_fixtures``: four encrypted ballots, a paper ballot entered by
two scrutineers, two trustees' shares, the result) served by a real Uvicorn server over SQLite.  Each test runs in a fresh browser context
(its own localStorage) on a phone-sized viewport; a server that lies is played by Playwright
rewriting its responses (``page.route``): a changed entry, a changed last entry, a checkpoint
that is not signed by the record key, an older checkpoint after a newer one was seen.  Every
check must pass on the honest server and fail, naming the entry, on the lying one.
"""

from __future__ import annotations

import base64
import json

import pytest

from ledger.db import make_engine, migrate
from tests.chromium import launch, require_chromium
from tests.web.results_fixtures import SLUG, make_round
from tests.web.uvicorn_server import serving
from web.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
WAIT = 120_000  # ms: a busy 2-core machine verifying every ballot proof


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(base URL, receipts by owner, number of entries) of a counted secret round."""
    require_chromium()
    base = tmp_path_factory.mktemp("check-browser")
    engine = make_engine(f"sqlite:///{base / 'gongjue.db'}")
    migrate(engine)
    with pytest.MonkeyPatch.context() as mp:
        _, receipts = make_round(engine, mp, secrecy="secret", tmp=base / "bundle",
                                 paper={"E-05": {"m1": "agree", "m2": "abstain", "e1": ["王五"]}})
    app = create_app(engine)
    with serving(app) as url:
        import httpx

        size = int(httpx.get(f"{url}/estates/{SLUG}/audit/checkpoint").text.split("\n")[1])
        yield url, receipts, size
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
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
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
            "text": result.inner_text(), "details": result.text_content()}


def _rewrite_entry(seq: int, old: bytes, new: bytes):
    """A route handler serving entries.jsonl with entry ``seq``'s first ``old`` replaced by ``new``."""
    def handler(route):
        response = route.fetch()
        lines = response.body().split(b"\n")
        assert old in lines[seq], f"entry {seq} has no {old!r}"
        lines[seq] = lines[seq].replace(old, new, 1)
        route.fulfill(response=response, body=b"\n".join(lines))
    return handler


def test_record_check_passes_on_a_real_round(live, page):
    from tests.web.pagecheck import check_page

    url, _receipts, size = live
    got = _run_record_check(page, url)
    assert got["state"] == "ok", got["details"]
    assert "记录核验无误" in got["text"]
    assert "5 张选票" in got["text"]  # four electronic ballots and one paper ballot verified
    root = page.evaluate("JSON.parse(localStorage.getItem('gongjue.record.gongjue.local/maple-court')).root")
    assert f"记录指纹（{size} 条）： {root[:4].upper()}-{root[4:8].upper()}-{root[8:12].upper()}" in got["text"]
    check_page(page, "record-checked")
    # the second check compares with the checkpoint this browser kept
    got = _run_record_check(page, url)
    assert got["state"] == "ok" and f"（{size} 条）" in got["text"], got["text"]


def test_record_check_without_web_workers_runs_on_the_page(live, page):
    """A browser without (module) workers: the same check on the page, in slices."""
    url, receipts, _size = live
    page.add_init_script("delete window.Worker;")
    got = _run_record_check(page, url)
    assert got["state"] == "ok", got["details"]
    assert "5 张选票" in got["text"]
    seq = receipts["D-04"]["seq"]
    page.route("**/audit/entries.jsonl*", _rewrite_entry(seq, b'"factor":"sms"', b'"factor":"pin"'))
    got = _run_record_check(page, url)
    assert got["state"] == "bad" and got["seq"] == str(seq), got


def test_record_check_names_a_changed_ballot_entry(live, page):
    url, receipts, _size = live
    seq = receipts["B-02"]["seq"]
    page.route("**/audit/entries.jsonl*", _rewrite_entry(seq, b'"factor":"sms"', b'"factor":"pin"'))
    got = _run_record_check(page, url)
    assert got["state"] == "bad" and got["seq"] == str(seq), got
    assert f"第 {seq} 条" in got["text"]


def test_record_check_names_a_changed_last_entry(live, page):
    url, _receipts, size = live
    last = size - 1
    page.route("**/audit/entries.jsonl*", _rewrite_entry(last, b'"round":"r1"', b'"round":"r2"'))
    got = _run_record_check(page, url)
    assert got["state"] == "bad" and got["seq"] == str(last), got
    assert f"第 {last} 条" in got["text"]


def test_record_check_refuses_a_checkpoint_the_record_key_did_not_sign(live, page):
    url, _receipts, _size = live

    def forged(route):
        response = route.fetch()
        body, _, sigs = response.text().partition("\n\n")
        origin, n, _root = body.split("\n")
        other = base64.b64encode(bytes(32)).decode()
        route.fulfill(response=response, body=f"{origin}\n{n}\n{other}\n\n{sigs}")

    page.route("**/audit/checkpoint", forged)
    got = _run_record_check(page, url)
    assert got["state"] == "bad", got
    assert "签名" in got["text"]


def test_record_check_refuses_an_older_checkpoint_after_a_newer_one(live, page):
    url, receipts, size = live
    assert _run_record_check(page, url)["state"] == "ok"  # this browser keeps the checkpoint of `size`
    older = receipts["A-01"]["tree_size"]
    assert older < size

    def rolled_back(route):
        response = route.fetch()
        old = page.request.get(f"{url}/estates/{SLUG}/audit/checkpoints/{older}").text()
        route.fulfill(response=response, body=old)

    page.route("**/audit/checkpoint", rolled_back)
    got = _run_record_check(page, url)
    assert got["state"] == "bad", got
    assert f"（{size} 条）" in got["text"]  # what this browser saw before


def _check_link(page, url: str, fragment: str) -> dict:
    page.goto("about:blank")  # a fresh page load each time (not a same-document fragment change)
    page.goto(f"{url}/estates/{SLUG}/check{fragment}")
    page.wait_for_selector("#ballot-result[data-state=ok], #ballot-result[data-state=bad]", timeout=WAIT)
    result = page.locator("#ballot-result")
    return {"state": result.get_attribute("data-state"), "text": result.inner_text()}


def _paste(page, url: str, text: str) -> dict:
    page.goto(f"{url}/estates/{SLUG}/check")
    page.wait_for_selector("html[data-ballot-check=ready]")
    page.fill("#receipt-text", text)
    page.click("#receipt-form button[type=submit]")
    page.wait_for_selector("#ballot-result[data-state=ok], #ballot-result[data-state=bad]", timeout=WAIT)
    result = page.locator("#ballot-result")
    return {"state": result.get_attribute("data-state"), "text": result.inner_text()}


def test_check_my_ballot_from_the_qr_link(live, page):
    from tests.web.pagecheck import check_page

    url, receipts, _size = live
    r = receipts["C-03"]
    got = _check_link(page, url, f"#r={r['seq']}.{r['tracking']}")
    assert got["state"] == "ok", got["text"]
    assert r["short"] in got["text"] and "r1" in got["text"]
    check_page(page, "check-ballot-ok")
    short = r["short"].replace("-", "")
    assert _check_link(page, url, f"#r={r['seq']}.{short}")["state"] == "ok"  # the short code works too
    assert _check_link(page, url, f"?r={r['seq']}.{r['tracking']}")["state"] == "ok"  # an app dropped the #
    other = receipts["D-04"]
    got = _check_link(page, url, f"#r={r['seq']}.{other['tracking']}")  # another ballot's code
    assert got["state"] == "bad" and other["short"].replace("-", "")[:12].lower() in got["text"].lower()


def test_check_my_ballot_from_a_pasted_receipt(live, page):
    url, receipts, _size = live
    r = receipts["A-01"]
    got = _paste(page, url, json.dumps(r, ensure_ascii=False))
    assert got["state"] == "ok", got["text"]
    assert r["short"] in got["text"]


def test_check_my_ballot_refuses_forged_receipts(live, page):
    url, receipts, _size = live
    r = dict(receipts["A-01"])
    # the entry changed (the receipt's hash no longer matches)
    forged = dict(r, entry=r["entry"].replace('"factor":"sms"', '"factor":"pin"'))
    assert _paste(page, url, json.dumps(forged, ensure_ascii=False))["state"] == "bad"
    # entry and hash changed together: the proof no longer leads to the signed root
    import hashlib

    entry = forged["entry"]
    forged["leaf_hash"] = hashlib.sha256(b"\x00" + entry.encode()).hexdigest()
    assert _paste(page, url, json.dumps(forged, ensure_ascii=False))["state"] == "bad"
    # a checkpoint the record key did not sign
    note = r["checkpoint"]
    body, _, sigs = note.partition("\n\n")
    origin, n, _root = body.split("\n")
    bad_note = f"{origin}\n{n}\n{base64.b64encode(bytes(32)).decode()}\n\n{sigs}"
    got = _paste(page, url, json.dumps(dict(r, checkpoint=bad_note), ensure_ascii=False))
    assert got["state"] == "bad", got["text"]
    # not a receipt at all
    assert _paste(page, url, "hello")["state"] == "bad"


@pytest.mark.parametrize("size", [PHONE, {"width": 1280, "height": 800}], ids=["phone", "desktop"])
def test_public_pages_pass_the_page_check(live, browser, size):
    """axe-core (no serious or critical violation) and every tap target ≥ 44 px, with screenshots."""
    from tests.web.pagecheck import check_page

    url, receipts, _size = live
    context = browser.new_context(viewport=size, locale="zh-CN")
    page = context.new_page()
    try:
        for path, name in [(f"/estates/{SLUG}/rounds/r1/result", "result"), (f"/estates/{SLUG}/audit", "record"),
                           (f"/estates/{SLUG}/check", "check")]:
            page.goto(url + path)
            check_page(page, f"public-{name}")
        page.goto(f"{url}/estates/{SLUG}/audit")
        page.click("summary")  # the technical details open
        check_page(page, "public-record-details")
        r = receipts["A-01"]
        page.goto(f"{url}/estates/{SLUG}/check#r={r['seq']}.{r['tracking']}")
        page.wait_for_selector("#ballot-result[data-state=ok]", timeout=WAIT)
        check_page(page, "public-check-ok")
    finally:
        context.close()


def test_check_my_ballot_refuses_an_older_record_than_this_browser_saw(live, page):
    url, receipts, size = live
    r = receipts["B-02"]
    assert _check_link(page, url, f"#r={r['seq']}.{r['tracking']}")["state"] == "ok"  # remembers size `size`
    older = r["tree_size"]
    assert older < size

    def rolled_back(route):
        response = route.fetch()
        old = page.request.get(f"{url}/estates/{SLUG}/audit/entries/{r['seq']}/receipt.json?size={older}").text()
        route.fulfill(response=response, body=old)

    page.route(f"**/audit/entries/{r['seq']}/receipt.json", rolled_back)
    got = _check_link(page, url, f"#r={r['seq']}.{r['tracking']}")
    assert got["state"] == "bad" and "不一致" in got["text"], got["text"]
