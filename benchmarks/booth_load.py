"""Booth load benchmark (issue #10): how long until the booth can encrypt, on an emulated phone.

Real Chromium (Debian's, through Playwright) against a real Uvicorn server on 127.0.0.1, each run
in a fresh browser context (cold cache, new connections), with the DevTools protocol emulating a
phone network (``Network.emulateNetworkConditions``, Chrome DevTools' presets: Fast 3G = 562.5 ms
latency, 1.44 Mbit/s down, 675 kbit/s up; Slow 3G = 2000 ms, 400 kbit/s, 400 kbit/s) and a slow
CPU (``Emulation.setCPUThrottlingRate`` 6).  The time is from navigation start to
``document.documentElement.dataset.booth === "ready"`` (booth.js sets it once it can encrypt; a
MutationObserver installed before any page script records ``performance.now()``).

Pages (``--page``, repeatable; default all):

- ``booth``: the real booth ``/estates/<slug>/vote?round=<id>`` of an estate brought to an open
  round by tests/web/e2e_fixtures.py, the owner signed in (an owner session cookie) with the
  credential code in the tab's sessionStorage as code.js keeps it — what ``asset()`` serves
  (the bundle when web/static/dist is fresh, else the sources);
- ``booth-typed`` (not run by default): the same booth without the code in sessionStorage, so
  it is ready without deriving the key first (the owner types the code on the page);
- ``crypto-sources``: a stand-in page that loads web/static/booth/gongjue-crypto.js and its
  vendored noble imports as separate files (how the booth shipped before the bundle: the
  "before" figure) and sets the flag once the module has loaded;
- ``crypto-bundle``: the same stand-in over the bundled gongjue-crypto (web/static/dist).

Plain http on loopback, so Chromium asks for gzip, not brotli (it sends ``br`` only over https):
the figures are for the .gz files; brotli would be about 13 % smaller still.  The machine may be
shared: quote figures with that caveat.  Prints one line per run and a median per page/network.

Each page is loaded once unthrottled first (server warm-up, not counted); every counted run is a
fresh context, so the browser's cache is cold.  ``--no-bundle`` makes ``asset()`` ignore
web/static/dist, so the real booth is measured as it would ship from its sources (before).

Run: .venv/bin/python benchmarks/booth_load.py [--runs 3] [--page booth] [--network fast3g]
     [--cpu 6] [--no-bundle] [--waterfall] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NETWORKS = {  # Chrome DevTools' presets (front_end/core/sdk/NetworkManager.ts)
    "fast3g": {"latency": 562.5, "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
               "uploadThroughput": 750 * 1000 / 8 * 0.9, "connectionType": "cellular3g"},
    "slow3g": {"latency": 2000, "downloadThroughput": 500 * 1000 / 8 * 0.8,
               "uploadThroughput": 500 * 1000 / 8 * 0.8, "connectionType": "cellular3g"},
}
PAGES = ("booth", "crypto-sources", "crypto-bundle", "booth-typed")
DEFAULT_PAGES = ("booth", "crypto-sources", "crypto-bundle")
PHONE = {"width": 390, "height": 844}

WATCH_READY = """
(() => {
  const mark = () => {
    const root = document.documentElement;
    if (root && root.dataset.booth === 'ready' && window.__boothReady === undefined) window.__boothReady = performance.now();
  };
  new MutationObserver(mark).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-booth']});
})();
"""


def _standin_routes(app) -> None:
    """/bench/crypto?src=<module URL>: a page that loads the module and sets the ready flag."""
    from fastapi.responses import HTMLResponse, Response

    from web.templating import asset

    urls = {"sources": "/static/booth/gongjue-crypto.js", "bundle": asset("booth/gongjue-crypto.js")}

    @app.get("/bench/crypto/{which}")
    def page(which: str) -> HTMLResponse:
        src = urls[which]
        return HTMLResponse(f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>booth stand-in</title><meta name="viewport" content="width=device-width, initial-scale=1">
<script type="module" src="{src}"></script>
<script type="module" src="/bench/ready/{which}.js"></script></head>
<body><main><h1>stand-in</h1></main></body></html>""")

    @app.get("/bench/ready/{which}.js")
    def ready(which: str) -> Response:
        body = (f"import * as gc from '{urls[which]}';\n"
                "if (typeof gc.encryptBallot === 'function') document.documentElement.dataset.booth = 'ready';\n")
        return Response(body, media_type="text/javascript")


def _booth(engine, work: Path):
    from ledger.db import reading, transaction
    from tests.web import e2e_fixtures as e2e
    from web import owner

    sc = e2e.build(engine, work, upto=e2e.ANNOUNCED)
    with reading(engine) as s:
        voter = _voter_of(s, sc, "B")
    with transaction(engine) as s:
        token = owner._open(s, sc.slug, voter, "sms", True)  # a signed-in owner, without the SMS round trip
    # code.js keeps the code under "gongjue.code.<slug>" in sessionStorage (this tab only)
    storage = {f"gongjue.code.{sc.slug}": sc.codes["B"]}
    return f"/estates/{sc.slug}/vote?round={sc.rid}", {owner.OWNER_COOKIE: token}, storage


def _voter_of(session, sc, name: str) -> str:
    for attr in ("voter", "voters"):
        table = getattr(sc, attr, None)
        if isinstance(table, dict) and name in table:
            return table[name]
    from identity import store

    for v in store.roll_openings(session, sc.slug)["voters"]:
        if v["owner"] == name or v.get("name") == name:
            return v["voter"]
    raise SystemExit(f"no voter id for owner {name}")


