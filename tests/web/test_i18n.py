"""The pages' languages: every message has its Chinese translation, the switch, Beijing time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from web import i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "t": (2,)}
METHODS = [("web/templates/**.html", "jinja2"), ("web/**.py", "python")]


def extracted() -> dict[str, str]:
    """Every message id in the pages and the web code → where it was found."""
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT, METHODS, options_map={"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords=KEYWORDS):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{lineno}")
    return found


def test_every_message_has_a_chinese_translation():
    chinese = i18n.translations("zh")
    missing = [f"{where}: {text!r}" for text, where in sorted(extracted().items(), key=lambda kv: kv[1])
               if chinese.gettext(text) == text and _needs(text)]
    assert missing == [], "untranslated (add them to web/locale/zh_Hans/LC_MESSAGES/*.po):\n" + "\n".join(missing)


def _needs(text: str) -> bool:
    """A message needs a translation unless it has no letters (a number format, a symbol)."""
    return any(ch.isalpha() for ch in text)


def test_catalogs_parse_and_have_no_duplicate_ids_across_files():
    from babel.messages.pofile import read_po
    seen: dict[str, Path] = {}
    for path in sorted((i18n.LOCALE_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh):
                if message.id:
                    assert message.id not in seen, f"{message.id!r} in both {seen[message.id].name} and {path.name}"
                    seen[message.id] = path


@pytest.mark.parametrize(("when", "lang", "shown"), [
    (datetime(2026, 11, 29, 16, 5, tzinfo=UTC), "zh", "2026年11月30日 00:05"),
    (datetime(2026, 11, 29, 16, 5, tzinfo=UTC), "en", "30 Nov 2026, 00:05 (Beijing time)"),
    (datetime(2026, 1, 1, 0, 0), "zh", "2026年1月1日 08:00"),  # naive is UTC
    (0, "zh", "1970年1月1日 08:00"),
    (None, "zh", ""),
])
def test_beijing_time(when, lang, shown):
    assert i18n.beijing(when, lang) == shown


@pytest.mark.parametrize(("target", "safe"), [
    ("/estates/x", "/estates/x"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"), (None, "/"), ("", "/"),
])
def test_language_switch_returns_only_to_this_site(target, safe):
    assert i18n.safe_next(target) == safe


def test_language_switch_sets_the_cookie_and_unknown_languages_are_ignored(engine):
    from fastapi.testclient import TestClient

    from web.app import create_app
    with TestClient(create_app(engine), base_url="https://testserver") as client:
        answer = client.get("/lang/en", params={"next": "/signin"}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/signin"
        assert "gongjue_lang=en" in answer.headers["set-cookie"] and "Max-Age=31536000" in answer.headers["set-cookie"]
        answer = client.get("/lang/fr", params={"next": "//evil"}, follow_redirects=False)
        assert answer.headers["location"] == "/" and "set-cookie" not in answer.headers
