"""Live turnout of a round against both two-thirds lines (issue #9 part 6).

``turnout(session, slug, round_id)`` counts who has taken part so far from the ledger — the
round's ``ballot`` entries (each by its key's voter at its place in the log, or the represented
voter of a proxy's ballot) and its ``paper.ballot`` entries — against the totals the round's
announcement froze (SPEC §7.1): by heads and by area, each against the quorum line
``3·P ≥ 2·T`` (civil-code-2021, SPEC §5.3), with how many heads and how much area (0.01 m²) are
still missing.  Exact integers throughout; a percentage is only ever shown, truncated.

Per building and per stairwell (unit) the same figures come from the openings of the roll
version the round snapshots (the private roll the server holds: which voter holds which part
where); a voter with flats in two buildings counts one head in each, with the area of its flats
there.  ``non_voters`` lists, for staff only, the flats of every voter in scope who has not
taken part, with the owner's name (door-to-door canvassing); ``non_voters_csv`` writes it through
``identity.csvfile.write_csv`` (formula prefixes neutralised).  Never public, never in the ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import store as identity_store
from identity.area import format_area
from identity.csvfile import write_csv
from identity.models import Estate, RollErasure, RollVersion, RollVoter
from ledger.models import Entry
from voting import rules as rules_
from voting.paper_entry import PaperError, RoundState, load_round


class TurnoutError(ValueError):
    """Turnout cannot be given: ``code`` ``no_estate`` | ``no_round`` | ``no_openings``."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(message)


@dataclass(frozen=True)
class Line:
    """One measure against the two-thirds line: reached iff ``3·participating ≥ 2·total``;
    ``needed`` = the least P that reaches it (⌈2T/3⌉), ``missing`` = max(0, needed − P)."""

    total: int
    participating: int

    @property
    def reached(self) -> bool:
        return 3 * self.participating >= 2 * self.total

    @property
    def needed(self) -> int:
        return (2 * self.total + 2) // 3

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.participating)

    @property
    def percent(self) -> str:
        """Participation in per cent, truncated to two decimals (shown only, decides nothing)."""
        if self.total == 0:
            return "0.00"
        hundredths = self.participating * 10000 // self.total
        return f"{hundredths // 100}.{hundredths % 100:02d}"


@dataclass(frozen=True)
class Figures:
    """Heads and area (0.01 m²) of one place (the scope, a building or a stairwell)."""

    heads: Line
    area: Line

    @property
    def reached(self) -> bool:
        return self.heads.reached and self.area.reached


@dataclass(frozen=True)
class Place:
    building: str
    unit: str | None  # None: the whole building
    figures: Figures


@dataclass(frozen=True)
class Quorum:
    """The round's own quorum under its rule set (SPEC §5.3): civil-code-2021 is the two-thirds
    line itself; property-law-2007 ``2·P > T``; household-majority heads only; an estate rule set
    its stricter fraction.  ``checks``: (measure, holds, zh, en) per measure."""

    rules: str
    formula: str
    holds: bool
    checks: tuple[tuple[str, bool, str, str], ...]


@dataclass(frozen=True)
class Turnout:
    round_id: str
    scope: str  # description of the round's scope
    figures: Figures  # the round's scope
    electronic: int  # voters taking part with an electronic ballot
    paper: int  # voters taking part with a paper ballot only
    quorum: Quorum | None = None
    buildings: tuple[Place, ...] = ()
    units: tuple[Place, ...] = ()


@dataclass(frozen=True)
class NonVoterFlat:
    building: str
    unit: str
    room: str
    area: int  # 0.01 m², the flat's
    owner_name: str  # "" when the roll has none
    voter: str  # pseudonym


def _state(session: Session, slug: str, round_id: str) -> RoundState:
    try:
        return load_round(session, slug, round_id)
    except PaperError as e:
        raise TurnoutError(e.code, e.message) from None


def _totals(state: RoundState) -> Figures:
    ann = state.rec.announcement
    part = state.participants
    return Figures(Line(ann.heads, len(part)), Line(ann.area, sum(ann.voters[v] for v in part)))


_OPENED: dict[tuple[str, int, bytes], tuple[list[dict], dict[str, str]]] = {}
_OPENED_LOCK = threading.Lock()
MAX_OPENED = 8


def _opened(session: Session, version: RollVersion) -> tuple[list[dict], dict[str, str]]:
    """(every part as {building, unit, room, area, voter}, pseudonym → owner name) of a roll
    version, opened against its ledger entry once (``identity.store.load_roll``: RollTampered on
    any mismatch) and kept per database and entry (the entry never changes).  An erased version
    (SPEC §6.3) is refused every time, cached or not."""
    if session.get(RollErasure, version.id) is not None:
        raise TurnoutError("no_openings", f"第 {version.version} 版名册的明细已按保存期限删除 / the openings of roll "
                                          f"version {version.version} were erased after the retention period")
    leaf = session.scalar(select(Entry.leaf_hash).where(Entry.log_id == version_log_id(session, version),
                                                        Entry.seq == version.ledger_seq))
    bind = session.get_bind()
    key = (str(getattr(bind, "engine", bind).url), version.id, bytes(leaf or b""))
    with _OPENED_LOCK:
        found = _OPENED.get(key)
    if found is not None:
        return found
    roll = identity_store.load_roll(session, version)  # opened against the entry (SPEC §6.3 O1–O4)
    pseudonym = dict(session.execute(select(RollVoter.owner, RollVoter.voter)
                                     .where(RollVoter.roll_version_id == version.id)).all())
    parts = [{"building": p.building, "unit": p.unit, "room": p.room, "area": p.area, "voter": pseudonym[p.owner]}
             for p in roll.parts]
    names = {pseudonym[o]: n for o, n in roll.names.items() if o in pseudonym}
    with _OPENED_LOCK:
        if len(_OPENED) >= MAX_OPENED:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = (parts, names)
    return parts, names


