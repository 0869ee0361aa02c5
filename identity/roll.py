"""The estate roll: exclusive parts, their owners, and the voters they make.

Counting follows SPC interpretation 法释〔2009〕7号 Art. 8–9 (DOMAIN.md "Who counts"):
one owning party (业主编号) is one voter whatever the number of its parts; all developer-held
parts together are one voter; a voter's weight is the sum of its parts' areas, in 0.01 m².

``read_roll`` turns a supervisor's CSV into a ``Roll`` or refuses the whole file with every
problem listed as ``file:line: message``.  Look-alike input is normalised or refused (issue
#8.4, docs/formats.md): labels and ids are NFKC-normalised (full-width "１０１" is "101") and
refused when they hold invisible, control or bidirectional characters; owner ids that look like
a phone number, an ID card number or a personal name are refused (#7.5: ids reach the openings
and letters, never names or numbers that identify a person).  The optional ``phone`` column is
private (SPEC §6.3): a mainland mobile number, one per owner id.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from identity.area import MAX_AREA, format_area, parse_area
from identity.csvfile import CsvError, iter_table

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
    "phone": "phone", "手机号": "phone",
}
REQUIRED = {"building", "room", "area", "owner"}
_ID_NUMBER = re.compile(r"[0-9]{15}|[0-9]{17}[0-9X]", re.ASCII)
_PHONE_LIKE = re.compile(r"1[0-9]{10}", re.ASCII)
_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_SEPARATORS = re.compile(r"[\s\-.()]+")
_OWNER_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-./#]*", re.ASCII)
_CAPS_CODE = re.compile(r"[A-Z]{1,8}", re.ASCII)  # DEV, A: codes, not names
_LATIN_NAME = re.compile(r"[A-Za-z]+(?:[ .'\-·][A-Za-z]+)+")
MAX_LABEL = 64
MAX_NAME = 200
# Invisible characters that are not in the C* categories (Unicode Default_Ignorable_Code_Point).
_IGNORABLE = frozenset([0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810),
                        *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def clean_text(value: str, what: str, limit: int) -> str:
    """NFKC-normalise ``value`` and refuse invisible, control, bidi or unassigned characters.

    Raises ValueError naming ``what``.  "１０１" → "101", "1\u200b01" is refused (it would be a
    second room that looks like 101).  Used for labels, owner ids, names and estate names.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp") or ord(ch) in _IGNORABLE:
            raise ValueError(f"{what} 含有不可见或控制字符 U+{ord(ch):04X} / {what.split()[-1]} contains an "
                             f"invisible or control character U+{ord(ch):04X}")
    if len(text) > limit:
        raise ValueError(f"{what} 过长（最多 {limit} 字）/ {what.split()[-1]} longer than {limit} characters")
    return text


def normalise_label(value: str) -> str:
    """A building, unit or room label as stored: NFKC, no invisible characters (ValueError)."""
    return clean_text(value, "标签 label", MAX_LABEL)


def owner_id_problem(owner: str) -> tuple[str, str] | None:
    """Why ``owner`` (already cleaned) may not be an owner id, (中文, English), or None (#7.5)."""
    bare = _SEPARATORS.sub("", owner)
    if _PHONE_LIKE.fullmatch(bare):
        return "业主编号像是手机号", "owner id looks like a phone number"
    if _ID_NUMBER.fullmatch(bare.upper()):
        return "业主编号像是身份证号", "owner id looks like an ID card number"
    if any(_is_cjk(ch) for ch in owner):
        return "业主编号含有汉字，像是姓名", "owner id contains Chinese characters, like a name"
    if _LATIN_NAME.fullmatch(owner) or (not any(ch.isdigit() for ch in owner) and not _CAPS_CODE.fullmatch(owner)):
        return "业主编号像是姓名", "owner id looks like a personal name"
    if not _OWNER_CHARS.fullmatch(owner):
        return "业主编号只能用字母、数字和 - _ . / #", "owner id may only use letters, digits and - _ . / #"
    return None


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


def parse_phone(value: str) -> str:
    """A mainland mobile number, NFKC-normalised, separators and a +86 prefix removed (ValueError)."""
    bare = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    if bare.startswith("+86"):
        bare = bare[3:]
    elif bare.startswith("0086"):
        bare = bare[4:]
    if not _MOBILE.fullmatch(bare):
        raise ValueError(f"手机号 '{value}' 无效（应为 11 位大陆手机号，如 13812345678）/ phone must be an "
                         f"11-digit mainland mobile number like 13812345678")
    return bare


@dataclass(frozen=True, slots=True)
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
    phones: dict[str, str] = field(default_factory=dict, compare=False)  # voter id → mobile (private)

    @cached_property
    def voters(self) -> tuple[Voter, ...]:
        """Computed once per roll (one pass), not on every access."""
        groups: dict[str, list[Part]] = {}
        for part in self.parts:
            groups.setdefault(part.owner, []).append(part)
        return tuple(Voter(vid, tuple(ps), ps[0].developer_held) for vid, ps in groups.items())

    @cached_property
    def _by_id(self) -> dict[str, Voter]:
        return {v.voter_id: v for v in self.voters}

    def voter(self, voter_id: str) -> Voter | None:
        return self._by_id.get(voter_id)

    @cached_property
    def buildings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.building for p in self.parts))


