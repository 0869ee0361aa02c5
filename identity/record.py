"""What identity writes to the estate's ledger, and how an auditor re-checks it (SPEC §6).

Entry types:

- ``estate``: the estate's creation — slug, name, origin and the log's verifier key.
- ``roll``: one roll version, without personal data (SPEC §6.2): per-voter weights under
  pseudonymous voter ids, a salted commitment to every part (its location, area, area source,
  developer flag and voter), the developer's pseudonym and part count, and the totals.

The **openings** of a roll version (owner ids, part fields, salts; SPEC §6.3) stay in the
database beside the ledger and are erasable.  ``check_roll_body`` is what anyone checks from
the public entry alone; ``check_openings`` is what staff and auditors check with the openings:
every part, every voter's weight, the building and stairwell totals.  All totals are computed
in one pass over the parts (``scope_totals``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from identity.roll import AREA_SOURCES, Part, Roll
from ledger.entry import MAX_INT, canonical
from ledger.verify import memoized

ESTATE = "estate"
ROLL = "roll"
_SOURCES = set(AREA_SOURCES.values())
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
PART_FIELDS = ("building", "unit", "room", "area", "area_source", "developer_held", "voter", "salt")


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


# --- pseudonyms and commitments (SPEC §6.2, §6.3) ----------------------------------------------


def pseudonym(owner: str, salt: str) -> str:
    """The voter's pseudonym: the first 32 hex digits of H({"owner", "salt"}) (SPEC §6.3)."""
    return hashlib.sha256(canonical({"owner": owner, "salt": salt})).hexdigest()[:32]


def commitment(opening: dict) -> str:
    """A part's commitment: H of its opening, the 8-member object of SPEC §6.3."""
    return hashlib.sha256(canonical({k: opening[k] for k in PART_FIELDS})).hexdigest()


def build_roll(version: int, roll: Roll, voter_salt: Callable[[str], str],
               part_salt: Callable[[], str]) -> tuple[dict, dict]:
    """The public ``roll`` body and its openings for ``roll``.

    ``voter_salt(owner)`` gives each owner's salt (the store derives it from the estate's secret
    so a pseudonym is stable across versions); ``part_salt()`` a fresh random salt per part.
    One pass over the parts; the openings keep roll order, the body is sorted (no order leaks).
    """
    voters: dict[str, dict] = {}
    parts: list[dict] = []
    for p in roll.parts:
        v = voters.get(p.owner)
        if v is None:
            salt = voter_salt(p.owner)
            v = voters[p.owner] = {"voter": pseudonym(p.owner, salt), "owner": p.owner, "salt": salt}
        parts.append({"building": p.building, "unit": p.unit, "room": p.room, "area": p.area,
                      "area_source": p.area_source, "developer_held": p.developer_held,
                      "voter": v["voter"], "salt": part_salt()})
    openings = {"version": version, "voters": list(voters.values()), "parts": parts}
    return public_body(version, parts), openings


class OpenedParts:
    """The opened parts of ``roll`` as a re-iterable view (SPEC §6.3 objects made one at a time):
    a 230,000-part roll never holds 230,000 opening objects at once (issue #8.1)."""

    def __init__(self, roll: Roll, pseudonyms: dict[str, str], salts: list[str]):
        self.roll, self.pseudonyms, self.salts = roll, pseudonyms, salts

    def __iter__(self):  # noqa: ANN204
        for p, salt in zip(self.roll.parts, self.salts):
            yield {"building": p.building, "unit": p.unit, "room": p.room, "area": p.area,
                   "area_source": p.area_source, "developer_held": p.developer_held,
                   "voter": self.pseudonyms[p.owner], "salt": salt}


def roll_body(version: int, roll: Roll, secret: bytes = bytes(32)) -> dict:
    """The public body of ``roll`` with salts derived from ``secret`` (deterministic: for tests
    and tools; the store uses random part salts, identity.store.prepare_roll)."""
    return build_roll_with_secret(version, roll, secret)[0]


def build_roll_with_secret(version: int, roll: Roll, secret: bytes) -> tuple[dict, dict]:
    """Body and openings with every salt derived from ``secret`` (HMAC-SHA-256)."""
    counter = iter(range(len(roll.parts)))
    return build_roll(version, roll, lambda owner: _hmac(secret, b"owner\0" + owner.encode()),
                      lambda: _hmac(secret, b"part\0%d" % next(counter)))


def _hmac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def public_body(version: int, parts: Iterable[dict]) -> dict:
    """The public body that the opened ``parts`` make (a re-iterable: three linear passes)."""
    weights: dict[str, int] = {}
    developer, developer_parts = None, 0
    for p in parts:
        weights[p["voter"]] = weights.get(p["voter"], 0) + p["area"]
        if p["developer_held"]:
            developer, developer_parts = p["voter"], developer_parts + 1
    return {"version": version,
            "voters": [{"voter": v, "area": weights[v]} for v in sorted(weights)],
            "developer": {"voter": developer, "parts": developer_parts} if developer else None,
            "parts": sorted(commitment(p) for p in parts),
            "totals": scope_totals(parts)}


