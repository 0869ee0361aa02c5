"""The agenda of a round: rule set, scope and items (motion, election, choice).

Follows SPEC.md §5.4 (AGENDA.json) and DOMAIN.md "Kinds of agenda item".  ``parse_agenda``
turns the JSON a supervisor wrote into an ``Agenda`` or refuses it as a whole, every problem
named by its item: unknown kind, matter or rule set, duplicate ids, a ``requires`` naming a
later or unknown item, seats < 1, empty or duplicate candidates or options, unknown fields.
``scope_problems`` then checks the scope against the roll.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from dataclasses import dataclass

from identity.csvfile import CsvError, decode
from identity.roll import Roll
from identity.scope import Scope, unknown_places
from voting.rules import DEFAULT_RULES, ESTATE_MARK, MATTERS, RULE_SETS, RulesError, RuleSet, rule_set

KINDS = ("motion", "election", "choice")
RANK_BY = ("heads", "area")
MAX_ID = 64
RESERVED_IDS = {"owner", "业主编号"}  # ballot column names (BALLOTS.csv)
_FIELDS = {
    "motion": {"id", "kind", "matter", "title", "requires"},
    "election": {"id", "kind", "matter", "title", "requires", "seats", "candidates", "rank_by"},
    "choice": {"id", "kind", "matter", "title", "requires", "options"},
}


class AgendaError(ValueError):
    """An agenda refused as a whole; ``problems`` lists every message."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Item:
    """One agenda item.  ``choices`` are the candidates of an election or the options of a choice."""

    id: str
    kind: str  # motion | election | choice
    matter: str
    title: str = ""
    requires: tuple[str, ...] = ()
    seats: int = 0  # elections only
    choices: tuple[str, ...] = ()  # election candidates or choice options
    rank_by: str = "heads"  # elections only: heads | area

    @property
    def candidates(self) -> tuple[str, ...]:
        return self.choices if self.kind == "election" else ()

    @property
    def options(self) -> tuple[str, ...]:
        return self.choices if self.kind == "choice" else ()

    def as_json(self) -> dict:
        """The item as AGENDA.json states it, defaults written out."""
        out: dict = {"id": self.id, "kind": self.kind, "matter": self.matter}
        if self.title:
            out["title"] = self.title
        if self.requires:
            out["requires"] = list(self.requires)
        if self.kind == "election":
            out |= {"seats": self.seats, "candidates": list(self.choices), "rank_by": self.rank_by}
        if self.kind == "choice":
            out["options"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Agenda:
    rules: RuleSet
    scope: Scope
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def as_json(self) -> dict:
        """The normalised AGENDA.json (rules and defaults written out); ``parse_agenda`` of it
        gives back this agenda.  For hashing into a round's record, use RFC 8785 bytes of it."""
        out: dict = {"rules": self.rules.name}
        if not self.scope.is_estate:
            out["scope"] = self.scope.as_json()
        out["items"] = [item.as_json() for item in self.items]
        return out


def load_agenda(data: bytes, filename: str) -> Agenda:
    """Decode (UTF-8, BOM, GB18030) and parse AGENDA.json; AgendaError lists every problem."""
    try:
        text = decode(data, filename)
    except CsvError as exc:
        raise AgendaError(exc.problems) from None
    try:
        doc = loads_located(text)
    except json.JSONDecodeError as exc:
        raise AgendaError([f"{filename}:{exc.lineno}: JSON 格式错误 / malformed JSON: {exc.msg}"]) from None
    except ValueError as exc:
        raise AgendaError([f"{filename}{exc}"]) from None
    return parse_agenda(doc, filename)


class Located(dict):
    """A JSON object that remembers the line it starts on, for ``file:line`` messages."""

    line: int = 0


def loads_located(text: str) -> object:
    """``json.loads`` that refuses floats and duplicate keys and records each object's line."""
    decoder = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float, object_pairs_hook=list)

    def parse_object(s_and_end, *args):  # noqa: ANN001, ANN202
        source, start = s_and_end
        pairs, end = json.decoder.JSONObject(s_and_end, *args)
        line = source.count("\n", 0, start) + 1
        located = Located()
        for key, value in pairs:
            if key in located:
                raise ValueError(f":{line}: 重复的键 / duplicate key '{key}'")
            located[key] = value
        located.line = line
        return located, end

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder.decode(text)


def _no_float(text: str):  # noqa: ANN202
    raise ValueError(f": 不允许小数 / numbers must be integers, found {text}")


def _at(filename: str, obj: object) -> str:
    """``file:line`` of a located JSON object, else just ``file``."""
    return f"{filename}:{obj.line}" if isinstance(obj, Located) else filename


