"""Hypothesis strategies shared by the parser fuzz tests: any JSON value, and a valid document
with one part replaced, deleted or added (so the parser's deeper checks are reached)."""

from __future__ import annotations

import copy
import json

from hypothesis import strategies as st

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
           | st.sampled_from(["", "00" * 32, "ff" * 32, "0" * 63, "AA" * 32, "\ud800", "1.5", "-0"]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, document):
    """``document`` (a JSON value) with one node replaced by any JSON value, deleted, or given an
    extra member/element."""
    doc = copy.deepcopy(document)
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    value = draw(JSON_VALUES)
    if not path:
        return value if action != "add" else [doc, value]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = value
    else:
        parent.insert(last, value)
    return doc


@st.composite
def mutated_text(draw, text: str):
    """The bytes of the JSON text of ``text``'s document mutated, or of the text itself with bytes
    flipped, cut or inserted."""
    if draw(st.booleans()):
        doc = draw(mutated(json.loads(text)))
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return draw(mutated_bytes(text.encode()))


@st.composite
def mutated_bytes(draw, data: bytes, max_changes: int = 4):
    """``data`` with a few bytes flipped, removed or inserted, or cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, max_changes))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "cut"]))
        if action == "flip":
            out[at] ^= draw(st.integers(1, 255))
        elif action == "delete":
            del out[at]
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[at:]
    return bytes(out)
