"""Server-rendered pages: estates, estate overview (roll upload: web/roll_pages.py; staff sign-in: web/signin.py).

Pages are plain HTML forms (no JavaScript) so they work in WeChat's browser and on old phones.
Every POST checks the session's CSRF token first (web.security), then who is asking, then the
input; writes happen in one transaction only after the whole input has been accepted.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from identity import store
from ledger.db import reading, transaction
from web import notices, sessions
from web.security import visitor
from web.templating import templates

router = APIRouter(include_in_schema=False)

@router.get("/")
def index(request: Request) -> Response:
    with reading(request.app.state.engine) as session:
        estates = [(e.slug, e.name) for e in store.list_estates(session)]
    return templates.TemplateResponse(request, "index.html", {"estates": estates})


@router.get("/estates/{slug}")
def estate(request: Request, slug: str) -> Response:
    found = visitor(request)
    view = _overview(request, slug)  # figures from the ledger entry, tables checked (SPEC §6.4)
    flash = None
    if found.token:
        with transaction(request.app.state.engine) as session:
            flash = sessions.pop_flash(session, found.token)
    from web import booth, owner  # the estate home's rounds and the signed-in owner (H2)

    me = owner.owner_session(request)
    with reading(request.app.state.engine) as session:
        listed = notices.estate_notices(session, slug, limit=10)  # the loop's steps, newest first (SPEC §9.6)
    return templates.TemplateResponse(request, "estate.html", {
        "estate": view, "flash": flash, "rounds": booth.estate_rounds(request, slug), "notices": listed,
        "owner": me if me is not None and me.estate == slug else None})


def _overview(request: Request, slug: str) -> store.Overview:
    """The estate's figures, read without the write lock; 404 unknown, 500 when the roll tables
    disagree with the ledger (an error page, never the tampered figures)."""
    try:
        with reading(request.app.state.engine) as session:
            view = store.overview(session, slug)
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    if view is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return view
