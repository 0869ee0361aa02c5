"""Public text in consultation and follow-through entries (SPEC §10.1, §11.1): titles, questions,
the responsible party, purposes, status notes.

Everything here goes into the public ledger, so it must hold no personal data.  The rule is the
one people can check by eye: NFC-normalised (full-width Chinese punctuation stays), trimmed,
1 … limit characters, no control, format (invisible), private-use or unassigned character except
the line break, and nothing that looks like a mainland mobile number
(11 digits starting 1[3-9]) or a resident ID card number (17 digits and a digit or X).  A name
cannot be recognised by a program; staff are told on every form that the text is public.
"""

from __future__ import annotations

import re
import unicodedata

_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")


class PublicTextError(ValueError):
    """Text refused for the public record; the message is 中文 / English."""


def public_text(value: object, what: str, limit: int, *, empty: bool = False) -> str:
    """``value`` cleaned for the public record, or PublicTextError naming ``what`` ("标题 title")."""
    zh, _, en = what.partition(" ")
    if not isinstance(value, str):
        raise PublicTextError(f"{zh}必须是文字 / {en or zh} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"):
            raise PublicTextError(f"{zh}含有不可见或控制字符 U+{ord(ch):04X} / {en or zh} contains an invisible or "
                                  f"control character U+{ord(ch):04X}")
    if len(text) > limit:
        raise PublicTextError(f"{zh}过长（最多 {limit} 字）/ {en or zh} longer than {limit} characters")
    if not text and not empty:
        raise PublicTextError(f"{zh}不能为空 / {en or zh} must not be empty")
    compact = re.sub(r"[\s-]", "", text)
    if _MOBILE.search(compact) or _ID_CARD.search(compact):
        raise PublicTextError(f"{zh}像是含有手机号或身份证号，公开记录中不能有个人信息 / {en or zh} seems to hold a "
                              f"phone or ID card number: the public record holds no personal data")
    return text


def check_public(value: object, limit: int) -> bool:
    """True when ``value`` is text a verifier accepts in a public member (the same rule, no exception)."""
    try:
        return public_text(value, "text", limit) == value
    except PublicTextError:
        return False