def measure(browser, base: str, path: str, network: str, cpu: float, *, cookies: dict | None = None,
            storage: dict | None = None, timeout_ms: float = 60_000, emulate: bool = True) -> dict:
    """One cold-cache load of ``path``: ms to ready, DOMContentLoaded, script requests and bytes."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    try:
        if cookies:
            context.add_cookies([{"name": k, "value": v, "url": base} for k, v in cookies.items()])
        context.add_init_script(WATCH_READY)
        if storage:
            context.add_init_script("(items => { for (const [k, v] of Object.entries(items)) "
                                    "sessionStorage.setItem(k, v); })(" + json.dumps(storage) + ")")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.clearBrowserCache")
        if emulate:
            cdp.send("Network.emulateNetworkConditions", {"offline": False, **NETWORKS[network]})
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu})
        page.goto(base + path, wait_until="commit", timeout=timeout_ms)
        page.wait_for_function("() => window.__boothReady !== undefined", timeout=timeout_ms, polling=50)
        figures = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const scripts = performance.getEntriesByType('resource').filter((r) => r.initiatorType === 'script'
                || r.name.endsWith('.js'));
            return {ready: window.__boothReady, dcl: nav ? nav.domContentLoadedEventEnd : null,
                    scripts: scripts.length,
                    script_bytes: scripts.reduce((n, r) => n + (r.transferSize || r.encodedBodySize || 0), 0),
                    url: location.pathname,
                    waterfall: [nav, ...performance.getEntriesByType('resource')].filter(Boolean).map((r) =>
                        [r.name.replace(location.origin, ''), Math.round(r.startTime), Math.round(r.responseStart),
                         Math.round(r.responseEnd), r.transferSize])};
        }""")
        if errors:
            figures["errors"] = errors
        if not figures["url"].startswith(path.split("?")[0]):
            raise SystemExit(f"{path} went to {figures['url']} (not signed in?)")
        return figures
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page", action="append", choices=PAGES)
    parser.add_argument("--network", action="append", choices=tuple(NETWORKS))
    parser.add_argument("--cpu", type=float, default=6.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-bundle", action="store_true", help="serve every module and stylesheet from its "
                        "sources, as before web/static/dist existed (the 'before' figure of the real booth)")
    parser.add_argument("--waterfall", action="store_true", help="print each request of the last run (start, "
                        "first byte, end, bytes)")
    args = parser.parse_args(argv)
    pages = args.page or list(DEFAULT_PAGES)
    networks = args.network or list(NETWORKS)

    warnings.simplefilter("ignore")
    from playwright.sync_api import sync_playwright

    from identity import factor
    from ledger.db import make_engine, migrate
    from tests.chromium import launch
    from tests.web.uvicorn_server import serving
    from web.app import create_app
    from web.static_files import fresh_manifest

    work = Path(tempfile.mkdtemp(prefix="booth-load-"))
    os.environ.setdefault(factor.GATEWAY_ENV, f"file:{work / 'sms'}")
    engine = make_engine(f"sqlite:///{work / 'gongjue.db'}")
    migrate(engine)
    app = create_app(engine)
    _standin_routes(app)
    booth = None
    if {"booth", "booth-typed"} & set(pages):
        try:
            booth = _booth(engine, work / "scenario")
        except Exception as e:  # noqa: BLE001 — the booth's setup belongs to other modules; say why and go on
            print(f"booth page skipped: {type(e).__name__}: {e}", file=sys.stderr)
            pages = [p for p in pages if not p.startswith("booth")]
    if args.no_bundle:
        import web.templating

        web.templating._manifest = dict  # asset() finds no bundle: the sources, as before the build
    bundled = "booth/booth.js" in fresh_manifest() and not args.no_bundle
    print(f"booth.js served as: {'bundle (web/static/dist)' if bundled else 'sources (no fresh bundle)'}; "
          f"CPU {args.cpu:g}× slower; {args.runs} cold runs each", file=sys.stderr)
    results = []
    with serving(app) as base, sync_playwright() as p:
        browser = launch(p)
        try:
            for network in networks:
                for page in pages:
                    if page == "booth":
                        path, cookies, storage = booth
                    elif page == "booth-typed":
                        path, cookies, storage = booth[0], booth[1], None
                    else:
                        path, cookies, storage = f"/bench/crypto/{page.split('-')[1]}", None, None
                    # warm the server (templates compiled, caches filled) with one load, not counted
                    measure(browser, base, path, network, 1, cookies=cookies, storage=storage, emulate=False)
                    runs = []
                    for i in range(args.runs):
                        f = measure(browser, base, path, network, args.cpu, cookies=cookies, storage=storage)
                        runs.append(f)
                        if not args.json:
                            print(f"{page:15} {network:7} run {i + 1}: ready {f['ready']:7.0f} ms  "
                                  f"(DOMContentLoaded {f['dcl']:6.0f} ms, {f['scripts']} script files, "
                                  f"{f['script_bytes'] / 1024:6.1f} KiB){'  ERRORS ' + str(f['errors']) if 'errors' in f else ''}")
                    if args.waterfall:
                        for name, start, first, end, size in runs[-1]["waterfall"]:
                            print(f"    {start:6d} {first:6d} {end:6d} ms {size:7d} B  {name}")
                    median = statistics.median(r["ready"] for r in runs)
                    results.append({"page": page, "network": network, "cpu": args.cpu, "median_ms": round(median),
                                    "runs": [round(r["ready"]) for r in runs], "scripts": runs[-1]["scripts"],
                                    "script_kib": round(runs[-1]["script_bytes"] / 1024, 1)})
        finally:
            browser.close()
    engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\nmedian time to ready (navigation start → data-booth=ready), cold cache:")
        for r in results:
            print(f"  {r['page']:15} {r['network']:7} CPU {r['cpu']:g}×: {r['median_ms']:6d} ms   "
                  f"runs {r['runs']}, {r['scripts']} script files, {r['script_kib']} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