def scope_totals(parts: Iterable) -> dict:
    """Totals of the estate, of each building and of each stairwell (unit), in roll order.

    ``parts`` are ``identity.roll.Part`` or opened part dicts (voter under ``owner`` or
    ``voter``).  One pass: a voter counts once per scope, with its parts' areas in that scope.
    """
    voters: set[str] = set()
    area = 0
    buildings: dict[str, list] = {}  # building → [voters, area]
    units: dict[tuple[str, str], list] = {}
    for p in parts:
        if isinstance(p, Part):
            b, u, a, v = p.building, p.unit, p.area, p.owner
        else:
            b, u, a, v = p["building"], p["unit"], p["area"], p["voter"]
        voters.add(v)
        area += a
        t = buildings.get(b)
        if t is None:
            t = buildings[b] = [set(), 0]
        t[0].add(v)
        t[1] += a
        if u:
            t = units.get((b, u))
            if t is None:
                t = units[(b, u)] = [set(), 0]
            t[0].add(v)
            t[1] += a
    return {"estate": {"heads": len(voters), "area": area},
            "buildings": {b: {"heads": len(t[0]), "area": t[1]} for b, t in buildings.items()},
            "units": [{"building": b, "unit": u, "heads": len(t[0]), "area": t[1]} for (b, u), t in units.items()]}


# --- what anyone checks from the public entry (SPEC §6.2) -------------------------------------


def voter_weights(roll_body: dict) -> dict[str, int]:
    """Pseudonym → area in 0.01 m² (estate scope), from the public ``roll`` entry alone (C2).

    Raises ValueError when the entry is malformed (check_roll_body names every problem).  Read
    once per roll entry in an audit (``ledger.verify.memoized``: the credentials, rounds, petitions
    and consultations checks each need it); the caller gets its own dict."""
    return dict(memoized("identity.record.voter_weights", roll_body, lambda: _voter_weights(roll_body)))


def _voter_weights(roll_body: dict) -> dict[str, int]:
    voters = roll_body.get("voters") if isinstance(roll_body, dict) else None
    if not isinstance(voters, list):
        raise ValueError("roll entry has no voters list (SPEC §6.2)")
    out: dict[str, int] = {}
    for i, v in enumerate(voters):
        if not (isinstance(v, dict) and isinstance(v.get("voter"), str) and _HEX32.match(v["voter"])
                and _positive(v.get("area"))):
            raise ValueError(f"voters[{i}]: must be {{voter: 32 hex digits, area: positive integer}}")
        if v["voter"] in out:
            raise ValueError(f"voters[{i}]: voter {v['voter']} listed twice")
        out[v["voter"]] = v["area"]
    return out


def check_roll_body(body: dict) -> list[str]:
    """Every way a ``roll`` entry breaks what the public can check (SPEC §6.2); empty when it holds."""
    problems: list[str] = []
    if not isinstance(body, dict) or set(body) != {"version", "voters", "developer", "parts", "totals"}:
        return ["malformed roll: members must be version, voters, developer, parts, totals (SPEC §6.2)"]
    if not _positive(body["version"]):
        problems.append("version: must be a positive integer")
    try:
        weights = voter_weights(body)
    except ValueError as exc:
        return problems + [f"malformed roll: {exc}"]
    names = [v["voter"] for v in body["voters"]]
    if names != sorted(names):
        problems.append("voters: not in ascending order of voter")
    parts = body["parts"]
    if not (isinstance(parts, list) and all(isinstance(c, str) and _HEX64.match(c) for c in parts)):
        return problems + ["malformed roll: parts must be a list of 64-hex-digit commitments"]
    if any(a >= b for a, b in zip(parts, parts[1:])):
        problems.append("parts: commitments not strictly ascending (sorted, no duplicates)")
    if len(parts) < len(weights):
        problems.append(f"parts: {len(parts)} parts cannot hold {len(weights)} voters")
    dev = body["developer"]
    if dev is not None and not (isinstance(dev, dict) and set(dev) == {"voter", "parts"}
                                and dev["voter"] in weights and _positive(dev["parts"])
                                and dev["parts"] <= len(parts)):
        problems.append("developer: must be null or {voter: a listed voter, parts: 1..number of parts}")
    problems += _check_public_totals(body["totals"], weights, len(parts))
    return problems


