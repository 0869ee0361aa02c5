"""The Gongjue web application: pages, JSON API (/api/v1), static assets, security layers.

``create_app`` wires the parts; it does not migrate the database (``gongjue serve`` does that
first).  Routers are listed in ``_include_routers`` only.
"""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from ledger.db import make_engine
from ledger import anchor  # timestamps and witness cosignatures, in the background (SPEC §2.10)
from voting import scheduler
from web import (admin, api, api_ballots, api_count, api_errors, api_paper, api_rounds, api_turnout, audit,
                 credentials, i18n, owner, pages, roll_pages, signin)
from web import results  # the public results page
from web import booth  # the owner's round pages and the booth (H2)
from web import print_pages, staff_count, staff_rounds, staff_turnout  # staff round pages, prints (H4)
from web.security import BodyLimit, SecurityHeaders
from web.static_files import DistFiles
from web.templating import templates

STATIC = Path(__file__).resolve().parent / "static"


class GongjueApp(FastAPI):
    """FastAPI with SecurityHeaders outside everything, so even unhandled-error 500s carry them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())

    def openapi(self) -> dict:
        if self.openapi_schema is None:
            api_errors.document(super().openapi())  # the API's common error answers (web.api_errors)
        return self.openapi_schema


def create_app(engine: Engine | None = None) -> FastAPI:
    """The ASGI application over ``engine`` (default: ledger.db.make_engine())."""
    app = GongjueApp(title="共决 Gongjue", version="1", openapi_url="/api/v1/openapi.json",
                     docs_url=None, redoc_url=None,  # no Swagger UI: it needs scripts the CSP refuses
                     lifespan=_lifespan)  # ledger self-check (SPEC §2.9) and count scheduler
    app.state.engine = engine if engine is not None else make_engine()
    app.state.templates = templates
    app.add_middleware(BodyLimit)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RecursionError, _too_deep)  # JSON nested beyond the parser (issue #11.4)
    app.mount("/static/dist", DistFiles(), name="dist")  # hashed bundles, precompressed (web.static_files)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _include_routers(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The periodic ledger self-check (web.audit) and the count scheduler (voting.scheduler)."""
    _freeze_startup_heap()
    async with audit.lifespan(app), scheduler.lifespan(app), anchor.lifespan(app):  # anchor: SPEC §2.10
        yield


_frozen = False


