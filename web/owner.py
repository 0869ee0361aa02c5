"""Owner sign-in with a second factor, and the owner's key check (SPEC §4.6, §4.7).

Pages under ``/estates/<slug>/owner`` (Chinese first, phone-sized, large tap targets, plain
forms; CSRF through web.security):

1. ``GET  …/owner``           sign-in form: building, unit, room of a part the owner holds;
2. ``POST …/owner/identify``  finds the voter and starts the second factor (an SMS code to the
   phone on file through the configured gateway, else the PIN letter); opens a *pending* owner
   session;
3. ``GET/POST …/owner/verify`` the code or PIN; on success a new token replaces the pending one
   (no fixation) and the session records the factor;
4. ``GET  …/owner`` (signed in) the key check: the fingerprint of the voter's current key from
   the ledger's registry, the authority to contact, and a field where the owner types their code;
   ``/static/owner/mykey.js`` derives the key in the browser and compares. The field has no
   ``name`` and sits in no form: the code never leaves the browser.

Owner sessions are their own cookie (``gongjue_owner``) and table (``web_owner_sessions``), apart
from staff sessions; ``owner_session(request)`` is what the ballot API (rounds) asks.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import BigInteger, Boolean, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column
from starlette.datastructures import FormData

from identity import authority, factor
from identity.models import Estate
from ledger.db import Base, reading, transaction
from web import security
from web.templating import templates

router = APIRouter(include_in_schema=False)

OWNER_COOKIE = "gongjue_owner"
PENDING_SECONDS = 10 * 60
SESSION_SECONDS = 2 * 3600
FACTOR_NAMES = {factor.SMS: "短信验证码", factor.PIN: "PIN 信"}


class OwnerSessionRow(Base):
    __tablename__ = "web_owner_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    estate: Mapped[str] = mapped_column(String(63))
    voter: Mapped[str] = mapped_column(String(64))
    factor: Mapped[str] = mapped_column(String(8))
    verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


@dataclass(frozen=True)
class OwnerSession:
    """A signed-in owner: the estate, the voter pseudonym and the second factor used (SPEC §4.6)."""

    estate: str
    voter: str
    factor: str  # "sms" or "pin"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _row(request: Request) -> OwnerSessionRow | None:
    token = request.cookies.get(OWNER_COOKIE)
    if not token or len(token) > 100 or not token.isascii():
        return None
    with reading(request.app.state.engine) as session:  # expired rows are purged when sessions open
        row = session.get(OwnerSessionRow, _hash(token))
        if row is None or row.expires_at <= int(time.time()):
            return None
        session.expunge(row)
        return row


def owner_session(request: Request) -> OwnerSession | None:
    """The verified owner session of the request (cookie ``gongjue_owner``), or None (contract C3)."""
    cached = getattr(request.state, "owner_session", False)
    if cached is not False:
        return cached
    row = _row(request)
    found = OwnerSession(row.estate, row.voter, row.factor) if row is not None and row.verified else None
    request.state.owner_session = found
    return found


def _open(session, slug: str, voter: str, factor_kind: str, verified: bool) -> str:
    at = int(time.time())
    session.execute(delete(OwnerSessionRow).where(OwnerSessionRow.expires_at <= at))
    token = secrets.token_urlsafe(32)
    session.add(OwnerSessionRow(token_hash=_hash(token), estate=slug, voter=voter, factor=factor_kind,
                                verified=verified, created_at=at,
                                expires_at=at + (SESSION_SECONDS if verified else PENDING_SECONDS)))
    return token


def _set_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(OWNER_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


# --- pages ------------------------------------------------------------------------------------


def _page(request: Request, name: str, context: dict, status: int = 200) -> Response:
    """An owner page; its forms carry ``web.security.visitor(request).csrf`` (contract C5)."""
    return templates.TemplateResponse(request, f"owner/{name}",
                                      {**context, "csrf": security.visitor(request).csrf}, status_code=status)


def _estate(request: Request, slug: str) -> Estate:
    with reading(request.app.state.engine) as session:
        estate = session.scalar(select(Estate).where(Estate.slug == slug))
        if estate is not None:
            session.expunge(estate)
    if estate is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return estate


@router.get("/estates/{slug}/owner")
def owner_home(request: Request, slug: str) -> Response:
    """The key check for a signed-in owner of this estate; the sign-in form otherwise."""
    estate = _estate(request, slug)
    me = owner_session(request)
    if me is None or me.estate != slug:
        return _page(request, "signin.html", {"estate": estate, "form": {}, "error": None})
    with reading(request.app.state.engine) as session:
        reg = authority.registry(session, slug)
    key = reg.key_of(me.voter)
    return _page(request, "mykey.html", {
        "estate": estate, "me": me, "factor_name": FACTOR_NAMES[me.factor],
        "fingerprint": authority.fingerprint(key) if key else None, "authority": reg.authority,
        "registered_at": reg.registered_at(me.voter)})


@router.post("/estates/{slug}/owner/identify")
async def identify(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_identify, request, slug, form)


def _identify(request: Request, slug: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    estate = _estate(request, slug)
    fields = {k: str(form.get(k) or "")[:64] for k in ("building", "unit", "room")}
    if not fields["building"].strip() or not fields["room"].strip():
        return _page(request, "signin.html", {"estate": estate, "form": fields,
                                              "error": "请填写楼栋和房号 / building and room are required"}, 422)
    try:
        gateway = factor.gateway_from_env()
        with transaction(request.app.state.engine) as session:
            started = factor.begin(session, slug, fields["building"], fields["unit"], fields["room"],
                                   client=security.client_address(request), gateway=gateway)
            token = _open(session, slug, started.voter, started.factor, verified=False)
    except factor.FactorError as e:
        return _page(request, "signin.html", {"estate": estate, "form": fields, "error": str(e)}, 422)
    response = RedirectResponse(f"/estates/{slug}/owner/verify", status_code=303)
    _set_cookie(request, response, token, PENDING_SECONDS)
    return response


def _pending(request: Request, slug: str) -> OwnerSessionRow | None:
    row = _row(request)
    return row if row is not None and row.estate == slug and not row.verified else None


@router.get("/estates/{slug}/owner/verify")
def verify_form(request: Request, slug: str) -> Response:
    estate = _estate(request, slug)
    row = _pending(request, slug)
    if row is None:
        return RedirectResponse(f"/estates/{slug}/owner", status_code=303)
    return _page(request, "verify.html", {"estate": estate, "factor": row.factor, "masked": _masked(request, row),
                                          "error": None})


def _masked(request: Request, row: OwnerSessionRow) -> str | None:
    if row.factor != factor.SMS:
        return None
    from identity import store

    with reading(request.app.state.engine) as session:
        phone = store.voter_phone(session, row.estate, row.voter)
    return store.mask_phone(phone) if phone else None


@router.post("/estates/{slug}/owner/verify")
async def verify(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_verify, request, slug, form)


def _verify(request: Request, slug: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    estate = _estate(request, slug)
    row = _pending(request, slug)
    if row is None:
        return RedirectResponse(f"/estates/{slug}/owner", status_code=303)
    typed = str(form.get("secret") or "")[:64]
    client = security.client_address(request)
    check = factor.check_code if row.factor == factor.SMS else factor.check_pin
    error = None
    try:
        with transaction(request.app.state.engine) as session:
            ok = check(session, slug, row.voter, typed, client=client)
            if ok:
                session.execute(delete(OwnerSessionRow).where(OwnerSessionRow.token_hash == row.token_hash))
                token = _open(session, slug, row.voter, row.factor, verified=True)
    except factor.FactorError as e:
        ok, error = False, str(e)
    if not ok:
        error = error or ("验证码不对或已过期，请重新输入或重新获取 / wrong or expired code" if row.factor == factor.SMS
                          else "PIN 不对，请核对 PIN 信 / wrong PIN; check your PIN letter")
        status = 429 if error == factor.TOO_MANY else 401
        return _page(request, "verify.html", {"estate": estate, "factor": row.factor,
                                              "masked": _masked(request, row), "error": error}, status)
    response = RedirectResponse(f"/estates/{slug}/owner", status_code=303)
    _set_cookie(request, response, token, SESSION_SECONDS)
    return response


@router.post("/estates/{slug}/owner/signout")
async def signout(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        security.check_csrf(request, form.get("csrf"))
    token = request.cookies.get(OWNER_COOKIE)
    if token:
        with transaction(request.app.state.engine) as session:
            session.execute(delete(OwnerSessionRow).where(OwnerSessionRow.token_hash == _hash(token)))
    response = RedirectResponse(f"/estates/{slug}/owner", status_code=303)
    response.delete_cookie(OWNER_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response
