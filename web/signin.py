"""Staff sign-in and sign-out (issue #8.2, SPEC §8.3).

POST /signin, in order:
1. the form's CSRF token (web.security; anonymous forms need no database row);
2. one write transaction *reserves* the attempt against its counters (web.limits) and reads the
   account's hash; a refusal is 429 with Retry-After and no password is checked;
3. argon2 runs outside any transaction, on one thread (identity.staff.password_matches), behind
   a gate: one check at a time for browsers without a device cookie (resting UNTRUSTED_REST
   after each) and one for browsers with one, each waiting at most GATE_WAIT seconds, beyond
   which the answer is 503 with Retry-After (the reservation is refunded): a flood of wrong
   sign-ins takes a bounded share of one core and public reads keep their speed;
4. a second write transaction records the outcome: on success the attempt is refunded, the
   owner's own counters are forgotten, any session the browser held is closed and a new token
   issued (no session fixation), the sign-in is logged (identity access log), and a signed
   device cookie is set (OWASP "device cookies").

Accounts with TOTP on (identity.staff, RFC 6238) get no session at step 4: the page asks for
the 6-digit code instead, carrying a signed *ticket* (account, expiry TICKET_SECONDS, nonce;
HMAC with the server key) so the password is not asked again.  POST /signin with ``ticket`` and
``code``: the CSRF token, then the code's own counters are reserved (web.limits, the password's
rules, keys of the account prefixed ``totp:``), then the code is checked (each time step
accepted once); on success the same step 4 as above.  The secret is never logged.

Messages are in the visitor's language (web.i18n; ids in English, Chinese in site.po).
"""

from __future__ import annotations

import hmac
import threading
import time
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from identity import staff as staff_store
from ledger.db import transaction
from web import i18n, limits, security, sessions
from web.templating import templates

router = APIRouter(include_in_schema=False)

DEVICE_COOKIE = "gongjue_device"
DEVICE_SECONDS = 180 * 86400
_DEVICE_TAG = "gongjue/v1/device|"
GATE_WAIT = 0.5  # seconds a sign-in may wait for the argon2 gate
UNTRUSTED_REST = 0.25  # seconds the gate of browsers without a device cookie rests after each check
BUSY_RETRY = 2
TICKET_SECONDS = 300  # the code must follow the password within five minutes
_TICKET_TAG = "gongjue/v1/totp-ticket|"
TOTP_KEY_PREFIX = "totp:"  # the code's counters (web.limits) are the account's, prefixed


class _Refusal(Exception):
    def __init__(self, refused: limits.Refused):
        self.refused = refused


