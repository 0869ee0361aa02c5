"""Tampering with the whole record of a simulated round (issue #9 "Done means"), SQLite.

``gongjue simulate`` writes a real bundle (estate, roll, authority, credentials, a secret round,
ballots cast over HTTP, close, shares, result).  Each tamper below is applied to the exported
files the way an operator with the database would, and ``gongjue verify --json`` must fail,
naming the entry.  A record re-signed after the change is caught by the checkpoints signed
before it (tests/ledger/test_tamper.py covers that rewrite for any entry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.entry import parse_entry
from web.cli import main


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("record-tamper")
    mp = pytest.MonkeyPatch()
    mp.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{base / 'sim.db'}")
    mp.delenv("GONGJUE_SMS_GATEWAY", raising=False)
    try:
        assert main(["simulate", "--voters", "6", "--secret", "--items", "motion", "--seed", "7",
                     "--out", str(base / "sim"), "--quiet"]) == 0
    finally:
        mp.undo()
    return base / "sim"


def _copy(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def _lines(bundle: Path) -> list[bytes]:
    return (bundle / "entries.jsonl").read_bytes().splitlines(keepends=True)


def _verify(bundle: Path, capsys) -> dict:
    capsys.readouterr()
    status = main(["verify", str(bundle), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (status == 0) == report["ok"]
    return report


def _seqs_of(lines: list[bytes], type_: str) -> list[int]:
    return [i for i, raw in enumerate(lines) if parse_entry(raw.rstrip(b"\n")).type == type_]


def test_the_untouched_record_verifies(simulated, capsys):
    assert _verify(simulated, capsys)["ok"]


def test_a_dropped_ballot_is_named(simulated, tmp_path, capsys):
    bundle = _copy(simulated, tmp_path / "b")
    lines = _lines(bundle)
    dropped = _seqs_of(lines, "ballot")[2]
    (bundle / "entries.jsonl").write_bytes(b"".join(lines[:dropped] + lines[dropped + 1:]))
    report = _verify(bundle, capsys)
    assert not report["ok"]
    assert report["first"]["seq"] == dropped  # the place where the ballot is missing


def test_a_ballot_moved_to_another_round_is_named(simulated, tmp_path, capsys):
    bundle = _copy(simulated, tmp_path / "b")
    lines = _lines(bundle)
    seq = _seqs_of(lines, "ballot")[0]
    entry = json.loads(lines[seq])
    entry["body"]["round"] = "another-round"
    import rfc8785
    lines[seq] = rfc8785.dumps(entry) + b"\n"
    (bundle / "entries.jsonl").write_bytes(b"".join(lines))
    report = _verify(bundle, capsys)
    assert not report["ok"]
    assert any(p["seq"] == seq for p in report["problems"])
