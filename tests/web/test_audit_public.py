"""The public record page for owners, the check page and entries.jsonl (issue #10), both databases.

The record page speaks plain words (what the record is, the one-tap check), names the estate,
links back, lists the rounds with their results, and keeps the checkpoint, downloads, the CLI and
the entries below a fold; entries.jsonl is the bundle's entries.jsonl byte for byte (the browser's
check downloads it); the check page is there for the booth's QR link.  No personal data.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.web.results_fixtures import OWNERS, SLUG, make_round
from web.app import create_app


def _messages(html: str) -> dict:
    """The JSON block of messages the page's script shows."""
    start = html.index('<script type="application/json" id="verify-text">')
    return json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])


def _client(engine, **cookies) -> TestClient:
    return TestClient(create_app(engine), cookies=cookies)


def test_record_page_for_owners(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")
    client = _client(engine)
    r = client.get(f"/estates/{SLUG}/audit")
    assert r.status_code == 200
    html = r.text
    assert "<h1>公开记录</h1>" in html and "枫林苑" in html
    assert "立即核验记录" in html and 'id="record-check"' in html
    assert f'data-base="/estates/{SLUG}/audit"' in html and 'data-origin="gongjue.local/maple-court"' in html
    assert re.search(r'<script type="module" src="/static/[^"]*record[^"]*\.js"></script>', html)
    assert _messages(html)["ok_title"] == "记录核验无误"
    assert f'href="/estates/{SLUG}/rounds/r1/result"' in html  # the round's result
    assert f'href="/estates/{SLUG}/check"' in html and f'href="/estates/{SLUG}"' in html  # link back
    fold = html[html.index('<details class="fold"'):html.index("</details>")]
    for technical in ("默克尔根", "bundle.zip", "gongjue verify", "log.vkey", "entries.jsonl", "<strong>#0</strong>"):
        assert technical in fold and technical not in html[:html.index('<details class="fold"')]
    assert not any(owner in html for owner in OWNERS)
    assert "style=" not in html and "<script>" not in html  # CSP: no inline style or script
    english = _client(engine, gongjue_lang="en").get(f"/estates/{SLUG}/audit").text
    assert "<h1>Public record</h1>" in english and "Check the record now" in english


def test_entries_jsonl_is_the_bundle_byte_for_byte(engine, monkeypatch):
    make_round(engine, monkeypatch, secrecy="open")
    client = _client(engine)
    bundle = zipfile.ZipFile(io.BytesIO(client.get(f"/estates/{SLUG}/audit/bundle.zip").content))
    size = int(client.get(f"/estates/{SLUG}/audit/checkpoint").text.split("\n")[1])
    r = client.get(f"/estates/{SLUG}/audit/entries.jsonl")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.content == bundle.read("entries.jsonl") and r.content.count(b"\n") == size
    first3 = client.get(f"/estates/{SLUG}/audit/entries.jsonl", params={"size": 3}).content
    assert first3 == b"".join(line + b"\n" for line in r.content.split(b"\n")[:3])
    assert client.get(f"/estates/{SLUG}/audit/entries.jsonl", params={"size": 0}).content == b""
    assert client.get(f"/estates/{SLUG}/audit/entries.jsonl", params={"size": size + 1}).status_code == 404
    assert client.get(f"/estates/{SLUG}/audit/entries.jsonl", params={"size": "-1"}).status_code == 400
    assert client.get(f"/estates/{SLUG}/audit/entries.jsonl", params={"size": "1e3"}).status_code == 400
    assert client.get("/estates/nowhere/audit/entries.jsonl").status_code == 404


def test_check_page(engine, monkeypatch):
    client = _client(engine)
    assert client.get(f"/estates/{SLUG}/check").status_code == 404  # no such estate yet
    make_round(engine, monkeypatch, secrecy="open")
    r = client.get(f"/estates/{SLUG}/check")
    assert r.status_code == 200
    html = r.text
    assert "<h1>核对我的选票</h1>" in html and "枫林苑" in html
    assert 'id="ballot-check"' in html and 'id="receipt-text"' in html and 'id="receipt-file"' in html
    assert re.search(r'<script type="module" src="/static/[^"]*check[^"]*\.js"></script>', html)
    assert _messages(html)["ok_title"] == "您的选票已记入记录"  # the script's messages, translated on the server
    assert f'href="/estates/{SLUG}/audit"' in html and f'href="/estates/{SLUG}"' in html
    assert "style=" not in html and "<script>" not in html
