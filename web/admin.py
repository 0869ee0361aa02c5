"""The admin page: assign staff to estates with a role, take roles back, read the access log (SPEC §8).

Only an ``admin`` account may open or post it.  The form carries the session's CSRF token; a
refused change (unknown account, bad slug or role) re-renders the page with the reason and
writes nothing; each change is logged in the access log by identity.staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from identity import staff as staff_store
from ledger.db import reading, transaction
from web import security, sessions
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
LOG_ROWS = 50


@dataclass
class AssignForm:
    username: str = ""
    estate: str = ""
    role: str = "supervisor"


@dataclass(frozen=True)
class LogLine:
    at_text: str
    action: str
    actor: str | None
    username: str | None
    estate: str | None
    role: str | None
    client: str | None


def _page(request: Request, form: AssignForm, *, error: str | None = None, status: int = 200) -> Response:
    found = security.visitor(request)
    with reading(request.app.state.engine) as session:
        accounts = list(session.execute(select(staff_store.Staff.username, staff_store.Staff.role)
                                        .order_by(staff_store.Staff.username)))
        rows = staff_store.assignments(session)
        log = [LogLine(datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S"), e.action, e.actor,
                       e.username, e.estate, e.role, e.client)
               for e in staff_store.access_log(session, limit=LOG_ROWS)]
    flash = None
    if found.token and status == 200:
        with transaction(request.app.state.engine) as session:
            flash = sessions.pop_flash(session, found.token)
    return templates.TemplateResponse(request, "staff/admin.html", {
        "form": form, "error": error, "flash": flash, "accounts": accounts, "assignments": rows, "log": log,
        "roles": staff_store.ESTATE_ROLES}, status_code=status)


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
        return await run_in_threadpool(_change, request, form)


def _change(request: Request, form: FormData) -> Response:
    found = security.check_csrf(request, form.get("csrf"))
    admin = security.require_role(found, ("admin",))
    values = AssignForm(str(form.get("username") or "").strip()[:64], str(form.get("estate") or "").strip()[:63],
                        str(form.get("role") or ""))
    action = form.get("action")
    if action not in ("assign", "unassign"):
        return _page(request, values, error="未知操作 / unknown action", status=422)
    change = staff_store.assign if action == "assign" else staff_store.unassign
    try:
        with transaction(request.app.state.engine) as session:
            changed = change(session, values.username, values.estate, values.role, by=admin.username)
            what = f"{values.username} · {values.estate} · {staff_store.ROLE_NAMES[values.role]}"
            message = {("assign", True): f"已分配：{what} / assigned",
                       ("assign", False): f"已有此角色，未改变：{what} / already held",
                       ("unassign", True): f"已收回：{what} / removed",
                       ("unassign", False): f"本无此角色，未改变：{what} / not held"}[(action, changed)]
            sessions.set_flash(session, found.token, message)
    except staff_store.StaffError as exc:
        return _page(request, values, error=str(exc), status=422)
    return RedirectResponse("/admin/staff", status_code=303)
