"""Bundles of several verification chunks (ledger.verify CHUNK), checked in one process and in
worker processes: roots at checkpoint sizes inside a chunk and at a chunk's edge come out right,
and a tampered entry in a later chunk is named."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import keys, tree, verify
from ledger.checkpoint import checkpoint_text
from ledger.entry import ZERO_PREV, encode_entry, format_time
from ledger.note import sign_note

from .helpers import T0

ORIGIN = "gongjue.local/big"
N = 4 * verify.CHUNK + 5  # large enough for verify_bundle to use worker processes


def _write_bundle(out, key, n, signed_sizes):
    out.mkdir()
    (out / "checkpoints").mkdir()
    builder, prev, lines, notes = tree.RootBuilder(), ZERO_PREV, [], {}
    for seq in range(n):
        data = encode_entry(seq, prev, "test", format_time(T0 + timedelta(seconds=seq)), {"i": seq})
        lines.append(data + b"\n")
        leaf = tree.leaf_hash(data)
        builder.add(leaf)
        prev = leaf.hex()
        if builder.size in signed_sizes:
            notes[builder.size] = sign_note(checkpoint_text(ORIGIN, builder.size, builder.root()), key.signer)
    (out / "entries.jsonl").write_bytes(b"".join(lines))
    (out / "log.vkey").write_text(key.vkey + "\n")
    (out / "checkpoint").write_text(notes[n])
    return lines, notes


@pytest.mark.parametrize("jobs", [1, 2])
def test_multi_chunk_bundle_verifies_against_checkpoints_inside_and_at_chunk_edges(tmp_path, jobs):
    key = keys.create_key_file(tmp_path / "log.key", "gongjue.local")
    inside, edge = 100, verify.CHUNK
    _, notes = _write_bundle(tmp_path / "b", key, N, {inside, edge, N})
    report = verify.verify_bundle(tmp_path / "b", [("inside", notes[inside]), ("edge", notes[edge])],
                                  checks=verify.NO_CONTENT_CHECKS, jobs=jobs)
    assert report.ok, report.first
    assert report.entries == N


@pytest.mark.parametrize("jobs", [1, 2])
def test_tampered_entry_in_a_later_chunk_is_named(tmp_path, jobs):
    key = keys.create_key_file(tmp_path / "log.key", "gongjue.local")
    lines, notes = _write_bundle(tmp_path / "b", key, N, {verify.CHUNK, N})
    victim = verify.CHUNK + 3
    lines[victim] = lines[victim].replace(b'"i":', b'"i" :')  # not canonical any more
    (tmp_path / "b" / "entries.jsonl").write_bytes(b"".join(lines))
    report = verify.verify_bundle(tmp_path / "b", [("edge", notes[verify.CHUNK])], checks=verify.NO_CONTENT_CHECKS,
                                  jobs=jobs)
    assert not report.ok
    assert report.first.seq == victim
