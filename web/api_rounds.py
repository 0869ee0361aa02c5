"""Rounds over the JSON API: drafts, announcement, extension, candidates, and the public view.

Supervisor actions (``web.security.require_estate_role(request, slug, "supervisor")``):

- ``POST /api/v1/estates/{slug}/rounds`` — a new draft from the round spec
  (``voting.rounds.check_spec``); database only.
- ``PUT /api/v1/estates/{slug}/rounds/{id}`` — replace a draft's spec (refused after the notice).
- ``POST /api/v1/estates/{slug}/rounds/{id}/announce`` — append the ``round`` entry (SPEC §7.1).
- ``POST /api/v1/estates/{slug}/rounds/{id}/extend`` — append ``round.extend`` (SPEC §7.6).
- ``POST /api/v1/estates/{slug}/rounds/{id}/candidates`` — record a nomination (SPEC §7.7).
- ``POST /api/v1/estates/{slug}/rounds/{id}/candidates/vet`` — record a nomination's vetting.
- ``POST /api/v1/estates/{slug}/rounds/{id}/trustees`` — one trustee's n-of-n public key into a
  secret draft (a scrutineer of the estate, or a supervisor).

Public (``ledger.db.reading``; no personal data — pseudonyms, weights and statements only):

- ``GET /api/v1/estates/{slug}/rounds`` — the announced rounds (and drafts for the estate's
  supervisors);
- ``GET /api/v1/estates/{slug}/rounds/{id}`` — one round as its entries state it, with the
  candidates' statements (their hashes are in the ledger).

Refusals are ``{"detail": {"code", "message"}}`` with the stable codes of
``voting.rounds.RoundError``; nothing is written then.  POST and PUT bodies must be
``application/json`` (a cross-site form cannot send that without the browser asking first).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.db import reading, transaction
from voting import candidates as cands
from voting import rounds
from voting.lifecycle import LifecycleError, format_time, parse_time
from web import security

router = APIRouter(prefix="/api/v1", tags=["rounds"])

CODES = ("bad_spec", "bad_trustees", "round_exists", "no_estate", "no_such_round", "agenda_locked",
         "already_announced", "opens_in_past", "notice_too_short", "no_trustees", "no_roll", "bad_scope",
         "roll_tampered", "not_announced", "round_closed", "not_later", "no_reason", "candidates_too_late",
         "candidates_not_vetted", "candidates_mismatch", "bad_nomination", "not_enough_signatures",
         "bad_signature", "not_eligible", "revoked_credential", "duplicate_signer", "candidate_exists",
         "no_such_candidate", "not_json")


class Refusal(BaseModel):
    code: str = Field(description="stable error code: " + ", ".join(CODES))
    message: str = Field(description="中文 / English")


class RefusalBody(BaseModel):
    detail: Refusal


ERRORS = {401: {"description": "not signed in"},
          403: {"description": "the supervisor role in this estate is missing"},
          404: {"model": RefusalBody, "description": "no such estate, round or candidate"},
          409: {"model": RefusalBody, "description": "refused in the round's state (e.g. agenda_locked, "
                                                     "notice_too_short, round_closed, not_later)"},
          415: {"model": RefusalBody, "description": "the body is not application/json"},
          422: {"model": RefusalBody, "description": "refused input (bad_spec, bad_nomination, …)"}}
PUBLIC_ERRORS = {404: ERRORS[404]}


class RoundSpec(BaseModel):
    """The round spec of a draft (``voting.rounds.check_spec``); every member is checked there."""

    model_config = ConfigDict(extra="allow")
    round: Any = Field(description="round id, [a-z0-9][a-z0-9-]{0,62}")
    agenda: Any = Field(description="AGENDA.json (SPEC §5.4): rules, scope, items")
    opens: Any = Field(description="voting opens, UTC, e.g. 2026-12-17T02:00:00Z")
    closes: Any = Field(description="voting closes, UTC")
    secrecy: Any = Field(None, description="secret (default) | open")
    form: Any = Field(None, description="written (default) | meeting")
    short_notice_reason: Any = Field(None, description="required when the notice is under 15 days")
    attachments: Any = Field(None, description="[{name, sha256}] of the notice's documents")
    trustees: Any = Field(None, description="secret rounds: {threshold: null, keys: [...]} or {threshold: k, "
                                            "dealers: [...]} (SPEC §7.1), context <origin>/<round id>")
    policies: Any = Field(None, description="{duplicate: first|electronic, revote: bool, proxy_cap: int|null, "
                                            "deemed_consent: bool, objection_days: int}")
    cosigners: Any = Field(None, description="owners needed to co-sign a nomination (default 5)")


class Announce(BaseModel):
    """An empty object: the announcement takes everything from the draft and the ledger."""

    model_config = ConfigDict(extra="forbid")


class Extension(BaseModel):
    closes: str = Field(description="the new close, UTC (later than the current one)")
    reason: str = Field(description="why, 1–500 characters, public")


class Nomination(BaseModel):
    item: str
    candidate: str = Field(description="the name on the ballot, 1–64 characters")
    nominated_by: Literal["organiser", "owners", "self"]
    statement: str = Field("", description="the candidate's statement (its SHA-256 goes into the ledger)")
    signatures: list[dict] = Field(default_factory=list,
                                   description="[{key, sig}]: owners' credential signatures (SPEC §7.7)")


class Vetting(BaseModel):
    item: str
    candidate: str
    status: Literal["approved", "rejected"]
    note: str = Field("", description="public note, at most 500 characters")


class EntryRef(BaseModel):
    round: str
    seq: int = Field(description="seq of the ledger entry appended")
    state: str


class Accepted(BaseModel):
    round: str
    state: str


class ExtensionOut(BaseModel):
    seq: int
    previous: str
    closes: str
    reason: str


class CandidateOut(BaseModel):
    item: str
    candidate: str
    by: str
    status: str | None
    note: str
    statement_sha256: str
    statement: str | None = Field(description="the statement text, when the server holds it with that hash")
    signatures: int


class RoundOut(BaseModel):
    round: str
    state: Literal["draft", "announced", "open", "closed", "counted", "published", "final"]
    secrecy: str
    form: str
    rules: str
    agenda: dict
    opens: str
    closes: str = Field(description="after extensions")
    announced_seq: int | None
    announced_at: str | None
    notice: dict | None = Field(description="{date, days, short_reason} (SPEC §7.1)")
    extensions: list[ExtensionOut]
    attachments: list[dict]
    policies: dict
    totals: dict | None = Field(description="{heads, area} of the scope (area in 0.01 m²)")
    voters: int
    credentials: dict | None
    fingerprint: str | None
    joint_key: str | None
    trustees: list[int] = Field(description="numbers of the trustees whose keys (or dealer commitments) the round "
                                            "(or the draft) holds")
    cosigners: int | None
    candidates: list[CandidateOut]
    close_seq: int | None
    result_seq: int | None
    final_seq: int | None


def _refuse(e: rounds.RoundError) -> HTTPException:
    return HTTPException(e.status, {"code": e.code, "message": e.message})


def require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "not_json", "message": "请以 application/json 提交 / send application/json"})


def _supervisor(request: Request, slug: str) -> str:
    return security.require_estate_role(request, slug, "supervisor").username


SUPERVISOR = Depends(_supervisor)  # first: 401/403 before the body is looked at
JSON_ONLY = Depends(require_json)


def _is_supervisor(request: Request, slug: str) -> bool:
    try:
        security.require_estate_role(request, slug, "supervisor")
        return True
    except HTTPException:
        return False


def _now(request: Request) -> datetime:
    """The server's clock (tests may pin it with ``app.state.clock``)."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(UTC)