def too_many(request: Request, seconds: int) -> str:
    """The refusal of a rate-limited attempt, with the wait in seconds or minutes."""
    if seconds < 120:
        return i18n.t(request, "Too many failed sign-ins. Please try again in %(n)s seconds.", n=seconds)
    return i18n.t(request, "Too many failed sign-ins. Please try again in %(n)s minutes.", n=(seconds + 59) // 60)


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else "/" (no open redirects)."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and " " not in target):
        return target
    return "/"


def signin_redirect(request: Request) -> Response:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


def _page(request: Request, *, next_path: str, username: str = "", error: str | None = None,
          status: int = 200, headers: dict | None = None, ticket: str | None = None) -> Response:
    return templates.TemplateResponse(request, "signin.html", {
        "next": next_path, "username": username, "error": error,
        "totp_ticket": ticket}, status_code=status, headers=headers)


def _refused(request: Request, refused: limits.Refused, **page: object) -> Response:
    wait = max(1, refused.retry_after)
    return _page(request, error=too_many(request, wait), status=429, headers={"Retry-After": str(wait)},
                 **page)


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    """The sign-in form: nothing is written (its CSRF token is bound to a signed cookie)."""
    return _page(request, next_path=local_path(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_signin, request, form)  # argon2 takes ~0.1 s: off the event loop


def _signin(request: Request, form: FormData) -> Response:
    found = security.check_csrf(request, form.get("csrf"))
    if form.get("ticket") is not None:
        return _second_step(request, form, found)
    username = str(form.get("username") or "")[:200]
    password = str(form.get("password") or "")
    next_path = local_path(str(form.get("next") or "/"))
    client = security.client_address(request)
    engine = request.app.state.engine
    key = sessions.server_key(engine)
    device = device_of(request, key, username)
    keys = limits.keys_for(username, client, device)
    try:
        with transaction(engine) as session:
            refused = limits.reserve(session, keys)
            if refused is not None:
                raise _Refusal(refused)
            record = staff_store.password_record(session, username) if len(password) <= staff_store.MAX_PASSWORD \
                else None
    except _Refusal as exc:
        return _refused(request, exc.refused, next_path=next_path, username=username)
    gate = _gate(request.app, trusted=device is not None)
    if not gate.acquire(timeout=GATE_WAIT):
        with transaction(engine) as session:
            limits.refund(session, keys, forget=())
        return _page(request, next_path=next_path, username=username, error=i18n.t(request, "Too many sign-ins at the moment. Please try again shortly."), status=503,
                     headers={"Retry-After": str(BUSY_RETRY)})
    try:  # argon2, outside any transaction
        right = staff_store.password_matches(record.password_hash if record else None, password)
        new_hash = staff_store.rehash(record.password_hash, password) if right else None
    finally:
        gate.release()
    if not right:  # logged for unknown names too: the same work whether the account exists or not
        with transaction(engine) as session:
            staff_store.log_access(session, "signin.failed", client=client,
                                   username=record.username if record else staff_store.normalize_username(username))
        return _page(request, next_path=next_path, username=username, error=i18n.t(request, "Wrong username or password."), status=401)
    with transaction(engine) as session:
        limits.refund(session, keys)
        account = session.get(staff_store.Staff, record.staff_id)
        if account is None:  # removed meanwhile
            return _page(request, next_path=next_path, username=username, error=i18n.t(request, "Wrong username or password."), status=401)
        if new_hash is not None:
            account.password_hash = new_hash
        if account.totp_secret is not None:  # the code is asked next; no session yet
            return _page(request, next_path=next_path, username=account.username,
                         ticket=make_ticket(key, account.id, account.username))
        token = _open(session, found, account, client)
    return _signed_in(request, next_path, token, key, record.username)


def _open(session: Session, found: security.Visitor, account: staff_store.Staff, client: str) -> str:
    """Close any session the browser brought, open a new one (no fixation), log the sign-in."""
    sessions.close_session(session, found.token)
    token = sessions.open_session(session, account)
    staff_store.log_access(session, "signin", actor=account.username, username=account.username, client=client)
    return token


def _signed_in(request: Request, next_path: str, token: str, key: bytes, username: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    security.set_session_cookie(request, response, token, sessions.SESSION_SECONDS)
    _set_device_cookie(request, response, key, username)
    return response


# --- the TOTP step ---------------------------------------------------------------------------------


def make_ticket(key: bytes, staff_id: int, username: str, at: int | None = None) -> str:
    """``<staff_id>.<expires>.<nonce>.<hmac>``: this browser gave ``username``'s right password."""
    expires = (sessions.now() if at is None else at) + TICKET_SECONDS
    nonce = sessions.new_nonce()
    return f"{staff_id}.{expires}.{nonce}.{sessions.sign(key, _TICKET_TAG, f'{staff_id}|{expires}|{nonce}|{username}')}"


def read_ticket(key: bytes, ticket: str, username: str, at: int | None = None) -> int | None:
    """The account id of a genuine, unexpired ticket for ``username``, else None."""
    parts = ticket.split(".") if len(ticket) <= 200 else []
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or not sessions.valid_nonce(parts[2]):
        return None
    staff_id, expires, nonce, mac = int(parts[0]), int(parts[1]), parts[2], parts[3]
    expected = sessions.sign(key, _TICKET_TAG, f"{staff_id}|{expires}|{nonce}|{username}")
    if not hmac.compare_digest(expected, mac) or expires <= (sessions.now() if at is None else at):
        return None
    return staff_id


def _second_step(request: Request, form: FormData, found: security.Visitor) -> Response:
    """The 6-digit code of an account with TOTP, after its right password (the ticket)."""
    username = staff_store.normalize_username(str(form.get("username") or ""))[:64]
    code = str(form.get("code") or "")
    next_path = local_path(str(form.get("next") or "/"))
    ticket = str(form.get("ticket") or "")
    client = security.client_address(request)
    engine = request.app.state.engine
    key = sessions.server_key(engine)
    staff_id = read_ticket(key, ticket, username)
    if staff_id is None:
        return _page(request, next_path=next_path, username=username, error=i18n.t(request, "Too long since the password was given. Please sign in again."), status=401)
    keys = totp_limit_keys(request, key, username)
    try:
        with transaction(engine) as session:
            refused = limits.reserve(session, keys)
            if refused is not None:
                raise _Refusal(refused)
    except _Refusal as exc:
        return _refused(request, exc.refused, next_path=next_path, username=username, ticket=ticket)
    with transaction(engine) as session:
        account = session.get(staff_store.Staff, staff_id)
        right = account is not None and staff_store.totp_check(session, staff_id, code)
        if not right:
            staff_store.log_access(session, "signin.code_failed", client=client, username=username)
        else:
            limits.refund(session, keys)
            token = _open(session, found, account, client)
    if not right:
        return _page(request, next_path=next_path, username=username, error=i18n.t(request, "That code is not right. Type the 6 digits your authenticator app shows now."), status=401, ticket=ticket)
    return _signed_in(request, next_path, token, key, username)


def totp_limit_keys(request: Request, key: bytes, username: str) -> list[str]:
    """The counters a code attempt reserves: the password's kinds, the account prefixed ``totp:``."""
    device = device_of(request, key, username)
    return limits.keys_for(TOTP_KEY_PREFIX + username, security.client_address(request),
                           TOTP_KEY_PREFIX + device if device else None)


@router.post("/signout")
async def signout(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_signout, request, form)


def _signout(request: Request, form: FormData) -> Response:
    found = security.check_csrf(request, form.get("csrf"))
    with transaction(request.app.state.engine) as session:
        sessions.close_session(session, found.token)
        if found.staff is not None:
            staff_store.log_access(session, "signout", actor=found.staff.username, username=found.staff.username,
                                   client=security.client_address(request))
    response = RedirectResponse("/", status_code=303)
    security.clear_session_cookie(request, response)
    return response


# --- device cookies (OWASP) ----------------------------------------------------------------------


def device_cookie(key: bytes, username: str, nonce: str | None = None) -> str:
    """``<nonce>.<hmac>.<username>``: this browser signed in as ``username`` before."""
    nonce = nonce or sessions.new_nonce()
    return f"{nonce}.{sessions.sign(key, _DEVICE_TAG, f'{nonce}|{username}')}.{username}"


def device_of(request: Request, key: bytes, username: str) -> str | None:
    """The nonce of the request's device cookie when it is genuine and names ``username``."""
    value = request.cookies.get(DEVICE_COOKIE) or ""
    parts = value.split(".", 2)
    if len(parts) != 3 or len(value) > 200:
        return None
    nonce, mac, name = parts
    if not sessions.valid_nonce(nonce) or name != staff_store.normalize_username(username):
        return None
    expected = sessions.sign(key, _DEVICE_TAG, f"{nonce}|{name}")
    return nonce if hmac.compare_digest(expected, mac) else None


def _set_device_cookie(request: Request, response: Response, key: bytes, username: str) -> None:
    response.set_cookie(DEVICE_COOKIE, device_cookie(key, username), max_age=DEVICE_SECONDS, path="/signin",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")


# --- the argon2 gate --------------------------------------------------------------------------------

class Gate:
    """One argon2 check at a time; after each, the gate rests ``rest`` seconds before the next.

    The rest bounds the share of a core that checks may take (a check takes ~0.2 s), whatever
    the rate of attempts; those that cannot start within their wait are answered 503.
    """

    def __init__(self, rest: float):
        self._lock = threading.Lock()
        self._rest = rest
        self._open_at = 0.0

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            return False
        pause = self._open_at - time.monotonic()
        if pause > 0:
            if time.monotonic() + pause > deadline:
                self._lock.release()
                return False
            time.sleep(pause)
        return True

    def release(self) -> None:
        self._open_at = time.monotonic() + self._rest
        self._lock.release()


_gates_lock = threading.Lock()


def _gate(app, *, trusted: bool) -> Gate:  # noqa: ANN001
    """The argon2 gate of browsers with (``trusted``) or without a device cookie, per app."""
    gates = getattr(app.state, "signin_gates", None)
    if gates is None:
        with _gates_lock:
            gates = getattr(app.state, "signin_gates", None)
            if gates is None:
                gates = app.state.signin_gates = {True: Gate(0.0), False: Gate(UNTRUSTED_REST)}
    return gates[trusted]
