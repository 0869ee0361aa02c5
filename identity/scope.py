"""Scope of a round: the whole estate, some buildings, or some stairwells (units).

Totals of a round are counted within its scope only (DOMAIN.md "Who counts": an elevator vote
counts only its stairwell).  A voter is in scope when one of its parts is; its weight in scope
is the area of its parts in scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.roll import Part, Roll, Voter


@dataclass(frozen=True)
class Scope:
    """Empty ``buildings`` and ``units`` = the whole estate; otherwise their union."""

    buildings: tuple[str, ...] = ()
    units: tuple[tuple[str, str], ...] = ()  # (building, unit)

    @property
    def is_estate(self) -> bool:
        return not self.buildings and not self.units

    def contains(self, part: Part) -> bool:
        if self.is_estate:
            return True
        return part.building in self.buildings or (part.building, part.unit) in self.units

    def describe(self) -> str:
        if self.is_estate:
            return "全小区 / whole estate"
        bits = [f"{b}栋" for b in self.buildings] + [f"{b}栋{u}单元" for b, u in self.units]
        return "、".join(bits)

    def as_json(self) -> dict:
        if self.is_estate:
            return {}
        out: dict = {}
        if self.buildings:
            out["buildings"] = list(self.buildings)
        if self.units:
            out["units"] = [{"building": b, "unit": u} for b, u in self.units]
        return out


@dataclass(frozen=True)
class Totals:
    """T of DOMAIN.md: heads and area (0.01 m²)."""

    heads: int
    area: int


def voters_in_scope(roll: Roll, scope: Scope) -> tuple[Voter, ...]:
    """Voters with at least one part in scope, each restricted to its parts in scope."""
    out = []
    for voter in roll.voters:
        parts = tuple(p for p in voter.parts if scope.contains(p))
        if parts:
            out.append(Voter(voter.voter_id, parts, voter.developer))
    return tuple(out)


def totals(roll: Roll, scope: Scope = Scope()) -> Totals:
    """Number of voters and sum of areas within ``scope``."""
    voters = voters_in_scope(roll, scope)
    return Totals(len(voters), sum(v.area for v in voters))


def unknown_places(roll: Roll, scope: Scope) -> list[str]:
    """Buildings or units named by ``scope`` that the roll does not have (for error messages)."""
    buildings = set(roll.buildings)
    units = {(p.building, p.unit) for p in roll.parts}
    missing = [f"{b}栋 / building {b}" for b in scope.buildings if b not in buildings]
    missing += [f"{b}栋{u}单元 / unit {b}-{u}" for b, u in scope.units if (b, u) not in units]
    return missing
