"""Shared builders for the voting tests: rolls, agendas and ballots from plain values."""

from identity.roll import Part, Roll
from voting.agenda import parse_agenda


def roll_of(*voters: tuple[str, int], building: str = "1", unit: str = "1") -> Roll:
    """One part per (owner, area) pair, rooms numbered in order."""
    return Roll(tuple(Part(building, unit, str(101 + i), area, "registered", owner)
                      for i, (owner, area) in enumerate(voters)))


def agenda_of(*items: dict, rules: str = "civil-code-2021", scope: dict | None = None):
    doc = {"rules": rules, "items": list(items)}
    if scope is not None:
        doc["scope"] = scope
    return parse_agenda(doc, "agenda.json")


def motion(item_id: str = "m", matter: str = "hire_manager", **extra) -> dict:
    return {"id": item_id, "kind": "motion", "matter": matter, **extra}


def election(item_id: str = "e", seats: int = 2, candidates=("A", "B", "C"), **extra) -> dict:
    return {"id": item_id, "kind": "election", "matter": "elect_committee", "seats": seats,
            "candidates": list(candidates), **extra}


def choice(item_id: str = "c", options=("X", "Y", "none"), matter: str = "hire_manager", **extra) -> dict:
    return {"id": item_id, "kind": "choice", "matter": matter, "options": list(options), **extra}
