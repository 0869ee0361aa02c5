"""Strict JSON text for signed data (docs/SPEC.md §1, §3.6).

Ballots and other signed objects are verified from their JSON text, never from an object a
lenient parser made of it, so that every implementation accepts and refuses the same texts
(Python: this module; the browser module: ``parseStrictJson``).  Refused:

- a duplicate key in an object (lenient parsers silently keep one of the values);
- any number token with a fraction or an exponent (``1.0``, ``1e0``), even if its value is an
  integer, and ``NaN`` / ``Infinity``;
- an integer with |n| ≥ 2^53;
- a string that is not well-formed Unicode (a lone surrogate escape such as ``"\\ud800"``);
- anything that is not RFC 8259 JSON (trailing text, control characters in strings, …).
"""

from __future__ import annotations

import json

MAX_SAFE = 2**53 - 1


class StrictJSONError(ValueError):
    """JSON text refused by the strict rule; the message says why."""


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise StrictJSONError(f"duplicate key {k!r}")
        _check_text(k)
        out[k] = v
    return out


def _check_text(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise StrictJSONError("string with a lone surrogate (not well-formed Unicode)") from None


def _float(token: str) -> float:
    raise StrictJSONError(f"number {token} has a fraction or exponent: only integers are allowed")


def _int(token: str) -> int:
    if len(token) > 17 or abs(int(token)) > MAX_SAFE:
        raise StrictJSONError(f"integer {token} is outside ±(2^53 − 1)")
    return int(token)


def _constant(token: str) -> float:
    raise StrictJSONError(f"{token} is not JSON")


def _strings(value: object) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _check_text(v)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def loads(text: str | bytes) -> object:
    """Parse JSON text (bytes must be UTF-8) under the strict rule; StrictJSONError otherwise."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        if not isinstance(text, str):
            raise StrictJSONError("expected JSON text")
        value = json.loads(text, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int,
                           parse_constant=_constant)
    except StrictJSONError:
        raise
    except UnicodeDecodeError:
        raise StrictJSONError("JSON text is not UTF-8") from None
    except RecursionError:
        raise StrictJSONError("JSON text nested too deeply") from None
    except ValueError as e:  # json.JSONDecodeError
        raise StrictJSONError(f"not JSON ({e})") from None
    _strings(value)
    return value
