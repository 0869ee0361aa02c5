"""Credential authority pages (SPEC §4.4–4.5): the authority's key and the statements it signed.

- ``GET /estates/<slug>/staff/authority`` (estate roles authority or supervisor, or an admin):
  the recorded authority (name, contact, fingerprint of its key), what is registered (voters of
  the current roll with a current key, without one, keys revoked), and every statement in the
  ledger (entry, kind, time, voters).
- ``POST /estates/<slug>/staff/authority/key`` (admin, as ``POST /api/v1/estates/<slug>/authority``):
  upload ``KEYFILE.pub`` from ``gongjue authority keygen``; it becomes the estate's
  ``authority`` entry.
- ``POST /estates/<slug>/staff/authority/statements`` (authority or supervisor, as
  ``POST /api/v1/estates/<slug>/credentials``): upload a file the authority's offline tool wrote
  (``credentials.json`` of ``gongjue credentials generate``, or the file of ``credentials
  revoke`` / ``reissue``).  What is checked is the authority's signature against the key in the
  ledger, the estate, the voters and the keys (``identity.authority.record_statement``); a
  refusal says why and writes nothing.

The server never sees a code: the files hold public keys only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from identity import authority, store
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from ledger.models import Entry
from web import i18n, security, sessions
from web.roll_pages import one_language
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
VIEW_ROLES = ("authority", "supervisor", "admin")
MAX_FILE = 4 * 1024 * 1024
KINDS = {authority.CREDENTIALS: "credentials", authority.REVOKE: "revocation", authority.REISSUE: "reissue"}


@dataclass(frozen=True)
class StatementRow:
    seq: int
    kind: str  # credentials | revocation | reissue
    time: datetime | None
    voters: int
    reason: str | None


@dataclass(frozen=True)
class AuthorityView:
    slug: str
    name: str
    authority: authority.Authority | None
    fingerprint: str | None
    roll_version: int | None
    roll_voters: int
    with_key: int
    revoked: int
    statements: list[StatementRow]

    @property
    def without_key(self) -> int:
        return self.roll_voters - self.with_key


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _view(request: Request, slug: str) -> AuthorityView:
    with reading(request.app.state.engine) as session:
        estate = store.get_estate(session, slug)
        if estate is None or estate.log_id is None:
            raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
        reg = authority.registry(session, slug)
        version = store.roll_version(session, estate)
        voters: set[str] = set()
        if version is not None:
            try:
                voters = set(authority.roll_voters(store.roll_entry(session, estate, version)))
            except store.RollTampered as exc:
                raise HTTPException(500, str(exc)) from None
        rows = session.execute(select(Entry.seq, Entry.type, Entry.time, Entry.data)
                               .where(Entry.log_id == estate.log_id, Entry.type.in_(authority.STATEMENT_TYPES))
                               .order_by(Entry.seq)).all()
    statements = []
    revoked = 0
    for seq, kind, time, data in rows:
        st = parse_entry(bytes(data)).body.get("statement", {})
        if kind == authority.CREDENTIALS:
            count = len(st.get("credentials", []))
        else:
            count = 1
            revoked += 1 if kind == authority.REVOKE or st.get("replaces") else 0
        statements.append(StatementRow(seq, KINDS[kind], _time(time), count, st.get("reason")))
    current = reg.current
    a = reg.authority
    return AuthorityView(slug, estate.name, a, authority.fingerprint(a.public_key) if a else None,
                         version.version if version else None, len(voters),
                         sum(1 for v in voters if v in current), revoked, statements)


def _page(request: Request, slug: str, error: str | None = None, status: int = 200) -> Response:
    view = _view(request, slug)
    found = visitor(request)
    flash = None
    if found.token and status == 200:
        with transaction(request.app.state.engine) as session:
            flash = sessions.pop_flash(session, found.token)
    is_admin = found.staff is not None and found.staff.role == "admin"
    return templates.TemplateResponse(request, "staff/authority.html",
                                      {"view": view, "estate": view, "error": error, "flash": flash,
                                       "is_admin": is_admin, "reasons": authority.REASONS}, status_code=status)


@router.get("/estates/{slug}/staff/authority")
def authority_page(request: Request, slug: str) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, *VIEW_ROLES)
    return _page(request, slug)


async def _file(form: FormData) -> bytes | None:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_FILE + 1)
    return None


@router.post("/estates/{slug}/staff/authority/key")
async def record_key(request: Request, slug: str) -> Response:
    async with request.form(max_files=1, max_fields=4) as form:
        data = await _file(form)
        return await run_in_threadpool(_record_key, request, slug, form, data)


def _record_key(request: Request, slug: str, form: FormData, data: bytes | None) -> Response:
    security.check_csrf(request, form.get("csrf"))
    security.require_estate_role(request, slug, "admin")
    document = _json(request, data)
    if isinstance(document, str):
        return _page(request, slug, document, 422)
    if not isinstance(document, dict) or document.get("kind") != "gongjue-authority-public-key":
        return _page(request, slug, i18n.t(request, "This is not the authority's public key file (KEYFILE.pub "
                                                    "from gongjue authority keygen)"), 422)
    try:
        with transaction(request.app.state.engine) as session:
            seq = authority.record_authority(session, slug, str(document.get("name", "")),
                                             str(document.get("contact", "")), document.get("public_key"))
            sessions.set_flash(session, visitor(request).token,
                               i18n.t(request, "The authority key was recorded (entry %(seq)s, fingerprint %(fp)s)",
                                      seq=seq, fp=authority.fingerprint(document["public_key"])))
    except authority.AuthorityError as exc:
        return _page(request, slug, one_language(request, str(exc)), 422)
    return RedirectResponse(f"/estates/{slug}/staff/authority", status_code=303)


@router.post("/estates/{slug}/staff/authority/statements")
async def record_statement(request: Request, slug: str) -> Response:
    async with request.form(max_files=1, max_fields=4, max_part_size=MAX_FILE + 1024) as form:
        data = await _file(form)
        return await run_in_threadpool(_record_statement, request, slug, form, data)


def _record_statement(request: Request, slug: str, form: FormData, data: bytes | None) -> Response:
    security.check_csrf(request, form.get("csrf"))
    security.require_estate_role(request, slug, "authority", "supervisor")
    document = _json(request, data)
    if isinstance(document, str):
        return _page(request, slug, document, 422)
    try:
        with transaction(request.app.state.engine) as session:
            seq, statement = authority.record_statement(session, slug, document)
            kind = statement["type"]
            if kind == authority.CREDENTIALS:
                text = i18n.t(request, "Recorded: the keys of %(n)s voters (entry %(seq)s)",
                              n=len(statement["credentials"]), seq=seq)
            elif kind == authority.REVOKE:
                text = i18n.t(request, "Recorded: one key revoked (entry %(seq)s)", seq=seq)
            else:
                text = i18n.t(request, "Recorded: one key reissued (entry %(seq)s)", seq=seq)
            sessions.set_flash(session, visitor(request).token, text)
    except authority.AuthorityError as exc:
        return _page(request, slug, i18n.t(request, "Not recorded, nothing was written: %(why)s",
                                           why=one_language(request, str(exc))), 422)
    return RedirectResponse(f"/estates/{slug}/staff/authority", status_code=303)


def _json(request: Request, data: bytes | None) -> object:
    """The uploaded JSON document, or a message (str) saying why there is none."""
    if data is None:
        return i18n.t(request, "Choose the file first")
    if len(data) > MAX_FILE:
        return i18n.t(request, "The file is too large (at most 4 MB)")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return i18n.t(request, "The file is not valid JSON (%(why)s)", why=str(exc))
    return document if not isinstance(document, str) else i18n.t(request, "The file is not valid JSON (%(why)s)",
                                                                  why="string")
