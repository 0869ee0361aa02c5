"""Paper ballots: BALLOTS.csv read into each voter's marks (SPEC.md §5.5).

One row per ballot: column ``owner`` (业主编号, the roll's owner id), then one column per agenda
item id.  Motion cells: agree|oppose|abstain or 同意|反对|弃权, empty = abstain.  Election cells:
candidate ids separated by ``;`` (or ``；``); more than ``seats`` marks make that item invalid
for that ballot while the voter still participates.  Choice cells: one option id or empty.

The file is refused as a whole, every problem as ``file:line: message``: unknown owner, owner
outside the scope, duplicate owner row, unknown word, candidate or option, a candidate marked
twice, missing or unknown columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from identity.csvfile import CsvError, read_table
from identity.roll import Roll
from identity.scope import voters_in_scope
from voting.agenda import Agenda, Item

MOTION_WORDS = {"agree": "agree", "同意": "agree", "oppose": "oppose", "反对": "oppose",
                "abstain": "abstain", "弃权": "abstain", "": "abstain"}
_SEPARATOR = re.compile(r"[;；]")

# A mark: motion "agree"|"oppose"|"abstain"; choice an option id or None (blank);
# election a tuple of approved candidates, or None when over-marked (invalid for that ballot).
Mark = str | tuple[str, ...] | None


@dataclass(frozen=True)
class PaperBallot:
    """One row of BALLOTS.csv: the voter and a mark for every item id."""

    line: int
    voter_id: str
    marks: dict[str, Mark]


def read_ballots(data: bytes, filename: str, agenda: Agenda, roll: Roll) -> tuple[PaperBallot, ...]:
    """Parse BALLOTS.csv against ``agenda`` and the voters of ``roll`` in the agenda's scope.

    All or nothing: raises CsvError listing every ``file:line: message``.
    """
    columns = {"owner": "owner", "业主编号": "owner"} | {item.id: item.id for item in agenda.items}
    required = set(columns.values())
    names, rows, problems = read_table(data, filename, columns, required)
    if not required <= set(names):
        raise CsvError(problems)
    on_roll = {v.voter_id for v in roll.voters}
    in_scope = {v.voter_id for v in voters_in_scope(roll, agenda.scope)}
    first_line: dict[str, int] = {}
    ballots: list[PaperBallot] = []
    for row in rows:
        where = f"{filename}:{row.line}"
        before = len(problems)
        owner = row.cells["owner"]
        if not owner:
            problems.append(f"{where}: 业主编号为空 / owner is empty")
        elif owner not in on_roll:
            problems.append(f"{where}: 名册中没有业主 '{owner}' / unknown owner '{owner}' (not on the roll)")
        elif owner not in in_scope:
            problems.append(f"{where}: 业主 '{owner}' 不在本次表决范围（{agenda.scope.describe()}）/ owner "
                            f"'{owner}' is outside the scope of this round")
        elif owner in first_line:
            problems.append(f"{where}: 业主 '{owner}' 的表决票重复（首见第 {first_line[owner]} 行）/ duplicate "
                            f"ballot for owner '{owner}' (first on line {first_line[owner]})")
        else:
            first_line[owner] = row.line
        marks = {item.id: read_mark(item, row.cells[item.id], where, problems) for item in agenda.items}
        if len(problems) == before:
            ballots.append(PaperBallot(row.line, owner, marks))
    if not rows and not problems:
        problems.append(f"{filename}:2: 没有表决票 / the file has no ballots")
    if problems:
        raise CsvError(problems)
    return tuple(ballots)


def read_mark(item: Item, cell: str, where: str, problems: list[str]) -> Mark:
    """One cell of BALLOTS.csv as the mark for ``item``; appends a problem if it is not valid."""
    if item.kind == "motion":
        return _motion_mark(item, cell, where, problems)
    if item.kind == "election":
        return _election_mark(item, cell, where, problems)
    return _choice_mark(item, cell, where, problems)


def _motion_mark(item: Item, cell: str, where: str, problems: list[str]) -> Mark:
    word = MOTION_WORDS.get(cell.casefold())
    if word is None:
        problems.append(f"{where}: 事项 '{item.id}': 无法识别 '{cell}'（同意|反对|弃权）/ item '{item.id}': "
                        f"unknown mark '{cell}' (agree|oppose|abstain)")
    return word


def _election_mark(item: Item, cell: str, where: str, problems: list[str]) -> Mark:
    picked: list[str] = []
    for name in (p.strip() for p in _SEPARATOR.split(cell)):
        if not name:
            continue
        if name not in item.choices:
            problems.append(f"{where}: 事项 '{item.id}': 未知候选人 '{name}' / item '{item.id}': unknown "
                            f"candidate '{name}' (candidates: {', '.join(item.choices)})")
        elif name in picked:
            problems.append(f"{where}: 事项 '{item.id}': 候选人 '{name}' 重复 / item '{item.id}': candidate "
                            f"'{name}' marked twice")
        else:
            picked.append(name)
    if len(picked) > item.seats:
        return None
    return tuple(picked)


def _choice_mark(item: Item, cell: str, where: str, problems: list[str]) -> Mark:
    if not cell:
        return None
    if cell not in item.choices:
        problems.append(f"{where}: 事项 '{item.id}': 未知选项 '{cell}' / item '{item.id}': unknown option "
                        f"'{cell}' (options: {', '.join(item.choices)}; one option or empty)")
    return cell
