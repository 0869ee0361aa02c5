"""``parse_entry``'s fast canonical test accepts and refuses exactly what ``canonical`` does (SPEC §2.1).

The fast test compares the decoded text with the C encoder's output (no cycle bookkeeping); any
difference, or a character outside the BMP, goes to the full check, which gives the message.
"""

from __future__ import annotations

import json

import pytest

from ledger import entry
from ledger.entry import EntryError, canonical, parse_entry

PREV = "0" * 64


def _line(body: str) -> bytes:
    return ('{"body":' + body + ',"prev":"' + PREV + '","seq":0,"time":"2026-01-01T00:00:00Z","type":"t"}').encode()


BODIES = [
    '{"a":1,"b":"x"}', '{"b":1,"a":2}', '{"a": 1}', '{"a":"\\u00e9"}', '{"a":"é"}', '{"a":"\\/"}',
    '{"a":"\\u001f"}', '{"a":"\\u001F"}', '{"a":"\\n"}', '{"a":"\\u000a"}', '{"a":"\x7f"}', '{"a":"😀"}',
    '{"a":"\\ud83d\\ude00"}', '{"a":"\\ud800"}', '{"a":-0}', '{"a":0}', '{"a":[1,2,{"z":null,"y":true}]}',
    '{"😀":1,"\ue000":2}', '{"\ue000":2,"😀":1}', '{"a":1,"a":1}', '{"a":' + "[" * 50 + "]" * 50 + "}",
]


def _verdict(data: bytes) -> object:
    try:
        return parse_entry(data)
    except EntryError as exc:
        return str(exc)


@pytest.mark.parametrize("body", BODIES)
def test_same_verdict_as_the_full_check(body, monkeypatch):
    data = _line(body)
    fast = _verdict(data)
    monkeypatch.setattr(entry, "_same_text", lambda *args: False)  # every entry through the full check
    assert _verdict(data) == fast


def test_canonical_entries_parse():
    body = {"s": "条目 😀 \u2028", "n": [2**53 - 1, -5, 0], "t": True, "z": None, "o": {"b": 1, "a": 2}}
    data = canonical({"body": body, "prev": PREV, "seq": 3, "time": "2026-01-01T00:00:00Z", "type": "t"})
    assert parse_entry(data).body == json.loads(data)["body"]
