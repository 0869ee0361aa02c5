"""HTTP security for every page and API response: headers, body limits, sessions, CSRF.

- Headers (OWASP Secure Headers): a strict Content-Security-Policy (CSP Level 3; no inline
  script or style anywhere, so 'unsafe-inline' is never needed), X-Content-Type-Options,
  Referrer-Policy, no framing, HSTS over https, and ``Cache-Control: no-store`` outside
  /static (pages carry CSRF tokens and signed-in state).
- Request bodies are limited (``MAX_BODY``); a larger one gets 413 before it is read whole.
- Staff sessions: the browser holds a random token in an HttpOnly, SameSite=Lax cookie (Secure
  over https); the database holds only its hash (web.sessions).
- CSRF: every state-changing form posts ``visitor(request).csrf``: the synchronizer token of its
  session when signed in, else the signed double-submit token of the visitor's CSRF cookie (no
  database row; the cookie is set on the response that first needed it).  A POST without it, or
  with another session's or another cookie's, is refused 403 before anything is written.
- Roles: ``require_estate_role`` (SPEC §8) before every staff action on an estate.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity import staff as staff_store
from ledger.db import reading
from web import sessions

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
MAX_UPLOAD = 5 * 1024 * 1024  # a roll CSV: 5 MiB
MAX_BODY = MAX_UPLOAD + 64 * 1024  # the upload plus the multipart envelope and form fields
SESSION_COOKIE = "gongjue_session"
CSRF_COOKIE = "gongjue_csrf"
CSRF_COOKIE_SECONDS = 30 * 86400
_PENDING_COOKIE = "gongjue.csrf_cookie"  # request state: a CSRF cookie to set on the response
TOO_LARGE = "上传内容太大（上限 5 MB）/ request body too large (limit 5 MB)"


class SecurityHeaders:
    """ASGI middleware: add SECURITY_HEADERS to every HTTP response, whatever produced it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = list(SECURITY_HEADERS)
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))
        cacheable = scope.get("path", "").startswith("/static/")
        scope.setdefault("state", {})  # shared with every Request of this scope (the CSRF cookie)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in extra}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                if not cacheable and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))  # pages carry CSRF tokens
                cookie = _pending_cookie_header(scope)
                message = {**message, "headers": headers + extra + ([cookie] if cookie else [])}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted as it arrives and refused as soon as it passes the limit (nothing is written:
    handlers write only after reading the whole body).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _send_413(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_413(send)


async def _send_413(send: Send) -> None:
    body = TOO_LARGE.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Visitor:
    """Who is asking: the live staff session (token and holder), if any, and the form CSRF token."""

    def __init__(self, token: str | None, signed_in: sessions.SignedIn | None, request: Request | None = None):
        self.token = token if signed_in else None
        self.signed_in = signed_in
        self._request = request
        self._csrf: str | None = None

    @property
    def staff(self) -> sessions.SignedIn | None:
        return self.signed_in

    @property
    def csrf(self) -> str:
        """The token every POST form carries: the session's, or for an anonymous visitor the
        signed double-submit token of its CSRF cookie (set on this response if it had none)."""
        if self._csrf is None:
            if self.token:
                self._csrf = sessions.session_csrf(self.token)
            elif self._request is None:
                self._csrf = ""
            else:
                self._csrf = sessions.anonymous_csrf(sessions.server_key(self._request.app.state.engine),
                                                     _csrf_nonce(self._request, create=True) or "")
        return self._csrf


class LazyCsrf:
    """``visitor.csrf`` computed only when a template prints it: a page without a form sets no
    CSRF cookie.  Renders as the token (``str`` and Jinja's ``__html__``)."""

    def __init__(self, found: Visitor):
        self._found = found

    def __str__(self) -> str:
        return self._found.csrf

    def __html__(self) -> str:
        return self._found.csrf  # hex: nothing to escape

    def __bool__(self) -> bool:
        return True


def csrf_cookie_name(request: Request) -> str:
    """``__Host-gongjue_csrf`` over https (no sibling domain can set it), else ``gongjue_csrf``."""
    return f"__Host-{CSRF_COOKIE}" if request.url.scheme == "https" else CSRF_COOKIE


def _csrf_nonce(request: Request, *, create: bool) -> str | None:
    nonce = request.cookies.get(csrf_cookie_name(request))
    if sessions.valid_nonce(nonce):
        return nonce
    state = request.scope.setdefault("state", {})
    pending = state.get(_PENDING_COOKIE)
    if pending is None and create:
        pending = state[_PENDING_COOKIE] = (csrf_cookie_name(request), sessions.new_nonce(),
                                            request.url.scheme == "https")
    return pending[1] if pending else None


def _pending_cookie_header(scope: Scope) -> tuple[bytes, bytes] | None:
    pending = scope.get("state", {}).get(_PENDING_COOKIE)
    if pending is None:
        return None
    name, nonce, secure = pending
    value = f"{name}={nonce}; Max-Age={CSRF_COOKIE_SECONDS}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return (b"set-cookie", value.encode())


def visitor(request: Request) -> Visitor:
    """The request's visitor, looked up once per request from the session cookie (a read-only
    transaction, and none at all without a cookie)."""
    cached = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE) or None
    signed_in = None
    if token:
        with reading(request.app.state.engine) as session:
            signed_in = sessions.session_for(session, token)
    found = Visitor(token, signed_in, request)
    request.state.visitor = found
    return found


