"""Server-rendered pages: estates, estate overview, staff sign-in, roll upload.

Pages are plain HTML forms (no JavaScript) so they work in WeChat's browser and on old phones.
Every POST checks the session's CSRF token first (web.security), then who is asking, then the
input; writes happen in one transaction only after the whole input has been accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData, UploadFile

from identity import staff as staff_store
from identity import store
from identity.csvfile import CsvError
from identity.roll import read_roll
from ledger.checkpoint import CheckpointError
from ledger.db import transaction
from ledger.log import LogError
from web import security
from web.security import Visitor, visitor
from web.templating import templates

router = APIRouter(include_in_schema=False)

TOO_MANY = (f"登录失败次数过多，请 {staff_store.FAILURE_WINDOW // 60} 分钟后再试 / too many failed sign-ins; "
            f"try again in {staff_store.FAILURE_WINDOW // 60} minutes")
WRONG = "用户名或密码错误 / wrong username or password"
MAX_NAME = 200


@router.get("/")
def index(request: Request) -> Response:
    with transaction(request.app.state.engine) as session:
        estates = [(e.slug, e.name) for e in store.list_estates(session)]
    return templates.TemplateResponse(request, "index.html", {"estates": estates})


@router.get("/estates/{slug}")
def estate(request: Request, slug: str) -> Response:
    found = visitor(request)
    with transaction(request.app.state.engine) as session:
        view = store.overview(session, slug)
        flash = staff_store.pop_flash(session, found.token) if view and found.token else None
    if view is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return templates.TemplateResponse(request, "estate.html", {"estate": view, "flash": flash})


def _local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else "/" (no open redirects)."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and " " not in target):
        return target
    return "/"


def _signin_page(request: Request, *, next_path: str, username: str = "", error: str | None = None,
                 status: int = 200) -> Response:
    return templates.TemplateResponse(request, "signin.html", {"next": next_path, "username": username,
                                                               "error": error}, status_code=status)


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    """The sign-in form; an anonymous session is opened to bind the form's CSRF token."""
    found = visitor(request)
    next_path = _local_path(next)
    if found.token:
        return _signin_page(request, next_path=next_path)
    with transaction(request.app.state.engine) as session:
        token = staff_store.open_session(session, None)
        signed_in = staff_store.session_for(session, token)
    security.remember(request, Visitor(token, signed_in))
    response = _signin_page(request, next_path=next_path)
    security.set_session_cookie(request, response, token, staff_store.ANONYMOUS_SECONDS)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_signin, request, form)  # argon2 takes ~0.1 s: off the event loop


def _signin(request: Request, form: FormData) -> Response:
    """Check CSRF, then the rate limit, then the password; a success gets a new session."""
    found = security.check_csrf(request, form.get("csrf"))
    username = str(form.get("username") or "")[:200]
    password = str(form.get("password") or "")
    next_path = _local_path(str(form.get("next") or "/"))
    client = security.client_address(request)
    engine = request.app.state.engine
    with transaction(engine) as session:
        limited = staff_store.signin_limited(session, username, client)
    if limited:
        return _signin_page(request, next_path=next_path, username=username, error=TOO_MANY, status=429)
    with transaction(engine) as session:
        account = staff_store.verify_password(session, username, password)
        if account is None:
            staff_store.record_failure(session, username, client)
        else:
            staff_store.clear_failures(session, username)
            staff_store.close_session(session, found.token)  # a new token on sign-in: no fixation
            token = staff_store.open_session(session, account)
    if account is None:
        return _signin_page(request, next_path=next_path, username=username, error=WRONG, status=401)
    response = RedirectResponse(next_path, status_code=303)
    security.set_session_cookie(request, response, token, staff_store.SESSION_SECONDS)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10) as form:
        return await run_in_threadpool(_signout, request, form)


def _signout(request: Request, form: FormData) -> Response:
    found = security.check_csrf(request, form.get("csrf"))
    with transaction(request.app.state.engine) as session:
        staff_store.close_session(session, found.token)
    response = RedirectResponse("/", status_code=303)
    security.clear_session_cookie(request, response)
    return response


@dataclass
class UploadForm:
    """What the roll upload form shows: the estate (existing or new), values, and refusals."""

    slug: str = ""
    name: str = ""
    existing: store.Overview | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def _upload_page(request: Request, form: UploadForm, status: int = 200) -> Response:
    return templates.TemplateResponse(request, "roll_upload.html", {"form": form}, status_code=status)


