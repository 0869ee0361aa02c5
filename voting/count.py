"""Counts: marks → per-item heads and area (SPEC.md §5.2).

A ballot's voter counts as one head and its area in scope (0.01 m²) wherever its marks go.
Every ballot participates in every item (P).  A motion counts agree, oppose and abstain (blank
= abstain); an election counts each approved candidate, and an over-marked ballot for that
item only in ``invalid``; a choice counts each option, and a blank only in ``blank``.

``Counts`` is what ``voting.decide`` consumes; the encrypted rounds produce the same shape
from decrypted sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from identity.roll import Voter
from voting.agenda import Agenda
from voting.paper import PaperBallot
from voting.rules import Amount

ZERO = Amount(0, 0)
MOTION_MARKS = ("agree", "oppose", "abstain")


@dataclass(frozen=True)
class Counts:
    """P, and per item id the amount behind each mark (motion words, candidates or options).

    ``invalid`` (over-marked election ballots) and ``blank`` (blank choices) are informative;
    decisions never use them.
    """

    participation: Amount
    items: dict[str, dict[str, Amount]]
    invalid: dict[str, Amount] = field(default_factory=dict)
    blank: dict[str, Amount] = field(default_factory=dict)


def add(a: Amount, b: Amount) -> Amount:
    return Amount(a.heads + b.heads, a.area + b.area)


def empty_counts(agenda: Agenda) -> dict[str, dict[str, Amount]]:
    """Every mark of every item at zero, in agenda order."""
    return {item.id: {m: ZERO for m in (MOTION_MARKS if item.kind == "motion" else item.choices)}
            for item in agenda.items}


def count_ballots(agenda: Agenda, voters: Iterable[Voter], ballots: Iterable[PaperBallot]) -> Counts:
    """Count ``ballots``; ``voters`` are the voters in scope (``identity.scope.voters_in_scope``)."""
    weight = {v.voter_id: Amount(1, v.area) for v in voters}
    items = empty_counts(agenda)
    invalid = {i.id: ZERO for i in agenda.items if i.kind == "election"}
    blank = {i.id: ZERO for i in agenda.items if i.kind == "choice"}
    participation = ZERO
    for ballot in ballots:
        one = weight[ballot.voter_id]
        participation = add(participation, one)
        for item in agenda.items:
            mark = ballot.marks[item.id]
            if mark is None:
                target = invalid if item.kind == "election" else blank
                target[item.id] = add(target[item.id], one)
                continue
            for choice in ((mark,) if isinstance(mark, str) else mark):
                items[item.id][choice] = add(items[item.id][choice], one)
    return Counts(participation, items, invalid, blank)
