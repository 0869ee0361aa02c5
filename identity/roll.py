"""The estate roll: exclusive parts, their owners, and the voters they make.

Counting follows SPC interpretation 法释〔2009〕7号 Art. 8–9 (DOMAIN.md "Who counts"):
one owning party (业主编号) is one voter whatever the number of its parts; all developer-held
parts together are one voter; a voter's weight is the sum of its parts' areas, in 0.01 m².

``read_roll`` turns a supervisor's CSV into a ``Roll`` or refuses the whole file with every
problem listed as ``file:line: message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from identity.area import parse_area
from identity.csvfile import CsvError, read_table

AREA_SOURCES = {"registered": "registered", "登记": "registered",
                "surveyed": "surveyed", "实测": "surveyed",
                "contract": "contract", "合同": "contract"}
_YES = {"yes", "true", "1", "是", "y"}
_NO = {"no", "false", "0", "否", "n", ""}

COLUMNS = {
    "building": "building", "楼栋": "building",
    "unit": "unit", "单元": "unit",
    "room": "room", "房号": "room",
    "area": "area", "面积": "area",
    "area_source": "area_source", "面积来源": "area_source",
    "owner": "owner", "业主编号": "owner",
    "owner_name": "owner_name", "业主姓名": "owner_name",
    "developer_held": "developer_held", "开发商持有": "developer_held",
}
REQUIRED = {"building", "room", "area", "owner"}
_ID_CARD = re.compile(r"^\d{17}[\dXx]$")
MAX_LABEL = 64


@dataclass(frozen=True)
class Part:
    """One exclusive part (专有部分) as the roll states it."""

    building: str
    unit: str
    room: str
    area: int  # 0.01 m²
    area_source: str  # registered | surveyed | contract
    owner: str  # the owning party's id (业主编号); the voter id
    developer_held: bool = False

    @property
    def label(self) -> str:
        """Human label, e.g. "3-2-1201" (building-unit-room) or "3-1201"."""
        return "-".join(x for x in (self.building, self.unit, self.room) if x)


@dataclass(frozen=True)
class Voter:
    """One owning party (表决权人): one head, weight = sum of its parts' areas."""

    voter_id: str
    parts: tuple[Part, ...]
    developer: bool = False

    @property
    def area(self) -> int:
        return sum(p.area for p in self.parts)


@dataclass(frozen=True)
class Roll:
    """A validated roll: parts in file order and the voters they form (first appearance order)."""

    parts: tuple[Part, ...]
    names: dict[str, str] = field(default_factory=dict, compare=False)  # voter id → owner name (private)

    @property
    def voters(self) -> tuple[Voter, ...]:
        groups: dict[str, list[Part]] = {}
        for part in self.parts:
            groups.setdefault(part.owner, []).append(part)
        return tuple(Voter(vid, tuple(ps), ps[0].developer_held) for vid, ps in groups.items())

    def voter(self, voter_id: str) -> Voter | None:
        for v in self.voters:
            if v.voter_id == voter_id:
                return v
        return None

    @property
    def buildings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.building for p in self.parts))


def read_roll(data: bytes, filename: str) -> Roll:
    """Parse and validate a roll CSV (UTF-8, UTF-8 with BOM, or GB18030). All or nothing."""
    names, rows, problems = read_table(data, filename, COLUMNS, REQUIRED)
    if not REQUIRED <= set(names):
        raise CsvError(problems)  # rows cannot be judged without their columns
    parts: list[Part] = []
    names: dict[str, str] = {}
    seen: dict[tuple[str, str, str], int] = {}
    developer: tuple[str, int] | None = None
    plain_owner_lines: dict[str, int] = {}
    for row in rows:
        where = f"{filename}:{row.line}"
        key = (row.cells.get("building", ""), row.cells.get("unit", ""), row.cells.get("room", ""))
        if key in seen and key[0] and key[2]:
            label = "-".join(x for x in key if x)
            problems.append(f"{where}: 房屋重复 / duplicate part {label} (first on line {seen[key]})")
            continue
        seen.setdefault(key, row.line)
        part = _read_part(row.cells, where, problems)
        if part is None:
            continue
        if part.developer_held:
            if developer is None:
                developer = (part.owner, row.line)
            elif developer[0] != part.owner:
                problems.append(f"{where}: 开发商持有的房屋业主编号不一致 / developer-held part owned by "
                                f"'{part.owner}' but line {developer[1]} gave developer '{developer[0]}'; "
                                f"all developer-held parts must carry one owner id")
                continue
        else:
            plain_owner_lines.setdefault(part.owner, row.line)
        parts.append(part)
        name = row.cells.get("owner_name", "")
        if name and part.owner not in names:
            names[part.owner] = name
    if developer is not None and developer[0] in plain_owner_lines:
        line = plain_owner_lines[developer[0]]
        problems.append(f"{filename}:{line}: 业主编号 '{developer[0]}' 是开发商（第 {developer[1]} 行），"
                        f"此行须标为开发商持有 / owner '{developer[0]}' is the developer (line "
                        f"{developer[1]}); mark this part developer_held too")
    if not rows and not problems:
        problems.append(f"{filename}:2: 名册没有房屋 / the roll has no parts")
    if problems:
        raise CsvError(problems)
    return Roll(tuple(parts), names)


def _read_part(cells: dict[str, str], where: str, problems: list[str]) -> Part | None:
    before = len(problems)
    building, unit, room, owner = (cells.get(k, "") for k in ("building", "unit", "room", "owner"))
    for name, value, required in (("building 楼栋", building, True), ("room 房号", room, True),
                                  ("owner 业主编号", owner, True), ("unit 单元", unit, False)):
        if required and not value:
            problems.append(f"{where}: {name} 为空 / {name.split()[0]} is empty")
        elif len(value) > MAX_LABEL:
            problems.append(f"{where}: {name} 过长 / {name.split()[0]} longer than {MAX_LABEL} characters")
    if _ID_CARD.match(owner):
        problems.append(f"{where}: 业主编号不得使用身份证号（编号会公示）/ owner id looks like an ID card "
                        f"number; use a roll number instead (owner ids are published)")
    area = 0
    try:
        area = parse_area(cells.get("area", ""))
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    source_text = cells.get("area_source", "") or "registered"
    source = AREA_SOURCES.get(source_text.casefold())
    if source is None:
        problems.append(f"{where}: 面积来源 '{source_text}' 无效（登记|实测|合同）/ area_source must be "
                        f"registered, surveyed or contract")
    held_text = cells.get("developer_held", "").casefold()
    if held_text not in _YES | _NO:
        problems.append(f"{where}: 开发商持有 '{held_text}' 无效（是|否）/ developer_held must be yes or no")
    if len(problems) > before:
        return None
    return Part(building, unit, room, area, source or "registered", owner, held_text in _YES)
