"""Owner sign-in with the credential code and a second factor; the owner's page; proxies (SPEC §4.6, §4.7, §7.8).

Pages under ``/estates/<slug>/owner`` (Chinese by default through gettext, phone first, tap
targets ≥ 44 px; CSRF through web.security):

1. ``GET  …/owner[?next=<path>]`` sign-in: the code from the credential letter (typed, or taken
   from the letter's QR link ``#c=…`` by ``/static/owner/code.js``, cleared from the address bar
   at once, full-width characters accepted). ``/static/owner/signin.js`` derives the public key in
   the browser and puts only the key into the form (field ``key``); the code field has no
   ``name``: the code never leaves the browser (kept in this tab's sessionStorage for the booth).
   Fallback without the letter at hand (or without JavaScript): building, unit, room.
2. ``POST …/owner/identify`` finds the voter (by the registered key, or by the part) and starts
   the second factor (an SMS code to the phone on file, else the PIN letter); opens a *pending*
   owner session;
3. ``GET/POST …/owner/verify`` the code or PIN; on success a new token replaces the pending one
   (no fixation), then on to ``next`` (a path of this estate) or the owner's page;
4. ``GET  …/owner`` (signed in) the owner's page: the rounds to vote in, the key check (the
   fingerprint of the registered key; ``/static/owner/mykey.js`` derives the key from the typed
   code and compares), the authority to contact, sign-out (which forgets the code in the tab);
5. ``GET/POST …/owner/proxies?round=<id>`` authorise another owner (named by one of their flats)
   to vote for me in a round, see and revoke it; the statement is signed in the browser
   (``/static/owner/proxies.js``) and posted to ``POST /api/v1/estates/<slug>/rounds/<id>/proxies``.

Owner sessions are their own cookie (``gongjue_owner``) and table (``web_owner_sessions``), apart
from staff sessions; ``owner_session(request)`` is what the ballot API (rounds) asks.
"""

from __future__ import annotations

import hashlib
import secrets
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import BigInteger, Boolean, String, bindparam, delete, select
from sqlalchemy.orm import Mapped, mapped_column
from starlette.datastructures import FormData

from identity import authority, factor, store
from identity.models import Estate
from ledger.db import Base, read_row, reading, transaction
from web import i18n, security
from web.templating import templates

router = APIRouter(include_in_schema=False)

OWNER_COOKIE = "gongjue_owner"
PENDING_SECONDS = 10 * 60
SESSION_SECONDS = 2 * 3600
FACTOR_NAMES = {factor.SMS: "SMS code", factor.PIN: "PIN letter"}
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
LOOKUP = "lookup"  # identity_factor_events.kind of a proxies-page flat lookup
LOOKUPS = 10
UNKNOWN_KEY = ("凭证码不对：本小区没有登记这个凭证，请逐字核对凭证信 / this code is not registered in this estate; "
               "check it against your letter")


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
    token, found = request.cookies.get(OWNER_COOKIE), None
    if token and len(token) <= 100 and token.isascii():  # as _row, in one statement (every cast reads it)
        row = read_row(request.app.state.engine, _SESSION, {"token_hash": _hash(token)})
        if row is not None and row.expires_at > int(time.time()) and row.verified:
            found = OwnerSession(row.estate, row.voter, row.factor)
    request.state.owner_session = found
    return found


_SESSION = select(OwnerSessionRow.estate, OwnerSessionRow.voter, OwnerSessionRow.factor, OwnerSessionRow.verified,
                  OwnerSessionRow.expires_at).where(OwnerSessionRow.token_hash == bindparam("token_hash"))


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
        raise HTTPException(404, i18n.t(request, "No estate %(slug)s", slug=slug))
    return estate


def in_language(request: Request, message: str) -> str:
    """The page's half of a bilingual "中文 / English" message from the lower layers."""
    if " / " not in message:
        return message
    zh, en = message.split(" / ", 1)
    return en if i18n.language(request) == "en" else zh


def _next(slug: str, target: str | None) -> str:
    """A path of this estate to go on to after signing in, else the owner's page."""
    path = i18n.safe_next(target)
    return path if path.startswith(f"/estates/{slug}/") or path == f"/estates/{slug}" else f"/estates/{slug}/owner"


def _signin(request: Request, estate: Estate, *, form: dict | None = None, error: str | None = None,
            status: int = 200, next_: str | None = None) -> Response:
    return _page(request, "signin.html", {"estate": estate, "form": form or {}, "error": error,
                                          "next": next_ or request.query_params.get("next") or ""}, status)


@router.get("/estates/{slug}/owner")
def owner_home(request: Request, slug: str) -> Response:
    """The owner's page for a signed-in owner of this estate; the sign-in form otherwise."""
    estate = _estate(request, slug)
    me = owner_session(request)
    if me is None or me.estate != slug:
        return _signin(request, estate)
    from web import booth  # the rounds and "voted" (web.booth imports this module)

    with reading(request.app.state.engine) as session:
        reg = authority.registry(session, slug)
    key = reg.key_of(me.voter)
    return _page(request, "mykey.html", {
        "estate": estate, "me": me, "factor_name": i18n.t(request, FACTOR_NAMES[me.factor]),
        "fingerprint": authority.fingerprint(key) if key else None, "authority": reg.authority,
        "registered_at": reg.registered_at(me.voter),
        "rounds": [r for r in booth.estate_rounds(request, slug) if r.state in ("open", "announced")]})


