"""The built browser bundles (web/static/dist/, scripts/build-booth.sh) and how they are served.

- every manifest entry (ES modules and the minified stylesheets) names a file whose name carries
  the first 16 hex digits of its SHA-256,
  with .gz and .br beside it that decompress to the same bytes;
- the bundles are as new as their sources (else: run scripts/build-booth.sh and commit dist/),
  and every entry module has one;
- only what the booth uses: FROST, FFT, OPRF, hash-to-curve and montgomery contribute nothing;
- served precompressed (Accept-Encoding with q-values), Vary, a year-long immutable cache, a
  strong ETag (304), the security headers; anything but a hashed file is 404;
- ``asset()`` points at the bundle, and back at the sources as soon as one of them changes;
- the bundled crypto gives the shared vectors' results, in node and in Chromium over real HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from web import static_files
from web.static_files import CACHE_FOREVER, DIST, accepted_encoding, fresh_manifest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette: "install httpx2"
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "web" / "static"
ENTRY_DIRS = ("booth", "owner", "verify", "staff")  # ES modules
CSS_DIRS = ("css", "booth", "owner", "verify", "staff")  # stylesheets
UNUSED = ("abstract/frost.js", "abstract/fft.js", "abstract/oprf.js", "abstract/hash-to-curve.js",
          "abstract/montgomery.js")
# Strings only those modules hold (minification keeps string literals).
UNUSED_MARKERS = ("FROST-", "OPRFV1-", "edwards25519_XMD:SHA-512_ELL2", "ristretto255_XMD:SHA-512_R255MAP_RO_", "x25519")


def _manifest() -> dict[str, str]:
    return json.loads((DIST / "manifest.json").read_text("utf-8"))


def _inputs() -> dict:
    return json.loads((DIST / "inputs.json").read_text("utf-8"))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("GONGJUE_REQUIRE_NODE") == "1":
            pytest.fail("GONGJUE_REQUIRE_NODE=1 but node is not installed")
        pytest.skip("node is not installed")
    return node


def test_manifest_names_files_by_their_content_hash_with_compressed_twins():
    manifest = _manifest()
    assert "booth/gongjue-crypto.js" in manifest
    assert "booth/booth.js" in manifest or not (STATIC / "booth" / "booth.js").exists()
    for entry, built in manifest.items():
        path = STATIC / built
        data = path.read_bytes()
        match = re.fullmatch(r"dist/[a-z0-9_-]+\.([0-9a-f]{16})\.(js|css)", built)
        assert match, built
        assert hashlib.sha256(data).hexdigest()[:16] == match.group(1), f"{built}: name does not match its bytes"
        assert gzip.decompress(path.with_name(path.name + ".gz").read_bytes()) == data, f"{built}.gz"
        assert path.with_name(path.name + ".br").stat().st_size > 0
        assert data.startswith(f"/* 共决 Gongjue: web/static/{entry},".encode())
    listed = {f"dist/{p.name}" for p in [*DIST.glob("*.js"), *DIST.glob("*.css")]}
    assert listed == set(manifest.values()), "dist/ holds a bundle the manifest does not name"


def test_brotli_twins_decompress_to_the_same_bytes():
    node = _node()
    script = ("const fs=require('fs'),z=require('zlib');for(const f of process.argv.slice(1)){"
              "if(!z.brotliDecompressSync(fs.readFileSync(f+'.br')).equals(fs.readFileSync(f)))"
              "{console.log('differs: '+f);process.exit(1)}}")
    files = [str(STATIC / built) for built in _manifest().values()]
    done = subprocess.run([node, "-e", script, *files], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bundles_are_as_new_as_their_sources_and_every_entry_has_one():
    entries = _inputs()["entries"]
    modules = sorted([f"{d}/{p.name}" for d in ENTRY_DIRS if (STATIC / d).is_dir() for p in (STATIC / d).glob("*.js")]
                     + [f"{d}/{p.name}" for d in CSS_DIRS if (STATIC / d).is_dir() for p in (STATIC / d).glob("*.css")])
    assert sorted(entries) == modules == sorted(_manifest()), "run scripts/build-booth.sh and commit web/static/dist/"
    stale = []
    for entry, built in entries.items():
        for source, info in built["inputs"].items():
            path = ROOT / source
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != info["sha256"]:
                stale.append(f"{entry}: {source}")
    assert stale == [], "bundles older than their sources — run scripts/build-booth.sh and commit web/static/dist/"


def test_only_the_noble_code_the_booth_uses_is_shipped():
    for entry, built in _inputs()["entries"].items():
        contributing = {source for source, info in built["inputs"].items() if info["bytesInOutput"] > 0}
        assert not [s for s in contributing if s.endswith(UNUSED)], entry
        text = (STATIC / built["file"]).read_text("utf-8")
        assert not [m for m in UNUSED_MARKERS if m in text], entry
        if any("noble-curves" in s for s in contributing):
            assert "noble-curves - MIT License" in text, entry  # the licence notice is kept
    booth = _inputs()["entries"].get("booth/booth.js") or _inputs()["entries"]["booth/gongjue-crypto.js"]
    assert booth["bytes"] < 120 * 1024  # was 381 KiB in 17 files


def test_workers_started_by_a_bundle_are_bundles_too():
    """record.js starts record-worker.js by new URL('./record-worker.js', import.meta.url): in
    dist/ that URL must name the worker's bundle, which must exist."""
    for entry, built in _manifest().items():
        if not built.endswith(".js"):
            continue
        text = (STATIC / built).read_text("utf-8")
        for name in re.findall(r"new URL\([\"'`]\./([^\"'`]+)[\"'`],\s*import\.meta\.url\)", text):
            assert f"dist/{name}" in _manifest().values(), f"{entry} starts {name}, not a bundle in dist/"
        rest = re.sub(r"new URL\([\"'`]\./[^\"'`]+[\"'`],\s*import\.meta\.url\)", "", text)
        assert "import.meta.url" not in rest, f"{entry}: a URL relative to the module, which moved to dist/"


