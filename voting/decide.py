"""Decide: counts + totals + rule set → each item's outcome, with explanations (SPEC.md §5.3, §5.6).

Used alike by the offline tally (counts from paper ballots) and by encrypted rounds (counts
from decrypted sums).  Order of judgement for every item:

1. ``no_quorum`` — the round's quorum (both area and heads) is not met;
2. ``void`` — an item it ``requires`` did not pass (its outcome is not ``passed`` or ``elected``);
3. the item's own rule: a motion ``passed``/``failed``; a choice ``passed`` with the one option
   that meets the threshold, else ``failed``; an election ranks the candidates that meet the
   ordinary threshold and reports ``elected``, ``partial`` (fewer qualified than seats) or
   ``runoff`` (a tie on both measures across the last seat).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voting.agenda import Agenda, Item
from voting.count import Counts
from voting.rules import AGREEING, Amount, Decision, RuleSet, Subject, matter_passes, quorum

MET = ("passed", "elected")  # outcomes that satisfy a ``requires``


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item and why.

    ``decisions`` maps each mark that is judged (``agree`` for a motion, each option, each
    candidate) to its Decision.  ``unmet`` lists required items that did not pass.
    """

    item: Item
    outcome: str
    counts: dict[str, Amount]
    decisions: dict[str, Decision]
    unmet: tuple[str, ...] = ()
    adopted: str | None = None  # choice
    qualified: tuple[str, ...] = ()  # election, ranked
    elected: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()
    runoff: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    rules: RuleSet
    totals: Amount
    participation: Amount
    quorum: Decision
    items: dict[str, ItemResult] = field(default_factory=dict)
    invalid: dict[str, Amount] = field(default_factory=dict)
    blank: dict[str, Amount] = field(default_factory=dict)


def check_counts(agenda: Agenda, totals: Amount, counts: Counts) -> None:
    """Refuse counts that cannot come from real ballots (ValueError): P ≤ T, every mark ≤ P,
    a motion's marks sum to P, a choice's options sum to at most P, every amount ≥ 0."""
    p = counts.participation

    def within(a: Amount, b: Amount, what: str) -> None:
        if not (0 <= a.heads <= b.heads and 0 <= a.area <= b.area):
            raise ValueError(f"inconsistent counts: {what} {a} exceeds {b}")

    within(p, totals, "participation")
    for item in agenda.items:
        marks = counts.items.get(item.id)
        expected = ("agree", "oppose", "abstain") if item.kind == "motion" else item.choices
        if marks is None or set(marks) != set(expected):
            raise ValueError(f"inconsistent counts: item {item.id} must count exactly {expected}")
        for mark, amount in marks.items():
            within(amount, p, f"item {item.id} mark {mark}")
        if item.kind != "election":
            total = Amount(sum(a.heads for a in marks.values()), sum(a.area for a in marks.values()))
            within(total, p, f"item {item.id} sum")
            if item.kind == "motion" and total != p:
                raise ValueError(f"inconsistent counts: item {item.id} marks sum to {total}, not P {p}")


def decide(agenda: Agenda, totals: Amount, counts: Counts) -> Result:
    """Judge every item of ``agenda`` in order."""
    check_counts(agenda, totals, counts)
    rules = agenda.rules
    p = counts.participation
    q = quorum(rules, p, totals)
    results: dict[str, ItemResult] = {}
    for item in agenda.items:
        marks = counts.items[item.id]
        decisions = judge_marks(rules, item, marks, p, totals)
        unmet = tuple(r for r in item.requires if results[r].outcome not in MET)
        if not q.holds:
            results[item.id] = ItemResult(item, "no_quorum", marks, decisions, unmet)
        elif unmet:
            results[item.id] = ItemResult(item, "void", marks, decisions, unmet)
        elif item.kind == "motion":
            results[item.id] = ItemResult(item, "passed" if decisions["agree"].holds else "failed", marks, decisions)
        elif item.kind == "choice":
            results[item.id] = decide_choice(item, marks, decisions)
        else:
            results[item.id] = decide_election(item, marks, decisions)
    return Result(rules, totals, p, q, results, dict(counts.invalid), dict(counts.blank))


def judge_marks(rules: RuleSet, item: Item, marks: dict[str, Amount], p: Amount, totals: Amount) -> dict[str, Decision]:
    """Each judged mark against the item's matter threshold (Y = that mark's amount)."""
    if item.kind == "motion":
        return {"agree": matter_passes(rules, item.matter, marks["agree"], p, totals, AGREEING)}
    if item.kind == "choice":
        return {o: matter_passes(rules, item.matter, marks[o], p, totals, Subject(f"选 {o} 的", f"choosing {o}:"))
                for o in item.choices}
    return {c: matter_passes(rules, item.matter, marks[c], p, totals, Subject(f"同意候选人 {c} 的", f"approving {c}:"))
            for c in item.choices}


def decide_choice(item: Item, marks: dict[str, Amount], decisions: dict[str, Decision]) -> ItemResult:
    """The option meeting the threshold is adopted.  With consistent counts at most one can
    (each ballot marks one option and every threshold is above one half)."""
    passing = [o for o in item.choices if decisions[o].holds]
    if len(passing) > 1:
        raise ValueError(f"inconsistent counts: options {passing} of item {item.id} all pass")
    adopted = passing[0] if passing else None
    return ItemResult(item, "passed" if adopted else "failed", marks, decisions, adopted=adopted)


def rank_key(amount: Amount, rank_by: str) -> tuple[int, int]:
    """Heads then area (``rank_by`` = heads) or area then heads."""
    return (amount.heads, amount.area) if rank_by == "heads" else (amount.area, amount.heads)


def decide_election(item: Item, marks: dict[str, Amount], decisions: dict[str, Decision]) -> ItemResult:
    """Rank the qualified candidates; elect the top ``seats``; report a runoff on a tie at the cutoff.

    Candidates with equal scores away from the cutoff keep the agenda's order.
    """
    key = {c: rank_key(marks[c], item.rank_by) for c in item.choices}
    qualified = tuple(sorted((c for c in item.choices if decisions[c].holds), key=lambda c: key[c], reverse=True))
    seats = item.seats
    base = dict(item=item, counts=marks, decisions=decisions, qualified=qualified)
    if len(qualified) < seats:
        return ItemResult(outcome="partial", elected=qualified, **base)
    if len(qualified) > seats and key[qualified[seats - 1]] == key[qualified[seats]]:
        cut = key[qualified[seats]]
        return ItemResult(outcome="runoff",
                          elected=tuple(c for c in qualified if key[c] > cut),
                          runoff=tuple(c for c in qualified if key[c] == cut),
                          alternates=tuple(c for c in qualified if key[c] < cut), **base)
    return ItemResult(outcome="elected", elected=qualified[:seats], alternates=qualified[seats:], **base)
