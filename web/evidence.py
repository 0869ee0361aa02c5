"""The evidence report of a round (证据报告, issue #13 part 3): one printable A4 document a court or
notary can read, everything in it derived from the public record.

- ``GET /estates/{slug}/audit/rounds/{id}/evidence.html`` — public copy: the estate, the roll version
  and its totals, the notice and its dates, the agenda, participation and results with the
  inequalities, the round's entries in the record, the delivery of notices, letters and results
  (``voting.delivery``: per document, method and time; per voter by pseudonym only), the
  checkpoint that covers it all with its cosignatures and trusted timestamps, the SHA-256 of the
  bundle's ``entries.jsonl`` at that checkpoint, and how to verify it all independently.
- ``GET /estates/{slug}/staff/rounds/{id}/evidence.html`` — the same for the estate's supervisors
  and auditors, with the flats (building, stairwell, room) of each voter beside the pseudonym,
  from the roll's openings (personal data: never public, never in the ledger).

A draft is not public (404).  Nothing here writes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.store import get_estate, load_openings, roll_version
from ledger import checkpoint, log, timestamp
from ledger.db import reading
from ledger.entry import parse_entry
from ledger.models import Entry
from voting import delivery
from voting.lifecycle import parse_time
from web import i18n, security
from web.print_pages import _public_view, absolute, qr_svg, result_context
from web.templating import templates

router = APIRouter(include_in_schema=False)

SHOWN_TYPES = ("round", "round.extend", "round.close", "round.shares", "round.result", "round.final",
               delivery.DELIVERY)
"""The round's entries listed in the report (ballots, proxies and paper ballots are counted, not listed)."""
WHAT_TEXT = {"notice": "Notice of the vote", "letter": "Credential letter", "result": "Results announcement"}
METHOD_TEXT = {"hand": "By hand, against signature", "post": "Registered post", "sms": "SMS", "email": "E-mail",
               "app": "The estate's app", "board": "Posted on the notice board"}


@dataclass(frozen=True)
class Covering:
    """The checkpoint that covers the round's last entry, as the report shows it."""

    size: int
    root: str
    note: str
    cosigners: list[str]
    timestamps: list[dict]
    entries_sha256: str


def _round_entries(session: Session, log_id: int, round_id: str) -> list[tuple[int, str, str, dict]]:
    """(seq, type, time, body) of the round's listed entries, in log order."""
    rows = session.execute(select(Entry.seq, Entry.data).where(Entry.log_id == log_id, Entry.type.in_(SHOWN_TYPES))
                           .order_by(Entry.seq)).all()
    out = []
    for seq, data in rows:
        e = parse_entry(bytes(data))
        if isinstance(e.body, dict) and e.body.get("round") == round_id:
            out.append((seq, e.type, e.time, e.body))
    return out


def _letter_deliveries(session: Session, log_id: int) -> list[tuple[int, str, delivery.Delivery]]:
    rows = session.execute(select(Entry.seq, Entry.data).where(Entry.log_id == log_id, Entry.type == delivery.DELIVERY)
                           .order_by(Entry.seq)).all()
    out = []
    for seq, data in rows:
        e = parse_entry(bytes(data))
        try:
            d = delivery.parse(e.body)
        except delivery.DeliveryError:
            continue
        if d.what == "letter":
            out.append((seq, e.time, d))
    return out


def covering(session: Session, log_id: int, last_seq: int) -> Covering | None:
    """The checkpoint the report rests on: the newest one covering ``last_seq`` that carries a
    trusted timestamp, else the newest signed checkpoint (if it covers ``last_seq``)."""
    stamped = [t for t in timestamp.tokens(session, log_id) if t.size > last_seq]
    row = (checkpoint.at_size(session, log_id, max(t.size for t in stamped)) if stamped
           else checkpoint.latest(session, log_id))
    if row is None or row.size <= last_seq:
        return None
    note = checkpoint.with_cosignatures(session, row)
    digest = hashlib.sha256()
    for _, data in log.iter_data(session, log_id, row.size):
        digest.update(bytes(data))
        digest.update(b"\n")
    own = row.note.rstrip("\n").split("\n")
    cosigners = [line.split(" ", 2)[1] for line in note.rstrip("\n").split("\n")[len(own):] if line.startswith("— ")]
    stamps = [{"tsa": t.tsa, "time": t.gen_time, "sha256": hashlib.sha256(t.token).hexdigest()}
              for t in timestamp.tokens_of(session, row)]
    return Covering(row.size, row.root.hex(), note, cosigners, stamps, digest.hexdigest())


