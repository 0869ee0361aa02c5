"""Every inclusion and consistency vector of ../shared/vectors/merkle agrees with ledger.proof."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger.proof import ProofError, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle" / "testdata"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "merkle" / "testdata"


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def _proof(v) -> list[bytes]:
    return [_b(p) for p in (v or [])]


def test_copy_equals_the_shared_vectors():
    if not SHARED.is_dir():
        pytest.skip("../shared/vectors/merkle is not beside this clone")
    for kind in ("inclusion", "consistency"):
        ours = {p.relative_to(VECTORS): p.read_bytes() for p in _files(kind)}
        theirs = {p.relative_to(SHARED): p.read_bytes() for p in sorted((SHARED / kind).rglob("*.json"))}
        assert ours == theirs


def test_vector_counts():
    assert len(_files("inclusion")) == 98
    assert len(_files("consistency")) == 98


@pytest.mark.parametrize("path", _files("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vector(path: Path):
    v = json.loads(path.read_text())
    try:
        verify_inclusion(v["leafIdx"], v["treeSize"], _b(v["leafHash"]), _proof(v["proof"]), _b(v["root"]))
        failed = False
    except ProofError:
        failed = True
    assert failed == v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", _files("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_vector(path: Path):
    v = json.loads(path.read_text())
    try:
        verify_consistency(v["size1"], v["size2"], _b(v["root1"]), _b(v["root2"]), _proof(v["proof"]))
        failed = False
    except ProofError:
        failed = True
    assert failed == v["wantErr"], v["desc"]