# --- supervisor actions -------------------------------------------------------------------------


@router.post("/estates/{slug}/rounds", response_model=Accepted, status_code=201, responses=ERRORS,
             summary="Create a draft round (supervisor)")
def create_round(request: Request, slug: str, spec: RoundSpec, by: str = SUPERVISOR, _: None = JSON_ONLY) -> Accepted:
    body = spec.model_dump(exclude_unset=True)
    try:
        with transaction(request.app.state.engine) as session:
            rounds.create_draft(session, slug, body, by=by, now=_now(request))
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return Accepted(round=str(body.get("round")), state="draft")


@router.put("/estates/{slug}/rounds/{round_id}", response_model=Accepted, responses=ERRORS,
            summary="Replace a draft's spec before the announcement (supervisor)")
def update_round(request: Request, slug: str, round_id: str, spec: RoundSpec, by: str = SUPERVISOR,
                 _: None = JSON_ONLY) -> Accepted:
    try:
        with transaction(request.app.state.engine) as session:
            rounds.update_draft(session, slug, round_id, spec.model_dump(exclude_unset=True), by=by,
                                now=_now(request))
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return Accepted(round=round_id, state="draft")


@router.post("/estates/{slug}/rounds/{round_id}/announce", response_model=EntryRef, status_code=201,
             responses=ERRORS, summary="Announce a draft: the round entry, the 15-day notice (supervisor)")
