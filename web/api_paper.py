"""Paper ballots over the JSON API: double entry by two scrutineers (SPEC §7.9).

- ``POST /api/v1/estates/{slug}/rounds/{id}/paper`` (scrutineer): one scrutineer's entry of one
  paper ballot — the voter (pseudonym, or the flat on the ballot: building, unit, room), the
  marks item by item and the SHA-256 of the scanned ballot.  The first entry answers 202
  ``pending``; the second, by another scrutineer, answers 201 ``recorded`` with the
  ``paper.ballot`` entry's seq and tracking code when both agree, or 409 ``disagreement`` naming
  the differing items (nothing recorded; the first entry keeps waiting).
- ``GET …/paper/pending`` (scrutineer, supervisor): the voters whose ballot waits for a second
  entry (no marks), each with the items of the last disagreement: so the first scrutineer is told
  too.
- ``DELETE …/paper/pending/{voter}`` (scrutineer): drop a waiting first entry that was wrong.

Refusals are ``{"detail": {"code", "message"}}`` (``voting.paper_entry.CODES``), plus ``items``
for a disagreement; nothing is written then.  Bodies must be ``application/json`` (a cross-site
form cannot send that without the browser asking first).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from identity import store as identity_store
from ledger.db import reading, transaction
from voting import paper_entry
from voting.paper_entry import PaperDisagreement, PaperError
from web import security

router = APIRouter(prefix="/api/v1", tags=["paper ballots"])
MAX_BODY = 64 * 1024


class Flat(BaseModel):
    building: str
    unit: str = ""
    room: str


class PaperEntryIn(BaseModel):
    """One scrutineer's reading of one paper ballot."""

    voter: str | None = Field(None, description="the voter's pseudonym; or give the flat instead")
    flat: Flat | None = Field(None, description="a flat of the voter, as printed on the ballot")
    marks: dict[str, str | list[str] | None] = Field(
        description="item id → mark: motion agree|oppose|abstain (同意|反对|弃权, \"\" = abstain); "
                    "election a list of candidate ids; choice an option id or \"\" (blank)")
    scan_sha256: str = Field(description="SHA-256 of the scanned paper ballot, 64 hex digits")


class PaperEntryOut(BaseModel):
    status: str = Field(description="pending (waiting for a second scrutineer) | recorded")
    voter: str
    seq: int | None = Field(None, description="the paper.ballot entry (recorded)")
    tracking: str | None = Field(None, description="tracking code of the station's ballot (recorded)")
    short: str | None = None


class Refusal(BaseModel):
    code: str = Field(description="stable code: " + ", ".join(paper_entry.CODES))
    message: str = Field(description="中文 / English")
    items: list[str] | None = Field(None, description="disagreement: the differing item ids (and \"scan\")")


class RefusalBody(BaseModel):
    detail: Refusal


class Waiting(BaseModel):
    voter: str
    disputed: list[str] | None = Field(description="item ids (and \"scan\") on which a second entry differed "
                                                   "last; null when none did")


class Pending(BaseModel):
    voters: list[str]
    entries: list[Waiting]


ERRORS = {401: {"description": "not signed in as staff"},
          403: {"description": "not a scrutineer of this estate"},
          404: {"model": RefusalBody, "description": "no estate, round or waiting entry"},
          409: {"model": RefusalBody, "description": "disagreement, same_scrutineer, already_voted, round_not_open"},
          415: {"description": "not application/json"},
          422: {"model": RefusalBody, "description": "bad_marks, bad_scan, not_eligible"}}


def refusal(e: PaperError) -> JSONResponse:
    detail = {"code": e.code, "message": e.message}
    if isinstance(e, PaperDisagreement):
        detail["items"] = e.items
    return JSONResponse({"detail": detail}, status_code=paper_entry.CODES.get(e.code, 422))


@router.post("/estates/{slug}/rounds/{round_id}/paper", response_model=PaperEntryOut, status_code=201,
             summary="Enter a paper ballot (scrutineer; two agreeing entries record it)",
             responses={202: {"model": PaperEntryOut, "description": "first entry stored, waiting for a second "
                                                                     "scrutineer"}, **ERRORS})
async def enter_paper(request: Request, slug: str, round_id: str):
    staff = security.require_estate_role(request, slug, "scrutineer")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, {"code": "bad_request", "message": "内容太大 / too large"})
    try:
        entry = PaperEntryIn.model_validate(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise HTTPException(422, {"code": "bad_request", "message": f"请求无效 / invalid request: {e}"}) from None
    return await run_in_threadpool(_enter, request, slug, round_id, entry, staff.username)


def _enter(request: Request, slug: str, round_id: str, entry: PaperEntryIn, by: str):
    try:
        with transaction(request.app.state.engine) as session:
            voter = entry.voter
            if entry.flat is not None:
                f = entry.flat
                found = identity_store.voter_for_part(session, slug, f.building, f.unit, f.room)
                if found is None or voter is not None and voter != found:
                    raise PaperError("not_eligible", f"名册中没有这户 / no voter holds flat {f.building}-{f.unit}-"
                                                     f"{f.room} in the roll" if found is None else
                                                     "投票人与房号不符 / the voter does not hold that flat")
                voter = found
            if voter is None:
                raise PaperError("bad_marks", "请给出投票人或房号 / give the voter or the flat")
            result = paper_entry.enter(session, slug, round_id, voter=voter, marks=entry.marks,
                                       scan_sha256=entry.scan_sha256, by=by)
    except PaperDisagreement as e:  # shown to the first scrutineer too (pending), never in the ledger
        with transaction(request.app.state.engine) as session:
            paper_entry.note_dispute(session, slug, round_id, voter, e.items)
        return refusal(e)
    except PaperError as e:
        return refusal(e)
    out = PaperEntryOut(status=result.status, voter=result.voter, seq=result.seq, tracking=result.tracking,
                        short=result.short)
    return JSONResponse(out.model_dump(), status_code=201 if result.status == "recorded" else 202)


@router.get("/estates/{slug}/rounds/{round_id}/paper/pending", response_model=Pending,
            summary="Paper ballots waiting for their second entry (scrutineer, supervisor)",
            responses={401: ERRORS[401], 403: ERRORS[403]})
def pending(request: Request, slug: str, round_id: str) -> Pending:
    security.require_estate_role(request, slug, "scrutineer", "supervisor")
    with reading(request.app.state.engine) as session:
        rows = paper_entry.pending(session, slug, round_id)
    return Pending(voters=[v for v, _ in rows], entries=[Waiting(voter=v, disputed=d) for v, d in rows])


@router.delete("/estates/{slug}/rounds/{round_id}/paper/pending/{voter}", status_code=204,
               summary="Drop a waiting first entry (scrutineer)",
               responses={401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404]})
def discard(request: Request, slug: str, round_id: str, voter: str):
    security.require_estate_role(request, slug, "scrutineer")
    try:
        with transaction(request.app.state.engine) as session:
            paper_entry.discard(session, slug, round_id, voter)
    except PaperError as e:
        return refusal(e)
    return Response(status_code=204)
