"""Oversized and malformed requests are refused early with clear errors (issue #11.4): the body
limit of each route (web.security.BODY_RULES, the table in docs/operations.md), JSON nested too
deeply, multipart uploads over the roll limit, and header sizes on a real Uvicorn server."""

from __future__ import annotations

import re
import socket
import warnings
from pathlib import Path

import pytest

from tests.voting import cast_estate as ce
from tests.web.conftest import csrf_of
from tests.web.uvicorn_server import serving
from web import security
from web.app import create_app
from web.security import BODY_RULES, MAX_BODY, MAX_UPLOAD, body_rule

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
JSON = {"content-type": "application/json"}


def _example(route: str) -> str:
    return route.replace("{slug}", ce.SLUG).replace("{id}", ce.ROUND_ID).rstrip("*") or "/roll/new"


def _size(text: str) -> int:
    number, unit = text.split()
    return int(number) * {"KiB": 1024, "MiB": 1024 * 1024}[unit]


def test_the_operations_table_states_every_rule():
    """docs/operations.md: `| route | limit | answer |` rows, the same routes and limits in the same order."""
    rows = re.findall(r"^\| `([^`]+)` \| (\d+ (?:KiB|MiB)) \| ", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    assert [(route, _size(limit)) for route, limit in rows] == [(r.route, r.limit) for r in BODY_RULES]


@pytest.mark.parametrize("rule", BODY_RULES, ids=[r.route for r in BODY_RULES])
def test_a_declared_body_over_the_limit_is_refused_before_reading(engine, rule):
    """Before routing: no estate, session or handler is needed to be refused."""
    app = create_app(engine)
    path = _example(rule.route)
    assert body_rule(path) == rule
    with TestClient(app) as c:
        over = c.post(path, content=b"{}", headers={**JSON, "content-length": str(rule.limit + 1)})
        assert over.status_code == 413
        message = security.too_large_message(rule.limit)
        if path.startswith("/api/"):
            assert over.json() == {"detail": {"code": "too_large", "message": message}}
        else:
            assert over.text == message and over.headers["content-type"].startswith("text/plain")
        at = c.post(path, content=b"{}", headers={**JSON, "content-length": str(rule.limit)})
        assert at.status_code != 413  # the limit itself passes the gate (the handler then judges the body)


@pytest.mark.parametrize(("path", "who", "kind"), [
    ("/api/v1/estates/maple-court/rounds/r1/ballots", "owner", "application/json"),
    ("/api/v1/estates/maple-court/rounds", "staff", "application/json"),
    ("/signin", "visitor", "application/x-www-form-urlencoded")])
def test_a_chunked_body_is_cut_off_at_the_limit(world, path, who, kind):
    """No Content-Length: counted as it arrives; the 413 is answered even where the handler's
    reader would turn the interruption into a 400."""
    app, cookies, _ = world
    limit = body_rule(path).limit

    def chunks():
        for _ in range(limit // 4096 + 8):
            yield b"x" * 4096

    with TestClient(app, cookies=cookies[who]) as c:
        r = c.post(path, content=chunks(), headers={"content-type": kind})
    assert r.status_code == 413 and security.too_large_message(limit) in r.text


def test_a_ballot_at_the_limit_reaches_the_handler(world):
    """256 KiB exactly: the handler reads it and refuses it as a ballot, not as a size."""
    app, cookies, _ = world
    body = b'{"ballot":{},"sig":"' + b"0" * (256 * 1024 - 22) + b'"}'
    assert len(body) == 256 * 1024
    with TestClient(app, cookies=cookies["owner"]) as c:
        r = c.post(_example("/api/v1/estates/{slug}/rounds/{id}/ballots"), content=body, headers=JSON)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "bad_ballot"


def test_a_non_numeric_content_length_is_refused(world):
    app, _, _ = world
    with TestClient(app) as c:
        r = c.post("/api/v1/estates/maple-court/rounds", content=b"{}", headers={**JSON, "content-length": "12abc"})
    assert r.status_code == 413


@pytest.mark.parametrize("depth", [2_000, 60_000])
def test_json_nested_too_deeply_is_refused_on_every_api_route(world, depth):
    """No 5xx anywhere: a 4xx with a message, as a visitor, a supervisor and an owner."""
    app, cookies, known = world
    body = b"[" * depth + b"]" * depth
    schema = app.openapi()
    seen = []
    for path, operations in schema["paths"].items():
        for method in operations:
            if method not in ("post", "put"):
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: known.get(m.group(1), "x1"), path)
            for who in ("visitor", "staff", "owner"):
                with TestClient(app, cookies=cookies[who], raise_server_exceptions=False) as c:
                    r = c.request(method.upper(), url, content=body, headers=JSON)
                assert 400 <= r.status_code < 500, (method, url, who, r.status_code, r.text[:200])
                detail = r.json()["detail"]
                assert (detail if isinstance(detail, str) else detail["message"]).strip()
                seen.append(r.status_code)
    assert len(seen) >= 3 * 15


def test_a_roll_upload_over_5_mib_is_refused_with_the_limit(world):
    app, cookies, _ = world
    data = b"building,room,area,owner\n" + b"1,101,50,A\n" * (MAX_UPLOAD // 11 + 10)
    assert MAX_UPLOAD < len(data) < MAX_BODY  # past the file limit, inside the body limit: the form reads it
    with TestClient(app, cookies=cookies["staff"]) as c:
        token = csrf_of(c.get("/roll/new").text)
        r = c.post("/roll/new", files={"file": ("roll.csv", data, "text/csv")}, data={"csrf": token})
    assert r.status_code == 413 and "上限 5 MB" in r.text


def test_a_roll_upload_with_too_many_files_or_fields_is_refused(world):
    app, cookies, _ = world
    with TestClient(app, cookies=cookies["staff"]) as c:
        token = csrf_of(c.get("/roll/new").text)
        two = c.post("/roll/new", data={"csrf": token},
                     files=[("file", ("a.csv", b"x", "text/csv")), ("file2", ("b.csv", b"y", "text/csv"))])
        fields = c.post("/roll/new", data={"csrf": token, **{f"f{i}": "1" for i in range(20)}},
                        files={"file": ("a.csv", b"x", "text/csv")})
    for refused in (two, fields):  # the reason in Chinese, not Starlette's English detail
        assert refused.status_code == 400 and "无法读取表单：字段太多或某一部分太大" in refused.text
        assert "Too many" not in refused.text


@pytest.mark.parametrize(("headers", "why"), [({"cookie": "a=" + "b" * 17_000}, "bytes"),
                                              ({f"x-h{i}": "1" for i in range(120)}, "lines")])
def test_headers_over_the_limit_are_refused_with_431(world, headers, why):
    app, _, _ = world
    with TestClient(app) as c:
        api = c.get("/api/v1/estates", headers=headers)
        page = c.get("/", headers=headers)
        fine = c.get("/api/v1/estates", headers={"cookie": "a=" + "b" * 8000})
    assert api.status_code == 431 and api.json()["detail"] == {"code": "headers_too_large",
                                                               "message": security.HEADERS_TOO_LARGE}
    assert page.status_code == 431 and page.text == security.HEADERS_TOO_LARGE
    assert fine.status_code == 200


def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        out = b""
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer (if any) is waiting
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and len(out) > 12:
                    break
        except ConnectionResetError:
            pass
        return out


def test_a_huge_request_head_is_refused_by_the_server_and_it_carries_on(world):
    """Before the app: Uvicorn's h11 parser refuses a request head it cannot complete within its
    buffer (400, connection closed); the next request is served."""
    app, _, _ = world
    with serving(app) as url:
        fine = _raw(url, b"GET /api/v1/estates HTTP/1.1\r\nHost: x\r\nCookie: a=" + b"b" * 8000 + b"\r\n"
                         b"Connection: close\r\n\r\n")
        assert fine.startswith(b"HTTP/1.1 200")
        app_limit = _raw(url, b"GET /api/v1/estates HTTP/1.1\r\nHost: x\r\nCookie: a=" + b"b" * 20_000 + b"\r\n\r\n")
        assert app_limit.startswith(b"HTTP/1.1 431")
        huge = _raw(url, b"GET /api/v1/estates HTTP/1.1\r\nHost: x\r\nCookie: a=" + b"b" * 4_000_000)
        assert huge == b"" or huge.startswith(b"HTTP/1.1 400")
        again = _raw(url, b"GET /api/v1/estates HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 200")


def test_a_chunked_body_over_the_limit_on_a_real_server(world):
    """Over real HTTP (Uvicorn): the 413 arrives while the client is still sending, and the
    server serves the next request."""
    import httpx

    app, cookies, _ = world
    path = "/api/v1/estates/maple-court/rounds"  # FastAPI reads this body itself (a 400 without the early 413)
    limit = body_rule(path).limit
    sent = []
    total = limit // 65536 + 256  # 16 MiB more than the limit

    def chunks():
        for _ in range(total):
            sent.append(65536)
            yield b" " * 65536

    with serving(app) as url:
        with httpx.Client(base_url=url, cookies=cookies["staff"], timeout=60) as c:
            try:
                r = c.post(path, content=chunks(), headers=JSON)
                assert r.status_code == 413 and r.json()["detail"]["code"] == "too_large"
            except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
                pass  # the server closed the connection after its 413, before the client finished writing
        assert len(sent) < total  # the client was stopped long before the end of its body
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.get("/api/v1/estates").status_code == 200