def version_log_id(session: Session, version: RollVersion) -> int:
    return session.scalar(select(Estate.log_id).where(Estate.id == version.estate_id))


def _openings(session: Session, state: RoundState) -> tuple[list[dict], dict[str, str]]:
    """(parts in the round's scope held by its voters, pseudonym → owner name) from the openings of
    the roll version the round snapshots, checked against its entry first (SPEC §6.3)."""
    ann = state.rec.announcement
    estate = state.estate
    version = session.scalar(select(RollVersion).where(RollVersion.estate_id == estate.id,
                                                       RollVersion.ledger_seq == ann.roll_seq))
    if version is None:
        raise TurnoutError("no_openings", f"找不到本轮快照的名册版本 / no roll version at entry {ann.roll_seq}")
    try:
        every, names = _opened(session, version)
    except identity_store.EstateError as e:
        raise TurnoutError("no_openings", str(e)) from None
    scope = ann.agenda.scope

    def in_scope(p: dict) -> bool:
        return scope.is_estate or p["building"] in scope.buildings or (p["building"], p["unit"]) in scope.units

    parts = [p for p in every if p["voter"] in ann.voters and in_scope(p)]
    return parts, names


def _places(parts: Iterable[dict], participants: set[str], key) -> list[tuple[tuple, Figures]]:
    heads: dict[tuple, set[str]] = {}
    area: dict[tuple, int] = {}
    voted_heads: dict[tuple, set[str]] = {}
    voted_area: dict[tuple, int] = {}
    for p in parts:
        k = key(p)
        if k is None:
            continue
        heads.setdefault(k, set()).add(p["voter"])
        area[k] = area.get(k, 0) + p["area"]
        voted_heads.setdefault(k, set())
        voted_area.setdefault(k, 0)
        if p["voter"] in participants:
            voted_heads[k].add(p["voter"])
            voted_area[k] += p["area"]
    return [(k, Figures(Line(len(heads[k]), len(voted_heads[k])), Line(area[k], voted_area[k]))) for k in heads]


def _quorum(rules: rules_.RuleSet, figures: Figures) -> Quorum:
    p = rules_.Amount(figures.heads.participating, figures.area.participating)
    t = rules_.Amount(figures.heads.total, figures.area.total)
    d = rules_.quorum(rules, p, t)
    return Quorum(rules.name, rules.quorum.formula("P"), d.holds,
                  tuple((c.measure, c.holds, c.zh, c.en) for c in d.checks))


def turnout(session: Session, slug: str, round_id: str, *, places: bool = True) -> Turnout:
    """Participation so far (``places``: per building and stairwell too, from the private roll)."""
    state = _state(session, slug, round_id)
    ann = state.rec.announcement
    part = state.participants
    paper_only = sum(1 for v in part if v not in state.electronic)
    figures = _totals(state)
    out = Turnout(round_id, ann.agenda.scope.describe(), figures, len(part) - paper_only, paper_only,
                  _quorum(ann.agenda.rules, figures))
    if not places:
        return out
    parts, _ = _openings(session, state)
    voted = set(part)
    buildings = tuple(Place(k[0], None, f) for k, f in _places(parts, voted, lambda p: (p["building"],)))
    units = tuple(Place(k[0], k[1], f) for k, f in
                  _places(parts, voted, lambda p: (p["building"], p["unit"]) if p["unit"] else None))
    return Turnout(out.round_id, out.scope, out.figures, out.electronic, out.paper, out.quorum, buildings, units)


def non_voters(session: Session, slug: str, round_id: str) -> list[NonVoterFlat]:
    """Every flat in scope of every voter of the round who has not taken part yet, in roll order,
    with the owner's name (staff only: supervisor, scrutineer)."""
    state = _state(session, slug, round_id)
    parts, names = _openings(session, state)
    voted = set(state.participants)
    return [NonVoterFlat(p["building"], p["unit"], p["room"], p["area"], names.get(p["voter"], ""), p["voter"])
            for p in parts if p["voter"] not in voted]


CSV_HEADER = ("楼栋 building", "单元 unit", "房号 room", "业主 owner", "面积 area (m²)")


def non_voters_csv(flats: Iterable[NonVoterFlat]) -> bytes:
    """The canvassing list as CSV (UTF-8 with a BOM for Excel; every cell neutralised)."""
    return write_csv(CSV_HEADER, ((f.building, f.unit, f.room, f.owner_name, format_area(f.area)) for f in flats),
                     bom=True)


@dataclass(frozen=True)
class Step:
    """Participation after one more voter took part: the ballot's ``time`` (RFC 3339 UTC) and the
    running totals of heads and area (0.01 m²)."""

    seq: int
    time: str
    heads: int
    area: int


def timeline(session: Session, slug: str, round_id: str) -> tuple[Figures, list[Step]]:
    """(the current figures, participation over time): one step per participating voter, at the
    ledger entry (electronic or paper ballot) that first made it a participant, in log order.
    Public figures only (no voter is named)."""
    state = _state(session, slug, round_id)
    ann = state.rec.announcement
    first = sorted((seq, v) for v, seq in state.participants.items())
    times = {}
    if first:
        seqs = [s for s, _ in first]
        for lo in range(0, len(seqs), 500):
            chunk = seqs[lo:lo + 500]
            times.update(session.execute(select(Entry.seq, Entry.time).where(
                Entry.log_id == state.estate.log_id, Entry.seq.in_(chunk))).all())
    steps, area = [], 0
    for heads, (seq, voter) in enumerate(first, 1):
        area += ann.voters[voter]
        steps.append(Step(seq, times[seq], heads, area))
    return _totals(state), steps
