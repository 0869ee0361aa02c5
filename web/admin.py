"""Staff pages of the site: roles (SPEC §8), the access log, and the two-step sign-in (TOTP).

- ``/admin/staff`` (admin accounts only): assign staff to estates with a role, take roles back,
  turn off an account's two-step sign-in (a lost phone), read the access log.
- ``/estates/<slug>/staff/roles``: who holds which role in one estate.  An admin and the
  estate's supervisors may read it; only an admin may change it (the same form fields as
  /admin/staff, the estate fixed by the address).
- ``/staff/totp`` (any signed-in staff member): turn the two-step sign-in on — a new secret is
  shown once as a QR code (segno, an inline SVG) and as text, and is kept only after the app's
  first code is typed back — or off (with a current code).  Codes are rate-limited like
  sign-ins (web.signin.totp_limit_keys); the secret is never logged.

Every form carries the session's CSRF token; a refused change re-renders the page with the
reason and writes nothing; each change is logged in the access log by identity.staff.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from starlette.datastructures import FormData

from identity import staff as staff_store
from identity.store import EstateError, check_slug, get_estate
from ledger.db import reading, transaction
from web import i18n, limits, security, sessions
from web.signin import signin_redirect, too_many, totp_limit_keys
from web.templating import templates

router = APIRouter(include_in_schema=False)
LOG_ROWS = 50


@dataclass
class AssignForm:
    username: str = ""
    estate: str = ""
    role: str = "supervisor"


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    totp: bool


def _flash(request: Request) -> str | None:
    found = security.visitor(request)
    if not found.token:
        return None
    with transaction(request.app.state.engine) as session:
        return sessions.pop_flash(session, found.token)


def _page(request: Request, form: AssignForm, *, error: str | None = None, status: int = 200) -> Response:
    with reading(request.app.state.engine) as session:
        accounts = [Account(name, role, secret is not None) for name, role, secret in session.execute(
            select(staff_store.Staff.username, staff_store.Staff.role, staff_store.Staff.totp_secret)
            .order_by(staff_store.Staff.username))]
        rows = staff_store.assignments(session)
        log = staff_store.access_log(session, limit=LOG_ROWS)
    flash = _flash(request) if status == 200 else None
    return templates.TemplateResponse(request, "staff/admin.html", {
        "form": form, "error": error, "flash": flash, "accounts": accounts, "assignments": rows, "log": log,
        "roles": staff_store.ESTATE_ROLES, "role_label": lambda role: role_label(request, role)},
        status_code=status)


@router.get("/admin/staff")
def admin_page(request: Request) -> Response:
    found = security.visitor(request)
    if found.staff is None:
        return signin_redirect(request)
    security.require_role(found, ("admin",))
    return _page(request, AssignForm())


@router.post("/admin/staff")
async def admin_change(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_change, request, form, None)


def _values(form: FormData, slug: str | None) -> AssignForm:
    return AssignForm(str(form.get("username") or "").strip()[:64],
                      slug if slug is not None else str(form.get("estate") or "").strip()[:63],
                      str(form.get("role") or ""))


def _refusal(request: Request, values: AssignForm, action: str) -> str | None:
    """Why the change cannot be made, in the visitor's language; None when it can be tried."""
    if action in ("assign", "unassign"):
        try:
            check_slug(values.estate)
        except EstateError:
            return i18n.t(request, "'%(slug)s' is not an estate code: 3–63 lowercase letters, digits and "
                                   "dashes.", slug=values.estate)
        if values.role not in staff_store.ESTATE_ROLES:
            return i18n.t(request, "'%(role)s' is not an estate role.", role=values.role)
    with reading(request.app.state.engine) as session:
        if staff_store.find_staff(session, values.username) is None:
            return i18n.t(request, "There is no staff account '%(name)s'.", name=values.username)
    return None


def _change(request: Request, form: FormData, slug: str | None) -> Response:
    """Assign, unassign or (admin page only) turn off an account's two-step sign-in."""
    found = security.check_csrf(request, form.get("csrf"))
    admin = security.require_role(found, ("admin",))
    values = _values(form, slug)
    action = str(form.get("action") or "")
    render = (lambda error, status: _page(request, values, error=error, status=status)) if slug is None else \
        (lambda error, status: _estate_page(request, slug, values, error=error, status=status))
    allowed = ("assign", "unassign") if slug is not None else ("assign", "unassign", "totp_off")
    if action not in allowed:
        return render(i18n.t(request, "Unknown action."), 422)
    if (why := _refusal(request, values, action)) is not None:
        return render(why, 422)
    try:
        with transaction(request.app.state.engine) as session:
            if action == "totp_off":
                changed = staff_store.totp_disable(session, values.username, by=admin.username,
                                                   client=security.client_address(request))
                message = (i18n.t(request, "Two-step sign-in turned off for %(name)s.", name=values.username)
                           if changed else
                           i18n.t(request, "%(name)s had no two-step sign-in; nothing changed.", name=values.username))
            else:
                change = staff_store.assign if action == "assign" else staff_store.unassign
                changed = change(session, values.username, values.estate, values.role, by=admin.username)
                message = _change_message(request, action, changed, values)
            sessions.set_flash(session, found.token, message)
    except staff_store.StaffError as exc:
        return render(str(exc), 422)
    return RedirectResponse("/admin/staff" if slug is None else f"/estates/{slug}/staff/roles", status_code=303)


