"""The browser tests wait without eval: the pages' CSP refuses it (see tests.chromium.wait_marked)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_browser_test_waits_on_an_evaluated_string() -> None:
    found = [f"{path.relative_to(TESTS)}:{n}"
             for path in sorted(TESTS.rglob("*.py")) if path.name != Path(__file__).name
             for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
             if "wait_for_function(" in line]
    assert found == [], f"page.wait_for_function evaluates a string with eval, refused by the CSP: {found}"
