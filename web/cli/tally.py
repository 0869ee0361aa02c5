"""``gongjue tally``: the offline recount from a roll, an agenda and paper or exported ballots.

SPEC.md §5: reads ROLL.csv, AGENDA.json and BALLOTS.csv, counts (voting.count), decides
(voting.decide) and prints the tally JSON (``--json``) or the bilingual report.  Any refused
input: every ``file:line: message`` on stderr, nothing on stdout, exit status 2.  Exit 0
whatever the outcomes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from identity.csvfile import CsvError
from identity.roll import read_roll
from identity.scope import totals, voters_in_scope
from voting.agenda import AgendaError, load_agenda, scope_problems
from voting.count import count_ballots
from voting.decide import decide
from voting.paper import read_ballots
from voting.report import to_json, to_text
from voting.rules import Amount


def register(sub) -> None:  # noqa: ANN001
    """Add ``tally`` to the ``gongjue`` parser."""
    p = sub.add_parser("tally", help="离线计票 / recount a round from roll, agenda and ballots",
                       description="Count BALLOTS.csv against ROLL.csv and AGENDA.json and decide every item "
                                   "under the agenda's rule set. Refused input exits 2 with file:line messages.")
    p.add_argument("--roll", required=True, type=Path, metavar="ROLL.csv")
    p.add_argument("--agenda", required=True, type=Path, metavar="AGENDA.json")
    p.add_argument("--ballots", required=True, type=Path, metavar="BALLOTS.csv")
    p.add_argument("--json", action="store_true", help="print the tally JSON (SPEC.md §5.6)")
    p.set_defaults(handler=run)


class Refused(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Refused([f"{path}: 无法读取 / cannot read: {exc.strerror}"]) from None


def tally(roll_path: Path, agenda_path: Path, ballots_path: Path):  # noqa: ANN201
    """Read the three files and decide; Refused lists every problem found."""
    problems: list[str] = []
    roll = agenda = None
    try:
        roll = read_roll(_read(roll_path), str(roll_path))
    except CsvError as exc:
        problems += exc.problems
    except Refused as exc:
        problems += exc.problems
    try:
        agenda = load_agenda(_read(agenda_path), str(agenda_path))
    except AgendaError as exc:
        problems += exc.problems
    except Refused as exc:
        problems += exc.problems
    if roll is None or agenda is None:
        raise Refused(problems)
    problems += scope_problems(agenda, roll, str(agenda_path))
    if problems:
        raise Refused(problems)
    try:
        ballots = read_ballots(_read(ballots_path), str(ballots_path), agenda, roll)
    except CsvError as exc:
        raise Refused(exc.problems) from None
    whole = totals(roll, agenda.scope)
    counts = count_ballots(agenda, voters_in_scope(roll, agenda.scope), ballots)
    return agenda, decide(agenda, Amount(whole.heads, whole.area), counts)


def run(args) -> int:  # noqa: ANN001
    try:
        agenda, result = tally(args.roll, args.agenda, args.ballots)
    except Refused as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"拒绝计票：{len(exc.problems)} 处错误 / tally refused: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(result), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(to_text(result, agenda.scope))
    return 0