def read_roll(data: bytes, filename: str) -> Roll:
    """Parse and validate a roll CSV (UTF-8, UTF-8 with BOM, or GB18030). All or nothing."""
    names, rows, problems = iter_table(data, filename, COLUMNS, REQUIRED)
    if not REQUIRED <= set(names):
        raise CsvError(problems)  # rows cannot be judged without their columns
    parts: list[Part] = []
    names: dict[str, str] = {}
    phones: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    total = 0
    developer: tuple[str, int] | None = None
    plain_owner_lines: dict[str, int] = {}
    count = 0
    for row in rows:
        count += 1
        where = f"{filename}:{row.line}"
        key = tuple(sys.intern(unicodedata.normalize("NFKC", row.cells.get(k, "")).strip())
                    for k in ("building", "unit", "room"))
        if key in seen and key[0] and key[2]:
            label = "-".join(x for x in key if x)
            problems.append(f"{where}: 房屋重复 / duplicate part {label} (first on line {seen[key]})")
            continue
        seen.setdefault(key, row.line)
        part = _read_part(row.cells, where, problems)
        if part is None:
            continue
        total += part.area
        if total > MAX_AREA and total - part.area <= MAX_AREA:  # reported once, on the line that crosses
            problems.append(f"{where}: 面积合计超过上限 {format_area(MAX_AREA)} m² / the areas sum to more than "
                            f"{format_area(MAX_AREA)} m²")
        if not _read_private(row.cells, part.owner, where, names, phones, problems):
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
    if developer is not None and developer[0] in plain_owner_lines:
        line = plain_owner_lines[developer[0]]
        problems.append(f"{filename}:{line}: 业主编号 '{developer[0]}' 是开发商（第 {developer[1]} 行），"
                        f"此行须标为开发商持有 / owner '{developer[0]}' is the developer (line "
                        f"{developer[1]}); mark this part developer_held too")
    if not count and not problems:
        problems.append(f"{filename}:2: 名册没有房屋 / the roll has no parts")
    if problems:
        raise CsvError(problems)
    return Roll(tuple(parts), names, {owner: phone for owner, (phone, _) in phones.items()})


def _read_private(cells: dict[str, str], owner: str, where: str, names: dict[str, str],
                  phones: dict[str, tuple[str, int]], problems: list[str]) -> bool:
    """The owner's name and phone (private columns); one phone per owner id."""
    before = len(problems)
    try:
        name = clean_text(" ".join(cells.get("owner_name", "").split()), "业主姓名 owner_name", MAX_NAME)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        name = ""
    if name and owner not in names:
        names[owner] = name
    text = cells.get("phone", "")
    if text:
        try:
            phone = parse_phone(text)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
        else:
            line = int(where.rsplit(":", 1)[1])
            first = phones.setdefault(owner, (phone, line))
            if first[0] != phone:
                problems.append(f"{where}: 业主 '{owner}' 的手机号与第 {first[1]} 行不同（每位业主一个手机号）/ owner "
                                f"'{owner}' has another phone on line {first[1]}; one phone per owner id")
    return len(problems) == before


def _read_part(cells: dict[str, str], where: str, problems: list[str]) -> Part | None:
    before = len(problems)
    labels = {}
    for key, name, required in (("building", "楼栋 building", True), ("unit", "单元 unit", False),
                                ("room", "房号 room", True), ("owner", "业主编号 owner", True)):
        try:
            labels[key] = sys.intern(clean_text(cells.get(key, ""), name, MAX_LABEL))  # shared, not copied
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if required and not labels[key]:
            problems.append(f"{where}: {name.split()[0]} 为空 / {name.split()[1]} is empty")
    owner = labels.get("owner")
    if owner and (why := owner_id_problem(owner)):
        problems.append(f"{where}: {why[0]}（'{owner}'），请改用名册编号（如 M0007）/ {why[1]} ('{owner}'); "
                        f"use a roll number such as M0007")
    area = 0
    try:
        area = parse_area(cells.get("area", ""))
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    source_text = unicodedata.normalize("NFKC", cells.get("area_source", "")).strip() or "registered"
    source = AREA_SOURCES.get(source_text.casefold())
    if source is None:
        problems.append(f"{where}: 面积来源 '{source_text}' 无效（登记|实测|合同）/ area_source must be "
                        f"registered, surveyed or contract")
    held_text = unicodedata.normalize("NFKC", cells.get("developer_held", "")).strip().casefold()
    if held_text not in _YES | _NO:
        problems.append(f"{where}: 开发商持有 '{held_text}' 无效（是|否）/ developer_held must be yes or no")
    if len(problems) > before:
        return None
    return Part(labels["building"], labels["unit"], labels["room"], area, source or "registered", owner,
                held_text in _YES)