def _change_message(request: Request, action: str, changed: bool, values: AssignForm) -> str:
    what = {"name": values.username, "estate": values.estate, "role": role_label(request, values.role)}
    if action == "assign":
        return (i18n.t(request, "Assigned: %(name)s · %(estate)s · %(role)s", **what) if changed else
                i18n.t(request, "Already held, nothing changed: %(name)s · %(estate)s · %(role)s", **what))
    return (i18n.t(request, "Removed: %(name)s · %(estate)s · %(role)s", **what) if changed else
            i18n.t(request, "Not held, nothing changed: %(name)s · %(estate)s · %(role)s", **what))


def role_label(request: Request, role: str) -> str:
    """An account kind or estate role in the visitor's language."""
    labels = {"staff": i18n.t(request, "Staff"), "admin": i18n.t(request, "Administrator"),
              "supervisor": i18n.t(request, "Supervisor"), "scrutineer": i18n.t(request, "Scrutineer"),
              "auditor": i18n.t(request, "Auditor"), "authority": i18n.t(request, "Credential authority")}
    return labels.get(role, role)


# --- one estate's roles ---------------------------------------------------------------------------


def _estate_page(request: Request, slug: str, form: AssignForm, *, error: str | None = None,
                 status: int = 200) -> Response:
    found = security.visitor(request)
    with reading(request.app.state.engine) as session:
        estate = get_estate(session, slug)
        rows = staff_store.assignments(session, slug=slug)
        accounts = list(session.scalars(select(staff_store.Staff.username).order_by(staff_store.Staff.username))) \
            if found.staff and found.staff.role == "admin" else []
    flash = _flash(request) if status == 200 else None
    return templates.TemplateResponse(request, "staff/roles.html", {
        "slug": slug, "estate": estate, "form": form, "error": error, "flash": flash, "assignments": rows,
        "accounts": accounts, "roles": staff_store.ESTATE_ROLES,
        "may_change": bool(found.staff and found.staff.role == "admin"),
        "role_label": lambda role: role_label(request, role)}, status_code=status)


@router.get("/estates/{slug}/staff/roles")
def estate_roles_page(request: Request, slug: str) -> Response:
    if security.visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, "supervisor", "admin")
    return _estate_page(request, slug, AssignForm(estate=slug))


@router.post("/estates/{slug}/staff/roles")
async def estate_roles_change(request: Request, slug: str) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_change, request, form, slug)


# --- two-step sign-in (TOTP) ------------------------------------------------------------------------


@dataclass(frozen=True)
class TotpState:
    on: bool
    since: int | None
    pending: str | None  # the secret being enrolled, shown until confirmed or cancelled
    qr: Markup | None
    uri: str | None


def _totp_state(request: Request, staff_id: int, username: str) -> TotpState:
    with reading(request.app.state.engine) as session:
        account = session.get(staff_store.Staff, staff_id)
        on, since, pending = account.totp_secret is not None, account.totp_since, account.totp_pending
    qr = uri = None
    if pending is not None and not on:
        uri = staff_store.totp_uri(pending, username)
        qr = Markup(segno.make(uri, error="m").svg_inline(border=4, dark="#000", light="#fff", omitsize=True,
                                                          svgclass="qr", lineclass=None))
    return TotpState(on, since, pending if not on else None, qr, uri)


def _totp_page(request: Request, *, error: str | None = None, status: int = 200,
               headers: dict | None = None) -> Response:
    staff = security.require_signed_in(security.visitor(request))
    state = _totp_state(request, staff.staff_id, staff.username)
    flash = _flash(request) if status == 200 else None
    return templates.TemplateResponse(request, "staff/totp.html", {"totp": state, "error": error, "flash": flash},
                                      status_code=status, headers=headers)


@router.get("/staff/totp")
def totp_page(request: Request) -> Response:
    if security.visitor(request).staff is None:
        return signin_redirect(request)
    return _totp_page(request)


@router.post("/staff/totp")
async def totp_change(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_totp_change, request, form)


def _totp_change(request: Request, form: FormData) -> Response:
    """start (a new secret to scan), cancel, confirm (with the app's code), off (with a code)."""
    found = security.check_csrf(request, form.get("csrf"))
    staff = security.require_signed_in(found)
    action = str(form.get("action") or "")
    engine = request.app.state.engine
    client = security.client_address(request)
    if action not in ("start", "cancel", "confirm", "off"):
        return _totp_page(request, error=i18n.t(request, "Unknown action."), status=422)
    if action in ("start", "cancel"):
        with transaction(engine) as session:
            if staff_store.totp_enabled(session, staff.staff_id):
                raise HTTPException(409, i18n.t(request, "Two-step sign-in is already on."))
            (staff_store.totp_start if action == "start" else staff_store.totp_cancel)(session, staff.staff_id)
        return RedirectResponse("/staff/totp", status_code=303)
    code = str(form.get("code") or "")
    keys = totp_limit_keys(request, sessions.server_key(engine), staff.username)
    with transaction(engine) as session:
        refused = limits.reserve(session, keys)
    if refused is not None:
        wait = max(1, refused.retry_after)
        return _totp_page(request, error=too_many(request, wait), status=429, headers={"Retry-After": str(wait)})
    with transaction(engine) as session:
        if action == "confirm":
            right = staff_store.totp_confirm(session, staff.staff_id, code, client=client)
        else:
            right = staff_store.totp_check(session, staff.staff_id, code)
            if right:
                staff_store.totp_disable(session, staff.username, by=staff.username, client=client)
        if right:
            limits.refund(session, keys)
            sessions.set_flash(session, found.token, i18n.t(request, "Two-step sign-in is on. From now on, "
                                                                     "signing in asks for a code from the app.")
                               if action == "confirm" else i18n.t(request, "Two-step sign-in is off."))
    if not right:
        return _totp_page(request, error=i18n.t(request, "That code is not right. Type the 6 digits your "
                                                         "authenticator app shows now."), status=422)
    return RedirectResponse("/staff/totp", status_code=303)
