"""Paper ballot double entry for scrutineers (SPEC §7.9): ``/estates/<slug>/staff/rounds/<id>/paper``.

- ``GET`` (scrutineer; a supervisor sees the counts and the waiting list only): the entry form —
  the flat printed on the ballot, the marks item by item, the SHA-256 of the scanned ballot
  (``web/static/staff/paper.js`` computes it in the browser from the scan file, which is never
  uploaded) — the counts (paper ballots recorded, entries waiting) and the ballots waiting for a
  second entry, with the items a second entry disagreed on (never the marks).
- ``POST`` (scrutineer): one entry (``voting.paper_entry.enter``).  In a secret round the page's
  script (``paper.js``) encrypts the marks in the browser with ``gongjue-crypto.js`` and sends the
  station ballot with its reveal; the server checks it encrypts exactly the entered marks
  (``voting.paper_station``) and records it.  Without the script the server is the station.  The first entry waits; the
  second, by another scrutineer, is compared: equal → recorded (the ``paper.ballot`` entry, with
  the station's ballot: encrypted under the round's joint key in a secret round), different →
  nothing recorded, the differing items named to both.  The same scrutineer entering a ballot
  twice is refused.  Every refusal says why and writes nothing.
- ``POST …/paper/discard`` (scrutineer): drop a waiting first entry that was wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from identity import authority
from identity import staff as staff_store
from identity import store as identity_store
from ledger.db import reading, transaction
from voting import paper_entry, paper_station
from voting.paper_entry import PaperDisagreement, PaperError, PendingEntry
from voting.rules import MATTER_NAMES
from web import i18n, security, sessions
from web.roll_pages import one_language
from web.security import visitor
from web.signin import signin_redirect
from web.templating import templates

router = APIRouter(include_in_schema=False)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Waiting:
    voter: str
    flat: str
    mine: bool  # entered by the scrutineer looking at the page
    disputed: list[str] | None


@dataclass
class Outcome:
    """What the last POST did: ``kind`` pending | recorded | refused."""

    kind: str
    message: str
    items: list[str] | None = None


def _url(slug: str, round_id: str) -> str:
    return f"/estates/{slug}/staff/rounds/{round_id}/paper"


def _flats(session, slug: str) -> dict[str, str]:
    """Voter pseudonym → its flats in the current roll ("1-1-101, 2-1-102"), for the waiting list."""
    try:
        view = identity_store.current_roll(session, slug)
    except (identity_store.RollTampered, identity_store.EstateError):
        return {}
    if view is None:
        return {}
    out: dict[str, list[str]] = {}
    for part in view.roll.parts:
        out.setdefault(view.opened.pseudonyms.get(part.owner, ""), []).append(part.label)
    return {k: ", ".join(v[:4]) + (" …" if len(v) > 4 else "") for k, v in out.items()}


def _page(request: Request, slug: str, round_id: str, outcome: Outcome | None = None, status: int = 200,
          values: dict | None = None) -> Response:
    me = visitor(request).staff
    with reading(request.app.state.engine) as session:
        estate = identity_store.get_estate(session, slug)
        if estate is None:
            raise HTTPException(404, i18n.t(request, "There is no estate %(slug)s", slug=slug))
        try:
            state = paper_entry.load_round(session, slug, round_id)
        except PaperError as exc:
            raise HTTPException(404, exc.message) from None
        held = staff_store.roles_in(session, me.staff_id, slug)
        rows = session.execute(select(PendingEntry.voter, PendingEntry.scrutineer, PendingEntry.disputed)
                               .where(PendingEntry.log_id == estate.log_id, PendingEntry.round_id == round_id)
                               .order_by(PendingEntry.id)).all()
        flats = _flats(session, slug)
    ann = state.rec.announcement
    waiting = [Waiting(v, flats.get(v, v[:8]), s == me.username, json.loads(d) if d else None) for v, s, d in rows]
    items = [{"id": i.id, "kind": i.kind, "title": i.title or MATTER_NAMES.get(i.matter, i.matter).split(" / ")[0],
              "choices": list(i.choices), "seats": i.seats} for i in ann.agenda.items]
    flash = None
    if outcome is None and visitor(request).token:
        with transaction(request.app.state.engine) as session:
            flash = sessions.pop_flash(session, visitor(request).token)
    shapes = [{"id": s.id, "n": s.n, "lo": s.lo, "hi": s.hi} for s in paper_entry.paper_shapes(ann.agenda)]
    station = {"secrecy": ann.secrecy, "fingerprint": ann.fingerprint, "joint_key": ann.joint_key, "shapes": shapes,
               "items": [{"id": i["id"], "kind": i["kind"], "choices": i["choices"], "seats": i["seats"]}
                         for i in items]}
    context = {"estate": estate, "round_id": round_id, "secret": ann.secrecy == "secret", "items": items,
               "station": station,
               "closed": state.rec.close is not None, "recorded": len(state.paper), "electronic": len(state.electronic),
               "waiting": waiting, "outcome": outcome, "flash": flash, "can_enter": "scrutineer" in held,
               "values": values or {}, "action": _url(slug, round_id)}
    return templates.TemplateResponse(request, "staff/paper.html", context, status_code=status)


@router.get("/estates/{slug}/staff/rounds/{round_id}/paper")
def paper_page(request: Request, slug: str, round_id: str) -> Response:
    if visitor(request).staff is None:
        return signin_redirect(request)
    security.require_estate_role(request, slug, "scrutineer", "supervisor")
    return _page(request, slug, round_id)


@router.post("/estates/{slug}/staff/rounds/{round_id}/paper")
async def enter_paper(request: Request, slug: str, round_id: str) -> Response:
    async with request.form(max_files=0, max_fields=400) as form:
        return await run_in_threadpool(_enter, request, slug, round_id, form)


def _marks(request: Request, slug: str, round_id: str, form: FormData) -> dict:
    with reading(request.app.state.engine) as session:
        try:
            ann = paper_entry.load_round(session, slug, round_id).rec.announcement
        except PaperError as exc:
            raise HTTPException(404, exc.message) from None
    marks: dict = {}
    for item in ann.agenda.items:
        name = f"m:{item.id}"
        if item.kind == "election":
            marks[item.id] = [str(v) for v in form.getlist(name)]
        else:
            value = form.get(name)
            if value is not None:
                marks[item.id] = str(value)
    return marks


def _enter(request: Request, slug: str, round_id: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    staff = security.require_estate_role(request, slug, "scrutineer")
    flat = {k: str(form.get(k) or "").strip() for k in ("building", "unit", "room")}
    scan = str(form.get("scan_sha256") or "").strip().lower()
    marks = _marks(request, slug, round_id, form)
    values = {**flat, "scan_sha256": scan, "marks": marks}
    voter = None
    try:
        with transaction(request.app.state.engine) as session:
            voter = identity_store.voter_for_part(session, slug, flat["building"], flat["unit"], flat["room"])
            if voter is None:
                label = "-".join(x for x in flat.values() if x)
                raise PaperError("not_eligible", i18n.t(request, "No voter holds flat %(flat)s in the roll: check "
                                                                 "the building, stairwell and room", flat=label))
            if not _HEX64.fullmatch(scan):
                raise PaperError("bad_scan", i18n.t(request, "The scan's SHA-256 must be 64 hexadecimal digits: choose "
                                                             "the scan file to compute it"))
            result = paper_entry.enter(session, slug, round_id, voter=voter, marks=marks, scan_sha256=scan,
                                       by=staff.username, station=_station(session, slug, form))
    except PaperDisagreement as exc:  # shown to the first scrutineer too (the waiting list)
        with transaction(request.app.state.engine) as session:
            paper_entry.note_dispute(session, slug, round_id, voter, exc.items)
        return _page(request, slug, round_id, Outcome("refused", i18n.t(
            request, "The two entries differ; nothing was recorded. Check the paper ballot: the first entry keeps "
                     "waiting until an entry that agrees arrives, or a scrutineer drops it."), exc.items), 409, values)
    except PaperError as exc:
        status = paper_entry.CODES.get(exc.code, 422)
        return _page(request, slug, round_id, Outcome("refused", one_language(request, exc.message)),
                     404 if status == 404 else status, values)
    if result.status == "pending":
        text = i18n.t(request, "First entry saved. It counts only after another scrutineer enters the same ballot "
                               "and both agree.")
    else:
        text = i18n.t(request, "Both entries agree: the paper ballot is recorded (ledger entry %(seq)s, tracking "
                               "code %(code)s).", seq=result.seq, code=result.short)
    with transaction(request.app.state.engine) as session:
        sessions.set_flash(session, visitor(request).token, text)
    return RedirectResponse(_url(slug, round_id), status_code=303)


def _station(session, slug: str, form: FormData):
    """The station ballot the scrutineers' browser made (``voting.paper_station``), or None (no
    script: the server acts as the station)."""
    text = form.get("station")
    if not isinstance(text, str) or not text:
        return None
    try:
        submitted = json.loads(text)
    except json.JSONDecodeError:
        submitted = None
    return paper_station.station_check(submitted, lambda key: authority.registry(session, slug).registered(key))


@router.post("/estates/{slug}/staff/rounds/{round_id}/paper/discard")
async def discard_entry(request: Request, slug: str, round_id: str) -> Response:
    async with request.form(max_files=0, max_fields=4) as form:
        return await run_in_threadpool(_discard, request, slug, round_id, form)


def _discard(request: Request, slug: str, round_id: str, form: FormData) -> Response:
    security.check_csrf(request, form.get("csrf"))
    security.require_estate_role(request, slug, "scrutineer")
    try:
        with transaction(request.app.state.engine) as session:
            paper_entry.discard(session, slug, round_id, str(form.get("voter") or ""))
            sessions.set_flash(session, visitor(request).token,
                               i18n.t(request, "The waiting entry was dropped; enter the ballot again."))
    except PaperError as exc:
        return _page(request, slug, round_id, Outcome("refused", one_language(request, exc.message)), 404)
    return RedirectResponse(_url(slug, round_id), status_code=303)
