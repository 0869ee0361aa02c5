"""What ``gongjue verify`` checks of a round's lifecycle (SPEC §7.1 lifecycle members, §7.6, §7.7).

``check_lifecycle(entries, rec, out, origin)`` adds (seq, message) problems to ``out`` (a
``voting.round_audit.RoundAudit``) for one round (``voting.round_record.RoundEntries``):

1. the announcement: ``notice.date`` is the CST date of the entry's time; the window opens at or
   after it; ``credentials`` names the last credential statement before it and its ``keys`` and
   ``digest`` are those of the registry at that place (``identity.authority``) for the snapshot's
   voters; every nomination signature of ``candidates`` holds there (``voting.candidates``);
2. every ``round.extend``: its shape, ``previous`` = the close in force, appended before that
   close and before any ``round.close`` (no shortening, no reopening);
3. every ``ballot`` and ``paper.ballot`` entry lies in the window: at or after ``opens`` and before
   the close in force at its place.

A bare announcement (no lifecycle members) has nothing of this to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from identity.authority import STATEMENT_TYPES, registry_from_entries
from ledger.entry import ParsedEntry
from voting import lifecycle
from voting.lifecycle import EXTEND, LifecycleError, china_date, format_time, parse_time

WINDOW_TYPES = ("ballot", "paper.ballot")


def check_lifecycle(entries: Sequence[ParsedEntry], rec, out, origin: str) -> None:  # noqa: ANN001
    ann = rec.announcement
    life = getattr(ann, "lifecycle", None)
    if not life:
        return
    seq = rec.announce_seq
    by_seq = {e.seq: e for e in entries}
    at = parse_time(by_seq[seq].time, "time") if seq in by_seq else None
    opens = parse_time(life["window"]["opens"], "opens")
    closes = parse_time(life["window"]["closes"], "closes")
    if at is not None:
        if life["notice"]["date"] != china_date(at).isoformat():
            out.add(seq, f"公告日期不符 / notice.date {life['notice']['date']} is not the CST date "
                         f"{china_date(at).isoformat()} of the entry's time {by_seq[seq].time}")
        if opens < at:
            out.add(seq, f"投票开始早于公告 / the window opens at {life['window']['opens']}, before the "
                         f"announcement ({by_seq[seq].time})")
    _check_credentials(entries, rec, life, out, origin)
    close_seq = rec.close[0] if rec.close is not None else None
    current = closes
    for s, body in rec.of(EXTEND):
        try:
            lifecycle.parse_extend(body)
        except LifecycleError as e:
            out.add(s, str(e))
            continue
        if close_seq is not None and s > close_seq:
            out.add(s, f"截止后延期 / round.extend after the close at entry {close_seq} (no reopening)")
            continue
        if body["previous"] != format_time(current):
            out.add(s, f"延期的原截止时间不符 / round.extend: previous {body['previous']} is not the close in force "
                       f"{format_time(current)}")
            continue
        t = parse_time(by_seq[s].time, "time") if s in by_seq else None
        if t is not None and t >= current:
            out.add(s, f"截止后延期 / round.extend at {by_seq[s].time}, when the window had closed at "
                       f"{format_time(current)} (no reopening)")
            continue
        current = parse_time(body["closes"], "closes")
    _check_window(entries, rec, opens, closes, close_seq, out)


def _check_window(entries, rec, opens, closes, close_seq, out) -> None:  # noqa: ANN001
    """Ballots (electronic and paper) in [opens, close in force at their place)."""
    extends = {s: b for s, b in rec.of(EXTEND)}
    current = closes
    for e in entries:
        if e.seq <= rec.announce_seq:
            continue
        if close_seq is not None and e.seq > close_seq:
            break
        if e.seq in extends:
            b = extends[e.seq]
            try:
                lifecycle.parse_extend(b)
                t = parse_time(e.time, "time")
                if b["previous"] == format_time(current) and t < current:
                    current = parse_time(b["closes"], "closes")
            except LifecycleError:
                pass
            continue
        if e.type in WINDOW_TYPES and isinstance(e.body, dict) and e.body.get("round") == rec.round_id:
            t = _entry_time(e)
            if t < opens:
                out.add(e.seq, f"投票期开始前的选票 / a {e.type} at {e.time}, before the window opens at "
                               f"{format_time(opens)}")
            elif t >= current:
                out.add(e.seq, f"投票期结束后的选票 / a {e.type} at {e.time}, after the window closed at "
                               f"{format_time(current)}")


def _entry_time(e: ParsedEntry) -> datetime:
    """``parse_time(e.time)`` of a parsed entry, whose time ``ledger.entry.parse_entry`` checked
    (RFC 3339 UTC, whole seconds, ASCII digits, a real date): ``fromisoformat`` reads it as
    ``strptime`` would, in a twentieth of the time (one per ballot)."""
    return datetime.fromisoformat(e.time[:-1]).replace(tzinfo=UTC)


def _check_credentials(entries: Sequence[ParsedEntry], rec, life: dict, out, origin: str) -> None:  # noqa: ANN001
    from voting.candidates import check_recorded
    from voting.rounds import credentials_digest

    seq = rec.announce_seq
    before = [e for e in entries if e.seq < seq and not e.type.startswith(("round", "ballot", "candidate", "proxy",
                                                                           "paper"))]
    last = max((e.seq for e in before if e.type in STATEMENT_TYPES), default=None)
    cred = life["credentials"]
    if cred["seq"] != last:
        out.add(seq, f"凭证位置不符 / credentials.seq {cred['seq']} is not the last credential statement before the "
                     f"announcement ({last})")
    try:
        reg = registry_from_entries(before, check_roll=False, check_keys=False)
    except (KeyError, TypeError, ValueError) as e:
        out.add(seq, f"凭证登记无法重放 / the credential registry before the announcement cannot be replayed: {e}")
        return
    pairs = [(v, reg.key_of(v)) for v in rec.announcement.voters if reg.key_of(v) is not None]
    if cred["keys"] != len(pairs) or cred["digest"] != credentials_digest(pairs):
        out.add(seq, f"凭证快照不符 / credentials: {cred['keys']} keys and digest {cred['digest'][:16]}… are not the "
                     f"{len(pairs)} current keys of the snapshot's voters ({credentials_digest(pairs)[:16]}…)")
    for problem in check_recorded(origin, rec.round_id, life["candidates"], reg, rec.announcement.voters):
        out.add(seq, problem)
