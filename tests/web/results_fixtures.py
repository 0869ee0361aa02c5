"""A counted round for the public pages' tests (results, check my ballot, the record check).

Six owners in building 1 of "maple-court" (``tests.voting.count_estate``); four of them vote, so
participation is **exactly two thirds** by heads (4 of 6) and by area (400.00 of 600.00 m²):
``3·P ≥ 2·T`` holds with equality.  Items:

- ``m1`` hire_manager (ordinary, ``2·Y > P``): 2 of 4 agree (200.00 of 400.00 m²) — exactly
  half, so it is NOT passed (``2 × 2 = 4 ≤ 1 × 4 = 4``);
- ``m2`` raise_maintenance_fund (special, ``4·Y ≥ 3·P``): 3 of 4 agree (320.00 m²) — passed,
  heads at the boundary (``4 × 3 = 12 ≥ 3 × 4 = 12``);
- ``e1`` election, 2 seats, candidates 张三, 李四, 王五: 张三 3 heads 295.50 m², 李四 3 heads 304.50
  m², 王五 1 head: 李四 and 张三 elected (equal heads, ranked by area), 王五 not qualified.
"""

from __future__ import annotations

from datetime import timedelta

from ledger.db import transaction
from tests.voting import count_estate as ce
from voting import count_round, paper_entry

SLUG = "maple-court"
OWNERS = {"A-01": ("1", 12000), "B-02": ("1", 8000), "C-03": ("1", 9550), "D-04": ("1", 10450),
          "E-05": ("1", 15000), "F-06": ("1", 5000)}
ITEMS = [{"id": "m1", "kind": "motion", "matter": "hire_manager", "title": "续聘绿叶物业"},
         {"id": "m2", "kind": "motion", "matter": "raise_maintenance_fund", "title": "补充筹集维修资金"},
         {"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 2,
          "candidates": ["张三", "李四", "王五"], "rank_by": "heads", "title": "选举业主委员会委员"}]
A, O, X = [1, 0, 0], [0, 1, 0], [0, 0, 1]
VOTES = {"A-01": {"m1": A, "m2": A, "e1": [1, 1, 0]},
         "B-02": {"m1": A, "m2": O, "e1": [1, 1, 0]},
         "C-03": {"m1": O, "m2": A, "e1": [1, 0, 1]},
         "D-04": {"m1": X, "m2": A, "e1": [0, 1, 0]}}


def make_round(engine, monkeypatch, *, secrecy: str = "open", cast: bool = True, close: bool = True,
               count: bool = True, deemed: bool = False, tmp=None, paper: dict | None = None):
    """The round announced (and, as asked, cast, closed, counted); returns (round, receipts).

    ``paper``: owner → marks (``voting.paper_entry`` form) of paper ballots entered by two agreeing
    scrutineers after the electronic ones (they change the counts: not for the results tests)."""
    monkeypatch.setattr(ce, "OWNERS", OWNERS)
    rnd = ce.make(engine, secrecy=secrecy, items=ITEMS, deemed=deemed)
    receipts = {}
    if cast:
        for owner, choice in VOTES.items():
            receipts[owner] = rnd.cast(owner, choice, now=rnd.opens + timedelta(hours=1))
    for owner, marks in (paper or {}).items():
        for scrutineer in ("scrutineer-1", "scrutineer-2"):
            with transaction(engine) as s:
                paper_entry.enter(s, SLUG, ce.ROUND_ID, voter=rnd.voters[owner], marks=marks, scan_sha256="ab" * 32,
                                  by=scrutineer, now=rnd.opens + timedelta(hours=2))
    if close:
        with transaction(engine) as s:
            count_round.close(s, SLUG, ce.ROUND_ID, now=rnd.after)
    if close and count and secrecy == "secret":
        shares = rnd.shares(tmp)
        for j in sorted(shares):
            with transaction(engine) as s:
                count_round.submit_shares(s, SLUG, ce.ROUND_ID, shares[j], now=rnd.after + timedelta(minutes=j))
    return rnd, receipts
