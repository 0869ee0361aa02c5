"""``gongjue delivery``: record that a notice, a credential letter or a result reached owners
(voting.delivery; SPEC §7.11) — the per-owner delivery evidence of the round's evidence report.

    gongjue delivery --estate SLUG [--round ID] --what notice|letter|result
                     --method hand|post|sms|email|app|board --at TIME
                     (--all | --flats FILE.csv | --board) [--evidence FILE]

``--flats``: a CSV of the flats reached, one per line ``building,unit,room`` (a header line
``building,unit,room`` is allowed; UTF-8, BOM or GB18030), each resolved to its owner's pseudonym
in the current roll; an unknown flat is refused with its line number and nothing is written.
``--all``: every voter of the round's snapshot.  ``--board``: a notice-board posting (names no
one).  ``--at``: ``2026-11-20T02:00:00Z`` (UTC) or ``2026-11-20 10:00`` (Beijing time).
``--evidence``: the file kept as evidence (a signed delivery sheet, the post office's list): only
its SHA-256 goes into the record.  Exit status: 0 recorded, 2 refused (nothing written), 1 failure.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from ledger.db import migrated_engine, reading, transaction
from voting import delivery

BEIJING = timezone(timedelta(hours=8))


def register(sub) -> None:
    p = sub.add_parser("delivery", help="登记送达（公告、凭证信、结果）/ record a delivery of a notice, letter or result",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--estate", required=True, metavar="SLUG")
    p.add_argument("--round", metavar="ID", help="the round (required for a notice or a result)")
    p.add_argument("--what", required=True, choices=delivery.WHAT)
    p.add_argument("--method", required=True, choices=delivery.METHODS)
    p.add_argument("--at", required=True, metavar="TIME", help="when it was delivered")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="every voter of the round")
    who.add_argument("--flats", type=Path, metavar="FILE.csv", help="the flats reached: building,unit,room per line")
    who.add_argument("--board", action="store_true", help="posted on the notice board (names no one)")
    p.add_argument("--evidence", type=Path, metavar="FILE", help="evidence file kept beside the record (its SHA-256 is recorded)")
    p.set_defaults(handler=run)


def parse_at(text: str) -> datetime:
    """``…Z`` (UTC) or a Beijing wall-clock time ``YYYY-MM-DD HH:MM[:SS]``."""
    text = text.strip()
    if text.endswith("Z"):
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    raise ValueError(f"--at: {text!r} is not a time like 2026-11-20 10:00 (Beijing) or 2026-11-20T02:00:00Z")


def read_flats(path: Path, session, slug: str) -> list[str]:
    """Pseudonyms of the flats listed in ``path``; ValueError naming the line of the first bad one."""
    from identity.csvfile import CsvError, decode
    from identity.store import voter_for_part

    try:
        text = decode(path.read_bytes(), str(path))
    except CsvError as e:
        raise ValueError(str(e)) from None
    voters = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or (n == 1 and [c.lower() for c in cells] == ["building", "unit", "room"]):
            continue
        if len(cells) != 3:
            raise ValueError(f"{path}:{n}: expected building,unit,room (3 fields), found {len(cells)}")
        voter = voter_for_part(session, slug, *cells)
        if voter is None:
            raise ValueError(f"{path}:{n}: 名册中没有 {'-'.join(cells)} / no flat {','.join(cells)} in the current roll")
        voters.append(voter)
    if not voters:
        raise ValueError(f"{path}: no flat listed")
    return voters


def run(args) -> int:
    try:
        at = parse_at(args.at)
        evidence = hashlib.sha256(args.evidence.read_bytes()).hexdigest() if args.evidence else None
    except (ValueError, OSError) as e:
        print(f"bad_input: {e}", file=sys.stderr)
        return 2
    if args.board and args.method != "board" or args.method == "board" and not args.board:
        print("bad_input: --board goes with --method board, and only with it", file=sys.stderr)
        return 2
    engine = migrated_engine()
    try:
        with reading(engine) as session:
            if args.all:
                voters = _round_voters(session, args.estate, args.round)
            elif args.flats:
                voters = read_flats(args.flats, session, args.estate)
            else:
                voters = []
        with transaction(engine) as session:
            seq = delivery.record(session, args.estate, round_id=args.round, what=args.what, method=args.method,
                                  at=at, voters=voters, evidence=evidence)
    except ValueError as e:
        code = getattr(e, "code", "bad_input")
        print(f"{code}: {getattr(e, 'message', e)}", file=sys.stderr)
        return 2
    print(f"已登记送达（账本条目 {seq}，{len(set(voters))} 位业主）/ delivery recorded as entry {seq} "
          f"({len(set(voters))} owner(s))")
    return 0


def _round_voters(session, slug: str, round_id: str | None) -> list[str]:
    from voting import rounds

    if round_id is None:
        raise ValueError("--all needs --round")
    try:
        view = rounds.load(session, slug, round_id)
    except rounds.RoundError as e:
        raise delivery.DeliveryError("no_round", e.message) from None
    if view is None or view.announcement is None:
        raise delivery.DeliveryError("no_round", f"轮次 {round_id} 尚未公告 / round {round_id!r} is not announced")
    return list(view.voters)
