"""HTTP security for every page and API response: headers, body limits, sessions, CSRF.

- Headers (OWASP Secure Headers): a strict Content-Security-Policy (CSP Level 3; no inline
  script or style anywhere, so 'unsafe-inline' is never needed), X-Content-Type-Options,
  Referrer-Policy, no framing, HSTS over https, and ``Cache-Control: no-store`` outside
  /static (pages carry CSRF tokens and signed-in state).
- Request bodies are limited per route (``BODY_RULES``, the table in docs/operations.md); a
  larger one gets 413 before it is read whole.
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
import json
import re
from dataclasses import dataclass

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
KIB = 1024
MAX_UPLOAD = 5 * 1024 * KIB  # a roll CSV: 5 MiB
MAX_BODY = MAX_UPLOAD + 64 * KIB  # the upload plus the multipart envelope and form fields
MAX_HEADERS = 16 * KIB  # the request's header lines together (cookies included)
MAX_HEADER_COUNT = 100
HEADERS_TOO_LARGE = (f"请求头太大（上限 {MAX_HEADER_COUNT} 行、共 16 KB），请清除本站 Cookie 后重试 / request headers too "
                     f"large (limit {MAX_HEADER_COUNT} lines, 16 KB in all); clear this site's cookies and try again")
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


@dataclass(frozen=True)
class BodyRule:
    """The largest request body a route takes: ``route`` as docs/operations.md states it
    (``{slug}``, ``{id}``: one path segment; a trailing ``*``: any rest)."""

    route: str
    limit: int
    why: str

    @property
    def pattern(self) -> re.Pattern:
        return _route_pattern(self.route)


def _route_pattern(route: str) -> re.Pattern:
    rest = route.endswith("*")
    parts = [re.escape(p) if not p.startswith("{") else "[^/]+" for p in route.rstrip("*").split("/")]
    return re.compile("/".join(parts) + (".*" if rest else "") + "$")


# First match wins; docs/operations.md holds the same table (tests/fuzz/test_limits.py compares).
BODY_RULES = (
    BodyRule("/api/v1/estates/{slug}/rounds/{id}/ballots", 256 * KIB, "one signed ballot with its proofs"),
    BodyRule("/api/v1/estates/{slug}/rounds/{id}/proxies", 64 * KIB, "one proxy grant or revocation"),
    BodyRule("/api/v1/estates/{slug}/rounds/{id}/paper", 64 * KIB, "one paper ballot's choices"),
    BodyRule("/api/v1/estates/{slug}/authority", 64 * KIB, "the authority's public key file"),
    BodyRule("/api/v1/estates/{slug}/credentials", 4096 * KIB, "a credentials statement: every voter's key"),
    BodyRule("/api/v1/estates/{slug}/rounds/{id}/shares", 1024 * KIB, "a trustee's decryption shares"),
    BodyRule("/api/v1/estates/{slug}/consultations/{id}/responses", 16 * KIB, "one owner's answers"),
    BodyRule("/api/v1/*", 1024 * KIB, "any other JSON request"),
    BodyRule("/signin", 16 * KIB, "the staff sign-in form"),
    BodyRule("/estates/{slug}/owner/identify", 16 * KIB, "the owner sign-in form"),
    BodyRule("/estates/{slug}/owner/verify", 16 * KIB, "the owner's second factor"),
    BodyRule("*", MAX_BODY, "any other page: forms and uploads (a roll CSV up to 5 MiB)"),
)
_COMPILED = tuple((rule.pattern, rule) for rule in BODY_RULES)


def body_rule(path: str) -> BodyRule:
    """The body limit of a request path (BODY_RULES, first match)."""
    for pattern, rule in _COMPILED:
        if pattern.match(path):
            return rule
    return BODY_RULES[-1]


def too_large_message(limit: int) -> str:
    size = f"{limit // (1024 * KIB)} MB" if limit % (1024 * KIB) == 0 else f"{limit // KIB} KB"
    if limit == MAX_BODY:
        return TOO_LARGE
    return f"请求内容太大（上限 {size}）/ request body too large (limit {size})"


class BodyLimit:
    """ASGI middleware: refuse request bodies over their route's limit (``BODY_RULES``) with 413,
    and headers over MAX_HEADERS bytes or MAX_HEADER_COUNT lines with 431, before the app runs.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted as it arrives and refused as soon as it passes the limit (nothing is written:
    handlers write only after reading the whole body).  ``limit`` caps every rule (tests).
    The answer is JSON ``{"detail": {"code": "too_large" | "headers_too_large", "message"}}`` under
    /api/, else text.
    """

    def __init__(self, app: ASGIApp, limit: int | None = None):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = scope.get("headers", [])
        if len(headers) > MAX_HEADER_COUNT or sum(len(k) + len(v) + 4 for k, v in headers) > MAX_HEADERS:
            await _send_refusal(send, path, 431, HEADERS_TOO_LARGE, "headers_too_large")
            return
        limit = body_rule(path).limit
        if self.limit is not None:
            limit = min(limit, self.limit)
        declared = dict(headers).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_refusal(send, path, 413, too_large_message(limit), "too_large")
            return
        seen = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if not started and not refused:  # answer now: a handler may turn the error into a 400
                        refused = True
                        await _send_refusal(send, path, 413, too_large_message(limit), "too_large")
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app answers after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            pass


async def _send_refusal(send: Send, path: str, status: int, message: str, code: str) -> None:
    if path.startswith("/api/"):
        body, kind = json.dumps({"detail": {"code": code, "message": message}},
                                ensure_ascii=False).encode(), b"application/json"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind),
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
