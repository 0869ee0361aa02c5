"""The audit pages and downloads, through the real application (web.app) with the audit router."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient

from ledger import checkpoint, keys, log
from ledger.db import transaction
from ledger.receipt import verify_receipt
from ledger.verify import NO_CONTENT_CHECKS, verify_bundle
from web import audit
from web.app import create_app

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


@pytest.fixture
def client(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    app = create_app(engine)
    if not any(getattr(r, "path", "") == "/estates/{slug}/audit" for r in app.routes):
        app.include_router(audit.router)
    return TestClient(app)


def test_audit_page_lists_entries_and_checkpoint(engine, client):
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 3, key)
    with transaction(engine) as s:
        log.append(s, log_id, "late", {"x": 1})
    page = client.get(f"/estates/{SLUG}/audit")
    assert page.status_code == 200
    html = page.text
    assert "公开记录" in html and ORIGIN in html
    assert "另有 1 条尚未纳入签名检查点" in html
    assert f'href="/estates/{SLUG}/audit/entries/2/receipt.json"' in html
    assert f'href="/estates/{SLUG}/audit/entries/3/receipt.json"' not in html  # not yet signed
    assert '<time datetime="2026-11-23T08:00:02Z">2026年11月23日 16:00</time>' in html  # Beijing time
    assert "<strong>#3</strong> <code>late</code>" in html


def test_downloads(engine, client, tmp_path):
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 5, key)
    with transaction(engine) as s:
        note = checkpoint.latest(s, log_id).note
        data = log.get_entry(s, log_id, 4).data
    assert client.get(f"/estates/{SLUG}/audit/checkpoint").text == note
    assert client.get(f"/estates/{SLUG}/audit/checkpoints/5").text == note
    assert client.get(f"/estates/{SLUG}/audit/log.vkey").text == key.vkey + "\n"
    assert client.get(f"/estates/{SLUG}/audit/entries/4").content == data
    r = client.get(f"/estates/{SLUG}/audit/entries/4/receipt.json")
    assert r.headers["content-disposition"] == f'attachment; filename="{SLUG}-entry-4-receipt.json"'
    assert verify_receipt(json.loads(r.content), key.vkey).seq == 4
    assert client.get(f"/estates/{SLUG}/audit/entries/5/receipt.json").status_code == 404
    z = client.get(f"/estates/{SLUG}/audit/bundle.zip")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(z.content)).namelist())
    assert names == ["checkpoint", "entries.jsonl", "log.vkey"]
    (tmp_path / "b.zip").write_bytes(z.content)
    report = verify_bundle(tmp_path / "b.zip", checks=NO_CONTENT_CHECKS)
    assert report.ok and report.entries == 5
    assert client.get(f"/estates/{SLUG}/audit/consistency.json", params={"size1": 5, "size2": 5}).json() == {
        "origin": ORIGIN, "size1": 5, "size2": 5, "proof": []}
    assert client.get(f"/estates/{SLUG}/audit/consistency.json", params={"size1": 2, "size2": 5}).status_code == 404


def test_unknown_estate_and_unsigned_log(engine, client):
    assert client.get("/estates/nowhere/audit").status_code == 404
    with transaction(engine) as s:
        log.create_log(s, ORIGIN)
    assert client.get(f"/estates/{SLUG}/audit").status_code == 200
    r = client.get(f"/estates/{SLUG}/audit/bundle.zip")
    assert r.status_code == 404 and "还没有签名检查点" in r.text
