"""Owners' proposals and petitions on the web (SPEC §9): pages, the JSON API and their notices.

Pages (Chinese by default, plain forms; the co-signature is made in the browser by
``web/static/owner/petition.js`` with the key derived from the owner's credential code — the
code never leaves the phone):

- ``GET /estates/<slug>/petitions`` — every proposal with its live support by heads and by area.
- ``GET /estates/<slug>/petitions/new`` and ``POST /estates/<slug>/petitions`` — a signed-in
  owner drafts and publishes a proposal (title, text, the matter it would need, the scope,
  attachments: their SHA-256 goes into the ledger, the files are kept beside it).
- ``GET /estates/<slug>/petitions/<id>`` — the proposal, its support bars, the line (20% of the
  owners in scope by heads) and, once reached, the date and the committee's deadline; co-sign /
  withdraw buttons for owners; the response form for supervisors.
- ``POST /estates/<slug>/petitions/<id>/response`` — a supervisor records the committee's
  response: the round announced from it, or a reasoned refusal.
- ``GET /estates/<slug>/petitions/<id>/files/<sha256>`` — an attachment.

JSON API (``/api/v1``, in the OpenAPI document): list, detail, publish, and
``POST …/petitions/<id>/signatures`` (``petition.sign`` / ``petition.withdraw``, owner-signed).

Notices (``web.notices``): ``petition`` (published), ``petition.line`` (line reached) and
``petition.response`` (the committee's response) each print as an A4 notice with a QR code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from identity import authority
from identity import store as identity_store
from identity.area import format_area_grouped
from ledger.db import reading, transaction
from voting import petition as pt
from voting import petition_store as ps
from voting.petition import PetitionError
from voting.lifecycle import china_date
from voting.rules import MATTER_NAMES, MATTERS
from web import i18n, notices, owner, security, sessions
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["petitions"])
MAX_FILES = 5


# --- what a page or the API shows of a petition -----------------------------------------------


def summary(p: pt.Petition) -> dict:
    heads, area = p.support()
    total_heads, total_area = p.totals
    return {"petition": p.id, "title": p.body["title"], "matter": p.body["matter"], "scope": p.body["scope"],
            "hash": p.hash, "seq": p.seq, "published": p.time,
            "state": p.state(), "support": {"heads": heads, "area": area},
            "totals": {"heads": total_heads, "area": total_area}, "needed": pt.signers_needed(total_heads),
            "line": p.line, "line_seq": p.line_seq, "response": p.response, "response_seq": p.response_seq}


def detail(p: pt.Petition) -> dict:
    """A proposal as pages and the API show it: who signed is not listed (voters appear by pseudonym
    only in the public record, ``/estates/<slug>/audit``); the signatures in force and the
    withdrawals are given by their ledger entries."""
    return {**summary(p), "text": p.body["text"], "attachments": p.body["attachments"],
            "respond_days": p.body["respond_days"], "roll": p.body["roll"],
            "signatures": sorted(p.signers.values()), "withdrawals": sorted(p.withdrawn.values())}


def _matter_name(request: Request, matter: str) -> str:
    zh, _, en = MATTER_NAMES.get(matter, matter).partition(" / ")
    return en if i18n.language(request) == "en" and en else zh


def _for_page(request: Request, item: dict) -> dict:
    item["matter_name"] = _matter_name(request, item["matter"])
    item["scope_name"] = _scope_name(item["scope"], i18n.language(request))
    item["published_at"] = datetime.strptime(item["published"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # the committee's deadline has passed (China Standard Time) and no response is recorded
    item["overdue"] = (item["line"] is not None and item["response"] is None
                       and china_date(datetime.now(UTC)).isoformat() > item["line"]["deadline"])
    return item


def _scope_name(scope: dict, lang: str = "zh") -> str:
    zh, _, en = ps.scope_of(scope).describe().partition(" / ")
    return en if lang == "en" and en else zh


def _estate(request: Request, session, slug: str):
    estate = identity_store.get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
    return estate


def _book(request: Request, slug: str):
    with reading(request.app.state.engine) as session:
        estate = _estate(request, session, slug)
        book, rounds = ps.load_book(session, estate.log_id)
        reg = authority.registry(session, slug)
    return estate, book, rounds, reg


def _refusal(request: Request, e: PetitionError) -> str:
    zh, _, en = e.message.partition(" / ")
    return en if i18n.language(request) == "en" and en else zh


# --- pages ------------------------------------------------------------------------------------


def _flash(request: Request) -> str | None:
    token = visitor(request).token
    if not token:
        return None
    with transaction(request.app.state.engine) as session:
        return sessions.pop_flash(session, token)


@router.get("/estates/{slug}/petitions")
def petition_list(request: Request, slug: str) -> Response:
    estate, book, _, _ = _book(request, slug)
    me = owner.owner_session(request)
    items = [_for_page(request, summary(p)) for p in reversed(list(book.petitions.values()))]
    return templates.TemplateResponse(request, "petition/list.html", {
        "estate": estate, "petitions": items, "owner": me if me is not None and me.estate == slug else None})


def _draft_page(request: Request, slug: str, *, error: str | None = None, values: dict | None = None,
                status: int = 200) -> Response:
    with reading(request.app.state.engine) as session:
        estate = _estate(request, session, slug)
    matters = [(m, _matter_name(request, m)) for m in MATTERS]
    return templates.TemplateResponse(request, "petition/new.html", {
        "estate": estate, "matters": matters, "error": error, "values": values or {},
        "csrf": visitor(request).csrf, "max_files": MAX_FILES}, status_code=status)


@router.get("/estates/{slug}/petitions/new")
def draft_form(request: Request, slug: str) -> Response:
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return RedirectResponse(f"/estates/{slug}/owner?next=/estates/{slug}/petitions/new", status_code=303)
    return _draft_page(request, slug)


def _scope_from_form(buildings: str, units: str) -> dict:
    """``buildings``: labels separated by commas or spaces; ``units``: ``building-unit`` pairs."""
    split = [b for b in buildings.replace("，", ",").replace(",", " ").split() if b]
    pairs = []
    for u in units.replace("，", ",").replace(",", " ").split():
        building, dash, unit = u.partition("-")
        if not dash or not building or not unit:
            raise PetitionError("bad_scope", f"单元应写成 楼栋-单元，如 3-2 / write a stairwell as building-unit, "
                                             f"e.g. 3-2 (got {u!r})", 422)
        pairs.append({"building": building, "unit": unit})
    scope: dict = {}
    if split:
        scope["buildings"] = list(dict.fromkeys(split))
    if pairs:
        scope["units"] = [dict(t) for t in dict.fromkeys(tuple(p.items()) for p in pairs)]
    return scope


@router.post("/estates/{slug}/petitions")
async def publish_form(request: Request, slug: str) -> Response:
    async with request.form(max_files=MAX_FILES + 1, max_fields=20) as form:
        files = []
        for upload in form.getlist("attachments"):
            if isinstance(upload, UploadFile) and upload.filename:
                files.append(ps.Attachment(upload.filename, upload.content_type or "application/octet-stream",
                                           await upload.read(ps.MAX_FILE + 1)))
        return await run_in_threadpool(_publish_form, request, slug, form, files)


def _publish_form(request: Request, slug: str, form: FormData, files: list[ps.Attachment]) -> Response:
    security.check_csrf(request, form.get("csrf"))
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return RedirectResponse(f"/estates/{slug}/owner?next=/estates/{slug}/petitions/new", status_code=303)
    values = {k: str(form.get(k) or "") for k in ("title", "text", "matter", "buildings", "units")}
    if len(files) > MAX_FILES:
        return _draft_page(request, slug, values=values, status=422,
                           error=i18n.t(request, "At most %(n)s attachments", n=MAX_FILES))
    try:
        scope = _scope_from_form(values["buildings"], values["units"])
        with transaction(request.app.state.engine) as session:
            p, seq = ps.publish(session, slug, author=me.voter, title=values["title"].strip(),
                                text=values["text"].strip(), matter=values["matter"], scope=scope, attachments=files)
    except PetitionError as e:
        return _draft_page(request, slug, values=values, status=e.status if e.status >= 400 else 422,
                           error=_refusal(request, e))
    # owners have no staff session to carry a flash: the page says it from ?published=<its seq>
    return RedirectResponse(f"/estates/{slug}/petitions/{p.id}?published={seq}", status_code=303)


def _page(request: Request, slug: str, petition_id: str, *, error: str | None = None, status: int = 200,
          values: dict | None = None) -> Response:
    estate, book, rounds, reg = _book(request, slug)
    try:
        p = book.get(petition_id)
    except PetitionError as e:
        raise HTTPException(404, _refusal(request, e)) from None
    me = owner.owner_session(request)
    me = me if me is not None and me.estate == slug else None
    info = _for_page(request, detail(p))
    mine = None
    if me is not None:
        signed = me.voter in p.signers
        mine = {"voter": me.voter, "eligible": me.voter in p.weights, "signed": signed,
                "key": reg.key_of(me.voter),
                "can_sign": me.voter in p.weights and not signed and p.response is None,
                "can_withdraw": signed and p.line is None and p.response is None}
    data = None
    if mine is not None and mine["key"] and (mine["can_sign"] or mine["can_withdraw"]):
        data = {"slug": slug, "origin": estate.origin, "me": me.voter, "key": mine["key"], "petition": p.id,
                "hash": p.hash, "url": f"/api/v1/estates/{slug}/petitions/{p.id}/signatures",
                "page": f"/estates/{slug}/petitions/{p.id}",
                "messages": {"code_mismatch": i18n.t(request, "This code does not give the credential registered "
                                                              "for you: check it against your letter"),
                             "signed": i18n.t(request, "Your signature is recorded."),
                             "withdrawn": i18n.t(request, "Your signature is withdrawn.")},
                "refusals": {"network": i18n.t(request, "No connection: nothing was recorded; try again."),
                             "unknown": i18n.t(request, "The server refused the signature; nothing was recorded.")}}
    staff = visitor(request).staff is not None
    flash = None if error else _flash(request)
    if flash is None and error is None and request.query_params.get("published") == str(p.seq):
        flash = i18n.t(request, "Your proposal is published (ledger entry %(seq)s).", seq=p.seq)
    return templates.TemplateResponse(request, "petition/page.html", {
        "estate": estate, "p": info, "mine": mine, "data": data, "flash": flash,
        "error": error, "staff": staff, "rounds": sorted(rounds), "values": values or {},
        "csrf": visitor(request).csrf, "line_pct": pt.LINE_NUM * 100 // pt.LINE_DEN}, status_code=status)


@router.get("/estates/{slug}/petitions/{petition_id}")
def petition_page(request: Request, slug: str, petition_id: str) -> Response:
    return _page(request, slug, petition_id)


@router.post("/estates/{slug}/petitions/{petition_id}/response")
async def response_form(request: Request, slug: str, petition_id: str) -> Response:
    async with request.form(max_files=0, max_fields=8) as form:
        return await run_in_threadpool(_response_form, request, slug, petition_id, form)


def _response_form(request: Request, slug: str, petition_id: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, "supervisor")
    values = {k: str(form.get(k) or "").strip() for k in ("kind", "round", "reason")}
    kind = values["kind"]
    if kind not in ("round", "refusal"):
        return _page(request, slug, petition_id, status=422, values=values,
                     error=i18n.t(request, "Choose the committee's response: a round, or a refusal with its reason"))
    try:
        with transaction(request.app.state.engine) as session:
            seq = ps.respond(session, slug, petition_id, kind=kind,
                             round_id=values["round"] if kind == "round" else None, reason=values["reason"])
    except PetitionError as e:
        return _page(request, slug, petition_id, status=e.status if e.status >= 400 else 409, values=values,
                     error=_refusal(request, e))
    with transaction(request.app.state.engine) as session:
        sessions.set_flash(session, visitor(request).token,
                           i18n.t(request, "The committee's response is recorded (ledger entry %(seq)s).", seq=seq))
    return RedirectResponse(f"/estates/{slug}/petitions/{petition_id}", status_code=303)


@router.get("/estates/{slug}/petitions/{petition_id}/files/{sha256}")
def attachment(request: Request, slug: str, petition_id: str, sha256: str) -> Response:
    _, book, _, _ = _book(request, slug)
    try:
        p = book.get(petition_id)
    except PetitionError as e:
        raise HTTPException(404, _refusal(request, e)) from None
    if sha256 not in {a["sha256"] for a in p.body["attachments"]}:
        raise HTTPException(404, i18n.t(request, "This proposal has no such attachment"))
    with reading(request.app.state.engine) as session:
        row = ps.attachment(session, slug, sha256)
        if row is None:
            raise HTTPException(404, i18n.t(request, "This proposal has no such attachment"))
        data, media = bytes(row.data), row.media_type
    name = next(a["name"] for a in p.body["attachments"] if a["sha256"] == sha256)
    # never rendered inline as a page of this site: a download, sniffing off (SecurityHeaders)
    return Response(data, media_type=media if media in ("application/pdf", "image/png", "image/jpeg")
                    else "application/octet-stream",
                    headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
                             "cache-control": "public, max-age=3600"})


# --- JSON API ---------------------------------------------------------------------------------


class Refusal(BaseModel):
    code: str = Field(description="stable code: no_estate, no_petition, not_eligible, bad_signature, already_signed, "
                                  "not_signed, line_reached, answered, wrong_voter, no_session, bad_request, "
                                  "bad_scope, no_roll")
    message: str = Field(description="中文 / English")


class RefusalBody(BaseModel):
    detail: Refusal


class SignatureRequest(BaseModel):
    type: Literal["petition.sign", "petition.withdraw"]
    voter: str = Field(description="the signing owner's pseudonym (the session's)")
    key: str = Field(description="the owner's credential public key (64 hex)")
    sig: str = Field(description="Ed25519 signature of the SPEC §9.2 statement (128 hex)")


class PublishRequest(BaseModel):
    title: str = Field(description="1–200 characters")
    text: str = Field(description="1–20000 characters")
    matter: str = Field(description="the matter kind the proposal would need (SPEC §5.3)")
    scope: dict = Field(default_factory=dict, description="{} (whole estate) or {buildings, units}")


ERRORS = {401: {"model": RefusalBody, "description": "no_session"},
          403: {"model": RefusalBody, "description": "not_eligible, wrong_voter"},
          404: {"model": RefusalBody, "description": "no_estate, no_petition"},
          409: {"model": RefusalBody, "description": "already_signed, not_signed, line_reached, answered"},
          415: {"model": RefusalBody, "description": "not application/json"},
          422: {"model": RefusalBody, "description": "bad_request, bad_signature, bad_scope"}}


def _refuse(e: PetitionError) -> JSONResponse:
    return JSONResponse({"detail": {"code": e.code, "message": e.message}}, status_code=e.status)


def _json_only(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})


def _api_book(request: Request, slug: str) -> pt.Book:
    with reading(request.app.state.engine) as session:
        try:
            return ps.book(session, slug)
        except PetitionError as e:
            raise HTTPException(e.status, {"code": e.code, "message": e.message}) from None


@api.get("/estates/{slug}/petitions", summary="Owners' proposals with their live support (SPEC §9)",
         responses={404: ERRORS[404]})
def api_list(request: Request, slug: str) -> list[dict]:
    return [summary(p) for p in _api_book(request, slug).petitions.values()]


@api.get("/estates/{slug}/petitions/{petition_id}", summary="One proposal: text, support, signers, line, response",
         responses={404: ERRORS[404]})
def api_detail(request: Request, slug: str, petition_id: str) -> dict:
    try:
        return detail(_api_book(request, slug).get(petition_id))
    except PetitionError as e:
        raise HTTPException(e.status, {"code": e.code, "message": e.message}) from None


@api.post("/estates/{slug}/petitions", status_code=201, responses=ERRORS,
          summary="Publish a proposal (owner session; attachments only through the page's form)")
def api_publish(request: Request, slug: str, body: PublishRequest):
    _json_only(request)
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return _refuse(PetitionError("no_session", "请先以业主身份登录 / sign in as an owner first", 401))
    try:
        with transaction(request.app.state.engine) as session:
            p, seq = ps.publish(session, slug, author=me.voter, title=body.title, text=body.text, matter=body.matter,
                                scope=body.scope, attachments=[])
    except PetitionError as e:
        return _refuse(e)
    return JSONResponse({**detail(p), "seq": seq}, status_code=201)


@api.post("/estates/{slug}/petitions/{petition_id}/signatures", status_code=201, responses=ERRORS,
          summary="Co-sign or withdraw a co-signature (owner-signed in the browser, SPEC §9.2)")
def api_sign(request: Request, slug: str, petition_id: str, body: SignatureRequest):
    _json_only(request)
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return _refuse(PetitionError("no_session", "请先以业主身份登录 / sign in as an owner first", 401))
    try:
        with transaction(request.app.state.engine) as session:
            receipt = ps.record_signed(session, slug, body.type, petition_id, voter=body.voter, key=body.key,
                                       sig=body.sig, by_voter=me.voter)
    except PetitionError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)


# --- notices (web.notices) --------------------------------------------------------------------


def _notice_published(body: dict, seq: int, slug: str) -> notices.Notice:
    _ = notices.gettext
    heads = body["totals"]["heads"]
    return notices.Notice(
        title=_("Owners' proposal %(id)s: %(title)s", id=body["petition"], title=body["title"]),
        lines=[_("An owner has published a proposal for the owners' assembly: %(title)s.", title=body["title"]),
               _("Matter: %(matter)s. Scope: %(scope)s.", matter=MATTER_NAMES.get(body["matter"], "").split(" / ")[0],
                 scope=_scope_name(body["scope"])),
               _("When %(n)s of the %(heads)s owners in scope (20%% by heads) co-sign it, the owners' committee must "
                 "convene a temporary assembly (物业管理条例 Art. 13).", n=pt.signers_needed(heads), heads=heads),
               _("Owners co-sign on the proposal's page with their credential; the proposal's hash is %(hash)s.",
                 hash=body["hash"])],
        url=f"/estates/{slug}/petitions/{body['petition']}")


def _notice_line(body: dict, seq: int, slug: str) -> notices.Notice:
    _ = notices.gettext
    return notices.Notice(
        title=_("Proposal %(id)s has reached 20%% of the owners", id=body["petition"]),
        lines=[_("%(heads)s owners (%(area)s m²) have co-signed proposal %(id)s: the statutory line of 20%% of the "
                 "owners in scope by heads is reached.", heads=body["support"]["heads"],
                 area=format_area_grouped(body["support"]["area"]), id=body["petition"]),
               _("Reached on %(date)s. The owners' committee must convene a temporary assembly or answer with its "
                 "reasons by %(deadline)s.", date=body["date"], deadline=body["deadline"]),
               _("Signatures can no longer be withdrawn.")],
        url=f"/estates/{slug}/petitions/{body['petition']}")


def _notice_response(body: dict, seq: int, slug: str) -> notices.Notice:
    _ = notices.gettext
    if body["kind"] == "round":
        lines = [_("The owners' committee has announced round %(round)s from proposal %(id)s.",
                   round=body["round"], id=body["petition"])]
        url = f"/estates/{slug}/rounds/{body['round']}"
    else:
        lines = [_("The owners' committee declines to convene an assembly on proposal %(id)s.", id=body["petition"])]
        url = f"/estates/{slug}/petitions/{body['petition']}"
    if body["reason"]:
        lines.append(_("Reasons: %(reason)s", reason=body["reason"]))
    return notices.Notice(title=_("The committee's response to proposal %(id)s", id=body["petition"]), lines=lines,
                          url=url)


notices.register(pt.PETITION, _notice_published)
notices.register(pt.LINE, _notice_line)
notices.register(pt.RESPONSE, _notice_response)
