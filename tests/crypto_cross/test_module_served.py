"""The booth module's whole import graph: relative specifiers only, every file vendored with its
licence and pinned version, and served by the real app as JavaScript."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from posixpath import dirname, join, normpath

from fastapi.testclient import TestClient

from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "web" / "static"
ENTRY = "booth/gongjue-crypto.js"
IMPORT = re.compile(r"""^(?:import|export)\b[^'"\n;]*\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]""", re.M)
"""A static import or re-export statement (one line, as in every file here) and its specifier."""


def import_graph() -> list[str]:
    """Every file reachable from the entry module, as paths relative to web/static."""
    seen: list[str] = []
    todo = [ENTRY]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        text = (STATIC / path).read_text("utf-8")
        for m in IMPORT.finditer(text):
            spec = m.group(1) or m.group(2)
            assert spec.startswith(("./", "../")), f"{path}: bare import specifier {spec!r}"
            todo.append(normpath(join(dirname(path), spec)))
    return sorted(seen)


def test_import_graph_is_relative_and_vendored():
    graph = import_graph()
    assert ENTRY in graph
    assert "vendor/noble-curves/ed25519.js" in graph and "vendor/noble-hashes/hkdf.js" in graph
    assert all(p == ENTRY or p.startswith(("vendor/noble-curves/", "vendor/noble-hashes/")) for p in graph)
    for pkg in ("noble-curves", "noble-hashes"):
        assert (STATIC / "vendor" / pkg / "LICENSE").read_text().startswith("The MIT License")
    versions = (STATIC / "vendor/noble-curves/VERSIONS.txt").read_text("utf-8")
    assert "@noble/curves 2.4.0" in versions and "@noble/hashes 2.4.0" in versions
    assert "55279c71b0201d6c0e58d0206d15825359e02a3932f326ba7b7909ac2d334aa9" in versions
    assert "e1946149b780017b2564fcc092cb01c04e1d7f20627d0296c17da8868f4436dc" in versions


def test_no_import_statement_is_left_out_of_the_graph():
    """Every line that starts an import in a graph file is one the pattern understood."""
    for path in import_graph():
        text = (STATIC / path).read_text("utf-8")
        starts = [line for line in text.splitlines() if re.match(r"^import\b", line)]
        assert len(starts) == len([m for m in IMPORT.finditer(text) if m.group(0).startswith("import")]), path


def test_app_serves_every_module_as_javascript(sqlite_engine):
    client = TestClient(create_app(sqlite_engine))
    for path in import_graph():
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript"), path


def test_vendored_files_match_their_recorded_sha256_and_all_are_used():
    versions = (STATIC / "vendor/noble-curves/VERSIONS.txt").read_text("utf-8")
    recorded = dict((path, digest) for digest, path in re.findall(r"^  ([0-9a-f]{64})  (\S+)$", versions, re.M))
    vendored = sorted(str(p.relative_to(STATIC / "vendor")) for p in (STATIC / "vendor").rglob("*")
                      if p.is_file() and p.name != "VERSIONS.txt")
    assert sorted(recorded) == vendored
    for path, digest in recorded.items():
        assert hashlib.sha256((STATIC / "vendor" / path).read_bytes()).hexdigest() == digest, path
    used = {p.removeprefix("vendor/") for p in import_graph() if p.startswith("vendor/")}
    assert used == {p for p in vendored if p.endswith(".js")}  # no dead vendored code
