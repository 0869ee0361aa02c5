"""The count of a round in the record: shares, result and final entries (SPEC §7.10), pure functions.

Used alike by the server (``voting.count_round``: it builds the bodies) and by the verifier
(``voting.round_audit``: it recomputes them from the record).  Nothing here touches a database.

- ``round.shares`` ``{"v": 1, "round", "shares": <one trustee's shares JSON, SPEC §3.8>}``;
- ``round.result`` ``{"v": 1, "round", "close": <seq of round.close>, "shares": [seq …] | null,
  "counts": [{"id", "heads": [int …], "area": [int …]}], "tally": <tally JSON, §5.6>,
  "deemed": <tally JSON> | null, "objection_until": <RFC 3339 UTC>}``;
- ``round.final`` ``{"v": 1, "round", "result": <seq of round.result>}``.

``decide_counts`` turns per-selection totals (decrypted, or an open round's plaintext sums) into
the decisions of ``voting.decide`` and the tally JSON of ``voting.report`` — the same shape and
the same explanations ``gongjue tally`` gives.  ``deemed_counts`` applies deemed consent
(DOMAIN.md): the voters who did not vote follow, item by item, the mark that holds a strict
majority of the participating votes by heads AND by area; with no such mark they abstain
(motion), choose nothing (choice) or approve nobody (election).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from voting.agenda import Agenda
from voting.count import MOTION_MARKS, ZERO, Counts, add
from voting.decide import Result, decide, rank_key
from voting.report import to_json
from voting.rules import Amount

SHARES = "round.shares"
RESULT = "round.result"
FINAL = "round.final"
SHARES_KEYS = frozenset({"v", "round", "shares"})
RESULT_KEYS = frozenset({"v", "round", "close", "shares", "counts", "tally", "deemed", "objection_until"})
FINAL_KEYS = frozenset({"v", "round", "result"})
DEFAULT_OBJECTION_DAYS = 7
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


class ResultShapeError(ValueError):
    """A ``round.shares``, ``round.result`` or ``round.final`` body that breaks SPEC §7.10."""


@dataclass(frozen=True)
class SelectionCounts:
    """Per-selection totals of one item (heads, area in 0.01 m²), in ballot selection order."""

    id: str
    heads: tuple[int, ...]
    area: tuple[int, ...]


def _int(v: object) -> bool:
    return type(v) is int


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise ResultShapeError(message)


# --- shapes ----------------------------------------------------------------------------------


def shares_body(round_id: str, shares: dict) -> dict:
    return {"v": 1, "round": round_id, "shares": shares}


def parse_shares(body: object) -> dict:
    _need(isinstance(body, dict) and set(body) == SHARES_KEYS,
          f"解密份额条目字段不符 / round.shares: expected exactly the members {', '.join(sorted(SHARES_KEYS))}")
    _need(body["v"] == 1 and _int(body["v"]), "round.shares: v must be 1")
    _need(isinstance(body["shares"], dict), "round.shares: shares must be an object (SPEC §3.8)")
    return body


def parse_result(body: object) -> dict:
    _need(isinstance(body, dict) and set(body) == RESULT_KEYS,
          f"计票结果条目字段不符 / round.result: expected exactly the members {', '.join(sorted(RESULT_KEYS))}")
    _need(body["v"] == 1 and _int(body["v"]), "round.result: v must be 1")
    _need(_int(body["close"]) and body["close"] >= 0, "round.result: close must be an entry number")
    _need(body["shares"] is None or isinstance(body["shares"], list) and all(_int(s) for s in body["shares"]),
          "round.result: shares must be null or a list of entry numbers")
    _need(isinstance(body["counts"], list) and all(
        isinstance(c, dict) and set(c) == {"id", "heads", "area"} and isinstance(c["heads"], list)
        and isinstance(c["area"], list) and all(_int(x) and x >= 0 for x in c["heads"] + c["area"])
        for c in body["counts"]), "round.result: counts must be [{\"id\", \"heads\": [int], \"area\": [int]}]")
    _need(isinstance(body["tally"], dict), "round.result: tally must be the tally JSON (SPEC §5.6)")
    _need(body["deemed"] is None or isinstance(body["deemed"], dict), "round.result: deemed must be null or a tally")
    _need(isinstance(body["objection_until"], str) and TIME_RE.match(body["objection_until"]) is not None,
          "round.result: objection_until must be a UTC time YYYY-MM-DDTHH:MM:SSZ")
    return body


def parse_final(body: object) -> dict:
    _need(isinstance(body, dict) and set(body) == FINAL_KEYS,
          f"最终公告条目字段不符 / round.final: expected exactly the members {', '.join(sorted(FINAL_KEYS))}")
    _need(body["v"] == 1 and _int(body["v"]), "round.final: v must be 1")
    _need(_int(body["result"]) and body["result"] >= 0, "round.final: result must be an entry number")
    return body


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def objection_until(result_time: str, days: int) -> str:
    """The end of the objection window: the result entry's time plus ``days`` days."""
    return format_time(parse_time(result_time) + timedelta(days=days))


