"""Speed of the offline tally (``gongjue tally``) for an estate of N parts, every voter voting.

Prints figures; no thresholds.  Run: .venv/bin/python benchmarks/tally.py [N]
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from identity.roll import read_roll  # noqa: E402
from identity.scope import totals, voters_in_scope  # noqa: E402
from voting.agenda import load_agenda  # noqa: E402
from voting.count import count_ballots  # noqa: E402
from voting.decide import decide  # noqa: E402
from voting.paper import read_ballots  # noqa: E402
from voting.report import to_json, to_text  # noqa: E402
from voting.rules import Amount  # noqa: E402

AGENDA = {"items": [
    {"id": "statute", "kind": "motion", "matter": "management_statute"},
    {"id": "lift", "kind": "motion", "matter": "rebuild"},
    {"id": "fund", "kind": "motion", "matter": "use_maintenance_fund", "requires": ["lift"]},
    {"id": "committee", "kind": "election", "matter": "elect_committee", "seats": 7,
     "candidates": [f"C{i}" for i in range(1, 13)]},
    {"id": "manager", "kind": "choice", "matter": "hire_manager", "options": ["a", "b", "none"]},
]}


def files(n: int) -> tuple[bytes, bytes, bytes]:
    rng = random.Random(7)
    roll = ["building,unit,room,area,owner"]
    ballots = ["owner,statute,lift,fund,committee,manager"]
    for i in range(n):
        roll.append(f"{i // 200 + 1},{i % 4 + 1},{i},{rng.randint(4000, 15000) / 100:.2f},O{i}")
        cands = ";".join(rng.sample([f"C{k}" for k in range(1, 13)], rng.randint(0, 7)))
        ballots.append(f"O{i},{rng.choice(['同意', '同意', '反对', ''])},{rng.choice(['agree'] * 4 + ['oppose'])},"
                       f"同意,{cands},{rng.choice(['a', 'a', 'b', 'none', ''])}")
    return ("\n".join(roll) + "\n").encode(), json.dumps(AGENDA).encode(), ("\n".join(ballots) + "\n").encode()


def main(n: int) -> None:
    roll_bytes, agenda_bytes, ballot_bytes = files(n)
    t0 = time.perf_counter()
    roll = read_roll(roll_bytes, "roll.csv")
    agenda = load_agenda(agenda_bytes, "agenda.json")
    t1 = time.perf_counter()
    ballots = read_ballots(ballot_bytes, "ballots.csv", agenda, roll)
    t2 = time.perf_counter()
    whole = totals(roll, agenda.scope)
    counts = count_ballots(agenda, voters_in_scope(roll, agenda.scope), ballots)
    t3 = time.perf_counter()
    result = decide(agenda, Amount(whole.heads, whole.area), counts)
    json.dumps(to_json(result))
    to_text(result, agenda.scope)
    t4 = time.perf_counter()
    print(f"parts/voters/ballots: {n}")
    print(f"read roll + agenda: {(t1 - t0) * 1000:.1f} ms")
    print(f"read ballots:       {(t2 - t1) * 1000:.1f} ms")
    print(f"count:              {(t3 - t2) * 1000:.1f} ms")
    print(f"decide + reports:   {(t4 - t3) * 1000:.1f} ms")
    print(f"total:              {(t4 - t0) * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
