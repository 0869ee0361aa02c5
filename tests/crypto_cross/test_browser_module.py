"""gongjue-crypto.js in a real browser: loads by relative URL (no bare specifiers, no build step)
and reproduces the shared vectors, in Debian's Chromium driven by Playwright.

Web/static is served by a stdlib HTTP server on 127.0.0.1.  Chromium missing: skipped, unless
GONGJUE_REQUIRE_BROWSER=1 (then a failure).
"""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.chromium import launch, require_chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "web" / "static"
JS_TESTS = ROOT / "tests" / "js"
VECTORS = ROOT / "tests" / "vectors" / "crypto"


class _Quiet(SimpleHTTPRequestHandler):
    """web/static at /, and the shared vector checks (tests/js) at /js/."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript"}

    def translate_path(self, path: str) -> str:
        if path.startswith("/js/") and "/" not in path[4:] and path.endswith(".mjs"):
            return str(JS_TESTS / path[4:])
        return super().translate_path(path)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def page():
    require_chromium()
    from playwright.sync_api import sync_playwright

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(STATIC)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            pg = browser.new_page()
            pg.on("pageerror", lambda e: problems.append(str(e)))
            pg.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            pg.goto(f"http://127.0.0.1:{httpd.server_address[1]}/booth/")
            yield pg
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
    assert problems == []


def test_module_reproduces_the_vectors_in_chromium(page):
    ballots = json.loads((ROOT / "tests/vectors/crypto/ballots.json").read_text("utf-8"))
    creds = json.loads((ROOT / "tests/vectors/crypto/credentials.json").read_text("utf-8"))
    result = page.evaluate("""async ({ballots, creds}) => {
        const gc = await import('./gongjue-crypto.js');
        const out = {ballots: [], keys: []};
        for (const v of ballots.secret) {
            const cred = gc.deriveCredential(v.code, v.origin);
            const r = gc.encryptBallot({fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
                                        choices: v.choices, signingKey: cred, rand: gc.testDrbg(v.drbg_seed)});
            out.ballots.push([gc.canonicalJson(r.signed), r.tracking.short]);
        }
        for (const d of creds.derivations) out.keys.push(gc.deriveCredential(d.input, d.origin).publicKey);
        return out;
    }""", {"ballots": ballots, "creds": creds})
    assert result["ballots"] == [[_jcs(v["signed"]), v["tracking"]["short"]] for v in ballots["secret"]]
    assert result["keys"] == [d["public_key"] for d in creds["derivations"]]


def test_production_randomness_round_trip_in_chromium(page):
    v = json.loads((ROOT / "tests/vectors/crypto/ballots.json").read_text("utf-8"))["secret"][-1]
    result = page.evaluate("""async (v) => {
        const gc = await import('./gongjue-crypto.js');
        const cred = gc.deriveCredential(v.code, v.origin);
        const a = gc.encryptBallot({fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
                                    choices: v.choices, signingKey: cred});
        const b = gc.encryptBallot({fingerprint: v.fingerprint, jointKey: v.joint_key, items: v.items,
                                    choices: v.choices, signingKey: cred});
        const ok = gc.verifyBallot({signed: JSON.stringify(a.signed), secrecy: 'secret', fingerprint: v.fingerprint,
                                    jointKey: v.joint_key, items: v.items, voterKey: cred.publicKey});
        const audit = gc.checkReveal({signed: a.signed, reveal: gc.revealBallot(a), jointKey: v.joint_key});
        return {ok, audit, differ: a.tracking.full !== b.tracking.full, signed: a.signed};
    }""", v)
    assert result["ok"] is True and result["audit"] is True and result["differ"] is True
    # and the Python verifier accepts the browser's ballot
    from voting.crypto import ballot
    from voting.crypto.ballot import ItemShape
    shapes = [ItemShape(i["id"], i["n"], i["lo"], i["hi"]) for i in v["items"]]
    verified = ballot.verify_ballot(result["signed"], fingerprint=bytes.fromhex(v["fingerprint"]),
                                    joint_key=bytes.fromhex(v["joint_key"]), items=shapes,
                                    voter_key=bytes.fromhex(v["voter_key"]))
    assert verified.item_ids == tuple(i["id"] for i in v["items"])


def test_every_shared_vector_in_chromium(page):
    """The same checks as node's tests/js/check_vectors.mjs, in the browser: every accept and every
    refusal (strict JSON, kind pinned to the round, the Ed25519 rule, replay) with the same kind, and
    the tampered commitment-carrying proofs (moved commitment, changed response, identity or
    non-canonical commitment), each refused naming the failing check."""
    vectors = {f.name: json.loads(f.read_text("utf-8")) for f in VECTORS.glob("*.json")}
    result = page.evaluate("""async (vectors) => {
        const gc = await import('./gongjue-crypto.js');
        const { ed25519 } = await import('../vendor/noble-curves/ed25519.js');
        const { runChecks } = await import('/js/vector_checks.mjs');
        return runChecks(gc, (name) => structuredClone(vectors[name]), {sign: ed25519.sign});
    }""", vectors)
    assert result["failures"] == []
    inv = vectors["invalid.json"]
    assert result["counts"]["invalid"] == {"passed": len(inv["ballots"]) + len(inv["reveals"]), "failed": 0}
    assert result["counts"]["tampered"]["failed"] == 0 and result["counts"]["tampered"]["passed"] >= 18
    assert sum(c["passed"] for c in result["counts"].values()) >= 120


def _jcs(obj) -> str:
    import rfc8785
    return rfc8785.dumps(obj).decode("utf-8")
