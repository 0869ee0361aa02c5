"""What a new roll version would change: the preview a supervisor confirms before importing.

``diff_rolls(current, new)`` compares two validated rolls (``identity.roll.Roll``; ``current``
None for a new estate) part by part, a part being known by its building, unit and room:

- ``added`` / ``removed``: parts only in the new / only in the current roll;
- ``changed``: parts in both whose area, owner, area source or developer mark differ (``fields``
  names which);
- ``before`` / ``after``: the estate's totals (heads = voters, area in 0.01 m²), and per building
  the same (a voter counts in every building where it holds a part, as a round scoped to that
  building would count it: ``identity.scope``);
- the private columns: how many owners present in both rolls have another name or phone;
- ``identical``: nothing at all differs (parts, their order, names and phones), so importing the
  file would only repeat the current version.

Exact integers throughout; nothing here reads or writes the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.roll import Part, Roll
from identity.scope import Totals

FIELDS = ("area", "owner", "area_source", "developer_held")
Key = tuple[str, str, str]


@dataclass(frozen=True)
class PartChange:
    """One part present in both rolls with different fields (``fields``, in ``FIELDS`` order)."""

    before: Part
    after: Part
    fields: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.after.label


@dataclass(frozen=True)
class BuildingTotals:
    """One building's heads and area before and after (zero where the building is absent)."""

    building: str
    before: Totals
    after: Totals

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class RollDiff:
    added: tuple[Part, ...]
    removed: tuple[Part, ...]
    changed: tuple[PartChange, ...]
    before: Totals
    after: Totals
    buildings: tuple[BuildingTotals, ...]  # the current roll's buildings in order, then new ones
    voters_added: tuple[str, ...]  # owner ids only in the new roll
    voters_removed: tuple[str, ...]  # owner ids only in the current roll
    names_changed: int  # owners in both rolls whose (private) name differs
    phones_changed: int  # owners in both rolls whose (private) phone differs
    order_changed: bool  # the same parts, listed in another order

    @property
    def parts_same(self) -> bool:
        """No part added, removed or changed (the counting is the same)."""
        return not (self.added or self.removed or self.changed)

    @property
    def identical(self) -> bool:
        """Nothing differs: importing would only repeat the current version."""
        return self.parts_same and not (self.names_changed or self.phones_changed or self.order_changed)


def _key(part: Part) -> Key:
    return (part.building, part.unit, part.room)


def _fields(before: Part, after: Part) -> tuple[str, ...]:
    return tuple(f for f in FIELDS if getattr(before, f) != getattr(after, f))


def building_totals(roll: Roll | None) -> dict[str, Totals]:
    """Heads and area per building, in the roll's building order."""
    if roll is None:
        return {}
    heads: dict[str, set[str]] = {}
    area: dict[str, int] = {}
    for part in roll.parts:
        heads.setdefault(part.building, set()).add(part.owner)
        area[part.building] = area.get(part.building, 0) + part.area
    return {b: Totals(len(heads[b]), area[b]) for b in heads}


def estate_totals(roll: Roll | None) -> Totals:
    if roll is None:
        return Totals(0, 0)
    return Totals(len(roll.voters), sum(p.area for p in roll.parts))


def diff_rolls(current: Roll | None, new: Roll) -> RollDiff:
    """The differences between the ``current`` roll (None: no roll yet) and ``new``."""
    old_parts = current.parts if current is not None else ()
    old = {_key(p): p for p in old_parts}
    fresh = {_key(p): p for p in new.parts}
    added = tuple(p for k, p in fresh.items() if k not in old)
    removed = tuple(p for k, p in old.items() if k not in fresh)
    changed = tuple(PartChange(old[k], p, f) for k, p in fresh.items() if k in old and (f := _fields(old[k], p)))
    shared = [k for k in fresh if k in old]
    order_changed = [k for k in old if k in fresh] != shared

    old_owners = dict.fromkeys(p.owner for p in old_parts)
    new_owners = dict.fromkeys(p.owner for p in new.parts)
    both = [o for o in new_owners if o in old_owners]
    old_names = current.names if current is not None else {}
    old_phones = current.phones if current is not None else {}
    names_changed = sum(1 for o in both if old_names.get(o, "") != new.names.get(o, ""))
    phones_changed = sum(1 for o in both if old_phones.get(o, "") != new.phones.get(o, ""))

    before_b, after_b = building_totals(current), building_totals(new)
    zero = Totals(0, 0)
    buildings = tuple(BuildingTotals(b, before_b.get(b, zero), after_b.get(b, zero))
                      for b in dict.fromkeys([*before_b, *after_b]))
    return RollDiff(added=added, removed=removed, changed=changed,
                    before=estate_totals(current), after=estate_totals(new), buildings=buildings,
                    voters_added=tuple(o for o in new_owners if o not in old_owners),
                    voters_removed=tuple(o for o in old_owners if o not in new_owners),
                    names_changed=names_changed, phones_changed=phones_changed, order_changed=order_changed)
