"""Ledger entries: RFC 8785 canonical JSON objects chained by ``prev`` (SPEC §2.1).

An entry is the JSON object ``{"body": {...}, "prev": <hex>, "seq": <int>, "time": <RFC 3339>,
"type": <name>}`` encoded with the JSON Canonicalization Scheme (RFC 8785).  ``seq`` counts
0, 1, 2, … without gaps; ``prev`` is the lowercase hex leaf hash (RFC 9162 §2.1.1) of entry
``seq - 1``, or 64 zeros for seq 0.  Only strings, integers (|n| < 2^53), booleans, null, arrays
and objects may appear; floating-point numbers are refused.

``canonical`` uses the C JSON encoder when it provably gives the RFC 8785 bytes (no character
outside the Basic Multilingual Plane, where UTF-16 and code-point key order could differ) and
the ``rfc8785`` package otherwise.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from typing import NamedTuple

import rfc8785

ZERO_PREV = "0" * 64
MAX_INT = 2**53 - 1
FIELDS = ("body", "prev", "seq", "time", "type")
_FIELD_SET = frozenset(FIELDS)
TYPE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
_FOUR_BYTE = re.compile(rb"[\xf0-\xf7]")

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode
_redump = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                           check_circular=False).encode
"""``_dumps`` for what the JSON decoder just made (never circular): no cycle bookkeeping."""


class EntryError(ValueError):
    """An entry (or a body) that breaks SPEC §2.1."""


class ParsedEntry(NamedTuple):
    """The fields of one decoded entry (a named tuple: made once per entry on the verify path)."""

    seq: int
    prev: str
    type: str
    time: str
    body: dict


def canonical(value: object) -> bytes:
    """RFC 8785 bytes of a JSON value made of dict/list/str/int/bool/None."""
    data = _dumps(value).encode("utf-8")
    if _has_4byte(data):
        return rfc8785.dumps(value)
    return data


def _has_4byte(data: bytes) -> bool:
    """True when the UTF-8 bytes hold a character outside the BMP (a 4-byte sequence)."""
    return not data.isascii() and _FOUR_BYTE.search(data) is not None


def check_value(value: object, path: str = "body") -> None:
    """Refuse anything but strings, safe integers, booleans, null, lists and string-keyed dicts."""
    if not _fine(value):
        _find_bad(value, path)


def _fine(value: object) -> bool:
    """Whether ``value`` passes ``check_value`` (no paths built: the common case, every append)."""
    if value is None or value is True or value is False:
        return True
    kind = type(value)
    if kind is str:
        return True
    if kind is int:
        return -MAX_INT <= value <= MAX_INT
    if kind is list:
        return all(_fine(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _fine(v) for k, v in value.items())
    return False  # subclasses, floats, anything else: _find_bad names it (or accepts a subclass)


def _find_bad(value: object, path: str) -> None:
    """``check_value`` with the path of each value, to name the one refused."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise EntryError(f"{path}: integer {value} is outside ±(2^53-1)")
        return
    if isinstance(value, float):
        raise EntryError(f"{path}: floating-point numbers are not allowed ({value!r})")
    if isinstance(value, list):
        for i, v in enumerate(value):
            _find_bad(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise EntryError(f"{path}: key {k!r} is not a string")
            _find_bad(v, f"{path}.{k}")
        return
    raise EntryError(f"{path}: {type(value).__name__} is not a JSON value of the ledger")


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with whole seconds and a Z suffix; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise EntryError("entry time must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_entry(seq: int, prev: str, type_: str, time: str, body: dict) -> bytes:
    """The canonical bytes of an entry (after checking every field)."""
    if not isinstance(body, dict):
        raise EntryError("entry body must be a JSON object")
    if not TYPE_RE.match(type_):
        raise EntryError(f"entry type {type_!r} must match [a-z][a-z0-9_.-]{{0,63}}")
    check_value(body)
    return canonical({"body": body, "prev": prev, "seq": seq, "time": time, "type": type_})


def _no_float(text: str) -> object:
    raise EntryError(f"floating-point number {text} is not allowed")


def _int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INT:
        raise EntryError(f"integer {text} is outside ±(2^53-1)")
    return value


# Every integer goes through _int (cheaper than scanning the bytes for long digit runs first).
_decoder = json.JSONDecoder(parse_float=_no_float, parse_int=_int, parse_constant=_no_float)


def parse_entry(data: bytes) -> ParsedEntry:
    """Decode entry bytes and check they are canonical and well-formed (not the chain)."""
    try:
        text = data.decode("utf-8")
        obj = _decoder.decode(text)
    except EntryError:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise EntryError(f"not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise EntryError("not an entry: JSON nested too deeply") from None
    if not isinstance(obj, dict) or obj.keys() != _FIELD_SET:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise EntryError(f"entry must be an object with exactly the fields {', '.join(FIELDS)} (got {keys})")
    if not _same_text(obj, text, data):
        _check_canonical(obj, data)
    seq, prev, type_, time, body = obj["seq"], obj["prev"], obj["type"], obj["time"], obj["body"]
    if type(seq) is not int or seq < 0:
        raise EntryError(f"seq must be a non-negative integer (got {seq!r})")
    if not isinstance(prev, str) or not HEX64_RE.match(prev):
        raise EntryError("prev must be 64 lowercase hex digits")
    if not isinstance(type_, str) or not TYPE_RE.match(type_):
        raise EntryError(f"type {type_!r} must match [a-z][a-z0-9_.-]{{0,63}}")
    if not isinstance(time, str) or not _time_ok(time):
        raise EntryError(f"time {time!r} is not RFC 3339 UTC with whole seconds (YYYY-MM-DDTHH:MM:SSZ)")
    if not isinstance(body, dict):
        raise EntryError("body must be a JSON object")
    return ParsedEntry(seq, prev, type_, time, body)


def _same_text(obj: dict, text: str, data: bytes) -> bool:
    """True when ``data`` (decoded: ``text``) is ``canonical(obj)`` by the fast test: every
    character in the BMP (where ``canonical`` is the C encoder's output) and that output equal to
    the text — equal strings are equal UTF-8 bytes.  False: ``_check_canonical`` decides."""
    if _has_4byte(data):
        return False
    try:
        return _redump(obj) == text
    except (ValueError, RecursionError):
        return False


def _check_canonical(obj: dict, data: bytes) -> None:
    """EntryError unless ``data`` is exactly ``canonical(obj)`` (RFC 8785)."""
    try:
        again = canonical(obj)
    except (UnicodeEncodeError, ValueError, RecursionError) as exc:
        raise EntryError(f"cannot be encoded canonically: {exc!r}") from None
    if again != data:
        raise EntryError("bytes are not the RFC 8785 canonical form of the entry")


@functools.lru_cache(maxsize=4096)
def _time_ok(time: str) -> bool:
    """RFC 3339 UTC, whole seconds, a real date and time (cached: entries share their seconds)."""
    return TIME_RE.match(time) is not None and _valid_time(time)


def _valid_time(time: str) -> bool:
    try:
        datetime.fromisoformat(time[:-1])
    except ValueError:
        return False
    return True