def report_context(request: Request, session: Session, slug: str, round_id: str, *, private: bool) -> dict:
    """Everything the evidence report shows (``private``: with the voters' flats)."""
    from web.staff_rounds import notice_context

    view = _public_view(session, slug, round_id)
    estate = get_estate(session, slug)
    notice = notice_context(request, session, slug, view, draft=False)
    result = result_context(request, session, slug, view)
    listed = _round_entries(session, estate.log_id, round_id)
    deliveries = [(seq, time, delivery.parse(body)) for seq, typ, time, body in listed if typ == delivery.DELIVERY]
    voters = view.voters
    letters = [(s, t, d) for s, t, d in _letter_deliveries(session, estate.log_id) if set(d.voters) & set(voters)]
    roll_ref = (view.body or {}).get("roll") or {}
    last_seq = max([seq for seq, *_ in listed] + [s for s, *_ in letters])
    flats = _flats(session, estate, roll_ref.get("seq")) if private else {}
    return {**result, "n": notice, "slug": slug, "round_id": round_id, "estate_name": notice["estate_name"],
            "private": private, "roll": {"seq": roll_ref.get("seq"), "leaf_hash": roll_ref.get("leaf_hash"),
                                         "version": _roll_version(session, estate, roll_ref.get("seq"))},
            "totals": view.totals, "voters_total": len(voters),
            "entries": [{"seq": seq, "type": typ, "time": parse_time(time, "time")} for seq, typ, time, _ in listed],
            "ballots": (result.get("published") or {}).get("close") or {},
            "deliveries": [_delivery_row(request, seq, time, d, voters) for seq, time, d in deliveries + letters],
            "per_voter": _per_voter(request, voters, deliveries + letters, flats),
            "unreached": _unreached(voters, deliveries, flats),
            "covering": covering(session, estate.log_id, last_seq),
            "vkey": getattr(checkpoint.latest(session, estate.log_id), "vkey", "")}


def _roll_version(session: Session, estate, seq: int | None) -> int | None:
    if seq is None:
        return None
    row = session.scalar(select(Entry.data).where(Entry.log_id == estate.log_id, Entry.seq == seq))
    body = parse_entry(bytes(row)).body if row is not None else {}
    return body.get("version") if isinstance(body, dict) else None


def _flats(session: Session, estate, roll_seq: int | None) -> dict[str, list[str]]:
    """voter pseudonym → its flats ("building-unit-room") in the round's roll version, from the openings."""
    version = _roll_version(session, estate, roll_seq)
    row = roll_version(session, estate, version) if version is not None else None
    if row is None:
        return {}
    out: dict[str, list[str]] = defaultdict(list)
    for p in load_openings(session, row)["parts"]:
        out[p["voter"]].append("-".join(x for x in (p["building"], p["unit"], p["room"]) if x))
    return dict(out)


def _delivery_row(request: Request, seq: int, time: str, d: delivery.Delivery, voters: dict) -> dict:
    t = lambda m: i18n.t(request, m)
    reached = len(voters) if d.method == "board" else len(set(d.voters) & set(voters))
    return {"seq": seq, "recorded": parse_time(time, "time"), "what": t(WHAT_TEXT[d.what]),
            "method": t(METHOD_TEXT[d.method]), "at": d.at, "voters": reached, "evidence": d.evidence}


def _per_voter(request: Request, voters: dict, deliveries: list, flats: dict) -> list[dict]:
    t = lambda m: i18n.t(request, m)
    got: dict[str, list[str]] = defaultdict(list)
    for seq, _, d in deliveries:
        if d.method == "board":
            continue
        for v in d.voters:
            if v in voters:
                got[v].append(f"{t(WHAT_TEXT[d.what])}：{t(METHOD_TEXT[d.method])}（#{seq}）")
    return [{"voter": v, "flats": flats.get(v, []), "deliveries": got.get(v, [])} for v in sorted(voters)]


def _unreached(voters: dict, deliveries: list, flats: dict) -> list[dict]:
    """Voters no notice reached personally (a notice-board posting is counted separately)."""
    reached = {v for _, _, d in deliveries if d.what == "notice" for v in d.voters}
    return [{"voter": v, "flats": flats.get(v, [])} for v in sorted(voters) if v not in reached]


def _render(request: Request, slug: str, round_id: str, *, private: bool) -> Response:
    with reading(request.app.state.engine) as session:
        context = report_context(request, session, slug, round_id, private=private)
    url = absolute(request, f"/estates/{slug}/audit")
    return templates.TemplateResponse(request, "print/evidence.html",
                                      {**context, "audit_url": url, "public_url": url,
                                       "bundle_url": absolute(request, f"/estates/{slug}/audit/bundle.zip"),
                                       "qr": qr_svg(url, i18n.t(request, "The public record"))})


@router.get("/estates/{slug}/audit/rounds/{round_id}/evidence.html")
def public_report(request: Request, slug: str, round_id: str) -> Response:
    return _render(request, slug, round_id, private=False)


@router.get("/estates/{slug}/staff/rounds/{round_id}/evidence.html")
def staff_report(request: Request, slug: str, round_id: str) -> Response:
    security.require_estate_role(request, slug, "supervisor", "auditor")
    return _render(request, slug, round_id, private=True)
