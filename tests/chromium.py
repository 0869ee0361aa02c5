"""Real Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright.

Missing Chromium (or Playwright) skips a browser test, unless GONGJUE_REQUIRE_BROWSER=1 (set by
scripts/test.sh), which makes it a failure.
"""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out on a closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def require_chromium(path: str = CHROMIUM) -> None:
    """Skip (or fail, when required) unless Chromium and Playwright are there."""
    missing = None
    if not os.path.exists(path):
        missing = f"{path} not found"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed"
    if missing:
        if os.environ.get("GONGJUE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GONGJUE_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)


def launch(playwright):  # noqa: ANN001, ANN201
    """A headless Chromium browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def wait_marked(page, name: str, value: str | None = None, timeout: float = 30_000) -> None:
    """Until the page's <html> carries data-NAME (non-empty), or data-NAME="VALUE".

    Not page.wait_for_function: Playwright evaluates its string with eval, which the pages'
    Content-Security-Policy (script-src 'self') refuses on every poll after the first, so such a
    wait fails whenever the condition is not already true when it starts.
    """
    attribute = "data-" + "".join("-" + c.lower() if c.isupper() else c for c in name)
    selector = f"html[{attribute}='{value}']" if value is not None else f"html[{attribute}]:not([{attribute}=''])"
    page.wait_for_selector(selector, state="attached", timeout=timeout)
