"""The built browser bundles under /static/dist/: precompressed, cached for a year, and used only
while they match their sources.

``scripts/build-booth.sh`` (development time; the output is committed) writes
``web/static/dist/``: one minified ES module per entry (``booth/booth.js``, ``owner/*.js``,
``verify/*.js``, ``staff/*.js``) and one minified copy of each stylesheet, named by the SHA-256 of its bytes,
``<name>.<16 hex>.js`` (``.css``), with ``.gz`` and
``.br`` beside it, ``manifest.json`` (entry → ``dist/<file>``) and ``inputs.json`` (each entry's
source files with their SHA-256).

- ``DistFiles``: the ASGI app mounted at ``/static/dist`` (before ``/static``).  It serves only
  hashed files, choosing brotli, gzip or the plain bytes from ``Accept-Encoding`` (q-values
  honoured), with ``Content-Encoding``, ``Vary: Accept-Encoding``, ``Cache-Control: public,
  max-age=31536000, immutable`` (the name changes when the bytes do) and a strong ETag; HEAD and
  ``If-None-Match`` work.  The security headers are added around it as on every response.
- ``fresh_manifest()``: the manifest without the entries whose sources changed since the build
  (``web.templating.asset`` uses it), so a module edited without rebuilding is served from its
  source files instead of a stale bundle — slower, never wrong — and a warning is logged;
  ``tests/web/test_bundle.py`` fails until ``scripts/build-booth.sh`` is run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from pathlib import Path

from starlette.types import Receive, Scope, Send

DIST = Path(__file__).resolve().parent / "static" / "dist"
ROOT = Path(__file__).resolve().parents[1]
CACHE_FOREVER = "public, max-age=31536000, immutable"
HASHED = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[0-9a-f]{16}\.(js|css)$")
TYPES = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8"}
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))  # preferred first, at equal q
RECHECK_SECONDS = 1.0

log = logging.getLogger(__name__)


def accepted_encoding(accept_encoding: str, available: tuple[str, ...]) -> str | None:
    """The content coding to send (``br``, ``gzip``) or None for the plain bytes (RFC 9110 §12.5.3)."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        token, *params = [p.strip() for p in part.split(";")]
        if not token:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[token.lower()] = q
    best, best_q = None, 0.0
    for coding in available:
        q = weights.get(coding, weights.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


class DistFiles:
    """ASGI app for /static/dist/<hashed file>: precompressed, immutable (see the module doc)."""

    def __init__(self, directory: Path = DIST):
        self.directory = directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket here: refused (the server answers 403)
            return
        method = scope["method"]
        name = _tail(scope)
        path = self.directory / name
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed", [(b"allow", b"GET, HEAD")])
            return
        if not HASHED.match(name) or not path.is_file():
            await _plain(send, 404, b"not found")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        available = tuple(coding for coding, suffix in ENCODINGS if path.with_name(name + suffix).is_file())
        coding = accepted_encoding(headers.get("accept-encoding", ""), available)
        body_path = path.with_name(name + dict(ENCODINGS)[coding]) if coding else path
        etag = f'"{name.rsplit(".", 2)[1]}{"-" + coding if coding else ""}"'
        response_headers = [(b"content-type", TYPES[name.rsplit(".", 1)[1]]),
                            (b"cache-control", CACHE_FOREVER.encode()),
                            (b"vary", b"Accept-Encoding"), (b"etag", etag.encode())]
        if coding:
            response_headers.append((b"content-encoding", coding.encode()))
        if etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            await send({"type": "http.response.start", "status": 304, "headers": response_headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = body_path.read_bytes()
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def _tail(scope: Scope) -> str:
    """The request path below the mount point (Starlette sets root_path to the mount's path)."""
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path.lstrip("/")


async def _plain(send: Send, status: int, body: bytes, extra: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


# --- the manifest, fresh entries only ---------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[float, tuple, dict[str, str]] | None = None
_warned: set[str] = set()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _stamp(paths: list[Path]) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def _compute(directory: Path, root: Path) -> dict[str, str]:
    manifest = _read_json(directory / "manifest.json")
    entries = _read_json(directory / "inputs.json").get("entries")
    fresh: dict[str, str] = {}
    for entry, built in manifest.items():
        if not (directory.parent / built).is_file():
            continue
        stale = None
        if entries is not None:
            sources = entries.get(entry, {}).get("inputs")
            if sources is None:
                stale = "not in inputs.json"
            for source, info in (sources or {}).items():
                try:
                    digest = hashlib.sha256((root / source).read_bytes()).hexdigest()
                except OSError:
                    digest = None
                if digest != info.get("sha256"):
                    stale = f"{source} changed"
                    break
        if stale:
            if entry not in _warned:
                _warned.add(entry)
                log.warning("web/static/dist: the bundle of %s is older than its sources (%s); serving the "
                            "sources — run scripts/build-booth.sh", entry, stale)
            continue
        fresh[entry] = built
    return fresh


def fresh_manifest(directory: Path = DIST, root: Path = ROOT) -> dict[str, str]:
    """manifest.json's entries whose source files are unchanged since the build (see the module doc).

    Rechecked at most once a second, and only hashed again when a file's mtime or size moved."""
    global _cached
    now = time.monotonic()
    with _lock:
        if _cached is not None and directory == DIST and now - _cached[0] < RECHECK_SECONDS:
            return _cached[2]
        entries = _read_json(directory / "inputs.json").get("entries", {})
        watched = [directory / "manifest.json", directory / "inputs.json"]
        watched += sorted({root / s for e in entries.values() for s in e.get("inputs", {})})
        stamp = _stamp(watched)
        if _cached is not None and directory == DIST and _cached[1] == stamp:
            _cached = (now, stamp, _cached[2])
            return _cached[2]
        fresh = _compute(directory, root)
        if directory == DIST:
            _cached = (now, stamp, fresh)
        return fresh
