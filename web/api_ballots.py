"""Casting ballots and recording proxies over the JSON API (SPEC §7.2, §7.8).

- ``POST /api/v1/estates/{slug}/rounds/{id}/ballots`` — the signed ballot's JSON text as the
  body (``application/json``), an owner session (cookie ``gongjue_owner``, the second factor);
  ``?for=<pseudonym>&for_sig=<hex>`` when the signed-in owner casts as a proxy.  201 with the receipt.
- ``POST /api/v1/estates/{slug}/rounds/{id}/proxies`` — a grant or revocation: owner-signed (the
  represented owner's session) or a written authorisation recorded by a supervisor (the SHA-256
  of the scan).  201 with the entry's receipt.

Refusals are ``{"detail": {"code", "message"}}`` with a stable code (``voting.cast.CODES``);
nothing is written then.  The body must be ``application/json``: a cross-site form cannot send
that without the browser asking first (the owner cookie is SameSite=Lax besides).  Verification
runs in a worker thread of this process (never a forked process).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from voting import cast as casting
from web import owner, security

router = APIRouter(prefix="/api/v1", tags=["ballots"])
MAX_BALLOT = 256 * 1024


class Refusal(BaseModel):
    code: str = Field(description="stable error code, e.g. already_voted, not_eligible, round_not_open, bad_proof, "
                                  "bad_signature, wrong_round, revoked_credential, no_session")
    message: str = Field(description="中文 / English")


class RefusalBody(BaseModel):
    detail: Refusal


class Receipt(BaseModel):
    """SPEC §2.6 receipt of the ``ballot`` entry plus its tracking code (SPEC §3.6)."""

    tracking: str = Field(description="SHA-256 of the signed ballot (hex)")
    short: str = Field(description="short tracking code, e.g. 3FA9-0C1B-77D2")
    voter: str = Field(description="the voter the ballot counts for (pseudonym)")
    proxy: str | None = Field(description="the proxy's pseudonym for a ballot cast by a proxy, else null")
    origin: str
    seq: int = Field(description="leaf index of the ballot entry")
    entry: str = Field(description="the entry's exact bytes")
    leaf_hash: str
    tree_size: int
    proof: list[str] = Field(description="RFC 9162 inclusion proof, hex")
    checkpoint: str = Field(description="signed checkpoint of size tree_size")


class EntryReceipt(BaseModel):
    """SPEC §2.6 receipt of a proxy entry."""

    origin: str
    seq: int
    entry: str
    leaf_hash: str
    tree_size: int
    proof: list[str]
    checkpoint: str


class SignedAuthorisation(BaseModel):
    kind: Literal["signed"]
    key: str = Field(description="the represented voter's credential public key (hex)")
    sig: str = Field(description="Ed25519 signature of the SPEC §7.8 statement (hex)")


class WrittenAuthorisation(BaseModel):
    kind: Literal["written"]
    scan_sha256: str = Field(description="SHA-256 of the scanned written authorisation (hex)")


class ProxyRequest(BaseModel):
    type: Literal["proxy.grant", "proxy.revoke"]
    voter: str = Field(description="the represented voter (pseudonym)")
    proxy: str | None = Field(None, description="the proxy (pseudonym); or name it by proxy_ref")
    proxy_ref: str | None = Field(None, description="the proxy named by the reference the proxies page gave the "
                                                    "represented owner (SPEC §7.8, by reference): the signed "
                                                    "statement names proxy_ref, and the server adds the salt")
    authorisation: SignedAuthorisation | WrittenAuthorisation


def _refusal(code: str) -> dict:
    return {"model": RefusalBody, "description": casting.CODES[code][1]}


BALLOT_ERRORS = {401: {"model": RefusalBody, "description": "no_session"},
                 403: {"model": RefusalBody, "description": "not_eligible, wrong_voter, revoked_credential, "
                                                            "unknown_credential, no_proxy_grant"},
                 404: {"model": RefusalBody, "description": "no_estate, no_round"},
                 409: {"model": RefusalBody, "description": "already_voted, duplicate_ballot, round_not_open"},
                 413: {"description": "the ballot is too large"},
                 415: {"model": RefusalBody, "description": "not application/json"},
                 422: {"model": RefusalBody, "description": "bad_ballot, wrong_round, bad_signature, bad_proof"}}

SIGNED_BALLOT_SCHEMA = {
    "description": "The signed ballot exactly as the booth made it (SPEC §3.6): {\"ballot\": body, \"sig\": hex}. "
                   "Parsed strictly (no duplicate keys, no fractions or exponents).",
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["ballot", "sig"], "additionalProperties": False,
        "properties": {"ballot": {"type": "object", "description": "v, kind, round, voter, items"},
                       "sig": {"type": "string", "description": "Ed25519 signature, 128 hex digits"}}}}},
}


def _refuse(e: casting.CastError) -> JSONResponse:
    return JSONResponse({"detail": {"code": e.code, "message": e.message}}, status_code=e.status)


async def _body(request: Request) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})
    raw = await request.body()
    if len(raw) > MAX_BALLOT:
        raise HTTPException(413, {"code": "bad_request", "message": "内容太大 / too large"})
    return raw


@router.post("/estates/{slug}/rounds/{round_id}/ballots", response_model=Receipt, status_code=201,
             summary="Cast a signed ballot (owner session; as proxy with ?for=)", responses=BALLOT_ERRORS,
             openapi_extra={"requestBody": SIGNED_BALLOT_SCHEMA})
async def cast_ballot(request: Request, slug: str, round_id: str,
                      for_: str | None = Query(None, alias="for", description="the represented voter, when the "
                                                                              "signed-in owner casts as their proxy"),
                      for_sig: str | None = Query(None, description="with for: the proxy's signature binding the "
                                                                    "ballot's tracking code to the represented voter "
                                                                    "(SPEC §7.8)")):
    if getattr(request.state, "owner_session", False) is False and request.cookies.get(owner.OWNER_COOKIE):
        raw = await request.body()  # read first (BodyLimit caps it): the session and the cast then share one thread hop
        return await run_in_threadpool(_session_and_cast, request, slug, round_id, raw, for_, for_sig)
    me = await run_in_threadpool(owner.owner_session, request)  # a database read: off the event loop
    if me is None or me.estate != slug:
        return _refuse(casting.CastError("no_session"))
    raw = await _body(request)
    return await run_in_threadpool(_cast, request, me, slug, round_id, raw, for_, for_sig)


def _session_and_cast(request: Request, slug: str, round_id: str, raw: bytes, for_: str | None,
                      for_sig: str | None) -> JSONResponse:
    """In a worker thread: the owner session (refused first, as no_session), then the body's checks
    (415, 413, in that order, as ``_body``), then the cast."""
    me = owner.owner_session(request)
    if me is None or me.estate != slug:
        return _refuse(casting.CastError("no_session"))
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, {"code": "bad_request", "message": "请以 application/json 发送 / send application/json"})
    if len(raw) > MAX_BALLOT:
        raise HTTPException(413, {"code": "bad_request", "message": "内容太大 / too large"})
    return _cast(request, me, slug, round_id, raw, for_, for_sig)


def _cast(request: Request, me: owner.OwnerSession, slug: str, round_id: str, raw: bytes, for_: str | None,
          for_sig: str | None) -> JSONResponse:
    try:
        receipt = casting.cast(request.app.state.engine, slug, round_id, raw, voter=me.voter, factor=me.factor,
                               for_voter=for_, for_sig=for_sig)
    except casting.CastError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)


@router.post("/estates/{slug}/rounds/{round_id}/proxies", response_model=EntryReceipt, status_code=201,
             summary="Record a proxy grant or revocation (owner-signed, or written and recorded by a supervisor)",
             responses={**BALLOT_ERRORS, 409: {"model": RefusalBody, "description": "already_voted, proxy_exists, "
                                                                                    "proxy_cap, round_not_open"}})
async def record_proxy(request: Request, slug: str, round_id: str, body: ProxyRequest):
    await _body(request)
    auth = body.authorisation.model_dump()
    by_voter = None
    if auth["kind"] == "signed":
        me = await run_in_threadpool(owner.owner_session, request)
        if me is None or me.estate != slug:
            return _refuse(casting.CastError("no_session"))
        by_voter = me.voter
    else:
        await run_in_threadpool(security.require_estate_role, request, slug, "supervisor")
    try:
        receipt = await run_in_threadpool(casting.record_proxy, request.app.state.engine, slug, round_id, body.type,
                                          voter=body.voter, proxy=body.proxy, proxy_ref=body.proxy_ref,
                                          authorisation=auth, by_voter=by_voter)
    except casting.CastError as e:
        return _refuse(e)
    return JSONResponse(receipt, status_code=201)
