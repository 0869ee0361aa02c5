"""Consultations on the web (SPEC §10): the owners' page, the staff pages and the JSON API.

- ``GET /estates/<slug>/consult`` — the estate's consultations; ``GET /estates/<slug>/consult/<id>``
  — the questions; while open, a signed-in owner answers there (``/static/owner/consult.js``
  signs the answers with the credential key derived in the browser and posts them); once
  counted, the distributions by heads and by area (exact integers) and the texts staff published.
- Staff (estate role ``supervisor``): ``/estates/<slug>/staff/consult`` (list, announce form),
  ``/estates/<slug>/staff/consult/<id>`` (moderation of free texts, close and count, erase a
  withheld text).  Every form carries the CSRF token; a refusal says why and writes nothing.
- API (OpenAPI, tag ``consultations``): list, one consultation with its results, an owner's
  response (owner session), the close (supervisor).
- Notices (``web.notices``): a consultation announced and a consultation counted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from voting import consultation as cs
from voting import consultation_store as store
from voting import follow as fw
from voting.consultation import ConsultError
from web import i18n, notices, owner, security, sessions
from web.roll_pages import one_language
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["consultations"])
BEIJING = timedelta(hours=8)
MAX_JSON = 16 * 1024
STATE_NAMES = {"announced": "Announced", "open": "Open for answers", "closed": "Closed, not yet counted",
               "counted": "Counted"}
REFUSALS = {
    "no_session": "Sign in as an owner of this estate first.",
    "not_open": "This consultation is not taking answers now.",
    "already_answered": "You have already answered this consultation.",
    "not_eligible": "You are not among the owners asked in this consultation.",
    "wrong_voter": "The credential code is not the signed-in owner's.",
    "bad_signature": "The signature did not verify: try again.",
    "unknown_credential": "Your credential is not registered or was revoked.",
    "bad_text": "The text could not be accepted: check it and try again.",
    "unknown": "The answer was not accepted.",
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _load(request: Request, slug: str):
    try:
        return store.load(request.app.state.engine, slug)
    except ConsultError:
        raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug)) from None


def _consult(request: Request, slug: str, consult_id: str):
    estate, book = _load(request, slug)
    c = book.consults.get(consult_id)
    if c is None:
        raise HTTPException(404, i18n.t(request, "There is no consultation %(id)s", id=consult_id))
    return estate, book, c


def results(c: cs.Consultation, texts: dict) -> dict:
    """The public results of a counted consultation: per question and answer the heads and the area
    (0.01 m²), the participation and the totals; the published texts with salt and commitment."""
    rows = []
    for q, counted in zip(c.questions, c.close["counts"], strict=True):
        labels = list(q.options)
        rows.append({"id": q.id, "kind": q.kind, "text": q.text,
                     "answers": [{"answer": labels[i], "heads": counted["heads"][i], "area": counted["area"][i]}
                                 for i in range(q.size)],
                     "skipped": {"heads": c.close["participation"]["heads"] - sum(counted["heads"]),
                                 "area": c.close["participation"]["area"] - sum(counted["area"])}})
    published = []
    for seq in c.published():
        row = texts.get(seq)
        published.append({"response": seq, "commitment": c.texts[seq],
                          "text": row.text if row is not None else None, "salt": row.salt if row is not None else None})
    return {"close": c.close_seq, "participation": c.close["participation"],
            "totals": {"heads": c.totals[0], "area": c.totals[1]}, "questions": rows, "texts": published}


def describe(c: cs.Consultation, now: datetime) -> dict:
    return {"consult": c.id, "seq": c.seq, "title": c.title, "state": c.state(now), "anonymous": c.anonymous,
            "free_text": c.free_text, "follow": c.follow, "opens": c.opens, "closes": c.closes,
            "announcement": c.hash, "questions": [q.to_json() for q in c.questions],
            "totals": {"heads": c.totals[0], "area": c.totals[1]}, "responses": len(c.responses)}


# --- owners' pages ---------------------------------------------------------------------------


@router.get("/estates/{slug}/consult")
def consult_list(request: Request, slug: str) -> Response:
    estate, book = _load(request, slug)
    now = _now()
    items = [(c, i18n.t(request, STATE_NAMES[c.state(now)])) for c in reversed(list(book.consults.values()))]
    return templates.TemplateResponse(request, "consult/list.html", {"estate": estate, "items": items})


@router.get("/estates/{slug}/consult/{consult_id}")
def consult_page(request: Request, slug: str, consult_id: str) -> Response:
    estate, book, c = _consult(request, slug, consult_id)
    now = _now()
    state = c.state(now)
    me = owner.owner_session(request)
    me = me if me is not None and me.estate == slug else None
    answered = c.responses.get(me.voter) if me is not None else None
    data = None
    if state == "open" and me is not None and answered is None and me.voter in c.voters:
        data = {"slug": slug, "origin": estate.origin, "consult": c.id, "hash": c.hash,
                "key": book.registry.key_of(me.voter), "free_text": c.free_text,
                "questions": [{"id": q.id, "kind": q.kind} for q in c.questions],
                "url": f"/api/v1/estates/{slug}/consultations/{c.id}/responses",
                "refusals": {k: i18n.t(request, v) for k, v in REFUSALS.items()},
                "messages": {"code_mismatch": i18n.t(request, "This code is not the one registered for you."),
                             "done": i18n.t(request, "Thank you. Your answer is in the public record "
                                                     "(entry %(seq)s)."),
                             "code_needed": i18n.t(request, "Type the credential code from your letter.")}}
    res = results(c, store.texts(request.app.state.engine, estate.log_id, c.published())) if c.close else None
    return templates.TemplateResponse(request, "consult/page.html", {
        "estate": estate, "c": c, "state": state, "state_name": i18n.t(request, STATE_NAMES[state]), "me": me,
        "answered": answered, "data": data, "results": res, "eligible": me is not None and me.voter in c.voters,
        "opens": _utc(c.opens), "closes": _utc(c.closes)})


def _utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --- staff pages ------------------------------------------------------------------------------


def _staff(request: Request, slug: str) -> Response | None:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, "supervisor")
    return None


def _flash(request: Request) -> str | None:
    if not visitor(request).token:
        return None
    from ledger.db import transaction

    with transaction(request.app.state.engine) as s:
        return sessions.pop_flash(s, visitor(request).token)


def _redirect(request: Request, url: str, text: str) -> Response:
    from ledger.db import transaction

    with transaction(request.app.state.engine) as s:
        sessions.set_flash(s, visitor(request).token, text)
    return RedirectResponse(url, status_code=303)


def _staff_list(request: Request, slug: str, *, error: str | None = None, values: dict | None = None,
                status: int = 200) -> Response:
    estate, book = _load(request, slug)
    now = _now()
    complete = [r for r in book.follows.records.values() if r.complete is not None]
    start = (now + BEIJING).strftime("%Y-%m-%dT%H:%M")
    end = (now + BEIJING + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")
    v = {"opens": start, "closes": end, "follow": request.query_params.get("follow", ""), "free_text": "1",
         "anonymous": "1", **(values or {})}
    items = [(c, i18n.t(request, STATE_NAMES[c.state(now)])) for c in reversed(list(book.consults.values()))]
    return templates.TemplateResponse(request, "consult/staff_list.html", {
        "estate": estate, "items": items, "complete": complete, "values": v, "error": error,
        "flash": None if error else _flash(request)}, status_code=status)


@router.get("/estates/{slug}/staff/consult")
def staff_list(request: Request, slug: str) -> Response:
    return _staff(request, slug) or _staff_list(request, slug)


def parse_questions_text(text: str) -> list[dict]:
    """One question a line: ``rating|text`` or ``choice|text|option|option…`` (评分 / 单选 accepted)."""
    out = []
    for n, line in enumerate((ln.strip() for ln in text.splitlines()), 1):
        if not line:
            continue
        parts = [p.strip() for p in re.split(r"[|｜]", line)]
        kind = {"评分": "rating", "单选": "choice"}.get(parts[0], parts[0].lower())
        q = {"id": f"q{len(out) + 1}", "kind": kind, "text": parts[1] if len(parts) > 1 else ""}
        if kind == "choice":
            q["options"] = parts[2:]
        elif kind != "rating" or len(parts) != 2:
            raise ValueError(f"第 {n} 行：写成“评分|问题”或“单选|问题|选项|选项…” / line {n}: write rating|question "
                             "or choice|question|option|option…")
        out.append(q)
    return out


def beijing_input(text: str) -> datetime:
    """A ``datetime-local`` value in Beijing time → UTC."""
    return (datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M") - BEIJING).replace(tzinfo=UTC)


@router.post("/estates/{slug}/staff/consult")
async def staff_announce(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=12) as form:
        return await run_in_threadpool(_announce, request, slug, {k: str(form.get(k) or "") for k in (
            "csrf", "consult", "title", "questions", "free_text", "anonymous", "opens", "closes", "follow")})


def _announce(request: Request, slug: str, f: dict) -> Response:
    security.check_csrf(request, f.pop("csrf"))
    security.require_estate_role(request, slug, "supervisor")
    try:
        questions = parse_questions_text(f["questions"])
        opens, closes = beijing_input(f["opens"]), beijing_input(f["closes"])
    except ValueError as e:
        msg = str(e) if " / " in str(e) else i18n.t(request, "Give the times as date and time (Beijing time).")
        return _staff_list(request, slug, error=one_language(request, msg), values=f, status=422)
    spec = store.Spec(f["consult"].strip(), f["title"], questions, f["free_text"] == "1", f["anonymous"] == "1",
                      opens, closes, f["follow"] or None)
    try:
        receipt = store.announce(request.app.state.engine, slug, spec)
    except ConsultError as e:
        return _staff_list(request, slug, error=one_language(request, e.message), values=f, status=e.status)
    return _redirect(request, f"/estates/{slug}/staff/consult/{spec.consult}",
                     i18n.t(request, "The consultation is announced (ledger entry %(seq)s).", seq=receipt["seq"]))


def _staff_page(request: Request, slug: str, consult_id: str, *, error: str | None = None,
                status: int = 200) -> Response:
    estate, _, c = _consult(request, slug, consult_id)
    rows = store.texts(request.app.state.engine, estate.log_id, sorted(c.texts))
    pending = [(seq, rows.get(seq)) for seq in sorted(c.texts) if seq not in c.moderation]
    decided = [(seq, rows.get(seq), c.moderation[seq]) for seq in sorted(c.moderation)]
    state = c.state(_now())
    res = results(c, rows) if c.close else None
    return templates.TemplateResponse(request, "consult/staff_page.html", {
        "estate": estate, "c": c, "state": state, "state_name": i18n.t(request, STATE_NAMES[state]),
        "pending": pending, "decided": decided, "results": res, "error": error,
        "flash": None if error else _flash(request)}, status_code=status)


@router.get("/estates/{slug}/staff/consult/{consult_id}")
def staff_page(request: Request, slug: str, consult_id: str) -> Response:
    return _staff(request, slug) or _staff_page(request, slug, consult_id)


@router.post("/estates/{slug}/staff/consult/{consult_id}/{action}")
async def staff_action(request: Request, slug: str, consult_id: str, action: str) -> Response:
    async with request.form(max_files=0, max_fields=6) as form:
        fields = {k: str(form.get(k) or "") for k in ("csrf", "response", "decision", "reason")}
    return await run_in_threadpool(_act, request, slug, consult_id, action, fields)


def _act(request: Request, slug: str, consult_id: str, action: str, f: dict) -> Response:
    security.check_csrf(request, f["csrf"])
    security.require_estate_role(request, slug, "supervisor")
    engine = request.app.state.engine
    here = f"/estates/{slug}/staff/consult/{consult_id}"
    try:
        if action == "close":
            receipt = store.close(engine, slug, consult_id)
            return _redirect(request, here, i18n.t(request, "Counted (ledger entry %(seq)s).", seq=receipt["seq"]))
        if not f["response"].isdigit():
            raise HTTPException(404)
        seq = int(f["response"])
        if action == "moderate":
            if f["decision"] not in cs.DECISIONS:
                return _staff_page(request, slug, consult_id, status=422,
                                   error=i18n.t(request, "Choose to publish or to withhold the text."))
            receipt = store.moderate(engine, slug, consult_id, seq, f["decision"], f["reason"].strip() or None)
            return _redirect(request, here, i18n.t(request, "Recorded (ledger entry %(seq)s).", seq=receipt["seq"]))
        if action == "erase":
            store.erase_text(engine, slug, seq)
            return _redirect(request, here, i18n.t(request, "The text is erased; the ledger keeps its hash."))
    except ConsultError as e:
        return _staff_page(request, slug, consult_id, error=one_language(request, e.message), status=e.status)
    raise HTTPException(404)


# --- the JSON API -----------------------------------------------------------------------------


class Refusal(BaseModel):
    code: str = Field(description="not_found, not_open, already_answered, not_eligible, wrong_voter, bad_signature, "
                                  "unknown_credential, bad_text, bad_response, bad_request, no_session, window_open, "
                                  "already_closed")
    message: str = Field(description="中文 / English")


class RefusalBody(BaseModel):
    detail: Refusal


RESPONSE_SCHEMA = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["statement", "key", "sig"], "additionalProperties": False,
    "properties": {
        "statement": {"type": "object", "description": "{v: 1, type: consult.response, consult: <announcement leaf "
                                                       "hash>, answers: [int|null …], text: <commitment>|null} "
                                                       "(SPEC §10.2)"},
        "key": {"type": "string", "description": "the owner's credential key, 64 hex"},
        "sig": {"type": "string", "description": "Ed25519 over gongjue/v1/consult.response ‖ 0x00 ‖ JCS(statement)"},
        "text": {"type": "string", "description": "the free text (NFC, 1–1000 characters), kept beside the ledger"},
        "salt": {"type": "string", "description": "32 hex: the commitment's salt"}}}}}}


def _refuse(e: ConsultError) -> JSONResponse:
    return JSONResponse({"detail": {"code": e.code, "message": e.message}}, status_code=e.status)


def _api_load(request: Request, slug: str):
    try:
        return store.load(request.app.state.engine, slug)
    except ConsultError as e:
        raise HTTPException(404, {"code": e.code, "message": e.message}) from None


@api.get("/estates/{slug}/consultations", summary="The estate's consultations (public)",
         responses={404: {"model": RefusalBody}})
def api_list(request: Request, slug: str) -> dict:
    _, book = _api_load(request, slug)
    now = _now()
    return {"consultations": [describe(c, now) for c in book.consults.values()]}


@api.get("/estates/{slug}/consultations/{consult_id}",
         summary="One consultation; once counted, its distributions by heads and area and the published texts",
         responses={404: {"model": RefusalBody}})
def api_one(request: Request, slug: str, consult_id: str) -> dict:
    estate, book = _api_load(request, slug)
    c = book.consults.get(consult_id)
    if c is None:
        raise HTTPException(404, {"code": "not_found", "message": f"没有意见征集 {consult_id} / no consultation "
                                                                  f"{consult_id}"})
    out = describe(c, _now())
    out["results"] = results(c, store.texts(request.app.state.engine, estate.log_id, c.published())) if c.close else None
    return out


@api.post("/estates/{slug}/consultations/{consult_id}/responses", status_code=201,
          summary="An owner's signed answers (owner session)", openapi_extra={"requestBody": RESPONSE_SCHEMA},
          responses={401: {"model": RefusalBody}, 403: {"model": RefusalBody}, 404: {"model": RefusalBody},
                     409: {"model": RefusalBody}, 413: {"model": RefusalBody}, 415: {"model": RefusalBody},
                     422: {"model": RefusalBody}})
async def api_respond(request: Request, slug: str, consult_id: str):
    me = await run_in_threadpool(owner.owner_session, request)
    if me is None or me.estate != slug:
        return _refuse(ConsultError("no_session", "请先以业主身份登录 / sign in as an owner of this estate", 401))
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return _refuse(ConsultError("bad_request", "请以 application/json 发送 / send application/json", 415))
    raw = await request.body()
    if len(raw) > MAX_JSON:
        return _refuse(ConsultError("bad_request", "内容太大 / too large", 413))
    try:
        payload = json.loads(raw)
    except ValueError:
        return _refuse(ConsultError("bad_request", "不是 JSON / not JSON"))
    try:
        receipt = await run_in_threadpool(store.respond, request.app.state.engine, slug, consult_id, payload,
                                          voter=me.voter, factor=me.factor)
    except ConsultError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)


@api.post("/estates/{slug}/consultations/{consult_id}/close", status_code=201,
          summary="Close and count a consultation after its window (supervisor)",
          responses={404: {"model": RefusalBody}, 409: {"model": RefusalBody}})
async def api_close(request: Request, slug: str, consult_id: str):
    await run_in_threadpool(security.require_estate_role, request, slug, "supervisor")
    try:
        receipt = await run_in_threadpool(store.close, request.app.state.engine, slug, consult_id)
    except ConsultError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)


# --- notices (web.notices, G1's contract) -----------------------------------------------------


def _announced(body: dict, seq: int, slug: str) -> notices.Notice:
    w = body.get("window", {})
    lines = [notices.gettext("Owners are asked for their opinion: %(n)s question(s). The result does not decide "
                             "anything; it is published by heads and by area.", n=len(body.get("questions", []))),
             notices.gettext("Answers from %(opens)s to %(closes)s (Beijing time).",
                             opens=_bj(w.get("opens")), closes=_bj(w.get("closes")))]
    if body.get("anonymous"):
        lines.append(notices.gettext("Anonymous: pages show only totals; the public record links answers to voter "
                                     "numbers, never to names or flats."))
    if body.get("follow"):
        lines.append(notices.gettext("It rates the work recorded in follow-through record %(id)s.", id=body["follow"]))
    return notices.Notice(notices.gettext("Consultation: %(title)s", title=body.get("title", "")), lines,
                          f"/estates/{slug}/consult/{body.get('consult')}")


def _counted(body: dict, seq: int, slug: str) -> notices.Notice:
    p = body.get("participation", {})
    lines = [notices.gettext("%(heads)s owner(s) answered, with %(area)s m² of floor area.", heads=p.get("heads", 0),
                             area=fw.yuan(p.get("area", 0)))]
    return notices.Notice(notices.gettext("Consultation %(id)s: results", id=body.get("consult")), lines,
                          f"/estates/{slug}/consult/{body.get('consult')}")


def _bj(stamp: object) -> str:
    try:
        return i18n.beijing(_utc(str(stamp)), "zh")
    except ValueError:
        return str(stamp)


notices.register(cs.CONSULT, _announced)
notices.register(cs.CLOSE, _counted)


# --- staff over the API (supervisor; a JSON body, which a cross-site form cannot send) -------------


class QuestionIn(BaseModel):
    id: str = Field(description="[a-z0-9][a-z0-9-]{0,31}")
    kind: str = Field(description="choice or rating")
    text: str
    options: list[str] | None = Field(None, description="choice only: 2–12 options")


class ConsultIn(BaseModel):
    consult: str = Field(description="the id, [a-z0-9][a-z0-9-]{0,62}")
    title: str
    questions: list[QuestionIn]
    free_text: bool = False
    anonymous: bool = True
    opens: datetime = Field(description="UTC (RFC 3339); a time in the past means now")
    closes: datetime
    follow: str | None = Field(None, description="a completed follow-through record this consultation rates")


class ModerationIn(BaseModel):
    response: int = Field(description="the seq of the consult.response entry")
    decision: str = Field(description="publish or withhold")
    reason: str | None = Field(None, description="withhold: the public reason")


STAFF_ERRORS = {401: {"model": RefusalBody}, 403: {"model": RefusalBody}, 404: {"model": RefusalBody},
                409: {"model": RefusalBody}, 415: {"model": RefusalBody}, 422: {"model": RefusalBody}}


def _json_only(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})


@api.post("/estates/{slug}/consultations", status_code=201, summary="Announce a consultation (supervisor)",
          responses=STAFF_ERRORS)
async def api_announce(request: Request, slug: str, body: ConsultIn):
    _json_only(request)
    await run_in_threadpool(security.require_estate_role, request, slug, "supervisor")
    questions = [{k: v for k, v in q.model_dump().items() if v is not None or k != "options"} for q in body.questions]
    spec = store.Spec(body.consult, body.title, questions, body.free_text, body.anonymous,
                      _aware(body.opens), _aware(body.closes), body.follow)
    try:
        receipt = await run_in_threadpool(store.announce, request.app.state.engine, slug, spec)
    except ConsultError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@api.post("/estates/{slug}/consultations/{consult_id}/moderation", status_code=201,
          summary="Publish or withhold a response's free text (supervisor)", responses=STAFF_ERRORS)
async def api_moderate(request: Request, slug: str, consult_id: str, body: ModerationIn):
    _json_only(request)
    await run_in_threadpool(security.require_estate_role, request, slug, "supervisor")
    if body.decision not in cs.DECISIONS:
        return _refuse(ConsultError("bad_request", "decision 须为 publish 或 withhold / decision: publish or withhold"))
    try:
        receipt = await run_in_threadpool(store.moderate, request.app.state.engine, slug, consult_id, body.response,
                                          body.decision, body.reason)
    except ConsultError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)