def parse_agenda(doc: object, filename: str = "agenda") -> Agenda:
    """Validate a decoded AGENDA.json document."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise AgendaError([f"{filename}: 议程须为 JSON 对象 / the agenda must be a JSON object"])
    top = _at(filename, doc)
    for key in sorted(set(doc) - {"rules", "scope", "items"}):
        problems.append(f"{top}: 未知字段 / unknown field '{key}' (known: items, rules, scope)")
    rules = _parse_rules(doc.get("rules", DEFAULT_RULES), top, problems)
    scope_at = _at(filename, doc["scope"]) if isinstance(doc.get("scope"), Located) else top
    scope = _parse_scope(doc.get("scope", {}), scope_at, filename, problems)
    items = _parse_items(doc.get("items"), top, filename, problems)
    if problems:
        raise AgendaError(problems)
    assert rules is not None
    return Agenda(rules, scope, items)


def _parse_rules(value: object, filename: str, problems: list[str]) -> RuleSet | None:
    if isinstance(value, str) and value in RULE_SETS:
        return RULE_SETS[value]
    if isinstance(value, str) and ESTATE_MARK in value:
        try:
            return rule_set(value)
        except RulesError as exc:
            problems.append(f"{filename}: {exc}")
            return None
    problems.append(f"{filename}: rules: 未知规则 / unknown rule set {json.dumps(value, ensure_ascii=False)} "
                    f"(known: {', '.join(RULE_SETS)}, or <statute>{ESTATE_MARK}quorum=N/D,special=N/D,ordinary=N/D)")
    return None


def _is_label(value: object) -> bool:
    return isinstance(value, str) and value == value.strip() and 0 < len(value) <= MAX_ID


def _parse_scope(value: object, at: str, filename: str, problems: list[str]) -> Scope:
    where = f"{at}: scope"
    if not isinstance(value, dict):
        problems.append(f"{where}: 须为对象 / must be an object like {{\"buildings\": [\"3\"]}}")
        return Scope()
    for key in sorted(set(value) - {"buildings", "units"}):
        problems.append(f"{where}: 未知字段 / unknown field '{key}' (known: buildings, units)")
    buildings = value.get("buildings", [])
    units = value.get("units", [])
    out_b: list[str] = []
    out_u: list[tuple[str, str]] = []
    if not isinstance(buildings, list) or not all(_is_label(b) for b in buildings):
        problems.append(f"{where}.buildings: 须为楼栋号列表 / must be a list of building labels")
    else:
        out_b = list(dict.fromkeys(buildings))
    if not isinstance(units, list):
        problems.append(f"{where}.units: 须为列表 / must be a list of {{\"building\", \"unit\"}}")
    else:
        for n, unit in enumerate(units):
            if (not isinstance(unit, dict) or set(unit) != {"building", "unit"}
                    or not _is_label(unit["building"]) or not _is_label(unit["unit"])):
                problems.append(f"{_at(filename, unit)}: scope.units[{n}]: 须为 {{\"building\": \"3\", \"unit\": \"2\"}} / "
                                f"must be {{\"building\": \"3\", \"unit\": \"2\"}}")
            else:
                out_u.append((unit["building"], unit["unit"]))
    if isinstance(value, dict) and ("buildings" in value or "units" in value) and not buildings and not units:
        problems.append(f"{where}: 范围为空；全小区请省略 scope / empty scope; omit scope for the whole estate")
    return Scope(tuple(out_b), tuple(dict.fromkeys(out_u)))


def _parse_items(value: object, top: str, filename: str, problems: list[str]) -> tuple[Item, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"{top}: items: 须为非空列表 / must be a non-empty list of items")
        return ()
    items: list[Item] = []
    seen: dict[str, tuple[int, str]] = {}  # casefolded id → (index, id)
    for n, raw in enumerate(value):
        item = _parse_item(raw, n, filename, seen, problems)
        if item is not None:
            items.append(item)
    return tuple(items)


def _item_where(filename: str, n: int, raw: object) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    named = f" '{ident}'" if isinstance(ident, str) else ""
    return f"{_at(filename, raw)}: 事项 item {n + 1}{named}"


def _parse_item(raw: object, n: int, filename: str, seen: dict[str, tuple[int, str]], problems: list[str]) -> Item | None:
    where = _item_where(filename, n, raw)
    if not isinstance(raw, dict):
        problems.append(f"{where}: 须为对象 / must be an object")
        return None
    before = len(problems)
    item_id = raw.get("id")
    if not _is_label(item_id) or ";" in item_id:
        problems.append(f"{where}: id 须为 1–{MAX_ID} 个字符的字符串 / id must be a string of 1–{MAX_ID} "
                        f"characters without surrounding spaces")
        item_id = None
    elif item_id.casefold() in RESERVED_IDS:
        problems.append(f"{where}: id '{item_id}' 与表决票的业主列同名 / id '{item_id}' is the ballot's "
                        f"owner column")
    elif item_id.casefold() in seen:
        problems.append(f"{where}: id 重复 / duplicate id '{item_id}' (also item {seen[item_id.casefold()][0] + 1}; "
                        f"ids are compared ignoring case)")
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(f"{where}: 未知类型 / unknown kind {json.dumps(kind, ensure_ascii=False)} "
                        f"(known: {', '.join(KINDS)})")
        return None
    for key in sorted(set(raw) - _FIELDS[kind]):
        problems.append(f"{where}: 未知字段 / unknown field '{key}' for a {kind} "
                        f"(known: {', '.join(sorted(_FIELDS[kind]))})")
    matter = _parse_matter(raw.get("matter"), kind, where, problems)
    title = raw.get("title", "")
    if not isinstance(title, str):
        problems.append(f"{where}: title 须为字符串 / title must be a string")
    requires = _parse_requires(raw.get("requires", []), seen, where, problems)
    seats, choices, rank_by = 0, (), "heads"
    if kind == "election":
        seats = _parse_seats(raw.get("seats"), where, problems)
        choices = _parse_choices(raw.get("candidates"), "candidates", "候选人", where, problems)
        rank_by = raw.get("rank_by", "heads")
        if rank_by not in RANK_BY:
            problems.append(f"{where}: rank_by 须为 heads 或 area / rank_by must be heads or area, "
                            f"not {json.dumps(rank_by, ensure_ascii=False)}")
    elif kind == "choice":
        choices = _parse_choices(raw.get("options"), "options", "选项", where, problems)
    if item_id is not None and item_id.casefold() not in seen:
        seen[item_id.casefold()] = (n, item_id)
    if len(problems) > before:
        return None
    return Item(item_id, kind, matter, title, requires, seats, choices, rank_by)


def _parse_matter(matter: object, kind: str, where: str, problems: list[str]) -> str:
    if matter not in MATTERS:
        problems.append(f"{where}: 未知事项类别 / unknown matter {json.dumps(matter, ensure_ascii=False)} "
                        f"(known: {', '.join(MATTERS)})")
        return ""
    if kind == "election" and matter != "elect_committee":
        problems.append(f"{where}: 选举的事项类别须为 elect_committee / an election's matter must be "
                        f"elect_committee, not '{matter}'")
    if kind != "election" and matter == "elect_committee":
        problems.append(f"{where}: elect_committee 只用于选举 / the elect_committee matter is only for "
                        f"elections (kind \"election\"), not a {kind}")
    return matter


def _parse_requires(value: object, seen: dict[str, tuple[int, str]], where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: requires 须为事项 id 列表 / requires must be a list of item ids")
        return ()
    out: list[str] = []
    for ref in value:
        if seen.get(ref.casefold(), (0, None))[1] != ref:
            problems.append(f"{where}: requires '{ref}' 须为之前的事项 / requires '{ref}', which is not an "
                            f"earlier item (unknown, later, or itself)")
        elif ref in out:
            problems.append(f"{where}: requires '{ref}' 重复 / requires '{ref}' twice")
        else:
            out.append(ref)
    return tuple(out)


def _parse_seats(value: object, where: str, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"{where}: seats 须为 ≥ 1 的整数 / seats must be an integer ≥ 1, "
                        f"not {json.dumps(value, ensure_ascii=False)}")
        return 0
    return value


def _parse_choices(value: object, field: str, zh: str, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: {zh}为空 / {field} must be a non-empty list of ids")
        return ()
    out: list[str] = []
    for choice in value:
        if not _is_label(choice) or ";" in choice or "；" in choice:
            problems.append(f"{where}: {zh} {json.dumps(choice, ensure_ascii=False)} 无效 / {field}: "
                            f"each id must be a string of 1–{MAX_ID} characters without ';' or surrounding spaces")
        elif choice in out:
            problems.append(f"{where}: {zh}重复 / duplicate in {field}: '{choice}'")
        else:
            out.append(choice)
    return tuple(out)


def scope_problems(agenda: Agenda, roll: Roll, filename: str = "agenda") -> list[str]:
    """The agenda's scope names buildings or units that the roll does not have."""
    return [f"{filename}: scope: 名册中没有 / not in the roll: {place}" for place in unknown_places(roll, agenda.scope)]