# --- counts → decisions ----------------------------------------------------------------------


def counts_json(counts: Sequence[SelectionCounts]) -> list[dict]:
    return [{"id": c.id, "heads": list(c.heads), "area": list(c.area)} for c in counts]


def to_counts(agenda: Agenda, participation: Amount, counts: Sequence[SelectionCounts]) -> Counts:
    """Per-selection totals in agenda order → ``voting.count.Counts`` (motion selections are
    agree, oppose, abstain; a choice's and an election's follow the agenda's options/candidates)."""
    if [c.id for c in counts] != [i.id for i in agenda.items]:
        raise ValueError("counts are not the agenda's items in order")
    items: dict[str, dict[str, Amount]] = {}
    blank: dict[str, Amount] = {}
    for item, c in zip(agenda.items, counts):
        marks = MOTION_MARKS if item.kind == "motion" else item.choices
        if len(c.heads) != len(marks) or len(c.area) != len(marks):
            raise ValueError(f"item {item.id}: {len(marks)} selections expected")
        items[item.id] = {m: Amount(c.heads[i], c.area[i]) for i, m in enumerate(marks)}
        if item.kind == "choice":
            blank[item.id] = Amount(participation.heads - sum(c.heads), participation.area - sum(c.area))
    invalid = {i.id: ZERO for i in agenda.items if i.kind == "election"}
    return Counts(participation, items, invalid, blank)


def deemed_counts(agenda: Agenda, totals: Amount, counts: Counts) -> Counts:
    """Deemed consent: the non-voters (T − P) join, per item, the mark with a strict majority of
    P by heads and by area (motion: else abstain; choice: else none; election: every majority
    candidate, ranked, at most ``seats``).  Participation becomes T."""
    p = counts.participation
    rest = Amount(totals.heads - p.heads, totals.area - p.area)

    def majority(a: Amount) -> bool:
        return 2 * a.heads > p.heads and 2 * a.area > p.area

    items: dict[str, dict[str, Amount]] = {}
    for item in agenda.items:
        marks = dict(counts.items[item.id])
        held = [m for m in marks if majority(marks[m])]
        if item.kind == "motion":
            follow = held[:1] or ["abstain"]
        elif item.kind == "choice":
            follow = held[:1]
        else:
            follow = sorted(held, key=lambda c: rank_key(marks[c], item.rank_by), reverse=True)[:item.seats]
        for m in follow:
            marks[m] = add(marks[m], rest)
        items[item.id] = marks
    blank = {i.id: (add(counts.blank.get(i.id, ZERO), rest) if not any(
        majority(counts.items[i.id][o]) for o in i.choices) else counts.blank.get(i.id, ZERO))
        for i in agenda.items if i.kind == "choice"}
    return Counts(totals, items, dict(counts.invalid), blank)