def test_accept_encoding_negotiation():
    both = ("br", "gzip")
    assert accepted_encoding("gzip, deflate, br", both) == "br"
    assert accepted_encoding("gzip, deflate", both) == "gzip"
    assert accepted_encoding("br;q=0.5, gzip;q=0.8", both) == "gzip"
    assert accepted_encoding("br;q=0, gzip;q=0", both) is None
    assert accepted_encoding("*", both) == "br"
    assert accepted_encoding("*;q=0.1, br;q=0", both) == "gzip"
    assert accepted_encoding("identity", both) is None
    assert accepted_encoding("", both) is None
    assert accepted_encoding("gzip;q=x", both) is None


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from ledger.db import make_engine, migrate
    from web.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('bundle') / 'gongjue.db'}")
    migrate(engine)
    with TestClient(create_app(engine)) as c:
        yield c
    engine.dispose()


@pytest.mark.parametrize(("accept", "coding"), [("gzip, deflate, br", "br"), ("gzip, deflate", "gzip"),
                                                 ("identity", None), ("br;q=0, gzip;q=0", None)])
def test_served_precompressed_and_cached_for_a_year(client, accept, coding):
    built = _manifest()["booth/gongjue-crypto.js"]
    data = (STATIC / built).read_bytes()
    r = client.get(f"/static/{built}", headers={"accept-encoding": accept})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == coding
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == CACHE_FOREVER
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["x-content-type-options"] == "nosniff"
    suffix = {"br": ".br", "gzip": ".gz", None: ""}[coding]
    assert int(r.headers["content-length"]) == (STATIC / (built + suffix)).stat().st_size
    if coding != "br":  # httpx decodes gzip itself; brotli only with the brotli package
        assert r.content == data
    again = client.get(f"/static/{built}", headers={"accept-encoding": accept, "if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = client.head(f"/static/{built}", headers={"accept-encoding": accept})
    assert head.status_code == 200 and head.content == b""


def test_stylesheets_are_served_hashed_and_compressed_too(client):
    built = _manifest()["css/site.css"]
    r = client.get(f"/static/{built}", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == CACHE_FOREVER
    assert r.content == (STATIC / built).read_bytes()


def test_pages_link_the_fresh_bundles(client):
    html = client.get("/").text
    if "css/site.css" in fresh_manifest():
        assert f'href="/static/{_manifest()["css/site.css"]}"' in html
    else:  # site.css edited since the build: the source, never a stale copy
        assert 'href="/static/css/site.css"' in html


def test_only_hashed_bundles_are_served_from_dist(client):
    built = _manifest()["booth/gongjue-crypto.js"]
    for path in ("/static/dist/manifest.json", "/static/dist/inputs.json", f"/static/{built}.gz",
                 f"/static/{built}.br", "/static/dist/nothing.0123456789abcdef.js", "/static/dist/"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/static/{built}").status_code in (403, 405)  # CSRF layer or the method
    other = client.get("/static/img/logo.svg")  # other static files: as before
    assert other.status_code == 200 and other.headers.get("cache-control") != CACHE_FOREVER


def test_asset_uses_the_bundle_and_falls_back_to_the_sources_once_they_change(tmp_path):
    from web.templating import asset

    assert asset("booth/gongjue-crypto.js") == "/static/" + _manifest()["booth/gongjue-crypto.js"]
    assert asset("img/logo.svg") == "/static/img/logo.svg"  # not built: as it is
    # A copy of the tree: dist/ as built, then one source edited without rebuilding.
    root = tmp_path / "repo"
    dist = root / "web" / "static" / "dist"
    shutil.copytree(DIST, dist)
    for entry in _inputs()["entries"].values():
        for source in entry["inputs"]:
            (root / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, root / source)
    assert fresh_manifest(dist, root) == fresh_manifest(DIST, ROOT)  # (all of it, once rebuilt)
    sha2 = root / "web/static/vendor/noble-hashes/sha2.js"
    sha2.write_text(sha2.read_text("utf-8") + "\n// edited\n", "utf-8")
    left = fresh_manifest(dist, root)
    using_sha2 = {e for e, b in _inputs()["entries"].items() if "web/static/vendor/noble-hashes/sha2.js" in b["inputs"]}
    assert "booth/gongjue-crypto.js" in using_sha2 and not using_sha2 & set(left)
    (root / "web/static/booth/gongjue-crypto.js").unlink()
    assert not set(fresh_manifest(dist, root)) & using_sha2
    assert static_files.fresh_manifest(tmp_path / "none", root) == {}


VECTORS_JS = """
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { runChecks } from './tests/js/vector_checks.mjs';
import { ed25519 } from './web/static/vendor/noble-curves/ed25519.js';
const load = (name) => JSON.parse(readFileSync('tests/vectors/crypto/' + name, 'utf8'));
const out = {};
for (const [label, path] of [['source', 'web/static/booth/gongjue-crypto.js'], ['bundle', process.argv[1]]]) {
  const gc = await import(pathToFileURL(path).href);
  const { counts, failures } = runChecks(gc, load, { sign: ed25519.sign });
  out[label] = { counts: Object.fromEntries(Object.entries(counts)), failures, exports: Object.keys(gc).sort() };
}
console.log(JSON.stringify(out));
"""


def test_bundled_crypto_passes_the_shared_vectors_like_the_source_in_node():
    node = _node()
    bundle = str(STATIC / _manifest()["booth/gongjue-crypto.js"])
    done = subprocess.run([node, "--input-type=module", "-e", VECTORS_JS, bundle], check=False, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    source, built = result["source"], result["bundle"]
    assert built["failures"] == [] and source["failures"] == []
    assert built["counts"] == source["counts"] and sum(c["passed"] for c in built["counts"].values()) > 50
    assert built["counts"]["tampered"]["passed"] >= 18  # commitment-carrying proofs altered: refused by the bundle too
    assert built["exports"] == source["exports"]


@pytest.mark.browser
def test_bundled_crypto_in_chromium_over_real_http(tmp_path):
    from playwright.sync_api import sync_playwright

    from ledger.db import make_engine, migrate
    from tests.chromium import launch, require_chromium
    from tests.web.uvicorn_server import serving
    from web.app import create_app

    require_chromium()
    engine = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(engine)
    ballots = json.loads((ROOT / "tests/vectors/crypto/ballots.json").read_text("utf-8"))
    built = _manifest()["booth/gongjue-crypto.js"]
    problems: list[str] = []
    with serving(create_app(engine)) as base, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/")  # any page of the app: its origin and its CSP
        with page.expect_response(lambda r: built in r.url) as caught:
            out = page.evaluate("""async ({url, ballots}) => {
                const gc = await import(url);
                return ballots.secret.map((v) => {
                    const cred = gc.deriveCredential(v.code, v.origin);
                    const r = gc.encryptBallot({fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
                                                choices: v.choices, signingKey: cred, rand: gc.testDrbg(v.drbg_seed)});
                    return [gc.canonicalJson(r.signed), r.tracking.short];
                });
            }""", {"url": f"/static/{built}", "ballots": ballots})
        response = caught.value
        headers = response.all_headers()
        browser.close()
    engine.dispose()
    assert problems == []
    assert headers.get("content-encoding") in ("gzip", "br") and headers["cache-control"] == CACHE_FOREVER
    want = [[json.dumps(v["signed"], separators=(",", ":"), ensure_ascii=False, sort_keys=True),
             v["tracking"]["short"]] for v in ballots["secret"]]
    assert [short for _, short in out] == [short for _, short in want]
    assert [json.loads(text) for text, _ in out] == [v["signed"] for v in ballots["secret"]]
