"""Areas as exact integers of 0.01 m² (DOMAIN.md "Who counts": never rounded, never a float)."""

from __future__ import annotations

import re
import unicodedata

_AREA = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?", re.ASCII)
_TOO_PRECISE = re.compile(r"[0-9]+\.[0-9]{3,}", re.ASCII)
MAX_AREA = 2**53 - 1  # 0.01 m²; SPEC §1: integers below 2^53


def parse_area(text: str) -> int:
    """Parse a positive area in m² with at most two decimals into 0.01 m² units.

    "88" → 8800, "88.5" → 8850, "88.05" → 8805; full-width "８８．５" is NFKC-normalised to
    "88.5" first, and then only ASCII digits are accepted (no other script's digits, issue #8.4).
    Raises ValueError with a bilingual message for anything else: more than two decimals (never
    rounded), zero, negative, separators, exponents, empty, above 2^53 − 1 (0.01 m²).
    """
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        raise ValueError("面积为空 / area is empty")
    if _TOO_PRECISE.fullmatch(s):
        raise ValueError(f"面积 '{s}' 超过两位小数 / area '{s}' has more than two decimals")
    m = _AREA.fullmatch(s)
    if not m:
        raise ValueError(f"面积 '{s}' 不是有效数字（如 89.50）/ area '{s}' is not a number like 89.50")
    whole, frac = m.group(1).lstrip("0") or "0", (m.group(2) or "").ljust(2, "0")
    value = int(whole) * 100 + int(frac) if len(whole) <= 17 else MAX_AREA + 1
    if value <= 0:
        raise ValueError(f"面积必须大于 0 / area '{s}' must be greater than 0")
    if value > MAX_AREA:
        raise ValueError(f"面积 '{s}' 超过上限 / area '{s}' is above the limit of {format_area(MAX_AREA)} m²")
    return value


def format_area(value: int) -> str:
    """0.01 m² units → decimal string with exactly two decimals: 123450 → "1234.50"."""
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 100)
    return f"{sign}{q}.{r:02d}"


def format_area_grouped(value: int) -> str:
    """Like format_area with thousands separators, for reports: 1234567 → "12,345.67"."""
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 100)
    return f"{sign}{q:,}.{r:02d}"