def _freeze_startup_heap() -> None:
    """Move what start-up made (modules, tables, templates, routes) out of the garbage collector's reach.

    A full collection walks every tracked object; with the start-up heap in it, each one paused a
    worker for ~100 ms every few seconds under load, and those pauses were the slowest casts
    (issue #11: p99 116 ms → 80 ms at 16 clients). ``gc.freeze`` keeps those objects alive (they
    were anyway); once per process, so a test run that makes many apps freezes only the first's.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def _include_routers(app: FastAPI) -> None:
    """Every router of the application, in one place.

    Casting first: a request is matched against the routers in this order (about 10 µs each), and
    every cast is a request; no other route has the paths of ``api_ballots`` (tests/web/test_routing.py)."""
    app.include_router(api_ballots.router)  # casting and proxies (voting.cast)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(roll_pages.router)  # roll upload with preview (H5)
    from web import staff_authority, staff_paper, staff_proxy  # H5: setup pages for staff
    app.include_router(staff_authority.router)
    app.include_router(staff_paper.router)
    app.include_router(staff_proxy.router)
    app.include_router(i18n.router)  # the language switch
    app.include_router(signin.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(owner.router)
    app.include_router(booth.router)  # round pages, the booth, the receipt QR (H2)
    app.include_router(credentials.router)
    app.include_router(api_paper.router)  # paper ballots (voting.paper_entry)
    app.include_router(api_turnout.router)  # turnout, non-voters (voting.turnout)
    app.include_router(api_count.router)
    app.include_router(api_rounds.router)  # drafts, announcement, extension, candidates (voting.rounds)
    app.include_router(results.router)  # the public results page (H3)
    app.include_router(staff_rounds.router)  # staff round pages: drafts, candidates, announce, extend (H4)
    app.include_router(staff_turnout.router)  # staff turnout page and non-voters CSV (H4)
    app.include_router(staff_count.router)  # close, trustees' shares, final announcement (H4)
    app.include_router(print_pages.router)  # printable notice and results announcement (H4)
    from web import evidence  # the evidence report of a round (#13)
    app.include_router(evidence.router)
    from web import notices  # the loop's notices (#12.4; types register from their own modules)
    app.include_router(notices.router)
    from web import petitions  # owners' proposals and petitions (#12.1)
    app.include_router(petitions.router)
    app.include_router(petitions.api)
    from web import consultations, follow  # consultations and follow-through (#12.2, #12.3)
    app.include_router(consultations.router)
    app.include_router(consultations.api)
    app.include_router(follow.router)
    app.include_router(follow.api)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# Starlette's own words when a form cannot be parsed (starlette.formparsers.MultiPartException:
# too many fields or files, a part too large, a broken multipart body), raised as a 400 in English
_FORM_UNREADABLE = re.compile(r"(Too many (fields|files)\.|(Field|Part) exceeded maximum size|Missing boundary|"
                              r"Invalid multipart|The Content-Disposition header)")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """JSON for the API, a readable page for people."""
    headers = getattr(exc, "headers", None)
    if _wants_json(request):
        detail = api_errors.UNREADABLE if exc.detail == api_errors.FASTAPI_UNREADABLE else exc.detail
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)
    detail = str(exc.detail)
    if exc.status_code == 400 and _FORM_UNREADABLE.match(detail):
        detail = i18n.t(request, "The form could not be read: it has too many fields or a part that is too large. "
                                 "Go back and try again.")
    return _error_page(request, exc.status_code, detail, headers)


async def _too_deep(request: Request, exc: RecursionError) -> Response:
    return await _http_error(request, HTTPException(400, api_errors.TOO_DEEP))


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    if _wants_json(request):
        return JSONResponse(api_errors.validation_refusal(exc), status_code=422)
    return _error_page(request, 422, i18n.t(request, "The request was not understood: a field is missing or "
                                                     "not in the right form. Go back and try again."))


def _title(request: Request, status: int) -> str:
    """The error page's heading in the visitor's language."""
    titles = {400: i18n.t(request, "Request not understood"), 401: i18n.t(request, "Please sign in first"),
              403: i18n.t(request, "Not allowed"), 404: i18n.t(request, "Page not found"),
              405: i18n.t(request, "Not possible here"), 409: i18n.t(request, "Conflict"),
              413: i18n.t(request, "Too large"), 422: i18n.t(request, "Request not understood"),
              429: i18n.t(request, "Please try again later"), 503: i18n.t(request, "Busy: please try again shortly")}
    return titles.get(status, i18n.t(request, "Something went wrong"))


def _default_message(request: Request, status: int) -> str:
    messages = {404: i18n.t(request, "There is no page at this address. Check the link, or start again from the "
                                     "home page."),
                405: i18n.t(request, "This address does not take that kind of request."),
                401: i18n.t(request, "Please sign in first.")}
    return messages.get(status, _title(request, status))


def _one_language(request: Request, message: str) -> str:
    """A "中文 / English" message (the older, bilingual style) in the visitor's language only."""
    chinese, sep, english = message.partition(" / ")
    if sep and any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and english.isascii():
        return english if i18n.language(request) == "en" else chinese
    return message


def _error_page(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if message == _phrase(status):  # Starlette's default detail, e.g. "Not Found"
        message = _default_message(request, status)
    return templates.TemplateResponse(request, "error.html", {
        "status": status, "title": _title(request, status), "message": _one_language(request, message)},
        status_code=status, headers=headers)


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None
