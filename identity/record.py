"""What identity writes to the estate's ledger, and how an auditor re-checks it (SPEC §6).

Entry types:

- ``estate``: the estate's creation — slug, name, origin and the log's verifier key.
- ``roll``: one roll version — every part (building, unit, room, area in 0.01 m², area source,
  voter id, developer-held flag) and the totals per scope, recomputable from the parts. No owner
  names, phone numbers or ID numbers ever enter the ledger (the public record carries unit
  numbers and areas only).

``check_roll_body`` recomputes voters and totals from the parts with the SPC Art. 9 rules and
reports every disagreement; the bundle verifier calls it for each ``roll`` entry.
"""

from __future__ import annotations

from identity.roll import AREA_SOURCES, Part, Roll
from identity.scope import Scope, totals

ESTATE = "estate"
ROLL = "roll"
_SOURCES = set(AREA_SOURCES.values())


def estate_body(slug: str, name: str, origin: str, log_vkey: str) -> dict:
    """Body of the ``estate`` entry (seq 0 of every estate log)."""
    return {"slug": slug, "name": name, "origin": origin, "log_key": log_vkey}


def check_estate_body(body: dict, *, seq: int, origin: str, log_vkey: str) -> list[str]:
    """Every way an ``estate`` entry disagrees with the bundle it is in (SPEC §6.1)."""
    problems = []
    if seq != 0:
        problems.append("an estate entry must be entry 0")
    if body.get("origin") != origin:
        problems.append(f"origin {body.get('origin')!r} is not the checkpoint origin {origin!r}")
    if body.get("log_key") != log_vkey:
        problems.append("log_key is not the bundle's log.vkey")
    if body.get("slug") is None or f"/{body.get('slug')}" != origin[origin.find("/"):]:
        problems.append(f"slug {body.get('slug')!r} does not match the origin {origin!r}")
    return problems


def roll_body(version: int, roll: Roll) -> dict:
    """Body of a ``roll`` entry: the parts and the totals they make, per scope."""
    return {
        "version": version,
        "parts": [{"building": p.building, "unit": p.unit, "room": p.room, "area": p.area,
                   "area_source": p.area_source, "voter": p.owner, "developer_held": p.developer_held}
                  for p in roll.parts],
        "totals": scope_totals(roll),
    }


def scope_totals(roll: Roll) -> dict:
    """Totals of the estate, of each building and of each stairwell (unit), in roll order."""
    estate = totals(roll)
    buildings = {}
    for b in roll.buildings:
        t = totals(roll, Scope(buildings=(b,)))
        buildings[b] = {"heads": t.heads, "area": t.area}
    units = []
    for b, u in dict.fromkeys((p.building, p.unit) for p in roll.parts if p.unit):
        t = totals(roll, Scope(units=((b, u),)))
        units.append({"building": b, "unit": u, "heads": t.heads, "area": t.area})
    return {"estate": {"heads": estate.heads, "area": estate.area}, "buildings": buildings, "units": units}


def roll_from_body(body: dict) -> Roll:
    """Rebuild the Roll a ``roll`` entry states (names are never there). Raises ValueError."""
    parts = []
    for i, p in enumerate(body["parts"]):
        if not (isinstance(p.get("area"), int) and not isinstance(p.get("area"), bool) and p["area"] > 0):
            raise ValueError(f"part {i}: area must be a positive integer of 0.01 m²")
        if p.get("area_source") not in _SOURCES:
            raise ValueError(f"part {i}: unknown area_source {p.get('area_source')!r}")
        parts.append(Part(str(p["building"]), str(p["unit"]), str(p["room"]), p["area"], p["area_source"],
                          str(p["voter"]), bool(p["developer_held"])))
    return Roll(tuple(parts))


def check_roll_body(body: dict) -> list[str]:
    """Every way a ``roll`` entry disagrees with the counting rules; empty when it holds."""
    try:
        roll = roll_from_body(body)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"malformed roll: {exc}"]
    problems = []
    seen = set()
    developers = {p.owner for p in roll.parts if p.developer_held}
    for i, p in enumerate(roll.parts):
        key = (p.building, p.unit, p.room)
        if key in seen:
            problems.append(f"part {i}: duplicate part {p.label}")
        seen.add(key)
        if not p.developer_held and p.owner in developers:
            problems.append(f"part {i}: voter {p.owner} is the developer but the part is not developer-held")
    if len(developers) > 1:
        problems.append(f"developer-held parts carry {len(developers)} voter ids; SPC Art. 9 makes them one")
    problems += _diff("totals", body.get("totals"), scope_totals(roll))
    return problems


def _diff(path: str, stated: object, computed: object) -> list[str]:
    """Name each place where a stated total differs from the one the parts give."""
    if isinstance(stated, dict) and isinstance(computed, dict) and stated.keys() == computed.keys():
        return [d for k in computed for d in _diff(f"{path}.{k}", stated[k], computed[k])]
    if isinstance(stated, list) and isinstance(computed, list) and len(stated) == len(computed):
        return [d for i, (a, b) in enumerate(zip(stated, computed)) for d in _diff(f"{path}[{i}]", a, b)]
    if stated != computed or type(stated) is not type(computed):
        return [f"{path}: stated {stated!r}, the parts give {computed!r}"]
    return []