def _signin_redirect(request: Request) -> Response:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


def _existing(request: Request, slug: str) -> store.Overview:
    with transaction(request.app.state.engine) as session:
        view = store.overview(session, slug)
    if view is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return view


@router.get("/roll/new")
def new_estate_roll_form(request: Request) -> Response:
    if visitor(request).staff is None:
        return _signin_redirect(request)
    security.require_role(visitor(request))
    return _upload_page(request, UploadForm())


@router.get("/estates/{slug}/roll")
def estate_roll_form(request: Request, slug: str) -> Response:
    if visitor(request).staff is None:
        return _signin_redirect(request)
    security.require_role(visitor(request))
    view = _existing(request, slug)
    security.require_estate_role(request, slug, "supervisor")
    return _upload_page(request, UploadForm(slug=view.slug, name=view.name, existing=view))


@router.post("/roll/new")
async def new_estate_roll(request: Request) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        return await _receive_roll(request, form, None)


@router.post("/estates/{slug}/roll")
async def estate_roll(request: Request, slug: str) -> Response:
    async with request.form(max_files=1, max_fields=10) as form:
        return await _receive_roll(request, form, slug)


async def _receive_roll(request: Request, form: FormData, slug: str | None) -> Response:
    """Read the uploaded file (bounded), then judge and import it off the event loop."""
    upload = form.get("file")
    file = None
    if isinstance(upload, UploadFile) and upload.filename:
        file = (_base_name(upload.filename), await upload.read(security.MAX_UPLOAD + 1))
    return await run_in_threadpool(_accept_roll, request, form, file, slug)


def _accept_roll(request: Request, form: FormData, file: tuple[str, bytes] | None, slug: str | None) -> Response:
    """Check CSRF and role, read the CSV, refuse it whole or import it as the next version."""
    found = security.check_csrf(request, form.get("csrf"))
    security.require_role(found)
    if slug is None:
        page = UploadForm(slug=str(form.get("slug") or "").strip(), name=str(form.get("name") or "").strip())
    else:
        view = _existing(request, slug)
        security.require_estate_role(request, slug, "supervisor")
        page = UploadForm(slug=view.slug, name=view.name, existing=view)
    if file is None:
        page.error = "请选择名册 CSV 文件 / choose a roll CSV file"
        return _upload_page(request, page, 422)
    filename, data = file
    if len(data) > security.MAX_UPLOAD:
        raise HTTPException(413, security.TOO_LARGE)
    try:
        if page.existing is None:
            _check_new_estate(request, page)
            security.require_estate_role(request, page.slug, "supervisor")
        roll = read_roll(data, filename)
    except store.EstateError as exc:
        page.error = str(exc)
        return _upload_page(request, page, 422)
    except CsvError as exc:
        page.error = f"名册未导入：{len(exc.problems)} 处错误，未写入任何内容 / roll refused, nothing was written"
        page.problems = exc.problems
        return _upload_page(request, page, 422)
    try:
        with transaction(request.app.state.engine) as session:
            version = store.import_roll(session, page.slug, roll, filename=filename, data=data,
                                        name=page.name).version
            staff_store.set_flash(session, found.token, f"已导入第 {version} 版名册 / roll version {version} imported")
    except (IntegrityError, LogError):  # another upload created the estate meanwhile
        page.error = f"小区代号 '{page.slug}' 已被使用 / estate slug already taken"
        return _upload_page(request, page, 409)
    except CheckpointError as exc:  # the server's log key is not the one that signed this log
        page.error = f"账本拒绝签署，名册未导入 / the ledger refused to sign, roll not imported: {exc}"
        return _upload_page(request, page, 500)
    return RedirectResponse(f"/estates/{page.slug}", status_code=303)


def _check_new_estate(request: Request, page: UploadForm) -> None:
    store.check_slug(page.slug)
    if not page.name:
        raise store.EstateError("请填写小区名称 / the estate name is empty")
    if len(page.name) > MAX_NAME:
        raise store.EstateError(f"小区名称过长（最多 {MAX_NAME} 字）/ estate name longer than {MAX_NAME} characters")
    with transaction(request.app.state.engine) as session:
        if store.get_estate(session, page.slug) is not None:
            raise store.EstateError(f"小区代号 '{page.slug}' 已被使用；要更新名册请到该小区页面上传 / "
                                    f"estate '{page.slug}' exists; upload a new roll version from its page")


def _base_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:100] or "roll.csv"
