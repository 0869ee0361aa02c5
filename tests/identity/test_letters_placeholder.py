"""`gongjue credentials generate` warns when the letters' QR codes would point nowhere (issue #10)."""

from __future__ import annotations

import pytest

from identity import letters
from identity.credential import generate_code, public_key_hex

ORIGIN = "gongjue.local/maple-court"


@pytest.mark.parametrize(("origin", "base_url", "says"), [
    (ORIGIN, None, "placeholder 'gongjue.local'"),
    ("vote.example.cn/maple-court", None, None),
    ("vote.local/maple-court", None, "placeholder 'vote.local'"),
    (ORIGIN, "https://vote.example.cn/estates/maple-court", None),
    (ORIGIN, "https://gongjue.local/estates/maple-court", "placeholder or local address"),
    (ORIGIN, "https://localhost:8000/estates/maple-court", "placeholder or local address"),
    (ORIGIN, "https://www.example.com/estates/maple-court", "placeholder or local address"),
    (ORIGIN, "https://192.168.1.20/estates/maple-court", "local network address"),
    (ORIGIN, "http://vote.example.cn/estates/maple-court", "not https"),
    (ORIGIN, "vote.example.cn/estates/maple-court", "not a valid URL"),
])
def test_base_url_problem(origin, base_url, says):
    problem = letters.base_url_problem(origin, base_url)
    assert (problem is None) if says is None else (says in problem), problem


def test_letters_with_a_placeholder_address_are_marked_samples():
    code = generate_code()
    voter = letters.LetterVoter("v" * 32, "M0001", ("1-1-101",))
    cred = letters.Credential("v" * 32, code, public_key_hex(code, ORIGIN))
    problem = letters.base_url_problem(ORIGIN, None)
    page = letters.render_letters("枫林苑", ORIGIN, letters.default_base_url(ORIGIN), [voter], [cred], problem=problem)
    assert page.count("样张，请勿分发") == 1 and 'data-sample="yes"' in page and "SAMPLE" in page
    fine = letters.render_letters("枫林苑", ORIGIN, "https://vote.example.cn/estates/maple-court", [voter], [cred])
    assert "样张" not in fine and "SAMPLE" not in fine
