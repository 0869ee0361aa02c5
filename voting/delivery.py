"""Proof of delivery in the record: when and how notices, letters and results reached each voter
(SPEC §7.11, issue #13 part 3).

A ``delivery`` entry states that one kind of document (``what``) reached a list of voters
(pseudonyms only) by one ``method`` at one time ``at``, optionally with the SHA-256 of the
evidence kept beside the ledger (a signed delivery sheet, a registered-post list, an SMS
gateway's report).  Public posting on the notice board (``board``) reaches everyone and names no
voter.  The estate's staff record deliveries as they happen; the per-round evidence report
(``web.evidence``) lists them, and ``gongjue verify`` checks every entry through ``CHECKS``:
its shape, that each voter was in the round's snapshot (or, for letters without a round, in a
roll version recorded before), and that the time is possible (not after the entry was written;
a notice not before its announcement, a result not before the result).

``record`` is the only writer: all-or-nothing, under the log lock, a checkpoint signed after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ledger import checkpoint, keys, log
from ledger.entry import HEX64_RE, ParsedEntry
from ledger.verify import ContentChecks
from voting.lifecycle import LifecycleError, format_time, parse_time

DELIVERY = "delivery"
WHAT = ("notice", "letter", "result")
"""The documents: a round's notice (公告), an owner's credential letter, a round's result announcement."""
METHODS = ("hand", "post", "sms", "email", "app", "board")
"""Handed over against signature, registered post, SMS, e-mail, the estate's app, the notice board."""
KEYS = frozenset({"v", "round", "what", "method", "at", "voters", "evidence"})
MAX_VOTERS = 5000
VOTER_RE = re.compile(r"[0-9a-f]{32}\Z")
ROUND_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


class DeliveryError(ValueError):
    """A delivery that cannot be recorded, or a ``delivery`` entry that breaks SPEC §7.11."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Delivery:
    """One ``delivery`` entry's body, checked (SPEC §7.11)."""

    round_id: str | None
    what: str
    method: str
    at: datetime
    voters: tuple[str, ...]
    evidence: str | None


def _bad(message: str) -> DeliveryError:
    return DeliveryError("bad_delivery", message)


def parse(body: object) -> Delivery:
    """The body of a ``delivery`` entry, refusing any shape SPEC §7.11 does not allow."""
    if not isinstance(body, dict) or set(body) != KEYS:
        raise _bad(f"送达记录字段不符 / delivery: expected exactly the members {', '.join(sorted(KEYS))}")
    if body["v"] != 1 or isinstance(body["v"], bool):
        raise _bad("delivery: v must be 1")
    rid, what, method = body["round"], body["what"], body["method"]
    if rid is not None and not (isinstance(rid, str) and ROUND_ID_RE.match(rid)):
        raise _bad("delivery: round must be a round id or null")
    if what not in WHAT:
        raise _bad(f"delivery: what must be one of {', '.join(WHAT)}")
    if what != "letter" and rid is None:
        raise _bad(f"delivery: a {what} belongs to a round (round must not be null)")
    if method not in METHODS:
        raise _bad(f"delivery: method must be one of {', '.join(METHODS)}")
    try:
        at = parse_time(body["at"], "delivery: at")
    except LifecycleError as e:
        raise _bad(str(e)) from None
    voters = body["voters"]
    if not isinstance(voters, list) or len(voters) > MAX_VOTERS:
        raise _bad(f"delivery: voters must be a list of at most {MAX_VOTERS} pseudonyms")
    if any(not isinstance(v, str) or not VOTER_RE.match(v) for v in voters):
        raise _bad("delivery: every voter is a pseudonym of 32 lowercase hex digits")
    if voters != sorted(set(voters)):
        raise _bad("delivery: voters must be in ascending order, each once")
    if (method == "board") != (not voters):
        raise _bad("delivery: a notice-board posting names no voter; every other method names at least one")
    evidence = body["evidence"]
    if evidence is not None and not (isinstance(evidence, str) and HEX64_RE.match(evidence)):
        raise _bad("delivery: evidence must be the SHA-256 of the evidence file (64 lowercase hex) or null")
    return Delivery(rid, what, method, at, tuple(voters), evidence)


def body_of(d: Delivery) -> dict:
    return {"v": 1, "round": d.round_id, "what": d.what, "method": d.method, "at": format_time(d.at),
            "voters": list(d.voters), "evidence": d.evidence}


# --- recording ------------------------------------------------------------------------------------


def record(session: Session, slug: str, *, round_id: str | None, what: str, method: str, at: datetime,
           voters: Iterable[str], evidence: str | None = None, now: datetime | None = None) -> int:
    """Append one ``delivery`` entry (and sign a checkpoint) in the caller's transaction; its seq.

    Refuses (DeliveryError, nothing written): a malformed delivery; ``no_round`` — the round is
    not announced; ``not_eligible`` — a voter outside the round's snapshot (or, for a letter
    without a round, outside the current roll); ``bad_time`` — a delivery in the future, a
    notice before the announcement, a result before the result."""
    from identity.store import get_estate
    from voting import rounds

    estate = get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise DeliveryError("no_estate", f"没有这个小区 / no estate {slug!r}")
    log.lock_log(session, estate.log_id)
    t = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if at.tzinfo is None:
        raise _bad("送达时间须带时区 / the delivery time needs a time zone")
    d = parse({"v": 1, "round": round_id, "what": what, "method": method, "at": format_time(at),
               "voters": sorted(set(voters)), "evidence": evidence})
    if d.round_id is not None:
        try:
            view = rounds.load(session, slug, d.round_id)
        except rounds.RoundError as e:
            raise DeliveryError("no_round", e.message) from None
        if view is None or view.announcement is None:
            raise DeliveryError("no_round", f"轮次 {d.round_id} 尚未公告 / round {d.round_id!r} is not announced")
        eligible, floor = set(view.voters), _floor(d.what, view.announced_at, view)
    else:
        eligible, floor = _current_voters(session, estate), None
    outside = [v for v in d.voters if v not in eligible]
    if outside:
        raise DeliveryError("not_eligible", f"{len(outside)} 位表决权人不在范围内，例如 {outside[0]} / "
                                            f"{len(outside)} voter(s) outside the round's snapshot, e.g. {outside[0]}")
    problem = _time_problem(d, t, floor)
    if problem:
        raise DeliveryError("bad_time", problem)
    entry = log.append(session, estate.log_id, DELIVERY, body_of(d), time=t)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry.seq


