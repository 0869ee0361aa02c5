"""Notices (公告) of the say/discuss/do/judge loop: one printable A4 page per ledger step (SPEC §9.6).

Each kind of ledger entry that is a public step (a proposal published, a petition reaching the
statutory line, the committee's response, a consultation opened …) registers how to describe it:

    from web import notices
    notices.register("petition", describe)   # describe(body: dict, seq: int, slug: str) -> Notice

``Notice(title, lines, url)``: ``title`` and ``lines`` are already translated Chinese strings
(use ``notices.gettext`` so the messages are extracted into the catalogs), ``url`` is the path of
the step's page (``/estates/<slug>/…``) that the printed QR code opens.

- The estate home (``web/pages.py``) lists the notices of every registered type, newest first
  (``estate_notices``).
- ``GET /estates/<slug>/notices/<seq>`` prints any registered one: A4, the estate's name, the
  title and lines, the ledger entry (seq, time, leaf hash) and a QR code of ``url``.
- ``GET /estates/<slug>/notices`` lists them all.

Everything comes from the ledger entries (never from tables): a notice says only what its entry
states, so it carries no personal data (voters appear only by pseudonym, if at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from identity import store
from ledger.db import reading
from ledger.entry import parse_entry
from ledger.models import Entry
from web import i18n
from web.print_pages import absolute, qr_svg
from web.templating import templates

router = APIRouter(include_in_schema=False)
MAX_LISTED = 50


@dataclass(frozen=True)
class Notice:
    """What one step says, in Chinese (translated already), and the path of its page."""

    title: str
    lines: list[str] = field(default_factory=list)
    url: str = ""


Describe = Callable[[dict, int, str], Notice]
_DESCRIBE: dict[str, Describe] = {}


def register(entry_type: str, describe: Describe) -> None:
    """Make entries of ``entry_type`` notices: ``describe(body, seq, slug) -> Notice``."""
    _DESCRIBE[entry_type] = describe


def registered() -> tuple[str, ...]:
    return tuple(sorted(_DESCRIBE))


def gettext(message: str, **variables: object) -> str:
    """``message`` (an English msgid) in Chinese, ``%(name)s`` filled: notices are posted in Chinese."""
    text = i18n.translations("zh").gettext(message)
    return text % variables if variables else text


@dataclass(frozen=True)
class Listed:
    """A notice with its ledger entry."""

    seq: int
    type: str
    time: datetime
    leaf_hash: str
    notice: Notice


def _describe(entry_type: str, seq: int, time: str, leaf: bytes, data: bytes, slug: str) -> Listed | None:
    fn = _DESCRIBE.get(entry_type)
    if fn is None:
        return None
    body = parse_entry(bytes(data)).body
    when = datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return Listed(seq, entry_type, when, bytes(leaf).hex(), fn(body, seq, slug))


def estate_notices(session, slug: str, limit: int = MAX_LISTED) -> list[Listed]:
    """The notices of the estate's registered entry types, newest first (at most ``limit``)."""
    estate = store.get_estate(session, slug)
    if estate is None or estate.log_id is None or not _DESCRIBE:
        return []
    rows = session.execute(select(Entry.seq, Entry.type, Entry.time, Entry.leaf_hash, Entry.data)
                           .where(Entry.log_id == estate.log_id, Entry.type.in_(registered()))
                           .order_by(Entry.seq.desc()).limit(limit)).all()
    out = [_describe(r.type, r.seq, r.time, r.leaf_hash, r.data, slug) for r in rows]
    return [n for n in out if n is not None]


@router.get("/estates/{slug}/notices")
def notice_list(request: Request, slug: str) -> Response:
    with reading(request.app.state.engine) as session:
        estate = store.get_estate(session, slug)
        if estate is None:
            raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
        found = estate_notices(session, slug, limit=500)
    return templates.TemplateResponse(request, "notices/list.html", {"estate": estate, "notices": found})


@router.get("/estates/{slug}/notices/{seq}")
def notice_page(request: Request, slug: str, seq: int) -> Response:
    with reading(request.app.state.engine) as session:
        estate = store.get_estate(session, slug)
        if estate is None or estate.log_id is None:
            raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
        row = session.execute(select(Entry.seq, Entry.type, Entry.time, Entry.leaf_hash, Entry.data)
                              .where(Entry.log_id == estate.log_id, Entry.seq == seq)).first() \
            if 0 <= seq < 2**63 else None
        found = _describe(row.type, row.seq, row.time, row.leaf_hash, row.data, slug) if row is not None else None
    if found is None:
        raise HTTPException(404, i18n.t(request, "There is no notice %(seq)s in this estate's record", seq=seq))
    url = absolute(request, found.notice.url)
    return templates.TemplateResponse(request, "notices/print.html", {
        "estate": estate, "n": found, "public_url": url,
        "qr": qr_svg(url, i18n.t(request, "The page of this notice"))})
