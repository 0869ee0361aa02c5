"""Public pages of an estate's record (SPEC §2): the record page, check my ballot, downloads.

Anyone may read them — the ledger holds no names or phone numbers.  Pages for owners:

- ``/estates/{slug}/audit``: the public record in plain words with a one-tap check in the browser
  (web/static/verify/record.js: the checkpoint's signature, every entry, the Merkle root, the
  consistency with the checkpoint this browser saw last, every ballot's signature and proofs),
  the rounds and their results; the checkpoint, downloads, the CLI and the entries (50 a page)
  below a fold for auditors;
- ``/estates/{slug}/check`` (``#r=<seq>.<tracking>``, the booth receipt's QR link): check my
  ballot — paste or open a receipt, the browser fetches the entry with a fresh inclusion proof
  against the latest checkpoint and verifies it (web/static/verify/check.js).

Routes for scripts and auditors, all under ``/estates/{slug}/audit``:

- ``/entries.jsonl?size=N``: the first N entries' exact bytes, one a line (default: the latest
  signed checkpoint's size) — the bundle's ``entries.jsonl``, for the browser's check;
- ``/checkpoint``, ``/checkpoints/{size}``, ``/log.vkey``: signed notes and the verifier key (text);
- ``/log-keys.json``: entry 0's key and the ``log.key`` entries (SPEC §2.4), for check my ballot;
- ``/entries/{seq}``: the entry's exact stored bytes; ``/entries/{seq}/receipt.json``: its
  inclusion proof against the latest (or ``?size=``) signed checkpoint;
- ``/consistency.json?size1=&size2=``: a consistency proof between two sizes;
- ``/bundle.zip``: the export bundle (SPEC §2.7), the same files as ``gongjue export``;
- ``/openings.zip``: the roll openings (personal data, SPEC §2.7, §6.3) as ``openings/roll-<v>.json``,
  only for staff holding the role auditor or supervisor in the estate — never in the bundle.

The overview warns, Chinese first, when the server's last self-check of the log failed
(ledger.selfcheck, SPEC §2.9); ``lifespan`` runs that check periodically in a background thread,
and staff pages show the same warning through ``base.html`` (``ledger_warnings``).

The log is found by its origin ``<site>/<slug>`` in the ledger's own table.  Every handler reads
in ``ledger.db.reading`` (never the write lock: a long import does not queue these pages).
"""

from __future__ import annotations

import io
import json
import logging
import re
import tempfile
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from sqlalchemy import select

from identity import record, store
from ledger import anchor, bundle, checkpoint, keys, log as logs, receipt, rotation, selfcheck
from ledger.checkpoint import parse_checkpoint
from ledger.db import reading
from ledger.models import Entry
from voting import rounds
from web.security import require_estate_role, visitor
from web.templating import templates

router = APIRouter(include_in_schema=False)

PAGE = 50
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
NOT_SIGNED = "这个小区的账本还没有签名检查点 / this estate's ledger has no signed checkpoint yet"
OPENERS = ("auditor", "supervisor")  # estate roles that may download the roll openings (contract C5)
OPENINGS = "openings"


def _log_id(session, slug: str) -> int:  # noqa: ANN001
    found = logs.get_log(session, f"{keys.site_name()}/{slug}") if SLUG_RE.match(slug) else None
    if found is None:
        raise HTTPException(404, f"没有这个小区的账本 / no ledger for estate '{slug}'")
    return found.id


def _latest(session, log_id: int):  # noqa: ANN001, ANN202
    row = checkpoint.latest(session, log_id)
    if row is None:
        raise HTTPException(404, NOT_SIGNED)
    return row