def _floor(what: str, announced_at: datetime | None, view) -> datetime | None:
    """The earliest possible delivery time of ``what`` for the round ``view``."""
    if what == "notice":
        return announced_at
    if what == "result":
        if view.result_seq is None:
            raise DeliveryError("no_result", f"轮次 {view.round_id} 尚未公布结果 / round {view.round_id!r} has no "
                                             "published result yet")
        return None  # checked by the verifier against the result entry's time
    return None


def _time_problem(d: Delivery, written: datetime, floor: datetime | None) -> str | None:
    if d.at > written:
        return (f"送达时间 {format_time(d.at)} 晚于记录时间 {format_time(written)} / the delivery time "
                f"{format_time(d.at)} is after the entry was written ({format_time(written)})")
    if floor is not None and d.at < floor:
        return (f"送达时间 {format_time(d.at)} 早于公告 {format_time(floor)} / delivered {format_time(d.at)}, "
                f"before the document existed ({format_time(floor)})")
    return None


def _current_voters(session: Session, estate) -> set[str]:
    from identity.store import current_roll

    view = current_roll(session, estate.slug)
    if view is None:
        raise DeliveryError("no_roll", "小区尚无名册 / the estate has no roll yet")
    return set(view.opened.pseudonyms.values())


# --- reading and verifying ------------------------------------------------------------------------


def of_round(entries: Iterable[ParsedEntry], round_id: str) -> list[tuple[int, str, Delivery]]:
    """(seq, entry time, delivery) of every well-formed ``delivery`` entry of ``round_id``, in order."""
    out = []
    for e in entries:
        if e.type == DELIVERY and isinstance(e.body, dict) and e.body.get("round") == round_id:
            try:
                out.append((e.seq, e.time, parse(e.body)))
            except DeliveryError:
                continue
    return out


def check_deliveries(entries: Iterable[ParsedEntry], ctx) -> Iterable[tuple[int | None, str]]:
    """Whole-log content check (SPEC §7.11, ``ledger.verify.ContentChecks``): every ``delivery``."""
    entries = [e for e in entries if e.type in (DELIVERY, "round", "round.result", "roll")]
    if not any(e.type == DELIVERY for e in entries):
        return []
    from voting.round_record import RoundRecordError, parse_round

    problems: list[tuple[int | None, str]] = []
    rounds: dict[str, tuple[set[str], datetime]] = {}
    results: dict[str, datetime] = {}
    roll_voters: set[str] = set()
    count = getattr(ctx, "count", None)
    checked = 0
    for e in entries:
        t = parse_time(e.time, "time")
        if e.type == "round":
            try:
                a = parse_round(e.body)
            except RoundRecordError:
                continue  # the round audit reports it
            rounds.setdefault(e.body["round"], (set(a.voters), t))
        elif e.type == "round.result" and isinstance(e.body, dict):
            results.setdefault(str(e.body.get("round")), t)
        elif e.type == "roll" and isinstance(e.body, dict):
            roll_voters |= {v.get("voter") for v in e.body.get("voters") or () if isinstance(v, dict)}
        else:
            checked += 1
            problems.extend((e.seq, m) for m in _entry_problems(e, t, rounds, results, roll_voters))
    if count is not None:
        count("deliveries", checked)
    return problems


def _entry_problems(e: ParsedEntry, written: datetime, rounds: dict, results: dict, roll_voters: set) -> list[str]:
    try:
        d = parse(e.body)
    except DeliveryError as err:
        return [err.message]
    if d.round_id is not None:
        if d.round_id not in rounds:
            return [f"delivery: round {d.round_id!r} was not announced before this entry"]
        eligible, announced = rounds[d.round_id]
        floor = announced if d.what == "notice" else results.get(d.round_id)
        if d.what == "result" and floor is None:
            return [f"delivery: a result of round {d.round_id!r} delivered before any round.result"]
    else:
        eligible, floor = roll_voters, None
    out = []
    outside = [v for v in d.voters if v not in eligible]
    if outside:
        where = f"round {d.round_id!r}'s snapshot" if d.round_id else "any roll recorded before it"
        out.append(f"delivery: voter {outside[0]} is not in {where} ({len(outside)} such voter(s))")
    problem = _time_problem(d, written, floor)
    if problem:
        out.append(f"delivery: {problem}")
    return out


CHECKS = ContentChecks(whole_log=(check_deliveries,))
"""What ``gongjue verify`` runs for deliveries (``ledger.verify.ContentChecks``)."""
