"""Closing, counting and the final announcement from the staff round page (SPEC §7.3, §7.10).

- ``POST /estates/{slug}/staff/rounds/{id}/close`` (supervisor): close the round once its window
  has ended (the scheduler does it by itself too); an open round is counted at once.
- ``POST /estates/{slug}/staff/rounds/{id}/shares`` (scrutineer): upload one trustee's shares,
  the file ``gongjue trustee decrypt`` wrote (``gongjue trustee submit`` does the same from the
  server's shell); when the set is complete the result is decrypted, decided and published.
- ``POST /estates/{slug}/staff/rounds/{id}/final`` (supervisor): the final announcement once the
  objection window has ended (the scheduler does it by itself too).

Each refusal (``window_open``, ``round_not_closed``, ``bad_shares``, ``wrong_key``,
``duplicate_shares``, ``objection_window``, …) is shown on the round's page in the visitor's
language with the refusal's status; nothing is written.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ledger.db import transaction
from voting import count_round
from web import i18n, security
from web.staff_rounds import _round_page as round_page
from web.staff_rounds import check_csrf, now_of, read_form, refusal, round_url

router = APIRouter(include_in_schema=False)
MAX_SHARES = 1024 * 1024


@router.post("/estates/{slug}/staff/rounds/{round_id}/close")
async def close(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, "supervisor")
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_close, request, slug, round_id)


def _close(request: Request, slug: str, round_id: str) -> Response:
    try:
        entry = count_round.close_round(request.app.state.engine, slug, round_id, now=now_of(request))
    except count_round.CountError as e:
        return refusal(request, slug, round_id, e)
    if entry is None:
        return round_page(request, slug, round_id, status=409,
                          error=i18n.t(request, "This round is closed already."))
    return RedirectResponse(round_url(slug, round_id, "?closed=1"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/shares")
async def shares(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, "scrutineer")
    form = await read_form(request)
    check_csrf(request, form)
    upload = form.get("shares")
    document = None
    if isinstance(upload, UploadFile):
        raw = await upload.read(MAX_SHARES + 1)
        if len(raw) > MAX_SHARES:
            return round_page(request, slug, round_id, status=413,
                              error=i18n.t(request, "The shares file is too large (at most 1 MB)."))
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            document = None
    if not isinstance(document, dict):
        return round_page(request, slug, round_id, status=422, error=i18n.t(
            request, "Choose the shares file that gongjue trustee decrypt wrote (a JSON file)."))
    return await run_in_threadpool(_shares, request, slug, round_id, document)


def _shares(request: Request, slug: str, round_id: str, document: dict) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            count_round.submit_shares(session, slug, round_id, document, now=now_of(request))
    except count_round.CountError as e:
        return refusal(request, slug, round_id, e)
    return RedirectResponse(round_url(slug, round_id, "?shares=1"), status_code=303)


@router.post("/estates/{slug}/staff/rounds/{round_id}/final")
async def final(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, "supervisor")
    form = await read_form(request)
    check_csrf(request, form)
    return await run_in_threadpool(_final, request, slug, round_id)


def _final(request: Request, slug: str, round_id: str) -> Response:
    try:
        with transaction(request.app.state.engine) as session:
            entry = count_round.finalise(session, slug, round_id, now=now_of(request))
    except count_round.CountError as e:
        return refusal(request, slug, round_id, e)
    if entry is None:
        return round_page(request, slug, round_id, status=409,
                          error=i18n.t(request, "The final announcement is in the record already."))
    return RedirectResponse(round_url(slug, round_id, "?final=1"), status_code=303)
