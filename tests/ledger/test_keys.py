"""The log key file: created whole, once, whoever starts first (ledger/keys.py)."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from ledger import keys


def _start_together(path: str, barrier, out) -> None:
    barrier.wait()
    try:
        out.put(keys.log_key(Path(path)).vkey)
    except Exception as exc:  # noqa: BLE001 — reported to the test, which fails on it
        out.put(f"error: {exc!r}")


@pytest.mark.parametrize("round_", range(3))
def test_processes_starting_at_once_all_use_one_key(tmp_path, round_):
    path = tmp_path / "var" / "log.key"
    ctx = multiprocessing.get_context("fork")
    n = 6
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_start_together, args=(str(path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [g for g in got if g.startswith("error")], got
    assert len(set(got)) == 1
    assert keys.load_key_file(path).vkey == got[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ["log.key"]  # no temporary file left behind


def test_a_key_created_between_the_check_and_the_link_wins(tmp_path, monkeypatch):
    path = tmp_path / "log.key"
    real = keys.create_key_file
    first = {}

    def another_process_was_faster(p, name, *args):
        first["key"] = real(p, name)  # the other process links its key first
        return real(p, name)  # ours then finds the file there

    monkeypatch.setattr(keys, "create_key_file", another_process_was_faster)
    assert keys.log_key(path).vkey == first["key"].vkey
    assert sorted(os.listdir(tmp_path)) == ["log.key"]


def test_an_existing_key_is_never_overwritten(tmp_path):
    path = tmp_path / "log.key"
    made = keys.create_key_file(path, "site.example")
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        keys.create_key_file(path, "site.example")
    assert path.read_bytes() == before
    assert keys.log_key(path).vkey == made.vkey
    assert sorted(os.listdir(tmp_path)) == ["log.key"]