def announce_round(request: Request, slug: str, round_id: str, body: Announce, by: str = SUPERVISOR,
                   _: None = JSON_ONLY) -> EntryRef:
    now = _now(request)
    try:
        with transaction(request.app.state.engine) as session:
            entry = rounds.announce(session, slug, round_id, by=by, now=now)
            state = rounds.load(session, slug, round_id).state(now)
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return EntryRef(round=round_id, seq=entry.seq, state=state)


@router.post("/estates/{slug}/rounds/{round_id}/extend", response_model=EntryRef, status_code=201,
             responses=ERRORS, summary="Extend the voting window, with a reason (supervisor)")
def extend_round(request: Request, slug: str, round_id: str, ext: Extension, by: str = SUPERVISOR,
                 _: None = JSON_ONLY) -> EntryRef:
    now = _now(request)
    try:
        closes = parse_time(ext.closes, "closes")
    except LifecycleError as e:
        raise HTTPException(422, {"code": "bad_spec", "message": f"截止时间格式错误 / {e}"}) from None
    try:
        with transaction(request.app.state.engine) as session:
            entry = rounds.extend(session, slug, round_id, closes=closes, reason=ext.reason, by=by, now=now)
            state = rounds.load(session, slug, round_id).state(now)
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return EntryRef(round=round_id, seq=entry.seq, state=state)


@router.post("/estates/{slug}/rounds/{round_id}/candidates", response_model=Accepted, status_code=201,
             responses=ERRORS, summary="Record a nomination before the announcement (supervisor)")
def nominate(request: Request, slug: str, round_id: str, n: Nomination, by: str = SUPERVISOR,
             _: None = JSON_ONLY) -> Accepted:
    try:
        with transaction(request.app.state.engine) as session:
            cands.nominate(session, slug, round_id, item=n.item, candidate=n.candidate, nominated_by=n.nominated_by,
                           statement=n.statement, signatures=n.signatures, by=by, now=_now(request))
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return Accepted(round=round_id, state="draft")


@router.post("/estates/{slug}/rounds/{round_id}/candidates/vet", response_model=Accepted, responses=ERRORS,
             summary="Record the vetting of a nomination (supervisor)")
def vet(request: Request, slug: str, round_id: str, v: Vetting, by: str = SUPERVISOR, _: None = JSON_ONLY) -> Accepted:
    try:
        with transaction(request.app.state.engine) as session:
            cands.vet(session, slug, round_id, item=v.item, candidate=v.candidate, status=v.status, note=v.note,
                      by=by, now=_now(request))
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return Accepted(round=round_id, state="draft")


class TrusteeKey(BaseModel):
    """One trustee's public key JSON as ``gongjue trustee keygen`` writes it (SPEC §3.7)."""

    model_config = ConfigDict(extra="allow")
    v: Any = None
    context: Any = Field(None, description="<origin>/<round id>")
    trustee: Any = Field(None, description="the trustee's number, 1 … n")
    key: Any = None
    proof: Any = None


class TrusteesIn(BaseModel):
    round: str
    trustees: list[int] = Field(description="trustee numbers whose keys the draft now holds")


def _scrutineer(request: Request, slug: str) -> str:
    return security.require_estate_role(request, slug, "scrutineer", "supervisor").username


@router.post("/estates/{slug}/rounds/{round_id}/trustees", response_model=TrusteesIn, status_code=201,
             responses=ERRORS, summary="Add one trustee's n-of-n public key to a secret draft (scrutineer, supervisor)")