def remember(request: Request, found: Visitor) -> None:
    """Replace the request's cached visitor (after sign-in or sign-out)."""
    request.state.visitor = found


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")


def check_csrf(request: Request, submitted: object) -> Visitor:
    """Refuse (403) a state-changing request whose form lacks its CSRF token: the session's when
    signed in, else the signed token of the visitor's CSRF cookie.  Nothing is written either way."""
    found = visitor(request)
    expected = None
    if found.token:
        expected = sessions.session_csrf(found.token)
    else:
        nonce = request.cookies.get(csrf_cookie_name(request))
        if sessions.valid_nonce(nonce):
            expected = sessions.anonymous_csrf(sessions.server_key(request.app.state.engine), nonce)
    if expected is None or not isinstance(submitted, str) or not hmac.compare_digest(expected, submitted):
        raise HTTPException(403, "表单已过期或来源不明，请返回刷新页面后重试 / "
                                 "missing or wrong CSRF token; reload the page and try again")
    return found


def require_role(found: Visitor, roles: tuple[str, ...] = staff_store.ACCOUNT_ROLES) -> sessions.SignedIn:
    """The signed-in staff member if their role is in ``roles``; else 401 or 403."""
    if found.staff is None:
        raise HTTPException(401, "请先以工作人员身份登录 / sign in as staff first")
    if found.staff.role not in roles:
        raise HTTPException(403, "没有权限 / your role may not do this")
    return found.staff


def require_signed_in(found: Visitor) -> sessions.SignedIn:
    """The signed-in staff member, else 401."""
    if found.staff is None:
        raise HTTPException(401, "请先以工作人员身份登录 / sign in as staff first")
    return found.staff


def require_estate_role(request: Request, slug: str, *roles: str) -> sessions.SignedIn:
    """The signed-in staff member if they hold one of ``roles`` in the estate ``slug``.

    401 when nobody is signed in, 403 (a page, or JSON under /api/) naming the roles needed when
    they hold none of them.  ``roles`` are estate roles (identity.staff.ESTATE_ROLES) and may
    include ``"admin"``: an admin account passes only where ``"admin"`` is listed (SPEC §8).
    """
    unknown = [r for r in roles if r not in staff_store.ESTATE_ROLES and r != "admin"]
    if unknown or not roles:
        raise ValueError(f"no such roles: {unknown or roles}")
    staff = require_signed_in(visitor(request))
    if "admin" in roles and staff.role == "admin":
        return staff
    with reading(request.app.state.engine) as session:
        held = staff_store.roles_in(session, staff.staff_id, slug)
    if held.isdisjoint(roles):
        raise HTTPException(403, forbidden_message(slug, roles))
    return staff


def forbidden_message(slug: str, roles: tuple[str, ...]) -> str:
    names = "、".join(staff_store.ROLE_NAMES[r] for r in roles)
    return (f"没有权限：需要在小区 '{slug}' 担任{names}，请联系管理员分配角色 / "
            f"not allowed: this needs the role {' or '.join(roles)} in estate '{slug}'; ask an admin to assign it")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
