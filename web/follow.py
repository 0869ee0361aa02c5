"""Follow-through on the web (SPEC §11): the decision's page, the staff forms and the JSON API.

- ``GET /estates/<slug>/decisions`` — every passed decision of a published result and its record;
  ``GET /estates/<slug>/decisions/<round>/<item>`` — the decision's page: the outcome, the
  responsible party, milestones, status updates with their documents, spending against the
  approved amount (exact 0.01 yuan, an overrun marked with its reason), completion and the
  owners' rating consultations.  ``GET /estates/<slug>/follow/<id>`` leads there;
  ``GET /estates/<slug>/follow/docs/<sha256>`` serves a document (checked against its hash).
- Staff (estate role ``supervisor``): ``/estates/<slug>/staff/follow`` (open a record for a passed
  decision), ``/estates/<slug>/staff/follow/<id>`` (update, spend, complete, ask owners to rate).
- API (tag ``follow-through``): the records, one record.
- Notices (``web.notices``): a record opened, a status update, a payment, the completion.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from voting import follow as fw
from voting import follow_store as fs
from voting.consultation import ConsultError
from voting.follow import FollowError
from web import i18n, notices, security
from web.consultations import _flash, _redirect, _staff
from web.roll_pages import one_language
from web.templating import templates

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["follow-through"])
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
STATUS_NAMES = {"started": "Started", "done": "Done", "delayed": "Delayed", "note": "Note"}


def _load(request: Request, slug: str):
    try:
        return fs.load(request.app.state.engine, slug)
    except (ConsultError, FollowError):
        raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug)) from None


def record_json(rec: fw.Record) -> dict:
    """A record as the API and the pages give it (amounts in 0.01 yuan, exact)."""
    return {"follow": rec.id, "seq": rec.seq, "decision": {"round": rec.round, "item": rec.item, "result": rec.result},
            "title": rec.title, "responsible": rec.responsible, "amount": rec.amount, "spent": rec.total,
            "overrun": rec.overrun, "status": rec.status(),
            "milestones": [{"id": m.id, "title": m.title, "due": m.due, "done": rec.done.get(m.id)}
                           for m in rec.milestones],
            "updates": [{"seq": s, "time": t, **{k: b[k] for k in ("milestone", "status", "text", "documents")}}
                        for s, t, b in rec.updates],
            "payments": [{"seq": s, "time": t, **{k: b[k] for k in ("amount", "payee", "purpose", "documents", "total",
                                                                    "overrun")}} for s, t, b in rec.spends],
            "complete": None if rec.complete is None else {"seq": rec.complete[0], "time": rec.complete[1],
                                                           **{k: rec.complete[2][k] for k in ("spent", "text",
                                                                                              "documents")}}}


def _ratings(request: Request, slug: str, follow_id: str) -> list:
    from voting import consultation_store as cstore

    _, book = cstore.load(request.app.state.engine, slug)
    return [c for c in book.consults.values() if c.follow == follow_id]


# --- public pages ----------------------------------------------------------------------------


@router.get("/estates/{slug}/decisions")
def decisions_page(request: Request, slug: str) -> Response:
    estate, book, decisions = _load(request, slug)
    return templates.TemplateResponse(request, "follow/decisions.html", {
        "estate": estate, "decisions": decisions, "records": book.records})


@router.get("/estates/{slug}/decisions/{round_id}/{item}")
def decision_page(request: Request, slug: str, round_id: str, item: str) -> Response:
    estate, book, decisions = _load(request, slug)
    d = next((x for x in decisions if x.round == round_id and x.item == item), None)
    if d is None:
        raise HTTPException(404, i18n.t(request, "No passed decision %(round)s/%(item)s", round=round_id, item=item))
    rec = book.records.get(d.follow) if d.follow else None
    return templates.TemplateResponse(request, "follow/decision.html", {
        "estate": estate, "d": d, "rec": rec, "r": record_json(rec) if rec else None,
        "ratings": _ratings(request, slug, rec.id) if rec else [], "yuan": fw.yuan,
        "status_names": {k: i18n.t(request, v) for k, v in STATUS_NAMES.items()}})


@router.get("/estates/{slug}/follow/{follow_id}")
def follow_page(request: Request, slug: str, follow_id: str) -> Response:
    _, book, _ = _load(request, slug)
    rec = book.records.get(follow_id)
    if rec is None:
        raise HTTPException(404, i18n.t(request, "No follow-through record %(id)s", id=follow_id))
    return RedirectResponse(f"/estates/{slug}/decisions/{rec.round}/{rec.item}", status_code=303)


@router.get("/estates/{slug}/follow/docs/{digest}")
def document(request: Request, slug: str, digest: str) -> Response:
    if not HEX64.match(digest):
        raise HTTPException(404)
    try:
        row = fs.document(request.app.state.engine, slug, digest)
    except ConsultError:
        row = None
    if row is None or row.data is None or hashlib.sha256(row.data).hexdigest() != digest:
        raise HTTPException(404, i18n.t(request, "No such document"))
    name = quote(row.name, safe="")  # RFC 6266 / RFC 5987: the document's name, percent-encoded
    return Response(bytes(row.data), media_type="application/octet-stream", headers={
        "content-disposition": f"attachment; filename=\"{digest[:16]}\"; filename*=UTF-8''{name}",
        "x-content-type-options": "nosniff"})


# --- staff pages ------------------------------------------------------------------------------


def _staff_list(request: Request, slug: str, *, error: str | None = None, values: dict | None = None,
                status: int = 200) -> Response:
    estate, book, decisions = _load(request, slug)
    return templates.TemplateResponse(request, "follow/staff_list.html", {
        "estate": estate, "decisions": decisions, "records": book.records, "error": error, "values": values or {},
        "flash": None if error else _flash(request)}, status_code=status)


@router.get("/estates/{slug}/staff/follow")
def staff_list(request: Request, slug: str) -> Response:
    return _staff(request, slug) or _staff_list(request, slug)


def parse_milestones(text: str) -> list[dict]:
    """One milestone a line: ``title|YYYY-MM-DD`` (ids m1, m2, … in order)."""
    out = []
    for n, line in enumerate((ln.strip() for ln in text.splitlines()), 1):
        if not line:
            continue
        parts = [p.strip() for p in re.split(r"[|｜]", line)]
        if len(parts) != 2:
            raise ValueError(f"第 {n} 行：写成“事项|日期” / line {n}: write title|YYYY-MM-DD")
        out.append({"id": f"m{len(out) + 1}", "title": parts[0], "due": parts[1]})
    return out


@router.post("/estates/{slug}/staff/follow")
async def staff_open(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        f = {k: str(form.get(k) or "") for k in ("csrf", "follow", "decision", "title", "responsible", "amount",
                                                 "milestones")}
    return await run_in_threadpool(_open, request, slug, f)


def _open(request: Request, slug: str, f: dict) -> Response:
    security.check_csrf(request, f.pop("csrf"))
    security.require_estate_role(request, slug, "supervisor")
    round_id, _, item = f["decision"].partition("/")
    try:
        amount = fw.parse_yuan(f["amount"]) if f["amount"].strip() else None
        milestones = parse_milestones(f["milestones"])
    except ValueError as e:
        return _staff_list(request, slug, error=one_language(request, str(e)), values=f, status=422)
    spec = fs.Opening(f["follow"].strip(), round_id, item, f["title"], f["responsible"], amount, milestones)
    try:
        receipt = fs.open_record(request.app.state.engine, slug, spec)
    except (FollowError, ConsultError) as e:
        return _staff_list(request, slug, error=one_language(request, e.message), values=f, status=e.status)
    return _redirect(request, f"/estates/{slug}/staff/follow/{spec.follow}",
                     i18n.t(request, "The follow-through record is opened (ledger entry %(seq)s).",
                            seq=receipt["seq"]))


def _staff_page(request: Request, slug: str, follow_id: str, *, error: str | None = None,
                status: int = 200) -> Response:
    estate, book, _ = _load(request, slug)
    rec = book.records.get(follow_id)
    if rec is None:
        raise HTTPException(404, i18n.t(request, "No follow-through record %(id)s", id=follow_id))
    return templates.TemplateResponse(request, "follow/staff_page.html", {
        "estate": estate, "rec": rec, "r": record_json(rec), "yuan": fw.yuan, "error": error,
        "ratings": _ratings(request, slug, rec.id),
        "status_names": {k: i18n.t(request, v) for k, v in STATUS_NAMES.items()},
        "flash": None if error else _flash(request)}, status_code=status)


@router.get("/estates/{slug}/staff/follow/{follow_id}")
def staff_page(request: Request, slug: str, follow_id: str) -> Response:
    return _staff(request, slug) or _staff_page(request, slug, follow_id)


@router.post("/estates/{slug}/staff/follow/{follow_id}/{action}")
async def staff_action(request: Request, slug: str, follow_id: str, action: str) -> Response:
    async with request.form(max_files=fw.MAX_DOCUMENTS, max_fields=12) as form:
        f = {k: str(form.get(k) or "") for k in ("csrf", "status", "milestone", "text", "amount", "payee",
                                                 "purpose", "overrun")}
        files = []
        for upload in form.getlist("documents"):
            if isinstance(upload, UploadFile) and upload.filename:
                files.append((upload.filename, await upload.read(fs.MAX_DOCUMENT + 1)))
    return await run_in_threadpool(_act, request, slug, follow_id, action, f, files)


def _act(request: Request, slug: str, follow_id: str, action: str, f: dict, files: list) -> Response:
    security.check_csrf(request, f["csrf"])
    security.require_estate_role(request, slug, "supervisor")
    engine = request.app.state.engine
    try:
        if action == "update":
            receipt = fs.update(engine, slug, follow_id, status=f["status"], milestone=f["milestone"] or None,
                                text=f["text"], files=files)
        elif action == "spend":
            try:
                amount = fw.parse_yuan(f["amount"])
            except ValueError as e:
                return _staff_page(request, slug, follow_id, error=one_language(request, str(e)), status=422)
            receipt = fs.spend(engine, slug, follow_id, amount=amount, payee=f["payee"], purpose=f["purpose"],
                               overrun_reason=f["overrun"].strip() or None, files=files)
        elif action == "complete":
            receipt = fs.complete(engine, slug, follow_id, text=f["text"], files=files)
        else:
            raise HTTPException(404)
    except (FollowError, ConsultError) as e:
        return _staff_page(request, slug, follow_id, error=one_language(request, e.message), status=e.status)
    return _redirect(request, f"/estates/{slug}/staff/follow/{follow_id}",
                     i18n.t(request, "Recorded (ledger entry %(seq)s).", seq=receipt["seq"]))


# --- the JSON API -----------------------------------------------------------------------------


@api.get("/estates/{slug}/follow", summary="Passed decisions and their follow-through records (public)")
def api_list(request: Request, slug: str) -> dict:
    _, book, decisions = _load(request, slug)
    return {"decisions": [{"round": d.round, "item": d.item, "title": d.title, "matter": d.matter,
                           "result": d.result, "follow": d.follow} for d in decisions],
            "records": [record_json(r) for r in book.records.values()]}


@api.get("/estates/{slug}/follow/{follow_id}", summary="One follow-through record (amounts in 0.01 yuan)")
def api_one(request: Request, slug: str, follow_id: str) -> dict:
    _, book, _ = _load(request, slug)
    rec = book.records.get(follow_id)
    if rec is None:
        raise HTTPException(404, {"code": "not_found", "message": f"没有落实记录 {follow_id} / no follow-through "
                                                                  f"record {follow_id}"})
    return record_json(rec)


# --- notices ----------------------------------------------------------------------------------


def _url(body: dict, slug: str) -> str:
    return f"/estates/{slug}/follow/{body.get('follow')}"


def _opened(body: dict, seq: int, slug: str) -> notices.Notice:
    d = body.get("decision", {})
    lines = [notices.gettext("Decision %(item)s of round %(round)s is carried out by: %(party)s.",
                             item=d.get("item"), round=d.get("round"), party=body.get("responsible"))]
    if body.get("amount") is not None:
        lines.append(notices.gettext("Approved amount: %(yuan)s yuan.", yuan=fw.yuan(body["amount"])))
    for m in body.get("milestones", []):
        lines.append(notices.gettext("Milestone: %(title)s, due %(due)s.", title=m.get("title"), due=m.get("due")))
    return notices.Notice(notices.gettext("Follow-through: %(title)s", title=body.get("title")), lines,
                          _url(body, slug))


def _updated(body: dict, seq: int, slug: str) -> notices.Notice:
    lines = [str(body.get("text", ""))]
    lines += [notices.gettext("Document: %(name)s (SHA-256 %(hash)s)", name=d.get("name"), hash=d.get("sha256"))
              for d in body.get("documents", [])]
    return notices.Notice(notices.gettext("Progress of follow-through record %(id)s", id=body.get("follow")), lines,
                          _url(body, slug))


def _spent(body: dict, seq: int, slug: str) -> notices.Notice:
    lines = [notices.gettext("Paid %(yuan)s yuan to %(payee)s for %(purpose)s; total so far %(total)s yuan.",
                             yuan=fw.yuan(body.get("amount", 0)), payee=body.get("payee"),
                             purpose=body.get("purpose"), total=fw.yuan(body.get("total", 0)))]
    if body.get("overrun"):
        lines.append(notices.gettext("Beyond the approved amount. Reason: %(reason)s",
                                     reason=body["overrun"].get("reason")))
    return notices.Notice(notices.gettext("Payment of follow-through record %(id)s", id=body.get("follow")), lines,
                          _url(body, slug))


def _completed(body: dict, seq: int, slug: str) -> notices.Notice:
    lines = [str(body.get("text", "")),
             notices.gettext("Spent in total: %(yuan)s yuan.", yuan=fw.yuan(body.get("spent", 0)))]
    return notices.Notice(notices.gettext("Follow-through record %(id)s is complete", id=body.get("follow")), lines,
                          _url(body, slug))


notices.register(fw.FOLLOW, _opened)
notices.register(fw.UPDATE, _updated)
notices.register(fw.SPEND, _spent)
notices.register(fw.COMPLETE, _completed)


# --- staff over the API (supervisor; JSON bodies; documents by name and SHA-256 of files uploaded on
# the staff page are not taken here: use the page to attach files) ------------------------------------


class MilestoneIn(BaseModel):
    id: str = Field(description="[a-z0-9][a-z0-9-]{0,31}")
    title: str
    due: str = Field(description="YYYY-MM-DD")


class OpeningIn(BaseModel):
    follow: str = Field(description="the record's id")
    round: str
    item: str = Field(description="an item whose outcome in the round's published result is passed")
    title: str
    responsible: str
    amount: int | None = Field(None, description="the approved amount in 0.01 yuan; null when nothing is spent")
    milestones: list[MilestoneIn] = Field(default_factory=list)


class UpdateIn(BaseModel):
    status: str = Field(description="started, done, delayed (with a milestone) or note")
    milestone: str | None = None
    text: str


class PaymentIn(BaseModel):
    amount: int = Field(description="0.01 yuan, > 0")
    payee: str
    purpose: str
    overrun: str | None = Field(None, description="the reason, when the total goes beyond the approved amount")


class CompletionIn(BaseModel):
    text: str


class FollowRefusal(BaseModel):
    code: str = Field(description="not_found, not_decided, not_passed, duplicate, complete, no_amount, overrun, "
                                  "bad_total, milestone_done, milestones_open, bad_request")
    message: str


class FollowRefusalBody(BaseModel):
    detail: FollowRefusal


FOLLOW_ERRORS = {c: {"model": FollowRefusalBody} for c in (401, 403, 404, 409, 415, 422)}


def _json_only(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})


async def _staff_call(request: Request, slug: str, fn, *args, **kw):
    _json_only(request)
    await run_in_threadpool(security.require_estate_role, request, slug, "supervisor")
    try:
        receipt = await run_in_threadpool(lambda: fn(request.app.state.engine, slug, *args, **kw))
    except (FollowError, ConsultError) as e:
        return JSONResponse({"detail": {"code": e.code, "message": e.message}}, status_code=e.status)
    return JSONResponse(receipt, status_code=201)


@api.post("/estates/{slug}/follow", status_code=201, summary="Open a follow-through record (supervisor)",
          responses=FOLLOW_ERRORS)
async def api_open(request: Request, slug: str, body: OpeningIn):
    spec = fs.Opening(body.follow, body.round, body.item, body.title, body.responsible, body.amount,
                      [m.model_dump() for m in body.milestones])
    return await _staff_call(request, slug, fs.open_record, spec)


@api.post("/estates/{slug}/follow/{follow_id}/updates", status_code=201, summary="Record progress (supervisor)",
          responses=FOLLOW_ERRORS)
async def api_update(request: Request, slug: str, follow_id: str, body: UpdateIn):
    return await _staff_call(request, slug, fs.update, follow_id, status=body.status, milestone=body.milestone,
                             text=body.text)


@api.post("/estates/{slug}/follow/{follow_id}/payments", status_code=201,
          summary="Record a payment against the approved amount (supervisor)", responses=FOLLOW_ERRORS)
async def api_spend(request: Request, slug: str, follow_id: str, body: PaymentIn):
    return await _staff_call(request, slug, fs.spend, follow_id, amount=body.amount, payee=body.payee,
                             purpose=body.purpose, overrun_reason=body.overrun)


@api.post("/estates/{slug}/follow/{follow_id}/completion", status_code=201,
          summary="Complete the record (supervisor; every milestone done)", responses=FOLLOW_ERRORS)
async def api_complete(request: Request, slug: str, follow_id: str, body: CompletionIn):
    return await _staff_call(request, slug, fs.complete, follow_id, text=body.text)
