"""letters.html printed by Chromium: exactly one A4 page per voter, even for the longest letter."""

from __future__ import annotations

import re

import pytest

from identity import letters as cl
from tests.chromium import launch, require_chromium
from tests.crypto_cross.voters import P, V, signer

pytestmark = pytest.mark.browser


def test_one_printed_a4_page_per_voter(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    voters = [
        V("A001", (P("1", "1", "101"),)),
        V("开发商（未售房屋）", tuple(P("12A", "3", f"商铺{1000 + i}") for i in range(40))),  # the longest letter
        V("B-000000000000000000000002", (P("22", "", "2201"), P("22", "", "地下车位B-117"))),
    ]
    files = cl.write_credentials(tmp_path, "枫林苑花园小区（一期、二期）业主大会", "gongjue.local/maple-court", voters,
                                sign=signer("gongjue.local/maple-court"))
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(files.letters.as_uri())
        pdf = page.pdf(prefer_css_page_size=True)
        browser.close()
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert len(pages) == len(voters)
    sizes = {(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)}
    assert len(sizes) == 1
    (width, height), = sizes
    assert abs(width - 595.28) < 1.5 and abs(height - 841.89) < 1.5  # A4 in points


def test_one_printed_a4_page_per_pin_letter(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    from identity.roll import Part

    parts = tuple(Part("12A", "3", f"商铺{1000 + i}", 5000, "registered", "D") for i in range(40))
    pages = [("A001", (Part("1", "1", "101", 5000, "registered", "A001"),), "01234 56789"),
             ("开发商（未售房屋）", parts, "98765 43210")]
    path = tmp_path / "pins.html"
    cl.write_private(path, cl.render_pin_letters("枫林苑花园小区（一期、二期）业主大会", "maple-court", pages))
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(path.as_uri())
        pdf = page.pdf(prefer_css_page_size=True)
        browser.close()
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 2