@router.post("/estates/{slug}/owner/identify")
async def identify(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_identify, request, slug, form)


def _begin_by_key(session, slug: str, key: str, client: str, gateway) -> factor.Started:  # noqa: ANN001
    """The second factor of the voter whose current registered key is ``key`` (SPEC §4.6 limits)."""
    at = factor.now()
    factor.refuse_busy_client(session, client, at)
    reg = authority.registry(session, slug)
    voter = reg.voter_of(key) if _HEX64.match(key) else None
    if voter is None or reg.key_of(voter) != key:
        factor.record_event(session, "fail", slug, "", client, at)
        raise factor.FactorError(UNKNOWN_KEY)
    return factor.start(session, slug, voter, client=client, gateway=gateway, at=at)


def _identify(request: Request, slug: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    estate = _estate(request, slug)
    next_ = str(form.get("next") or "")[:300]
    key = str(form.get("key") or "").strip().lower()[:64]
    fields = {k: str(form.get(k) or "")[:64] for k in ("building", "unit", "room")}
    if not key and (not fields["building"].strip() or not fields["room"].strip()):
        return _signin(request, estate, form=fields, status=422, next_=next_,
                       error=i18n.t(request, "Type the code from your credential letter, or the building and room "
                                             "of one of your flats."))
    try:
        gateway = factor.gateway_from_env()
        client = security.client_address(request)
        with transaction(request.app.state.engine) as session:
            if key:
                started = _begin_by_key(session, slug, key, client, gateway)
            else:
                started = factor.begin(session, slug, fields["building"], fields["unit"], fields["room"],
                                       client=client, gateway=gateway)
            token = _open(session, slug, started.voter, started.factor, verified=False)
    except factor.FactorError as e:
        return _signin(request, estate, form=fields, error=in_language(request, str(e)), status=422, next_=next_)
    target = f"/estates/{slug}/owner/verify"
    if next_:
        target += f"?next={quote(_next(slug, next_), safe='')}"
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, token, PENDING_SECONDS)
    return response


def _pending(request: Request, slug: str) -> OwnerSessionRow | None:
    row = _row(request)
    return row if row is not None and row.estate == slug and not row.verified else None


def _verify_page(request: Request, estate: Estate, row: OwnerSessionRow, *, error: str | None = None,
                 status: int = 200, next_: str = "") -> Response:
    return _page(request, "verify.html", {"estate": estate, "factor": row.factor, "masked": _masked(request, row),
                                          "error": error, "next": next_}, status)


@router.get("/estates/{slug}/owner/verify")
def verify_form(request: Request, slug: str, next: str | None = None) -> Response:  # noqa: A002
    estate = _estate(request, slug)
    row = _pending(request, slug)
    if row is None:
        return RedirectResponse(f"/estates/{slug}/owner", status_code=303)
    return _verify_page(request, estate, row, next_=_next(slug, next) if next else "")


def _masked(request: Request, row: OwnerSessionRow) -> str | None:
    if row.factor != factor.SMS:
        return None
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
    next_ = str(form.get("next") or "")[:300]
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
        status = 429 if error == factor.TOO_MANY else 401
        if error:
            error = in_language(request, error)
        else:
            error = (i18n.t(request, "The code is wrong or has expired. Type it again, or ask for a new one.")
                     if row.factor == factor.SMS else i18n.t(request, "The PIN is wrong. Check it against your PIN letter."))
        return _verify_page(request, estate, row, error=error, status=status, next_=next_)
    response = RedirectResponse(_next(slug, next_) if next_ else f"/estates/{slug}/owner", status_code=303)
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


# --- proxies (SPEC §7.8) ------------------------------------------------------------------------


@router.get("/estates/{slug}/owner/proxies")
def proxies_page(request: Request, slug: str, round: str | None = None) -> Response:  # noqa: A002
    """The owner's authorisations in a round: who votes for me, for whom I vote; grant, revoke."""
    return _proxies(request, slug, round)


@router.post("/estates/{slug}/owner/proxies")
async def proxies_find(request: Request, slug: str) -> Response:
    """Find the owner of a flat to authorise (the grant itself is signed in the browser)."""
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_proxies_find, request, slug, form)


