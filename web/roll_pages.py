"""Roll upload pages (moved from web/pages.py): new estate ``/roll/new``, new version ``/estates/<slug>/roll``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.datastructures import FormData, UploadFile

from identity import store
from identity.csvfile import CsvError
from identity.roll import read_roll
from ledger.checkpoint import CheckpointError
from ledger.db import reading, transaction
from ledger.log import LogError
from web import security, sessions
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)


def _overview(request: Request, slug: str) -> store.Overview:
    try:
        with reading(request.app.state.engine) as session:
            view = store.overview(session, slug)
    except store.RollTampered as exc:
        raise HTTPException(500, str(exc)) from None
    if view is None:
        raise HTTPException(404, f"没有这个小区 / no estate '{slug}'")
    return view


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


def _existing(request: Request, slug: str) -> store.Overview:
    return _overview(request, slug)


@router.get("/roll/new")
def new_estate_roll_form(request: Request) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_role(visitor(request))
    return _upload_page(request, UploadForm())


@router.get("/estates/{slug}/roll")
def estate_roll_form(request: Request, slug: str) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
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
    try:  # hashing before, one short write transaction (identity.store.import_roll_file)
        version = store.import_roll_file(request.app.state.engine, page.slug, roll, filename=filename, data=data,
                                         name=page.name)
    except store.ImportConflict as exc:  # a concurrent upload won twice: nothing written, try again
        page.error = str(exc)
        return _upload_page(request, page, 409)
    except store.EstateError as exc:
        page.error = str(exc)
        return _upload_page(request, page, 422)
    except (IntegrityError, LogError, OperationalError) as exc:
        page.error = ("数据库忙，名册未导入，请稍后重试 / the database is busy; the roll was not imported, "
                      f"please try again ({type(exc).__name__})")
        return _upload_page(request, page, 503)
    except CheckpointError as exc:  # the server's log key is not the one that signed this log
        page.error = f"账本拒绝签署，名册未导入 / the ledger refused to sign, roll not imported: {exc}"
        return _upload_page(request, page, 500)
    with transaction(request.app.state.engine) as session:
        sessions.set_flash(session, found.token, f"已导入第 {version} 版名册 / roll version {version} imported")
    return RedirectResponse(f"/estates/{page.slug}", status_code=303)


def _check_new_estate(request: Request, page: UploadForm) -> None:
    store.check_slug(page.slug)
    page.name = store.check_name(page.name)  # 1–200 characters, no NUL, invisible or control characters
    with reading(request.app.state.engine) as session:
        if store.get_estate(session, page.slug) is not None:
            raise store.EstateError(f"小区代号 '{page.slug}' 已被使用；要更新名册请到该小区页面上传 / "
                                    f"estate '{page.slug}' exists; upload a new roll version from its page")


def _base_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()  # no NUL or control characters
    return name[:100] or "roll.csv"
