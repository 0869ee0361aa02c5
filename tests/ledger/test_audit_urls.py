"""Unhandled input in audit URLs is a clear 4xx, never a 500 (issue #8.3), on both databases.

Integers beyond 2^63 (and 2^63 − 1, the largest a BIGINT holds), negative and non-ASCII numbers,
and a receipt for a tree size that was never signed.  The ``.json`` downloads answer JSON
``{"detail": "中文 / English"}``; pages answer the error page.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledger import keys

from .helpers import fill

SLUG = "maple-court"
BASE = f"/estates/{SLUG}/audit"
BIG = [2**63 - 1, 2**63, 2**64, 10**40]

PAGES = ([f"/entries/{n}" for n in BIG] + [f"/checkpoints/{n}" for n in BIG]
         + ["/entries/3", "/entries/-1", "/checkpoints/2", "/checkpoints/-5"])
JSON = ([f"/entries/1/receipt.json?size={n}" for n in BIG] + [f"/entries/{n}/receipt.json" for n in BIG]
        + [f"/consistency.json?size1=3&size2={n}" for n in BIG] + [f"/consistency.json?size1={n}&size2={n}" for n in BIG]
        + ["/entries/1/receipt.json?size=2",  # a tree size that was never signed
           "/entries/1/receipt.json?size=4",  # larger than the log
           "/entries/1/receipt.json?size=0", "/entries/3/receipt.json", "/entries/1/receipt.json?size=-1",
           "/entries/1/receipt.json?size=%EF%BC%93",  # full-width ３
           "/entries/1/receipt.json?size=1e3", "/entries/x/receipt.json", "/consistency.json?size1=3&size2=1",
           "/consistency.json?size1=0&size2=3", "/consistency.json?size1=3", "/consistency.json?size1=&size2=3"])


@pytest.fixture
def client(engine):
    from web.app import create_app

    fill(engine, f"gongjue.local/{SLUG}", 3, keys.log_key())
    return TestClient(create_app(engine), raise_server_exceptions=False)


@pytest.mark.parametrize("path", PAGES)
def test_page_urls_are_clear_404s(client, path):
    r = client.get(BASE + path)
    assert r.status_code == 404, r.text[:200]
    assert r.headers["content-type"].startswith("text/html")
    assert "没有" in r.text and " / no " not in r.text  # the page speaks the visitor's language only


@pytest.mark.parametrize("path", JSON)
def test_json_urls_are_clear_json_4xx(client, path):
    r = client.get(BASE + path)
    assert r.status_code in (400, 404), r.text[:200]
    detail = r.json()["detail"]
    assert " / " in detail and not detail.isascii()  # Chinese first, then English


def test_the_exact_answers(client):
    get = lambda path: client.get(BASE + path)  # noqa: E731
    assert get(f"/entries/1/receipt.json?size={2**64}").json() == {
        "detail": f"没有这样的检查点大小：{2**64} / no such size: {2**64}"}
    assert get(f"/entries/1/receipt.json?size={2**63 - 1}").json() == {
        "detail": "没有这个大小的签名检查点 / no signed checkpoint of that size"}
    assert get("/entries/1/receipt.json?size=-1").json() == {
        "detail": "检查点大小必须是非负整数 / size must be a whole number (got '-1')"}
    assert get("/consistency.json?size1=3&size2=1").status_code == 400
    assert get("/entries/1/receipt.json?size=3").json()["tree_size"] == 3
    assert get("/consistency.json?size1=3&size2=3").json()["proof"] == []
    assert get(f"?start={2**64}").status_code == 200