def add_trustee(request: Request, slug: str, round_id: str, key: TrusteeKey, by: str = Depends(_scrutineer),
                _: None = JSON_ONLY) -> TrusteesIn:
    try:
        with transaction(request.app.state.engine) as session:
            numbers = rounds.add_trustee_key(session, slug, round_id, key.model_dump(exclude_unset=True), by=by,
                                             now=_now(request))
    except rounds.RoundError as e:
        raise _refuse(e) from None
    return TrusteesIn(round=round_id, trustees=numbers)


# --- public -------------------------------------------------------------------------------------


def round_out(session, view: rounds.RoundView, now: datetime) -> RoundOut:  # noqa: ANN001
    life = view.lifecycle or {}
    texts = cands.statements(session, view.slug, view.round_id)
    if view.announcement is not None:
        member = life.get("candidates") or {"cosigners": None, "list": []}
        listed = [CandidateOut(item=c["item"], candidate=c["candidate"], by=c["by"], status=c["status"], note=c["note"],
                               statement_sha256=c["statement"], statement=_text(texts, c), signatures=len(c["signatures"]))
                  for c in member["list"]]
        cosigners = member["cosigners"]
    else:
        listed = [CandidateOut(item=r.item, candidate=r.candidate, by=r.nominated_by, status=r.status, note=r.note,
                               statement_sha256=r.statement_sha256, statement=r.statement,
                               signatures=len(json.loads(r.signatures)))
                  for r in cands.nominations(session, view.slug, view.round_id)]
        cosigners = view.spec["cosigners"]
    return RoundOut(
        round=view.round_id, state=view.state(now), secrecy=view.secrecy, form=view.form, rules=view.agenda.rules.name,
        agenda=view.agenda.as_json(), opens=format_time(view.opens), closes=format_time(view.closes),
        announced_seq=view.seq, announced_at=format_time(view.announced_at) if view.announced_at else None,
        notice=life.get("notice"),
        extensions=[ExtensionOut(seq=s, previous=b["previous"], closes=b["closes"], reason=b["reason"])
                    for s, b in view.extensions],
        attachments=life.get("attachments", (view.spec or {}).get("attachments", [])),
        policies=view.policies.as_json(),
        totals={"heads": view.totals.heads, "area": view.totals.area} if view.announcement else None,
        voters=len(view.voters), credentials=life.get("credentials"),
        fingerprint=view.fingerprint.hex() if view.fingerprint else None,
        joint_key=view.joint_key.hex() if view.joint_key else None, trustees=_trustee_numbers(view),
        cosigners=cosigners, candidates=listed,
        close_seq=view.close_seq, result_seq=view.result_seq, final_seq=view.final_seq)


def _trustee_numbers(view: rounds.RoundView) -> list[int]:
    t = view.announcement.trustees if view.announcement else (view.spec or {}).get("trustees")
    if not t:
        return []
    return [d.get("trustee") for d in t.get("keys", t.get("dealers", [])) if isinstance(d, dict)]


def _text(texts: dict, c: dict) -> str | None:
    text = texts.get((c["item"], c["candidate"]))
    return text if text is not None and cands.statement_hash(text) == c["statement"] else None


@router.get("/estates/{slug}/rounds", response_model=list[RoundOut], responses=PUBLIC_ERRORS,
            summary="The estate's rounds (public; drafts for its supervisors)")
def list_rounds(request: Request, slug: str) -> list[RoundOut]:
    drafts = _is_supervisor(request, slug)
    now = _now(request)
    try:
        with reading(request.app.state.engine) as session:
            return [round_out(session, v, now) for v in rounds.list_rounds(session, slug, drafts=drafts)]
    except rounds.RoundError as e:
        raise _refuse(e) from None


@router.get("/estates/{slug}/rounds/{round_id}", response_model=RoundOut, responses=PUBLIC_ERRORS,
            summary="One round as its ledger entries state it (public; a draft for its supervisors)")
def show_round(request: Request, slug: str, round_id: str) -> RoundOut:
    now = _now(request)
    try:
        with reading(request.app.state.engine) as session:
            view = rounds.load(session, slug, round_id)
            if view.announcement is None and not _is_supervisor(request, slug):
                raise rounds.RoundError("no_such_round", f"没有轮次 {round_id} / no round {round_id!r}", 404)
            return round_out(session, view, now)
    except rounds.RoundError as e:
        raise _refuse(e) from None