def _check_public_totals(totals: object, weights: dict[str, int], n_parts: int) -> list[str]:
    """The totals' relations that hold without the openings (SPEC §6.2, items T1–T5)."""
    try:
        estate, buildings, units = totals["estate"], totals["buildings"], totals["units"]
        figures = [("totals.estate", estate)]
        figures += [(f"totals.buildings.{b}", t) for b, t in buildings.items()]
        figures += [(f"totals.units[{i}]", {"heads": u["heads"], "area": u["area"]}) for i, u in enumerate(units)]
        unit_keys = [(u["building"], u["unit"]) for u in units]
        if set(totals) != {"estate", "buildings", "units"}:
            raise KeyError("totals")
    except (KeyError, TypeError, AttributeError):
        return ["malformed roll: totals must be {estate, buildings, units} (SPEC §6.2)"]
    problems = []
    for path, t in figures:
        if not (isinstance(t, dict) and _positive(t.get("heads")) and _positive(t.get("area"))
                and t["area"] >= t["heads"]):
            problems.append(f"{path}: heads and area must be positive integers with area ≥ heads")
    if problems:
        return problems
    heads, area = len(weights), sum(weights.values())
    if estate["heads"] != heads:
        problems.append(f"totals.estate.heads: stated {estate['heads']!r}, the voters give {heads!r}")
    if estate["area"] != area:
        problems.append(f"totals.estate.area: stated {estate['area']!r}, the voters give {area!r}")
    if sum(t["area"] for t in buildings.values()) != area:
        problems.append(f"totals.buildings: areas sum to {sum(t['area'] for t in buildings.values())}, "
                        f"not the estate area {area}")
    building_heads = sum(t["heads"] for t in buildings.values())
    if not heads <= building_heads <= n_parts:
        problems.append(f"totals.buildings: heads sum to {building_heads}, outside {heads}..{n_parts} "
                        f"(voters..parts)")
    problems += [f"totals.buildings.{b}: {t['heads']} heads, more than the estate's {heads}"
                 for b, t in buildings.items() if t["heads"] > heads]
    if len(set(unit_keys)) != len(unit_keys):
        problems.append("totals.units: a (building, unit) is listed twice")
    in_units: dict[str, int] = {}
    for i, (b, u) in enumerate(unit_keys):
        t = units[i]
        if b not in buildings or not (isinstance(u, str) and u):
            problems.append(f"totals.units[{i}]: unit {b!r}-{u!r} is not a non-empty unit of a listed building")
            continue
        in_units[b] = in_units.get(b, 0) + t["area"]
        if t["heads"] > buildings[b]["heads"]:
            problems.append(f"totals.units[{i}].heads: {t['heads']}, more than building {b}'s {buildings[b]['heads']}")
    problems += [f"totals.units: building {b}'s units hold {a}, more than its area {buildings[b]['area']}"
                 for b, a in in_units.items() if a > buildings[b]["area"]]
    return problems


# --- what staff and auditors check with the openings (SPEC §6.3) ------------------------------


@dataclass(frozen=True)
class OpenedVoter:
    voter: str  # pseudonym
    owner: str  # owner id (业主编号)
    area: int  # 0.01 m², estate scope
    parts: tuple[str, ...]  # labels like "3-2-1201", roll order


@dataclass(frozen=True)
class OpenedRoll:
    """A roll entry together with openings that open it: what counts, with owner ids."""

    version: int
    voters: list[OpenedVoter]  # roll order (first appearance)
    roll: Roll  # the parts with owner ids, roll order (identity.roll types)
    pseudonyms: dict[str, str]  # owner id → pseudonym


def check_openings(roll_body: dict, openings: dict) -> list[str]:
    """Every way ``openings`` fail to open ``roll_body``, or the opened roll breaks the counting
    rules (SPEC §6.3); empty when every part, weight and total checks."""
    try:
        return _check_openings(roll_body, openings)
    except (KeyError, TypeError, AttributeError) as exc:
        return [f"malformed openings: {exc!r}"]