@router.get("/estates/{slug}/audit")
def audit_page(request: Request, slug: str, start: int | None = None) -> Response:
    """The public record for owners: what it is, the one-tap check in the browser (web/static/verify),
    the rounds' results; the checkpoint, downloads, the CLI and the entries (50 a page, newest
    first unless ``start``) below a fold for auditors."""
    with reading(request.app.state.engine) as session:
        log_id = _log_id(session, slug)
        row = checkpoint.latest(session, log_id)
        current = logs.size(session, log_id)
        signed = row.size if row else 0
        paged = start is not None
        if start is None or not 0 <= start < max(current, 1):
            start = max(0, current - PAGE)
        page = logs.entries(session, log_id, start, start + PAGE)
        estate = store.get_estate(session, slug)
        round_list = []
        if estate is not None:
            try:
                round_list = [{"id": v.round_id, "state": v.state(), "closes": v.closes}
                              for v in rounds.list_rounds(session, slug, drafts=False)]
            except rounds.RoundError:
                round_list = []
        latest_time = _utc(page[-1].time) if page else None
        context = {
            "slug": slug, "origin": f"{keys.site_name()}/{slug}", "estate_name": estate.name if estate else slug,
            "note": _breakable(checkpoint.with_cosignatures(session, row)) if row else None,
            "signed": signed, "current": current, "root": parse_checkpoint(row.note).root.hex() if row else None,
            "checkpoints": len(checkpoint.history(session, log_id)), "cosigners": checkpoint.cosignature_count(session, row) if row else 0,
            "entries": [{"seq": e.seq, "type": e.type, "time": e.time, "when": _utc(e.time), "signed": e.seq < signed}
                        for e in reversed(page)],
            "start": start, "older": max(0, start - PAGE) if start > 0 else None,
            "newer": start + PAGE if start + PAGE < current else None, "paged": paged,
            "selfcheck": selfcheck.status(session, log_id),
            "may_open": _may_open(request, slug), "rounds": round_list, "latest_time": latest_time,
            "evidence": outside_evidence(session, log_id),  # timestamps and witnesses (SPEC §2.5, §2.10)
        }
    return templates.TemplateResponse(request, "audit/index.html", context)


