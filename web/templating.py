"""The Jinja2 environment of every server-rendered page.

Autoescaping is on for every template (not only *.html), so any text from a roll, a form or
the database is escaped.  Every template sees ``visitor`` (who is signed in) and ``csrf`` (the
session's CSRF token for forms), added by a context processor, so pages extending
``base.html`` need not pass them.  Filters: ``area`` (0.01 m² → "12,345.67") and ``role_name``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from identity.area import format_area_grouped
from identity.staff import ROLE_NAMES
from web.security import LazyCsrf, visitor

TEMPLATES = Path(__file__).resolve().parent / "templates"
PRODUCT = "共决"


def _context(request: Request) -> dict:
    found = visitor(request)
    return {"visitor": found, "csrf": LazyCsrf(found), "product": PRODUCT}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["area"] = format_area_grouped
    env.filters["role_name"] = lambda role: ROLE_NAMES.get(role, role)
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_context])
