"""The Jinja2 environment of every server-rendered page.

Autoescaping is on for every template (not only *.html), so any text from a roll, a form or
the database is escaped.  Every template sees, from the context processor:

- ``visitor`` (who is signed in) and ``csrf`` (the session's CSRF token for forms);
- ``lang`` (``zh`` or ``en``) and the gettext callables ``_``, ``gettext``, ``ngettext`` of
  ``web.i18n`` (message ids in English, Chinese from the catalogs);
- ``asset(path)``: the URL of a static file, the built, content-hashed file when
  ``web/static/dist/manifest.json`` names one (e.g. the booth bundle) built from the sources as
  they are now (``web.static_files.fresh_manifest``), else ``/static/<path>``.

Filters: ``area`` (0.01 m² → "12,345.67"), ``role_name`` and ``beijing`` (a time in Beijing time,
in the page's language).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from identity.area import format_area_grouped
from identity.staff import ROLE_NAMES
from web import i18n
from web.security import LazyCsrf, visitor
from web.static_files import fresh_manifest

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
PRODUCT = "共决"


def _manifest() -> dict[str, str]:
    # manifest.json without the bundles older than their sources (web.static_files)
    return fresh_manifest()


def asset(path: str) -> str:
    """The URL of static file ``path`` (relative to web/static), hashed build output if any."""
    return "/static/" + _manifest().get(path, path)


def _context(request: Request) -> dict:
    found = visitor(request)
    lang = i18n.language(request)
    return {"visitor": found, "csrf": LazyCsrf(found), "product": PRODUCT, "lang": lang,
            "asset": asset, "request_path": request.url.path, **i18n.template_callables(lang)}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.newstyle_gettext = True  # {% trans %} passes variables as keyword arguments, escaped
    env.filters["area"] = format_area_grouped
    env.filters["role_name"] = lambda role: ROLE_NAMES.get(role, role)
    env.filters["beijing"] = i18n.beijing_filter
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_context])
