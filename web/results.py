"""The public results page of a round (issue #10, "Everyone in the estate").

Route (public, no personal data; the URL is a contract with the other pages and the printouts):

- ``GET /estates/{slug}/rounds/{round_id}/result`` — each item's outcome, the numbers and the
  integer inequalities that decided it in plain words, participation against both two-thirds
  lines (heads and area; the line is the rule set's quorum fraction), elected / alternates /
  runoff for elections, the deemed-consent result when the round has it, the objection window
  and the final announcement.  Before the result is in the record it says what happens next and
  when (voting closes at …; the trustees' shares k of n; an open round is counted at the close).

The check-my-ballot page is ``/estates/{slug}/check#r=<seq>.<tracking>`` (web/audit.py).

Everything shown is recomputed from the ledger: the round's announcement (``voting.rounds.load``)
and its ``round.result`` entry, whose per-selection counts are decided again with
``voting.count_result.decide_counts`` — the same decisions and inequalities ``gongjue tally``
and the verifier compute (SPEC §5.3–§5.6, §7.10).  Each inequality ``d·x ≥ n·base`` (or ``>``)
is shown with both products as exact integers (areas in 0.01 m²); percentages are truncated by
integer division and never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from identity import store
from identity.area import format_area_grouped
from ledger import log as logs
from ledger.db import reading
from ledger.entry import parse_entry
from voting import count_result as cr
from voting import rounds
from voting.decide import ItemResult, Result
from voting.report import to_text
from voting.rules import TOTALS, Amount, Check, Threshold, percent
from web import i18n
from web.templating import templates

router = APIRouter(include_in_schema=False)

ZH_DIGITS = "零一二三四五六七八九十"


@dataclass
class Line:
    """One inequality for one measure, ready to show."""

    measure: str  # heads | area
    label: str  # what is measured, e.g. "Voters who agreed"
    value: str
    base_label: str
    base: str
    percent: str
    rule: str  # e.g. "at least two thirds of all voters"
    left: str  # "3 × 4 = 12"
    relation: str  # ≥ > < ≤
    right: str  # "2 × 6 = 12"
    holds: bool


@dataclass
class Row:
    """One mark of an item with its counts (and, for candidates, whether it qualified)."""

    name: str
    heads: int
    area: int
    qualified: bool | None = None
    elected: bool = False


@dataclass
class ItemView:
    id: str
    title: str
    kind: str
    kind_name: str
    matter: str
    needs: str  # the item's threshold in words
    outcome: str
    outcome_name: str
    rows: list[Row]
    checks: list[tuple[str, list[Line]]]  # (what is judged, its lines)
    summary: list[str] = field(default_factory=list)
    extra: Row | None = None  # blank (choice) or over-marked (election)


@dataclass
class ResultView:
    rules: str
    law: str
    totals: Amount
    participation: Amount
    quorum_holds: bool
    quorum: list[Line]
    quorum_fraction: tuple[int, int]
    bars: list[dict]
    items: list[ItemView]


# --- words ------------------------------------------------------------------------------------


def _fraction(request: Request, n: int, d: int) -> str:
    """2/3 → "two thirds" / "三分之二"; other fractions as digits."""
    if i18n.language(request) == "zh":
        if d <= 10 and n <= 10:
            return f"{ZH_DIGITS[d]}分之{ZH_DIGITS[n]}"
        return f"{n}/{d}"
    named = {(1, 2): "one half", (2, 3): "two thirds", (3, 4): "three quarters", (1, 3): "one third",
             (3, 5): "three fifths", (4, 5): "four fifths"}
    return named.get((n, d), f"{n}/{d}")


def _matter(request: Request, matter: str) -> str:
    names = {
        "rules_of_procedure": i18n.t(request, "Rules of procedure of the owners' assembly"),
        "management_statute": i18n.t(request, "The management statute"),
        "elect_committee": i18n.t(request, "Electing or replacing the owners' committee"),
        "hire_manager": i18n.t(request, "Hiring or dismissing the property manager"),
        "use_maintenance_fund": i18n.t(request, "Using the maintenance fund"),
        "raise_maintenance_fund": i18n.t(request, "Raising the maintenance fund"),
        "rebuild": i18n.t(request, "Rebuilding or extending buildings and facilities"),
        "change_common_use": i18n.t(request, "Changing the use of common parts"),
        "other_major": i18n.t(request, "Another major matter"),
    }
    return names.get(matter, matter)


def _kind(request: Request, kind: str) -> str:
    return {"motion": i18n.t(request, "Motion"), "election": i18n.t(request, "Election"),
            "choice": i18n.t(request, "Choice")}.get(kind, kind)


def _outcome(request: Request, outcome: str) -> str:
    return {
        "passed": i18n.t(request, "Passed"),
        "failed": i18n.t(request, "Not passed"),
        "no_quorum": i18n.t(request, "Not decided: too few owners took part"),
        "void": i18n.t(request, "Void: an item it depends on did not pass"),
        "elected": i18n.t(request, "Elected"),
        "partial": i18n.t(request, "Partly elected: fewer qualified candidates than seats"),
        "runoff": i18n.t(request, "Tie for the last seat: to be decided again"),
    }.get(outcome, outcome)


def _rule(request: Request, threshold: Threshold, measure: str) -> str:
    """The threshold in words, e.g. "at least two thirds of all voters"."""
    f = _fraction(request, threshold.numerator, threshold.denominator)
    total = threshold.against == TOTALS
    if threshold.strict:
        if measure == "heads":
            return (i18n.t(request, "more than %(fraction)s of all voters", fraction=f) if total
                    else i18n.t(request, "more than %(fraction)s of the voters who took part", fraction=f))
        return (i18n.t(request, "more than %(fraction)s of the total area", fraction=f) if total
                else i18n.t(request, "more than %(fraction)s of the area that took part", fraction=f))
    if measure == "heads":
        return (i18n.t(request, "at least %(fraction)s of all voters", fraction=f) if total
                else i18n.t(request, "at least %(fraction)s of the voters who took part", fraction=f))
    return (i18n.t(request, "at least %(fraction)s of the total area", fraction=f) if total
            else i18n.t(request, "at least %(fraction)s of the area that took part", fraction=f))


def _needs(request: Request, threshold: Threshold) -> str:
    """The whole threshold of an item, both measures (or heads only)."""
    parts = [_rule(request, threshold, m) for m in ("heads", "area") if m in threshold.measures]
    if len(parts) == 1:
        return parts[0]
    return i18n.t(request, "%(heads)s, and %(area)s", heads=parts[0], area=parts[1])


def _number(measure: str, value: int) -> str:
    return format_area_grouped(value) if measure == "area" else f"{value:,}"


def _amount(request: Request, measure: str, value: int) -> str:
    if measure == "area":
        return f"{format_area_grouped(value)} m²"
    count = f"{value:,}"
    return i18n.t(request, "%(count)s voters", count=count)


def _subject(request: Request, judged: str, kind: str | None, measure: str) -> str:
    heads = measure == "heads"
    if judged == "participation":
        return i18n.t(request, "Voters who took part") if heads else i18n.t(request, "Area that took part")
    if kind == "motion":
        return i18n.t(request, "Voters who agreed") if heads else i18n.t(request, "Area of those who agreed")
    if kind == "choice":
        return (i18n.t(request, "Voters who chose %(name)s", name=judged) if heads
                else i18n.t(request, "Area of those who chose %(name)s", name=judged))
    return (i18n.t(request, "Voters who approved %(name)s", name=judged) if heads
            else i18n.t(request, "Area of those who approved %(name)s", name=judged))


def _base_label(request: Request, threshold: Threshold, measure: str) -> str:
    total = threshold.against == TOTALS
    if measure == "heads":
        return i18n.t(request, "of all voters") if total else i18n.t(request, "of the voters who took part")
    return i18n.t(request, "of the total area") if total else i18n.t(request, "of the area that took part")


def _line(request: Request, check: Check, judged: str, kind: str | None) -> Line:
    t, m = check.threshold, check.measure
    left, right = t.denominator * check.value, t.numerator * check.base
    relation = (">" if t.strict else "≥") if check.holds else ("≤" if t.strict else "<")
    return Line(m, _subject(request, judged, kind, m), _amount(request, m, check.value), _base_label(request, t, m),
                _amount(request, m, check.base), percent(check.value, check.base), _rule(request, t, m),
                f"{t.denominator} × {_number(m, check.value)} = {_number(m, left)}", relation,
                f"{t.numerator} × {_number(m, check.base)} = {_number(m, right)}", check.holds)


def _heads_first(checks: tuple[Check, ...]) -> list[Check]:
    return sorted(checks, key=lambda c: c.measure != "heads")


def _bar(request: Request, measure: str, value: int, base: int, threshold: Threshold) -> dict:
    """A progress bar (server-drawn SVG, 0–1000 wide) of P against T with the quorum line."""
    width = 0 if base <= 0 else min(1000, value * 1000 // base)
    line = threshold.numerator * 1000 // threshold.denominator
    return {"measure": measure, "label": _subject(request, "participation", None, measure),
            "value": _amount(request, measure, value), "base": _amount(request, measure, base),
            "percent": percent(value, base), "width": width, "line": line,
            "line_label": _rule(request, threshold, measure)}


# --- the view ---------------------------------------------------------------------------------


def _item(request: Request, result: Result, r: ItemResult) -> ItemView:
    item = r.item
    threshold = result.rules.threshold(item.matter)
    outcome = r.outcome
    if item.kind == "motion":
        names = {"agree": i18n.t(request, "Agree"), "oppose": i18n.t(request, "Oppose"),
                 "abstain": i18n.t(request, "Abstain")}
        rows = [Row(names[m], r.counts[m].heads, r.counts[m].area) for m in ("agree", "oppose", "abstain")]
    else:
        rows = [Row(c, r.counts[c].heads, r.counts[c].area,
                    (c in r.qualified) if item.kind == "election" and outcome not in ("no_quorum", "void") else None,
                    c in r.elected) for c in item.choices]
    extra = None
    if item.kind == "choice" and (blank := result.blank.get(item.id)) is not None and blank.heads:
        extra = Row(i18n.t(request, "No option chosen"), blank.heads, blank.area)
    if item.kind == "election" and (over := result.invalid.get(item.id)) is not None and over.heads:
        extra = Row(i18n.t(request, "Too many candidates marked (not counted)"), over.heads, over.area)
    checks = []
    if outcome not in ("no_quorum", "void"):
        for judged, decision in r.decisions.items():
            label = {"motion": i18n.t(request, "Agree"), "choice": judged, "election": judged}[item.kind]
            checks.append((label, [_line(request, c, judged, item.kind) for c in _heads_first(decision.checks)]))
    summary = []
    if outcome == "void":
        summary.append(i18n.t(request, "It depends on %(items)s, which did not pass.", items="、".join(r.unmet)))
    elif outcome == "no_quorum":
        summary.append(i18n.t(request, "Too few owners took part for any decision (see participation above)."))
    elif item.kind == "choice":
        summary.append(i18n.t(request, "Adopted: %(option)s", option=r.adopted) if r.adopted
                       else i18n.t(request, "No option reached the threshold."))
    elif item.kind == "election":
        none = i18n.t(request, "none")
        summary.append(i18n.t(request, "Seats: %(seats)s", seats=item.seats))
        summary.append(i18n.t(request, "Elected: %(names)s", names="、".join(r.elected) or none))
        summary.append(i18n.t(request, "Alternates, in order: %(names)s", names="、".join(r.alternates) or none))
        if r.runoff:
            summary.append(i18n.t(request, "Tied for the last seat, to be decided again: %(names)s",
                                  names="、".join(r.runoff)))
        summary.append(i18n.t(request, "Ranked by voters, then area.") if item.rank_by == "heads"
                       else i18n.t(request, "Ranked by area, then voters."))
    return ItemView(item.id, item.title, item.kind, _kind(request, item.kind), _matter(request, item.matter),
                    _needs(request, threshold), outcome, _outcome(request, outcome), rows, checks, summary, extra)


def _result_view(request: Request, result: Result) -> ResultView:
    q = result.rules.quorum
    bars = [_bar(request, m, getattr(result.participation, m), getattr(result.totals, m), q)
            for m in ("heads", "area") if m in q.measures]
    return ResultView(result.rules.name, result.rules.law, result.totals, result.participation, result.quorum.holds,
                      [_line(request, c, "participation", None) for c in _heads_first(result.quorum.checks)],
                      (q.numerator, q.denominator), bars, [_item(request, result, r) for r in result.items.values()])


def _time(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if text else None


def _participation(tally: dict) -> Amount:
    p = tally["participation"]
    whole, _, frac = str(p["area"]).partition(".")
    return Amount(int(p["heads"]), int(whole) * 100 + int(frac or 0))


def _not_found(request: Request, round_id: str) -> HTTPException:
    return HTTPException(404, i18n.t(request, "No round %(round)s in this estate's record.", round=round_id))


@router.get("/estates/{slug}/rounds/{round_id}/result")
def result_page(request: Request, slug: str, round_id: str) -> Response:
    """The round's result in plain words (or, before it is published, when it will be)."""
    with reading(request.app.state.engine) as session:
        estate = store.get_estate(session, slug)
        if estate is None or estate.log_id is None:
            raise HTTPException(404, i18n.t(request, "No estate %(slug)s.", slug=slug))
        try:
            view = rounds.load(session, slug, round_id)
        except rounds.RoundError:
            raise _not_found(request, round_id) from None
        if view.announcement is None:  # a draft is not public
            raise _not_found(request, round_id)
        entry_of = {}
        for seq in (view.close_seq, view.result_seq, view.final_seq):
            if seq is not None:
                found = logs.get_entry(session, estate.log_id, seq)
                entry_of[seq] = parse_entry(bytes(found.data))
        name = estate.name
    ann = view.announcement
    needed = None
    if ann.trustees is not None:
        needed = len(ann.trustees["keys"]) if ann.trustees.get("threshold") is None else ann.trustees["threshold"]
    context = {
        "slug": slug, "estate_name": name, "round_id": round_id, "secrecy": view.secrecy,
        "state": view.state(), "opens": view.opens, "closes": view.closes,
        "extended": bool(view.extensions), "deemed_consent": view.policies.deemed_consent,
        "objection_days": view.policies.objection_days,
        "close": None, "shares_in": len(view.shares), "needed": needed,
        "result": None, "deemed": None, "result_seq": view.result_seq, "objection_until": None,
        "final": None, "explanation": None, "items": view.agenda.items,
    }
    if view.close_seq is not None:
        close = entry_of[view.close_seq]
        context["close"] = {"seq": view.close_seq, "time": _time(close.time), "ballots": close.body.get("ballots")}
    context["unreadable"] = False
    if view.result_seq is not None:
        body = entry_of[view.result_seq].body
        try:
            counts = [cr.SelectionCounts(c["id"], tuple(c["heads"]), tuple(c["area"])) for c in body["counts"]]
            decided = cr.decide_counts(view.agenda, Amount(ann.heads, ann.area), _participation(body["tally"]),
                                       counts, deemed=body["deemed"] is not None)
        except (KeyError, TypeError, ValueError):  # a result no ballots can give: the verifier names it
            context["unreadable"] = True
            return templates.TemplateResponse(request, "results/result.html", context)
        context["result"] = _result_view(request, decided.result)
        context["deemed"] = _result_view(request, decided.deemed) if decided.deemed is not None else None
        context["objection_until"] = _time(body["objection_until"])
        context["result_time"] = _time(entry_of[view.result_seq].time)
        context["explanation"] = to_text(decided.result, view.agenda.scope)
    if view.final_seq is not None:
        context["final"] = {"seq": view.final_seq, "time": _time(entry_of[view.final_seq].time)}
    return templates.TemplateResponse(request, "results/result.html", context)
