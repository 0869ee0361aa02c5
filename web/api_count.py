"""Close, decryption shares and the published result over the JSON API (SPEC §7.3, §7.10).

- ``POST /api/v1/estates/{slug}/rounds/{id}/close`` (supervisor): closes the round once its
  window has ended (the in-app scheduler does the same by itself; ``voting.scheduler``).
- ``POST /api/v1/estates/{slug}/rounds/{id}/shares`` (scrutineer): one trustee's decryption
  shares, the file ``gongjue trustee decrypt`` wrote (SPEC §3.8), checked against the trustee's
  recorded key and the recorded aggregates; when the set is complete the result is decrypted,
  decided and published in the same transaction.
- ``GET /api/v1/estates/{slug}/rounds/{id}/result`` (public): the close, the shares in, the
  result (tally JSON of SPEC §5.6, deemed result, per-selection counts, objection window) with
  the bilingual explanations of ``gongjue tally``, and the final announcement.  No personal data.

Refusals are ``{"detail": {"code", "message"}}`` with a stable code (``voting.count_round``);
nothing is written then.  POST bodies must be ``application/json`` (a cross-site form cannot
send that without the browser asking first).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ledger.db import reading, transaction
from voting import count_round
from web import security

router = APIRouter(prefix="/api/v1", tags=["count"])
MAX_SHARES = 1024 * 1024


class CountRefusal(BaseModel):
    code: str = Field(description="stable error code: no_estate, no_round, window_open, already_closed, "
                                  "record_invalid, open_round, round_not_closed, already_counted, bad_shares, "
                                  "unknown_trustee, wrong_key, duplicate_shares, decrypt_failed, "
                                  "inconsistent_counts, not_json")
    message: str = Field(description="中文 / English")


class CountRefusalBody(BaseModel):
    detail: CountRefusal


class Closed(BaseModel):
    round: str
    seq: int = Field(description="seq of the round.close entry")
    ballots: int = Field(description="counted ballots")
    result_seq: int | None = Field(description="seq of the round.result entry (open rounds are counted at once)")


class SharesRecorded(BaseModel):
    round: str
    trustee: int
    seq: int = Field(description="seq of the round.shares entry")
    present: list[int] = Field(description="trustees whose shares are in")
    needed: int = Field(description="shares needed: every trustee (n-of-n) or the threshold k")
    result_seq: int | None = Field(description="seq of the round.result entry when these shares completed the set")


class CloseInfo(BaseModel):
    seq: int
    ballots: int


class ShareInfo(BaseModel):
    seq: int
    trustee: int | None


class ResultInfo(BaseModel):
    seq: int
    tally: dict = Field(description="the tally JSON (SPEC §5.6), the same shape as gongjue tally --json")
    deemed: dict | None = Field(description="the deemed-consent result (same shape) when the round has it on")
    counts: list[dict] = Field(description="per item, heads and area (0.01 m²) per selection")
    objection_until: str = Field(description="end of the objection window (UTC)")


class FinalInfo(BaseModel):
    seq: int


class Published(BaseModel):
    round: str
    secrecy: str
    close: CloseInfo | None
    shares: list[ShareInfo]
    needed: int | None
    result: ResultInfo | None
    final: FinalInfo | None
    explanation: str | None = Field(description="the bilingual report of gongjue tally, every inequality shown")
    deemed_explanation: str | None


ERRORS = {401: {"description": "not signed in"}, 403: {"description": "role missing"},
          404: {"model": CountRefusalBody, "description": "no such estate or round"},
          409: {"model": CountRefusalBody, "description": "refused in the round's state"},
          415: {"model": CountRefusalBody, "description": "not JSON"},
          422: {"model": CountRefusalBody, "description": "refused input or record"}}


def _refuse(e: count_round.CountError) -> HTTPException:
    return HTTPException(e.status, {"code": e.code, "message": e.message})


async def _json_body(request: Request) -> object:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "not_json", "message": "请以 application/json 提交 / send application/json"})
    raw = await request.body()
    if len(raw) > MAX_SHARES:
        raise HTTPException(413, {"code": "too_large", "message": "内容太大 / too large"})
    try:
        return json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise HTTPException(422, {"code": "not_json", "message": f"不是有效的 JSON / not valid JSON ({e})"}) from None


@router.post("/estates/{slug}/rounds/{round_id}/close", response_model=Closed, status_code=201,
             summary="Close a round after its voting window (supervisor)", responses=ERRORS)
async def close_round(request: Request, slug: str, round_id: str) -> Closed:
    security.require_estate_role(request, slug, "supervisor")
    await _json_body(request)
    return await run_in_threadpool(_close, request, slug, round_id)


def _close(request: Request, slug: str, round_id: str) -> Closed:
    try:
        entry = count_round.close_round(request.app.state.engine, slug, round_id)
    except count_round.CountError as e:
        raise _refuse(e) from None
    if entry is None:
        raise _refuse(count_round.CountError("already_closed", f"轮次 {round_id} 已经结束 / round {round_id} is "
                                                               "closed already"))
    with reading(request.app.state.engine) as session:
        view = count_round.published(session, slug, round_id)
    result = view["result"]
    return Closed(round=round_id, seq=entry.seq, ballots=view["close"]["ballots"],
                  result_seq=result["seq"] if result else None)


@router.post("/estates/{slug}/rounds/{round_id}/shares", response_model=SharesRecorded, status_code=201,
             summary="Submit one trustee's decryption shares (scrutineer)", responses=ERRORS)
async def submit_shares(request: Request, slug: str, round_id: str) -> SharesRecorded:
    security.require_estate_role(request, slug, "scrutineer")
    document = await _json_body(request)
    return await run_in_threadpool(_submit, request, slug, round_id, document)


def _submit(request: Request, slug: str, round_id: str, document: object) -> SharesRecorded:
    try:
        with transaction(request.app.state.engine) as session:
            done = count_round.submit_shares(session, slug, round_id, document)
    except count_round.CountError as e:
        raise _refuse(e) from None
    return SharesRecorded(round=round_id, trustee=done.trustee, seq=done.shares.seq, present=list(done.present),
                          needed=done.needed, result_seq=done.result.seq if done.result is not None else None)


@router.get("/estates/{slug}/rounds/{round_id}/result", response_model=Published,
            summary="The round's published count (public)", responses={404: ERRORS[404]})
def result(request: Request, slug: str, round_id: str) -> Published:
    try:
        with reading(request.app.state.engine) as session:
            return Published(**count_round.published(session, slug, round_id))
    except count_round.CountError as e:
        raise _refuse(e) from None
