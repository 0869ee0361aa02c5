"""The verifier's parallel paths report exactly what the serial ones do (SPEC §2.8).

Older checkpoints opened by worker processes (``ledger.verify._PendingCheckpoints``: the workers
read a directory bundle's files themselves, the walk keeps the leaf hashes, the roots at the
signed sizes are computed afterwards): the same report as ``jobs=1`` for an intact
bundle, an altered entry (localised between two checkpoints), an unreadable checkpoint file, a zip
bundle, and the problems of every kind in the same order, up to the report's limit.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from ledger import verify


@pytest.fixture()
def bundle(tmp_path, monkeypatch):
    from ledger import keys
    from ledger.db import make_engine, migrate
    from tests.ledger.helpers import fill
    from web.cli import main

    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(engine)
    fill(engine, "gongjue.local/maple-court", 40, key=keys.log_key(), sign_each=True)  # a checkpoint per entry
    engine.dispose()
    out = tmp_path / "b"
    assert main(["export", "--estate", "maple-court", "--out", str(out)]) == 0
    monkeypatch.setattr(verify, "PARALLEL_CHECKPOINTS", 4)
    return out


def _both(path, checks=verify.NO_CONTENT_CHECKS) -> dict:  # noqa: ANN001
    """The report of ``jobs=1`` (serial) after checking that ``jobs=2`` (workers) gives the same."""
    started = []
    real = verify._PendingCheckpoints

    class Spy(real):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            started.append(1)
            super().__init__(*args, **kwargs)

    one = verify.verify_bundle(path, checks=checks, jobs=1).to_json()
    verify._PendingCheckpoints = Spy
    try:
        two = verify.verify_bundle(path, checks=checks, jobs=2).to_json()
    finally:
        verify._PendingCheckpoints = real
    assert started, "the workers did not open the checkpoints"
    assert one == two
    return one


def test_intact_bundle(bundle):
    report = _both(bundle)
    assert report["ok"] and report["checkpoints"] == list(range(1, 40))
    assert verify.BundleSource(bundle).names_under("checkpoints") == sorted(
        n for n in verify.BundleSource(bundle).names() if n.startswith("checkpoints/"))


def test_altered_entry_is_localised_by_the_older_checkpoints(bundle):
    lines = (bundle / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[25] = lines[25].replace(b'"i":25', b'"i":52')
    (bundle / "entries.jsonl").write_bytes(b"".join(lines))
    report = _both(bundle)
    assert not report["ok"]
    consistency = [p for p in report["problems"] if p["check"] == "consistency"]
    assert consistency and consistency[0]["seq"] == 25  # the smallest checkpoint that no longer holds: 26


def test_unreadable_checkpoint_file(bundle):
    (bundle / "checkpoints" / "17").write_bytes(b"\xff\xfe not UTF-8\n")
    report = _both(bundle)
    assert [p["check"] for p in report["problems"]] == ["signature"]
    assert report["problems"][0]["message"].startswith("checkpoint checkpoints/17: ")
    assert 17 not in report["checkpoints"]


def test_zip_bundle(bundle, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "z"), "zip", bundle)
    assert zipfile.is_zipfile(archive)
    report = _both(Path(archive))
    assert report["ok"] and report["checkpoints"] == list(range(1, 40))


def _noisy(per_entry: int):  # noqa: ANN202
    def check(entries, ctx):  # noqa: ANN001, ANN202
        for e in entries:
            for k in range(per_entry):
                yield e.seq, f"problem {k} of entry {e.seq}"
    return verify.ContentChecks(whole_log=[check])


@pytest.mark.parametrize("per_entry", [1, 3])  # 3: past MAX_PROBLEMS
def test_problems_of_every_kind_in_the_serial_order(bundle, per_entry):
    (bundle / "checkpoints" / "17").write_bytes(b"\xff\xfe not UTF-8\n")
    lines = (bundle / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[25] = lines[25].replace(b'"i":25', b'"i":52')
    (bundle / "entries.jsonl").write_bytes(b"".join(lines))
    report = _both(bundle, _noisy(per_entry))
    kinds = [p["check"] for p in report["problems"]]
    assert kinds[0] == "signature" and "consistency" in kinds and kinds[-1] == "content"
    assert len(kinds) == min(verify.MAX_PROBLEMS, len(kinds))
    if per_entry == 3:
        assert len(kinds) == verify.MAX_PROBLEMS
