"""Roll pages for supervisors: import a roll with a preview, and the voters and totals per scope.

- ``GET /roll/new`` (any signed-in staff; the new estate's supervisor role is checked on submit),
  ``GET /estates/<slug>/roll`` (supervisor): the upload form.
- ``POST /roll/new``, ``POST /estates/<slug>/roll``: the file is parsed and validated as the CLI
  does (``identity.roll.read_roll``: every problem with its line, nothing written); when it is
  accepted, the **preview**: the differences from the current version (``identity.roll_diff``:
  parts added, removed, changed — area or owner —, heads and area before and after, per
  building), or a plain "identical" when nothing differs (then there is nothing to confirm).
  Nothing is written.
- ``POST /roll/new/confirm``, ``POST /estates/<slug>/roll/confirm``: imports exactly what was
  previewed.  The preview's form carries the file (compressed), its SHA-256, the version it was
  compared with and a token = HMAC(server key, session's CSRF token, slug, name, filename, SHA-256,
  version): the confirm is refused when the file's hash is not the previewed one, when the token
  does not match (another session, altered fields), or when another version was imported in
  between (the preview would be stale).  Then one transaction (``identity.store.import_roll_file``).
- ``GET /estates/<slug>/staff/voters`` (supervisor, scrutineer, auditor): totals of the current
  roll for the whole estate, each building and each stairwell (heads and area, as a round scoped
  there would count them, ``identity.scope``); for supervisors also the voters with their parts
  and names (private).

Every POST checks the CSRF token first, then the role, then the input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.datastructures import FormData, UploadFile

from identity import staff as staff_store
from identity import store
from identity.csvfile import CsvError
from identity.roll import Roll, read_roll
from identity.roll_diff import RollDiff, diff_rolls
from identity.scope import Scope, totals
from ledger.checkpoint import CheckpointError
from ledger.db import reading, transaction
from ledger.log import LogError
from web import i18n, security, sessions
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
SHOWN = 300  # rows of each list on the preview (the totals are always whole)
_TAG = b"gongjue/v1/roll-preview"


def _overview(request: Request, slug: str) -> store.Overview:
    try:
        with reading(request.app.state.engine) as session:
            view = store.overview(session, slug)
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    if view is None:
        raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
    return view


def one_language(request: Request, message: str) -> str:
    """The page's half of a bilingual "中文 / English" message from the lower layers (the JSON API
    keeps both).  Shown whole when it is not exactly one such pair (a compound message, whose
    details would be lost with one half) or has no Chinese first half."""
    zh, _, en = message.partition(" / ")
    if message.count(" / ") != 1 or not any("\u3400" <= ch <= "\u9fff" for ch in zh):
        return message
    return en if i18n.language(request) == "en" else zh


@dataclass
class UploadForm:
    """What the roll upload form shows: the estate (existing or new), values, and refusals."""

    slug: str = ""
    name: str = ""
    existing: store.Overview | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """An accepted file and what importing it would change."""

    form: UploadForm
    filename: str
    sha256: str
    base: int  # the version compared with (0: none)
    diff: RollDiff
    same_file: bool  # byte for byte the current version's file
    payload: str  # the file, compressed, for the confirm form
    token: str


def _upload_page(request: Request, form: UploadForm, status: int = 200) -> Response:
    form.error = one_language(request, form.error) if form.error else form.error  # problems stay whole (their details are in both halves)
    return templates.TemplateResponse(request, "roll_upload.html", {"form": form}, status_code=status)


def _action(form: UploadForm) -> str:
    return f"/estates/{form.existing.slug}/roll" if form.existing else "/roll/new"


@router.get("/roll/new")
def new_estate_roll_form(request: Request) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_role(visitor(request))
    return _upload_page(request, UploadForm())


@router.get("/estates/{slug}/roll")
def estate_roll_form(request: Request, slug: str) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_role(visitor(request))
    view = _overview(request, slug)
    security.require_estate_role(request, slug, "supervisor")
    return _upload_page(request, UploadForm(slug=view.slug, name=view.name, existing=view))


@router.post("/roll/new")
async def new_estate_roll(request: Request) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        return await _receive_roll(request, form, None)


@router.post("/estates/{slug}/roll")
async def estate_roll(request: Request, slug: str) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        return await _receive_roll(request, form, slug)


async def _receive_roll(request: Request, form: FormData, slug: str | None) -> Response:
    """Read the uploaded file (bounded), then judge it and show the preview off the event loop."""
    upload = form.get("file")
    file = None
    if isinstance(upload, UploadFile) and upload.filename:
        file = (_base_name(upload.filename), await upload.read(security.MAX_UPLOAD + 1))
    return await run_in_threadpool(_preview_roll, request, form, file, slug)


def _page_form(request: Request, form: FormData, slug: str | None) -> UploadForm:
    """CSRF, role and the estate: the form the page shows back."""
    security.check_csrf(request, form.get("csrf"))
    security.require_role(visitor(request))
    if slug is None:
        return UploadForm(slug=str(form.get("slug") or "").strip(), name=str(form.get("name") or "").strip())
    view = _overview(request, slug)
    security.require_estate_role(request, slug, "supervisor")
    return UploadForm(slug=view.slug, name=view.name, existing=view)


def _preview_roll(request: Request, form: FormData, file: tuple[str, bytes] | None, slug: str | None) -> Response:
    """Check CSRF and role, read the CSV; refuse it whole, or show what importing it would change."""
    page = _page_form(request, form, slug)
    if file is None:
        page.error = i18n.t(request, "Choose the roll's CSV file")
        return _upload_page(request, page, 422)
    filename, data = file
    if len(data) > security.MAX_UPLOAD:
        raise HTTPException(413, security.TOO_LARGE)
    try:
        if page.existing is None:
            _check_new_estate(request, page)
            security.require_estate_role(request, page.slug, "supervisor")
        roll = read_roll(data, filename)
    except store.EstateError as exc:
        page.error = str(exc)
        return _upload_page(request, page, 422)
    except CsvError as exc:
        page.error = i18n.t(request, "The roll was not imported: %(n)s problems, nothing was written",
                            n=len(exc.problems))
        page.problems = exc.problems
        return _upload_page(request, page, 422)
    current, base, current_sha = _current(request, page)
    sha = hashlib.sha256(data).hexdigest()
    payload = base64.b64encode(zlib.compress(data, 9)).decode()
    if len(payload) > security.MAX_BODY - 16 * 1024:
        page.error = i18n.t(request, "This file is too large to preview and confirm; split the estate's roll or "
                                     "import it with the command line (gongjue roll import)")
        return _upload_page(request, page, 413)
    preview = Preview(page, filename, sha, base, diff_rolls(current, roll), current_sha == sha, payload,
                      _token(request, page, filename, sha, base))
    return templates.TemplateResponse(request, "staff/roll_preview.html",
                                      {"preview": preview, "form": page, "shown": SHOWN,
                                       "action": _action(page) + "/confirm"})


def _current(request: Request, page: UploadForm) -> tuple[Roll | None, int, str | None]:
    """The estate's current roll (opened against the ledger), its version and its file's SHA-256."""
    if page.existing is None or not page.existing.version:
        return None, 0, None
    try:
        with reading(request.app.state.engine) as session:
            view = store.current_roll(session, page.slug)
            estate = store.get_estate(session, page.slug)
            row = store.roll_version(session, estate) if estate else None
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    except store.EstateError as exc:  # the current version's openings were erased: compare with nothing
        raise HTTPException(409, str(exc)) from None
    if view is None or row is None:
        return None, 0, None
    return view.roll, view.version, row.file_sha256


def _token(request: Request, page: UploadForm, filename: str, sha: str, base: int) -> str:
    """Binds the confirm to this preview, this session, this estate and this file."""
    key = sessions.server_key(request.app.state.engine)
    text = "\x00".join([visitor(request).csrf, page.slug, page.name, filename, sha, str(base)])
    return hmac.new(key, _TAG + b"\x00" + text.encode(), hashlib.sha256).hexdigest()


@router.post("/roll/new/confirm")
async def new_estate_roll_confirm(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=12, max_part_size=security.MAX_BODY) as form:
        return await run_in_threadpool(_confirm_roll, request, form, None)


@router.post("/estates/{slug}/roll/confirm")
async def estate_roll_confirm(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=12, max_part_size=security.MAX_BODY) as form:
        return await run_in_threadpool(_confirm_roll, request, form, slug)


def _confirm_roll(request: Request, form: FormData, slug: str | None) -> Response:
    """Import the previewed file, exactly: same bytes, same session, same base version."""
    page = _page_form(request, form, slug)
    if slug is None:
        page.name = str(form.get("name") or "")
    filename = _base_name(str(form.get("filename") or ""))
    sha = str(form.get("sha256") or "")
    try:
        base = int(str(form.get("base") or ""))
        data = zlib.decompressobj().decompress(base64.b64decode(str(form.get("payload") or ""), validate=True),
                                               security.MAX_UPLOAD + 1)
    except (ValueError, binascii.Error, zlib.error):
        data, base = b"", -1
    expected = _token(request, page, filename, sha, base)
    if (not data or len(data) > security.MAX_UPLOAD or hashlib.sha256(data).hexdigest() != sha
            or not hmac.compare_digest(expected, str(form.get("token") or ""))):
        page.error = i18n.t(request, "The file is not the one previewed (it was changed or the preview expired); "
                                     "nothing was imported. Upload the file again.")
        return _upload_page(request, page, 409)
    _, now, _ = _current(request, page)
    if now != base or (page.existing is None and _exists(request, page.slug)):
        page.error = i18n.t(request, "Another roll version was imported after this preview (now version %(now)s); "
                                     "nothing was imported. Upload the file again to see the new differences.",
                            now=now or 1)
        return _upload_page(request, page, 409)
    try:
        if page.existing is None:
            _check_new_estate(request, page)
            security.require_estate_role(request, page.slug, "supervisor")
        roll = read_roll(data, filename)
    except store.EstateError as exc:
        page.error = str(exc)
        return _upload_page(request, page, 422)
    except CsvError as exc:  # not reached for a previewed file; kept for a clear refusal
        page.error = i18n.t(request, "The roll was not imported: %(n)s problems, nothing was written",
                            n=len(exc.problems))
        page.problems = exc.problems
        return _upload_page(request, page, 422)
    try:  # hashing before, one short write transaction (identity.store.import_roll_file)
        version = store.import_roll_file(request.app.state.engine, page.slug, roll, filename=filename, data=data,
                                         name=page.name)
    except store.ImportConflict as exc:  # a concurrent upload won twice: nothing written, try again
        page.error = str(exc)
        return _upload_page(request, page, 409)
    except store.EstateError as exc:
        page.error = str(exc)
        return _upload_page(request, page, 422)
    except (IntegrityError, LogError, OperationalError) as exc:
        page.error = i18n.t(request, "The database is busy; the roll was not imported. Please try again (%(what)s)",
                            what=type(exc).__name__)
        return _upload_page(request, page, 503)
    except CheckpointError as exc:  # the server's log key is not the one that signed this log
        page.error = i18n.t(request, "The ledger refused to sign; the roll was not imported: %(why)s", why=str(exc))
        return _upload_page(request, page, 500)
    if version != base + 1:  # another import slipped in between the check and ours
        page.error = i18n.t(request, "Imported as version %(v)s: another version was imported at the same time; "
                                     "check the estate's roll.", v=version)
    found = visitor(request)
    with transaction(request.app.state.engine) as session:
        sessions.set_flash(session, found.token, page.error or i18n.t(request, "Roll version %(v)s imported",
                                                                      v=version))
    return RedirectResponse(f"/estates/{page.slug}", status_code=303)


def _exists(request: Request, slug: str) -> bool:
    with reading(request.app.state.engine) as session:
        return store.get_estate(session, slug) is not None


def _check_new_estate(request: Request, page: UploadForm) -> None:
    store.check_slug(page.slug)
    page.name = store.check_name(page.name)  # 1–200 characters, no NUL, invisible or control characters
    if _exists(request, page.slug):
        raise store.EstateError(i18n.t(request, "The estate code %(slug)s is taken; to update its roll, upload "
                                                "from that estate's page", slug=page.slug))


def _base_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()  # no NUL or control characters
    return name[:100] or "roll.csv"


# --- voters and totals per scope ---------------------------------------------------------------


@dataclass(frozen=True)
class PlaceRow:
    building: str
    unit: str | None  # None: the whole building
    heads: int
    area: int
    parts: int


@router.get("/estates/{slug}/staff/voters")
def voters_page(request: Request, slug: str) -> Response:
    """Totals of the current roll per scope (estate, building, stairwell); the voters for supervisors."""
    if visitor(request).staff is None:
        return signin_redirect(request)
    view = _overview(request, slug)
    staff = security.require_estate_role(request, slug, "supervisor", "scrutineer", "auditor")
    with reading(request.app.state.engine) as session:
        names_too = "supervisor" in staff_store.roles_in(session, staff.staff_id, slug)
    try:
        with reading(request.app.state.engine) as session:
            current = store.current_roll(session, slug)
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    except store.EstateError as exc:
        raise HTTPException(409, str(exc)) from None
    rows: list[PlaceRow] = []
    voters = []
    whole = None
    if current is not None:
        roll = current.roll
        whole = totals(roll)
        for building in roll.buildings:
            parts = [p for p in roll.parts if p.building == building]
            t = totals(roll, Scope(buildings=(building,)))
            rows.append(PlaceRow(building, None, t.heads, t.area, len(parts)))
            for unit in dict.fromkeys(p.unit for p in parts):
                if not unit:
                    continue
                t = totals(roll, Scope(units=((building, unit),)))
                rows.append(PlaceRow(building, unit, t.heads, t.area, sum(1 for p in parts if p.unit == unit)))
        pseudonyms = current.opened.pseudonyms
        if names_too:  # the voters with their names: supervisors only (private, never published)
            voters = [(v, roll.names.get(v.voter_id, ""), pseudonyms.get(v.voter_id, "")) for v in roll.voters]
    return templates.TemplateResponse(request, "staff/roll_voters.html",
                                      {"estate": view, "whole": whole, "rows": rows, "voters": voters})