def _check_openings(body: dict, openings: dict) -> list[str]:
    problems = []
    if openings.get("version") != body.get("version"):
        problems.append(f"openings are of version {openings.get('version')!r}, the entry of {body.get('version')!r}")
    owners: dict[str, str] = {}  # pseudonym → owner
    for i, v in enumerate(openings["voters"]):
        if not (isinstance(v, dict) and set(v) == {"voter", "owner", "salt"}
                and all(isinstance(v[k], str) for k in v)):
            problems.append(f"voters[{i}]: must be {{voter, owner, salt}} strings")
            continue
        if pseudonym(v["owner"], v["salt"]) != v["voter"]:
            problems.append(f"voters[{i}]: owner {v['owner']} with its salt does not give pseudonym {v['voter']}")
        if v["voter"] in owners:
            problems.append(f"voters[{i}]: pseudonym {v['voter']} opened twice")
        owners[v["voter"]] = v["owner"]
    if len(set(owners.values())) != len(owners):
        problems.append("voters: one owner id under two pseudonyms")
    seen: set[tuple[str, str, str]] = set()
    for i, p in enumerate(openings["parts"]):
        if not (isinstance(p, dict) and set(p) == set(PART_FIELDS)):
            problems.append(f"parts[{i}]: members must be {', '.join(PART_FIELDS)}")
            continue
        if not (_positive(p["area"]) and p["area_source"] in _SOURCES and isinstance(p["developer_held"], bool)
                and all(isinstance(p[k], str) for k in ("building", "unit", "room", "voter", "salt"))):
            problems.append(f"parts[{i}]: area, area_source, developer_held or a label has the wrong type")
            continue
        key = (p["building"], p["unit"], p["room"])
        if key in seen:
            problems.append(f"parts[{i}]: duplicate part {_label(p)}")
        seen.add(key)
        if p["voter"] not in owners:
            problems.append(f"parts[{i}]: part {_label(p)} names voter {p['voter']}, not opened in voters")
    if problems:
        return problems
    parts = openings["parts"]
    developers = {p["voter"] for p in parts if p["developer_held"]}
    if len(developers) > 1:
        problems.append(f"developer-held parts carry {len(developers)} voters; SPC Art. 9 makes them one")
    problems += [f"parts[{i}]: voter {p['voter']} is the developer but part {_label(p)} is not developer-held"
                 for i, p in enumerate(parts) if not p["developer_held"] and p["voter"] in developers]
    unused = set(owners) - {p["voter"] for p in parts}
    problems += [f"voters: {v} holds no part" for v in sorted(unused)]
    computed = public_body(body["version"], parts)
    if computed["parts"] != body["parts"]:
        problems.append("parts: the opened parts do not give the entry's commitments (a part added, removed or changed)")
    problems += _diff("voters", body["voters"], computed["voters"], "the openings give")
    problems += _diff("developer", body["developer"], computed["developer"], "the openings give")
    problems += _diff("totals", body["totals"], computed["totals"], "the parts give")
    return problems


def open_roll(roll_body: dict, openings: dict) -> OpenedRoll:
    """The opened roll; raises ValueError naming the first mismatches (contract C2)."""
    problems = check_openings(roll_body, openings)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError("; ".join(problems[:3]) + more)
    owner_of = {v["voter"]: v["owner"] for v in openings["voters"]}
    parts = tuple(Part(p["building"], p["unit"], p["room"], p["area"], p["area_source"], owner_of[p["voter"]],
                       p["developer_held"]) for p in openings["parts"])
    labels: dict[str, list[str]] = {}
    areas: dict[str, int] = {}
    for p, opened in zip(parts, openings["parts"]):
        labels.setdefault(opened["voter"], []).append(p.label)
        areas[opened["voter"]] = areas.get(opened["voter"], 0) + p.area
    voters = [OpenedVoter(v, owner_of[v], areas[v], tuple(ls)) for v, ls in labels.items()]
    return OpenedRoll(roll_body["version"], voters, Roll(parts), {o: v for v, o in owner_of.items()})


def _label(p: dict) -> str:
    return "-".join(x for x in (p["building"], p["unit"], p["room"]) if x)


def _positive(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_INT


def _diff(path: str, stated: object, computed: object, source: str) -> list[str]:
    """Name each place where a stated figure differs from the one recomputed."""
    if isinstance(stated, dict) and isinstance(computed, dict) and stated.keys() == computed.keys():
        return [d for k in computed for d in _diff(f"{path}.{k}", stated[k], computed[k], source)]
    if isinstance(stated, list) and isinstance(computed, list):
        if len(stated) != len(computed):
            return [f"{path}: stated {len(stated)} elements, {source} {len(computed)}"]
        return [d for i, (a, b) in enumerate(zip(stated, computed)) for d in _diff(f"{path}[{i}]", a, b, source)]
    if stated != computed or type(stated) is not type(computed):
        return [f"{path}: stated {stated!r}, {source} {computed!r}"]
    return []


# --- the verifier's content checks (contract C4) ----------------------------------------------


def check_roll_entry(entry, ctx) -> list[str]:  # noqa: ANN001, ARG001
    """SPEC §6.2: what the public ``roll`` entry lets anyone recompute."""
    return check_roll_body(entry.body)


def check_estate_entry(entry, ctx) -> list[str]:  # noqa: ANN001
    """SPEC §6.1: the estate entry is seq 0 and names the signed origin and the bundle's key."""
    return check_estate_body(entry.body, seq=entry.seq, origin=ctx.origin, log_vkey=ctx.vkey)


def _checks():  # noqa: ANN202
    from ledger.verify import ContentChecks

    return ContentChecks(per_entry={ROLL: (check_roll_entry,), ESTATE: (check_estate_entry,)})


CHECKS = _checks()