def _utc(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


@router.get("/estates/{slug}/audit/entries.jsonl")
def entries_jsonl(request: Request, slug: str, size: str | None = None) -> Response:
    """The first ``size`` entries' exact bytes, one a line (the bundle's ``entries.jsonl``, SPEC §2.7):
    what the browser's record check downloads.  ``size`` defaults to the latest signed checkpoint's
    and may not exceed the log's current size (404)."""
    with reading(request.app.state.engine) as session:
        log_id = _log_id(session, slug)
        current = logs.size(session, log_id)
        if size is None:
            count = _latest(session, log_id).size
        else:
            try:
                count = _whole(size, "条目数", "size")
            except HTTPException as exc:
                return _json_error(exc)
        if count > current:
            return _json_error(HTTPException(404, f"账本只有 {current} 条 / the log has {current} entries"))
    engine = request.app.state.engine

    def lines() -> Iterator[bytes]:
        at = 0
        while at < count:
            with reading(engine) as session:
                batch = [bytes(e.data) for e in logs.entries(session, log_id, at, min(count, at + 2000))]
            if not batch:
                return
            yield b"".join(data + b"\n" for data in batch)
            at += len(batch)

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


def _may_open(request: Request, slug: str) -> bool:
    """Whether the visitor may download the roll openings (staff: auditor or supervisor there)."""
    if visitor(request).staff is None:
        return False
    try:
        require_estate_role(request, slug, *OPENERS)
    except HTTPException:
        return False
    return True


def _breakable(note: str) -> list[list[str]]:
    """The note's lines cut in 16-character pieces, so a phone can wrap them (``<wbr>``)."""
    return [[line[i:i + 16] for i in range(0, len(line), 16)] or [""] for line in note.split("\n")[:-1]]


@router.get("/estates/{slug}/check")
def check_page(request: Request, slug: str) -> Response:
    """Check my ballot: paste a receipt or open ``#r=<seq>.<tracking>``; the browser verifies it."""
    with reading(request.app.state.engine) as session:
        _log_id(session, slug)
        estate = store.get_estate(session, slug)
    return templates.TemplateResponse(request, "audit/check.html", {
        "slug": slug, "origin": f"{keys.site_name()}/{slug}", "estate_name": estate.name if estate else slug})


@router.get("/estates/{slug}/audit/checkpoint")
def latest_checkpoint(request: Request, slug: str) -> Response:
    with reading(request.app.state.engine) as session:
        row = _latest(session, _log_id(session, slug))
        return PlainTextResponse(checkpoint.with_cosignatures(session, row))


@router.get("/estates/{slug}/audit/checkpoints/{size}")
def checkpoint_at(request: Request, slug: str, size: int) -> Response:
    with reading(request.app.state.engine) as session:
        row = checkpoint.at_size(session, _log_id(session, slug), size)
        if row is None:
            raise HTTPException(404, f"没有大小为 {size} 的检查点 / no checkpoint of size {size}")
        return PlainTextResponse(checkpoint.with_cosignatures(session, row))


def outside_evidence(session, log_id: int) -> dict:  # noqa: ANN001
    """What anchors the record outside the operator (SPEC §2.5, §2.10): each witness's largest
    cosigned checkpoint (name, size, its cosignature time) and each TSA's latest token (size, time,
    the bundle file name ``<size>.<n>.tsr``)."""
    from sqlalchemy import func

    from ledger import timestamp
    from ledger.models import CheckpointRow, Cosignature

    witnesses = []
    largest = (select(Cosignature.witness, func.max(CheckpointRow.size))
               .join(CheckpointRow, Cosignature.checkpoint_id == CheckpointRow.id)
               .where(CheckpointRow.log_id == log_id).group_by(Cosignature.witness))
    for vkey, size in session.execute(largest).all():
        line = session.scalar(select(Cosignature.line).join(CheckpointRow, Cosignature.checkpoint_id == CheckpointRow.id)
                              .where(CheckpointRow.log_id == log_id, CheckpointRow.size == size,
                                     Cosignature.witness == vkey))
        witnesses.append({"name": vkey.split("+", 1)[0], "vkey": vkey, "size": size, "when": _cosigned_at(line)})
    stamps = []
    T = timestamp.TimestampRow
    latest = select(T.tsa, func.max(T.size)).where(T.log_id == log_id).group_by(T.tsa)
    for tsa, size in session.execute(latest).all():
        same = list(session.execute(select(T.id, T.tsa, T.gen_time).where(T.log_id == log_id, T.size == size)
                                    .order_by(T.id)).all())
        n = next(i for i, r in enumerate(same) if r[1] == tsa)
        stamps.append({"tsa": _host(tsa), "size": size, "when": same[n][2], "file": f"{size}.{n}.tsr"})
    return {"witnesses": sorted(witnesses, key=lambda w: w["name"]), "timestamps": sorted(stamps, key=lambda t: t["tsa"])}


def _cosigned_at(line: str | None) -> datetime | None:
    import base64
    import binascii

    try:
        raw = base64.b64decode(line.rstrip("\n").rsplit(" ", 1)[1], validate=True)
        return datetime.fromtimestamp(int.from_bytes(raw[4:12], "big"), UTC)
    except (AttributeError, IndexError, ValueError, binascii.Error, OverflowError, OSError):
        return None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


TOKEN_FILE = re.compile(r"(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,3})\.tsr\Z")


@router.get("/estates/{slug}/audit/timestamps/{name}")
def timestamp_token(request: Request, slug: str, name: str) -> Response:
    """A token of the bundle (``timestamps/<size>.<n>.tsr``, SPEC §2.10): the TSA's DER reply."""
    from ledger import timestamp

    match = TOKEN_FILE.match(name)
    if match is None:
        raise HTTPException(404, "时间戳文件名应为 <大小>.<序号>.tsr / a token is named <size>.<n>.tsr")
    size, n = int(match.group(1)), int(match.group(2))
    with reading(request.app.state.engine) as session:
        row = checkpoint.at_size(session, _log_id(session, slug), size)
        found = timestamp.tokens_of(session, row) if row is not None else []
        if n >= len(found):
            raise HTTPException(404, f"没有这个时间戳 / no token {name}")
        return Response(bytes(found[n].token), media_type=timestamp.REPLY_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/estates/{slug}/audit/log.vkey")
def verifier_key(request: Request, slug: str) -> Response:
    with reading(request.app.state.engine) as session:
        return PlainTextResponse(_latest(session, _log_id(session, slug)).vkey + "\n")


@router.get("/estates/{slug}/audit/log-keys.json")
def key_chain(request: Request, slug: str) -> Response:
    """The log's keys (SPEC §2.4): entry 0's and each ``log.key`` entry covered by the latest signed
    checkpoint, ``{"first": vkey, "rotations": [{"seq", "vkey"}], "size"}``. Claims only: a browser
    proves each hand-over with the entry's receipt at size seq + 1, signed by both keys."""
    with reading(request.app.state.engine) as session:
        log_id = _log_id(session, slug)
        size = _latest(session, log_id).size
        chain = {"first": rotation.first_key(session, log_id), "size": size,
                 "rotations": [{"seq": s, "vkey": v} for s, v in rotation.db_rotations(session, log_id, 0, size)]}
    return JSONResponse(chain, headers={"Cache-Control": "no-store"})


@router.get("/estates/{slug}/audit/entries/{seq}")
def entry_bytes(request: Request, slug: str, seq: int) -> Response:
    """The exact stored bytes of entry ``seq``."""
    with reading(request.app.state.engine) as session:
        found = logs.get_entry(session, _log_id(session, slug), seq)
        if found is None:
            raise HTTPException(404, f"没有第 {seq} 条 / no entry {seq}")
        return Response(found.data, media_type="application/json")


@router.get("/estates/{slug}/audit/entries/{seq}/receipt.json")
def entry_receipt(request: Request, slug: str, seq: str, size: str | None = None) -> Response:
    """Inclusion proof of entry ``seq`` against a signed checkpoint (SPEC §2.6), as a download.

    Every refusal is a JSON ``{"detail": "中文 / English"}`` with a 4xx status."""
    try:
        number = _whole(seq, "条目序号", "entry number")
        tree_size = None if size is None else _whole(size, "检查点大小", "size")
        with reading(request.app.state.engine) as session:
            try:
                found = receipt.build_receipt(session, _log_id(session, slug), number, tree_size)
            except receipt.ReceiptError as exc:
                raise HTTPException(404, str(exc)) from None
    except HTTPException as exc:
        return _json_error(exc)
    body = json.dumps(found, ensure_ascii=False, indent=2).encode("utf-8")
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-entry-{number}-receipt.json"'})


@router.get("/estates/{slug}/audit/consistency.json")
def consistency(request: Request, slug: str, size1: str | None = None, size2: str | None = None) -> Response:
    """Consistency proof between two sizes; both must be sizes the server signed (JSON errors, 4xx)."""
    try:
        first, second = _whole(size1, "起始大小 size1", "size1"), _whole(size2, "结束大小 size2", "size2")
        if first > second:
            raise HTTPException(400, f"size1（{first}）不能大于 size2（{second}） / size1 ({first}) must not exceed "
                                     f"size2 ({second})")
        with reading(request.app.state.engine) as session:
            log_id = _log_id(session, slug)
            for s in (first, second):
                if checkpoint.at_size(session, log_id, s) is None:
                    raise HTTPException(404, f"没有大小为 {s} 的签名检查点 / no signed checkpoint of size {s}")
            try:
                found = receipt.consistency(session, log_id, first, second)
            except logs.LogError as exc:
                raise HTTPException(400, f"无法给出这两个大小之间的一致性证明 / {exc}") from None
    except HTTPException as exc:
        return _json_error(exc)
    return Response(json.dumps(found, indent=2), media_type="application/json")


def _whole(text: str | None, zh: str, en: str) -> int:
    """A whole number given in a URL: ASCII digits only, at most 2^63−1 (else 404: no such entry or size)."""
    if text is None or not text:
        raise HTTPException(400, f"缺少{zh} / {en} is missing")
    if not (text.isascii() and text.isdigit()):
        raise HTTPException(400, f"{zh}必须是非负整数 / {en} must be a whole number (got {text[:30]!r})")
    if len(text) > 19 or not logs.in_range(int(text)):
        raise HTTPException(404, f"没有这样的{zh}：{text[:30]} / no such {en}: {text[:30]}")
    return int(text)


def _json_error(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


@router.get("/estates/{slug}/audit/bundle.zip")
def bundle_zip(request: Request, slug: str) -> Response:
    """The export bundle as a zip, built in a spooled temporary file and streamed."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with reading(request.app.state.engine) as session:
        log_id = _log_id(session, slug)
        try:
            bundle.write_zip(session, log_id, spool)
        except bundle.BundleError as exc:
            spool.close()
            raise HTTPException(404, str(exc)) from None
    spool.seek(0)
    return StreamingResponse(_chunks(spool), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{slug}-ledger.zip"'})


@router.get("/estates/{slug}/audit/openings.zip")
def openings_zip(request: Request, slug: str) -> Response:
    """The roll openings of every version still held, as ``openings/roll-<v>.json`` (auditor, supervisor)."""
    require_estate_role(request, slug, *OPENERS)
    with reading(request.app.state.engine) as session:
        try:
            files, _erased = roll_openings_files(session, _log_id(session, slug), slug)
        except store.RollTampered as exc:
            raise HTTPException(409, str(exc)) from None
    if not files:
        raise HTTPException(404, "没有可下载的名册公开值（已按保存期限删除，或还没有名册）/ no roll openings are "
                                 "held (erased after the retention period, or no roll yet)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{OPENINGS}/{name}", data)
    return Response(out.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{slug}-openings.zip"'})


def roll_openings_files(session, log_id: int, slug: str) -> tuple[dict[str, bytes], list[int]]:  # noqa: ANN001
    """``{"roll-<v>.json": JSON}`` for every roll version in the estate's ledger whose openings are
    still held, each checked against its entry (identity.store.roll_openings: RollTampered when the
    tables no longer open it), and the versions whose openings were erased."""
    files, erased = {}, []
    for (data,) in session.execute(select(Entry.data).where(Entry.log_id == log_id, Entry.type == record.ROLL)
                                   .order_by(Entry.seq)):
        version = json.loads(data)["body"]["version"]
        try:
            opened = store.roll_openings(session, slug, version)
        except store.RollTampered:
            raise
        except store.EstateError:
            erased.append(version)
            continue
        files[f"roll-{version}.json"] = (json.dumps(opened, ensure_ascii=False, sort_keys=True, indent=1)
                                         + "\n").encode("utf-8")
    return files, erased


def _chunks(spool) -> Iterator[bytes]:  # noqa: ANN001
    try:
        while chunk := spool.read(1 << 16):
            yield chunk
    finally:
        spool.close()


def ledger_warnings(request: Request) -> list[dict]:
    """For staff pages (base.html): every estate whose last ledger self-check failed."""
    with reading(request.app.state.engine) as session:
        return [{"slug": origin.rsplit("/", 1)[-1], "seq": row.seq, "message": row.message,
                 "checked_at": row.checked_at} for origin, row in selfcheck.problems(session)]


templates.env.globals["ledger_warnings"] = ledger_warnings


def evidence_warning(request: Request) -> dict | None:
    """For staff pages (base.html): the anchor loop's last pass, when trusted timestamps or witness
    cosignatures failed (ledger.anchor.failing; the messages carry no URL credentials)."""
    with reading(request.app.state.engine) as session:
        row = anchor.failing(session)
        return None if row is None else {"checked_at": row.checked_at, "failures": row.failures.splitlines()}


templates.env.globals["evidence_warning"] = evidence_warning


class SelfCheckThread(threading.Thread):
    """Runs ledger.selfcheck.run every ``seconds`` until ``stop``; a failure is logged, never fatal."""

    def __init__(self, engine, seconds: int) -> None:  # noqa: ANN001
        super().__init__(name="gongjue-selfcheck", daemon=True)
        self.engine, self.seconds, self.stopping = engine, seconds, threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.seconds):
            try:
                selfcheck.run(self.engine)
            except Exception:  # noqa: BLE001 — a busy or unreachable database must not end the loop
                logging.getLogger("gongjue.selfcheck").exception("账本自检未能运行 / ledger self-check could not run")

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: the periodic ledger self-check (GONGJUE_SELFCHECK_SECONDS, 0 = off)."""
    seconds = selfcheck.interval()
    worker = SelfCheckThread(app.state.engine, seconds) if seconds > 0 else None
    if worker:
        worker.start()
    app.state.selfcheck = worker
    try:
        yield
    finally:
        if worker:
            worker.stop()