def _proxies_find(request: Request, slug: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    fields = {k: str(form.get(k) or "")[:64].strip() for k in ("building", "unit", "room")}
    round_id = str(form.get("round") or "")[:63]
    me = owner_session(request)
    if me is None or me.estate != slug:
        return _proxies(request, slug, round_id)
    if not fields["building"] or not fields["room"]:
        return _proxies(request, slug, round_id, form=fields, status=422,
                        error=i18n.t(request, "Type the building and room of a flat of the owner you want to "
                                              "authorise."))
    from ledger import log
    from voting import proxy_ref as proxy_refs
    from voting import rounds as rounds_
    from web import booth

    at = factor.now()
    flat = "-".join(x for x in (fields["building"], fields["unit"], fields["room"]) if x)
    refused = None
    try:
        with transaction(request.app.state.engine) as session:
            # at most LOOKUPS flats per owner an hour, and PER_ROUND different owners named in a round
            if factor.count_events(session, LOOKUP, at - 3600, estate=slug, voter=me.voter) >= LOOKUPS:
                return _proxies(request, slug, round_id, form=fields, status=429,
                                error=i18n.t(request, "Too many flats looked up. Try again in an hour."))
            factor.record_event(session, LOOKUP, slug, me.voter, security.client_address(request), at)
            view = rounds_.load(session, slug, round_id) if booth.ROUND_ID.match(round_id) else None
            proxy = store.voter_for_part(session, slug, fields["building"], fields["unit"], fields["room"])
            if view is None or view.announcement is None:
                proxy = None
            elif proxy is not None and proxy != me.voter:
                log_id = store.get_estate(session, slug).log_id
                log.lock_log(session, log_id)  # the count and the new row in turn, as grants are
                if (proxy_refs.of(session, log_id, round_id, me.voter, proxy) is None
                        and proxy_refs.named(session, log_id, round_id, me.voter) >= proxy_refs.PER_ROUND):
                    refused = i18n.t(request, "You have named %(n)s different owners in this round already. Ask the "
                                              "supervisor to record a written authorisation instead.",
                                     n=proxy_refs.PER_ROUND)
                else:
                    # the browser gets a reference, never the owner's voter number (SPEC §7.8)
                    found = proxy_refs.refer(session, log_id, round_id, view.fingerprint.hex(), me.voter, proxy,
                                             flat)
                    found = {"ref": found.ref, "flat": flat}
    except (ValueError, rounds_.RoundError):
        proxy = None
    if refused:
        return _proxies(request, slug, round_id, form=fields, status=429, error=refused)
    if proxy is None:
        return _proxies(request, slug, round_id, form=fields, status=422,
                        error=i18n.t(request, "There is no such flat in the owners' roll. Check the building, unit "
                                              "and room."))
    if proxy == me.voter:
        return _proxies(request, slug, round_id, form=fields, status=422,
                        error=i18n.t(request, "That flat is yours: choose another owner's flat."))
    return _proxies(request, slug, round_id, form=fields, found=found)


def _proxies(request: Request, slug: str, round_id: str | None, *, form: dict | None = None,
             error: str | None = None, status: int = 200, found: dict | None = None) -> Response:
    from voting import proxy_ref as proxy_refs
    from voting import rounds as rounds_
    from web import booth

    estate = _estate(request, slug)
    me = owner_session(request)
    if me is None or me.estate != slug:
        target = f"/estates/{slug}/owner/proxies" + (f"?round={round_id}" if round_id else "")
        return RedirectResponse(f"/estates/{slug}/owner?next={quote(target, safe='')}", status_code=303)
    lines = [r for r in booth.estate_rounds(request, slug) if r.state in ("announced", "open")]
    if not round_id and len(lines) == 1:
        round_id = lines[0].id
    view = None
    if round_id and booth.ROUND_ID.match(round_id):
        with reading(request.app.state.engine) as session:
            try:
                view = rounds_.load(session, slug, round_id)
            except rounds_.RoundError:
                view = None
    if view is None or view.announcement is None:
        return _page(request, "proxies.html", {"estate": estate, "view": None, "rounds": lines, "me": me,
                                               "error": error}, status)
    state = view.state(booth._now(request))
    with reading(request.app.state.engine) as session:
        reg = authority.registry(session, slug)
        grants = booth._grants(session, estate, round_id)
        voted = booth._voted(session, estate, round_id, me.voter)
        mine = next((g for g in grants if g.voter == me.voter), None)
        # my grant in force, by its reference (the flat I named, if I named one): never the proxy's voter number
        named = mine and proxy_refs.of(session, estate.log_id, round_id, me.voter, mine.proxy)
        mine = mine and {"ref": named.ref if named else None, "flat": named.flat if named else None}
    to_me = [g.voter for g in grants if g.proxy == me.voter]
    key = reg.key_of(me.voter)
    data = {"slug": slug, "origin": estate.origin, "round": round_id, "fingerprint": view.fingerprint.hex(),
            "me": me.voter, "key": key, "url": f"/api/v1/estates/{slug}/rounds/{round_id}/proxies",
            "refusals": {code: i18n.t(request, text) for code, text in booth.REFUSALS.items()},
            "messages": {"code_mismatch": booth.booth_messages(request)["code_mismatch"],
                         "done": i18n.t(request, "Done. The public record now holds it.")}}
    return _page(request, "proxies.html", {
        "estate": estate, "view": view, "state": state, "rounds": lines, "me": me, "mine": mine, "to_me": to_me,
        "voted": voted, "key": key, "form": form or {}, "error": error, "found": found, "data": data,
        "open": state in ("announced", "open"), "cap": view.policies.proxy_cap,
        "eligible": me.voter in view.voters}, status)
