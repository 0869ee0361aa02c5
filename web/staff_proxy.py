"""Written proxies recorded by a supervisor (SPEC §7.8): ``/estates/<slug>/staff/rounds/<id>/proxies``.

An owner who cannot sign in the browser may authorise another owner on paper.  A supervisor
records it: the represented owner's flat, the proxy's flat and the SHA-256 of the scanned
authorisation (``{"kind": "written", "scan_sha256"}``).  The hash is computed in the browser by
``web/static/staff/paper.js`` (the scan is then not uploaded) or, without scripts, from the
uploaded file on the server, which hashes it and keeps nothing of it.  The same form records a
written revocation.  The rules (same round, not yet voted, one grant per owner, the proxy cap)
are ``voting.cast.record_proxy``'s; a refusal says why and writes nothing.

- ``GET`` (supervisor): the form and the grants in force in the round.
- ``POST`` (supervisor): record a ``proxy.grant`` or ``proxy.revoke``.
"""

from __future__ import annotations

import hashlib
import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from identity import store as identity_store
from ledger.db import reading, transaction
from voting import cast as casting
from voting import paper_entry
from voting import proxy as proxies
from voting.paper_entry import PaperError
from web import i18n, security, sessions
from web.roll_pages import one_language
from web.security import visitor
from web.signin import signin_redirect
from web.staff_paper import _flats
from web.templating import templates

router = APIRouter(include_in_schema=False)
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_SCAN = 4 * 1024 * 1024


def _url(slug: str, round_id: str) -> str:
    return f"/estates/{slug}/staff/rounds/{round_id}/proxies"


def _page(request: Request, slug: str, round_id: str, error: str | None = None, status: int = 200,
          values: dict | None = None) -> Response:
    with reading(request.app.state.engine) as session:
        estate = identity_store.get_estate(session, slug)
        if estate is None:
            raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
        try:
            state = paper_entry.load_round(session, slug, round_id)
        except PaperError as exc:
            raise HTTPException(404, exc.message) from None
        grants = session.execute(select(casting.ProxyGrant.voter, casting.ProxyGrant.proxy, casting.ProxyGrant.grant_seq)
                                 .where(casting.ProxyGrant.log_id == estate.log_id,
                                        casting.ProxyGrant.round_id == round_id)
                                 .order_by(casting.ProxyGrant.grant_seq)).all()
        flats = _flats(session, slug)
    flash = None
    if error is None and visitor(request).token:
        with transaction(request.app.state.engine) as session:
            flash = sessions.pop_flash(session, visitor(request).token)
    rows = [(flats.get(v, v[:8]), flats.get(p, p[:8]), seq) for v, p, seq in grants]
    return templates.TemplateResponse(request, "staff/proxy.html",
                                      {"estate": estate, "round_id": round_id, "grants": rows, "error": error,
                                       "flash": flash, "closed": state.rec.close is not None,
                                       "values": values or {}, "action": _url(slug, round_id)}, status_code=status)


@router.get("/estates/{slug}/staff/rounds/{round_id}/proxies")
def proxy_page(request: Request, slug: str, round_id: str) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, "supervisor")
    return _page(request, slug, round_id)


@router.post("/estates/{slug}/staff/rounds/{round_id}/proxies")
async def record_proxy(request: Request, slug: str, round_id: str) -> Response:
    async with request.form(max_files=1, max_fields=12) as form:
        upload = form.get("scan")
        scan = None
        if isinstance(upload, UploadFile) and upload.filename:
            scan = await upload.read(MAX_SCAN + 1)
        return await run_in_threadpool(_record, request, slug, round_id, form, scan)


def _record(request: Request, slug: str, round_id: str, form: FormData, scan: bytes | None) -> Response:
    security.check_csrf(request, form.get("csrf"))
    security.require_estate_role(request, slug, "supervisor")
    kind = str(form.get("kind") or "")
    fields = {k: str(form.get(k) or "").strip() for k in ("vb", "vu", "vr", "pb", "pu", "pr")}
    digest = str(form.get("scan_sha256") or "").strip().lower()
    values = {**fields, "kind": kind, "scan_sha256": digest}

    def refuse(message: str, status: int = 422) -> Response:
        return _page(request, slug, round_id, message, status, values)

    if kind not in proxies.TYPES:
        return refuse(i18n.t(request, "Choose whether this is an authorisation or its revocation"))
    if scan is not None:
        if len(scan) > MAX_SCAN:
            return refuse(i18n.t(request, "The scan is too large (at most 4 MB); type its SHA-256 instead"), 413)
        from_file = hashlib.sha256(scan).hexdigest()
        if digest and digest != from_file:
            return refuse(i18n.t(request, "The SHA-256 typed is not the uploaded scan's; nothing was recorded"))
        digest = from_file
    if not _HEX64.fullmatch(digest):
        return refuse(i18n.t(request, "Give the scanned authorisation: choose its file, or type its SHA-256 "
                                      "(64 hexadecimal digits)"))
    with reading(request.app.state.engine) as session:
        voter = identity_store.voter_for_part(session, slug, fields["vb"], fields["vu"], fields["vr"])
        proxy = identity_store.voter_for_part(session, slug, fields["pb"], fields["pu"], fields["pr"])
    for found, who in ((voter, ("vb", "vu", "vr")), (proxy, ("pb", "pu", "pr"))):
        if found is None:
            label = "-".join(fields[k] for k in who if fields[k])
            return refuse(i18n.t(request, "No voter holds flat %(flat)s in the roll: check the building, stairwell "
                                          "and room", flat=label))
    try:
        receipt = casting.record_proxy(request.app.state.engine, slug, round_id, kind, voter=voter, proxy=proxy,
                                       authorisation=proxies.written_authorisation(scan_sha256=digest))
    except casting.CastError as exc:
        return refuse(one_language(request, exc.message), exc.status)
    text = (i18n.t(request, "The written authorisation is recorded (ledger entry %(seq)s).", seq=receipt["seq"])
            if kind == proxies.GRANT else
            i18n.t(request, "The written revocation is recorded (ledger entry %(seq)s).", seq=receipt["seq"]))
    with transaction(request.app.state.engine) as session:
        sessions.set_flash(session, visitor(request).token, text)
    return RedirectResponse(_url(slug, round_id), status_code=303)