@dataclass(frozen=True)
class Decided:
    """The decisions of a round: actual, and deemed (when deemed consent is on)."""

    result: Result
    deemed: Result | None

    def tally(self) -> dict:
        return to_json(self.result)

    def deemed_tally(self) -> dict | None:
        return to_json(self.deemed) if self.deemed is not None else None


def decide_counts(agenda: Agenda, totals: Amount, participation: Amount, counts: Sequence[SelectionCounts], *,
                  deemed: bool) -> Decided:
    """Decide every item under the agenda's rule set (ValueError on counts no ballots can give)."""
    actual = to_counts(agenda, participation, counts)
    result = decide(agenda, totals, actual)
    return Decided(result, decide(agenda, totals, deemed_counts(agenda, totals, actual)) if deemed else None)


def result_body(round_id: str, *, close_seq: int, share_seqs: list[int] | None, counts: Sequence[SelectionCounts],
                decided: Decided, objection_until_: str) -> dict:
    body = {"v": 1, "round": round_id, "close": close_seq, "shares": share_seqs, "counts": counts_json(counts),
            "tally": decided.tally(), "deemed": decided.deemed_tally(), "objection_until": objection_until_}
    parse_result(body)
    return body


def final_body(round_id: str, result_seq: int) -> dict:
    return {"v": 1, "round": round_id, "result": result_seq}


# --- round settings the count depends on ------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the count reads from the announcement (and its extensions): when voting closes
    (None when the announcement states no window), deemed consent, the objection window."""

    closes: datetime | None
    deemed_consent: bool
    objection_days: int


def _time(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return None
    return None


def settings_of(round_body: dict | None, extends: Sequence[tuple[str | None, dict]] = ()) -> Settings:
    """The count's settings from the ``round`` body (SPEC §7.1 lifecycle members: ``window.closes``,
    ``policies.deemed_consent``, ``policies.objection_days``) and the ``round.extend`` entries
    before the close, as (entry time, body) in log order (SPEC §7.6: each one appended before the
    close in force whose ``previous`` is that close moves it to its ``closes``; a time of None is
    not checked)."""
    life = round_body if isinstance(round_body, dict) else {}
    window = life.get("window") if isinstance(life.get("window"), dict) else {}
    closes = _time(window.get("closes"))
    for when, ext in extends:
        if (closes is not None and isinstance(ext, dict) and ext.get("previous") == format_time(closes)
                and _time(ext.get("closes")) is not None and (when is None or _time(when) is not None
                                                               and _time(when) < closes)):
            closes = _time(ext.get("closes"))
    policies = life.get("policies") if isinstance(life.get("policies"), dict) else {}
    days = policies.get("objection_days", DEFAULT_OBJECTION_DAYS)
    if not _int(days) or not 0 <= days <= 365:
        days = DEFAULT_OBJECTION_DAYS
    return Settings(closes, policies.get("deemed_consent") is True, days)


def count_differences(stated: list[dict], want: list[dict]) -> list[str]:
    """Where stated per-selection counts differ from the recomputed ``want`` (both
    ``[{"id", "heads": [...], "area": [...]}]`` in agenda order): one line when the item ids
    differ, else one ``item 'm1' selection 0 heads is 3, recomputed 2`` per difference."""
    if [c["id"] for c in stated] != [c["id"] for c in want]:
        return ["items are not the agenda's"]
    found = []
    for a, b in zip(stated, want):
        for measure in ("heads", "area"):
            for index in range(max(len(a[measure]), len(b[measure]))):
                x = a[measure][index] if index < len(a[measure]) else None
                y = b[measure][index] if index < len(b[measure]) else None
                if x != y:
                    found.append(f"item {a['id']!r} selection {index} {measure} is {x}, recomputed {y}")
    return found
