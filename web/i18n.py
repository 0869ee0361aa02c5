"""The pages' two languages (gettext catalogs through Babel) and Beijing time.

Pages are Chinese by default and English on request; the visitor's choice is remembered in the
``gongjue_lang`` cookie, set by ``GET /lang/<zh|en>?next=<path>``.  Message ids are English (the
code's language).  Translations live in gettext catalogs under
``web/locale/<locale>/LC_MESSAGES/*.po``, one catalog per area of the site, merged when first
needed: the .po files are read directly with Babel, so the install needs no compile step.

In templates (``jinja2.ext.i18n``, new-style gettext: variables are keyword arguments and are
escaped): ``{{ _("Vote") }}``, ``{% trans n=count %}{{ n }} voters{% endtrans %}``,
``{{ ngettext("%(num)d ballot", "%(num)d ballots", n) }}``.  In Python code that builds text for a
page: ``i18n.t(request, "Message %(name)s", name=...)`` (the extraction keyword is ``t:2``).

Times are shown in Beijing time (Asia/Shanghai), the date in Chinese form for Chinese pages:
``{{ when | beijing }}`` → "2026年11月29日 22:50"; English pages get "29 Nov 2026, 22:50".
"""

from __future__ import annotations

import functools
import gettext as gettext_module
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup

router = APIRouter(include_in_schema=False)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"zh": "zh_Hans", "en": "en"}  # the visitor's choice → the catalog's locale
DEFAULT = "zh"
COOKIE = "gongjue_lang"
BEIJING = ZoneInfo("Asia/Shanghai")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def language(request: Request) -> str:
    """The visitor's language: ``zh`` or ``en`` (cookie ``gongjue_lang``; Chinese by default)."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT


@functools.cache
def translations(lang: str) -> gettext_module.GNUTranslations:
    """Every catalog of ``lang`` merged into one translations object (later files win)."""
    merged = Catalog(locale=LANGUAGES[lang])
    folder = LOCALE_DIR / LANGUAGES[lang] / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")) if folder.is_dir() else []:
        with path.open("rb") as fh:
            for message in read_po(fh, locale=LANGUAGES[lang]):
                if message.id and message.string and not message.fuzzy:
                    merged[message.id] = message
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


def t(request: Request, message: str, **variables: object) -> str:
    """``message`` translated into the visitor's language, with ``%(name)s`` variables filled."""
    text = translations(language(request)).gettext(message)
    return text % variables if variables else text


def template_callables(lang: str) -> dict:
    """``_``, ``gettext`` and ``ngettext`` for a template rendered in ``lang`` (new-style, escaped)."""
    found = translations(lang)

    @jinja2.pass_context
    def gettext(context: jinja2.runtime.Context, message: str, **variables: object) -> str:
        text = found.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @jinja2.pass_context
    def ngettext(context: jinja2.runtime.Context, singular: str, plural: str, num: int,
                 **variables: object) -> str:
        variables.setdefault("num", num)
        text = found.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def beijing(when: datetime | int | None, lang: str = DEFAULT) -> str:
    """``when`` (an aware datetime, a naive one taken as UTC, or Unix seconds) in Beijing time."""
    if when is None:
        return ""
    if isinstance(when, int):
        when = datetime.fromtimestamp(when, UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(BEIJING)
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M} (Beijing time)"


@jinja2.pass_context
def beijing_filter(context: jinja2.runtime.Context, when: datetime | int | None) -> str:
    """Jinja filter ``beijing``: the time in the page's language."""
    return beijing(when, context.get("lang", DEFAULT))


def safe_next(target: str | None) -> str:
    """A same-site path to return to (never another host): ``/`` unless ``target`` is one."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/lang/{lang}")
def choose_language(request: Request, lang: str, next: str | None = None) -> RedirectResponse:  # noqa: A002
    """Remember the visitor's language for a year and go back to the page they were on."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax",
                            secure=request.url.scheme == "https")
    return response
