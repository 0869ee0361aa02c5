"""Recording the credential authority and what it signs (SPEC §4.5), for staff.

- ``POST /api/v1/estates/<slug>/authority`` (admin): the authority's public key file
  (``KEYFILE.pub`` of ``gongjue authority keygen``) becomes the estate's ``authority`` entry.
- ``POST /api/v1/estates/<slug>/credentials``: record a statement signed by the credential authority.

Staff with the estate role ``authority`` or ``supervisor`` (contract C5) upload the file the
authority's offline tool wrote (``credentials.json``, a revocation or a reissue; SPEC §4.5). What
is checked is the authority's signature against the key recorded in the ledger, the estate, the
voters and the keys (identity.authority.record_statement); the uploader's role only decides who
may hand it in. The body must be ``application/json`` (a cross-site form cannot send that
without the browser asking first).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from identity import authority
from ledger.db import transaction
from web import security

router = APIRouter(prefix="/api/v1", tags=["credentials"])
MAX_STATEMENT = 4 * 1024 * 1024  # a signed list for a very large estate


class AuthorityRecorded(BaseModel):
    seq: int
    fingerprint: str


@router.post("/estates/{slug}/authority", response_model=AuthorityRecorded, status_code=201,
             summary="Record the estate's credential authority key (admin)",
             responses={401: {"description": "not signed in"}, 403: {"description": "not an admin"},
                        415: {"description": "not JSON"}, 422: {"description": "key file refused"}})
async def register_authority(request: Request, slug: str) -> AuthorityRecorded:
    await run_in_threadpool(security.require_estate_role, request, slug, "admin")  # reads the database
    document = await _json_body(request)
    if not isinstance(document, dict) or document.get("kind") != "gongjue-authority-public-key":
        raise HTTPException(422, "不是凭证机构公钥文件（KEYFILE.pub）/ not an authority public key file (KEYFILE.pub)")
    return await run_in_threadpool(_record_authority, request, slug, document)


def _record_authority(request: Request, slug: str, document: dict) -> AuthorityRecorded:
    try:
        with transaction(request.app.state.engine) as session:
            seq = authority.record_authority(session, slug, str(document.get("name", "")),
                                             str(document.get("contact", "")), document.get("public_key"))
    except authority.AuthorityError as e:
        raise HTTPException(422, str(e)) from None
    return AuthorityRecorded(seq=seq, fingerprint=authority.fingerprint(document["public_key"]))


async def _json_body(request: Request) -> object:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "请以 application/json 上传 / send application/json")
    raw = await request.body()
    if len(raw) > MAX_STATEMENT:
        raise HTTPException(413, "内容太大 / too large")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HTTPException(422, f"不是有效的 JSON / not valid JSON ({e})") from None


class Recorded(BaseModel):
    seq: int
    type: str
    voters: int


@router.post("/estates/{slug}/credentials", response_model=Recorded, status_code=201,
             summary="Record a credential statement signed by the estate's credential authority",
             responses={401: {"description": "not signed in"}, 403: {"description": "role missing"},
                        415: {"description": "not JSON"}, 422: {"description": "statement refused"}})
async def register_statement(request: Request, slug: str) -> Recorded:
    await run_in_threadpool(security.require_estate_role, request, slug, "authority", "supervisor")
    document = await _json_body(request)
    return await run_in_threadpool(_record, request, slug, document)


def _record(request: Request, slug: str, document: object) -> Recorded:
    try:
        with transaction(request.app.state.engine) as session:
            seq, statement = authority.record_statement(session, slug, document)
    except authority.AuthorityError as e:
        raise HTTPException(422, str(e)) from None
    voters = len(statement["credentials"]) if statement["type"] == authority.CREDENTIALS else 1
    return Recorded(seq=seq, type=statement["type"], voters=voters)
