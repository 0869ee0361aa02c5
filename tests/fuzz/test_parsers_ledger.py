"""Hypothesis fuzzing of the ledger's readers (issue #11.4): receipts (SPEC §2.6,
ledger.receipt.verify_receipt) and bundles (SPEC §2.8, ledger.verify.verify_bundle) — a
corrupted entries.jsonl, checkpoint, log.vkey, an older checkpoint, or the zip itself.

A receipt that does not verify is refused with ReceiptError and a message; a corrupted bundle
gives a report with problems (``gongjue verify`` prints them), never an exception — and never
``ok`` unless the change left the bundle's bytes as they were.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import bundle, checkpoint, keys, receipt, verify
from ledger.db import make_engine, migrate, reading, transaction
from ledger.receipt import ReceiptError
from tests.fuzz.mutations import JSON_VALUES, mutated, mutated_bytes
from tests.ledger.helpers import fill

ORIGIN = "gongjue.local/maple-court"
FUZZ = settings(max_examples=80, derandomize=True, database=None, deadline=None, report_multiple_bugs=False)
# Bugs found here and fixed: verify_receipt's AttributeError (d199479), parse_entry's
# RecursionError (78becde), a damaged zip member raising out of verify_bundle.


def _world() -> tuple[dict, str, dict[str, bytes]]:
    """A 12-entry log with a checkpoint after each entry: a receipt, the vkey, the bundle's files."""
    base = Path(tempfile.mkdtemp(prefix="gongjue-fuzz-"))
    try:
        engine = make_engine(f"sqlite:///{base / 'g.db'}")
        migrate(engine)
        key = keys.create_key_file(base / "log.key", "gongjue.local")
        log_id = fill(engine, ORIGIN, 12, key, sign_each=True)
        with reading(engine) as s:
            made = receipt.build_receipt(s, log_id, 5)
        with transaction(engine) as s:
            checkpoint.sign(s, log_id, key)
            bundle.write_dir(s, log_id, base / "bundle")
        files = {str(p.relative_to(base / "bundle")): p.read_bytes()
                 for p in sorted((base / "bundle").rglob("*")) if p.is_file()}
        engine.dispose()
        return made, key.vkey, files
    finally:
        shutil.rmtree(base, ignore_errors=True)


RECEIPT, VKEY, FILES = _world()
NAMES = sorted(FILES)


def test_the_untouched_receipt_and_bundle_verify(tmp_path):
    assert receipt.verify_receipt(RECEIPT, VKEY).seq == 5
    report = _verify_files(FILES, tmp_path)
    assert report.ok, report.problems
    assert {"entries.jsonl", "checkpoint", "log.vkey"} <= set(NAMES) and any(n.startswith("checkpoints/") for n in NAMES)


def _refused(call) -> None:
    try:
        call()
    except ReceiptError as exc:
        assert str(exc).strip()


@FUZZ
@given(mutated(RECEIPT))
def test_a_mutated_receipt_is_refused_with_a_receipt_error(changed):
    _refused(lambda: receipt.verify_receipt(changed, VKEY))


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_is_refused_as_a_receipt(value):
    _refused(lambda: receipt.verify_receipt(value, VKEY))


@FUZZ
@given(st.sampled_from(["entry", "checkpoint"]), st.data())
def test_a_receipt_with_corrupted_text_is_refused(member, data):
    changed = dict(RECEIPT)
    changed[member] = data.draw(mutated_bytes(RECEIPT[member].encode())).decode("utf-8", "replace")
    _refused(lambda: receipt.verify_receipt(changed, VKEY))


@FUZZ
@given(mutated_bytes(VKEY.encode()))
def test_a_corrupted_verifier_key_is_refused(vkey):
    _refused(lambda: receipt.verify_receipt(RECEIPT, vkey.decode("utf-8", "replace")))


def _verify_files(files: dict[str, bytes], where: Path, *, as_zip: bool = False) -> verify.Report:
    folder = where / "b"
    shutil.rmtree(folder, ignore_errors=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    target = folder
    if as_zip:
        target = where / "b.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(name, data)
    return verify.verify_bundle(target, checks=verify.NO_CONTENT_CHECKS)


@FUZZ
@given(st.sampled_from(NAMES), st.data(), st.booleans())
def test_a_corrupted_bundle_file_gives_problems_not_an_exception(name, data, as_zip):
    changed = dict(FILES)
    changed[name] = data.draw(mutated_bytes(FILES[name], max_changes=3))
    with tempfile.TemporaryDirectory() as where:
        report = _verify_files(changed, Path(where), as_zip=as_zip)
    if changed[name] != FILES[name]:
        assert not report.ok or _harmless(name, FILES[name], changed[name]), (name, changed[name][-200:])
    assert all(p.message.strip() for p in report.problems)


def _harmless(name: str, before: bytes, after: bytes) -> bool:
    """A change a verifier may accept: trailing whitespace after a note's last line."""
    return after.rstrip() == before.rstrip() and name != "entries.jsonl"


@FUZZ
@given(st.sampled_from(["entries.jsonl", "checkpoint", "log.vkey"]))
def test_a_missing_bundle_file_is_a_problem(name):
    changed = {k: v for k, v in FILES.items() if k != name}
    with tempfile.TemporaryDirectory() as where:
        report = _verify_files(changed, Path(where), as_zip=name == "checkpoint")
    assert not report.ok and name in report.problems[0].message


@pytest.fixture(scope="module")
def zipped() -> bytes:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "b.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in FILES.items():
                z.writestr(name, data)
        return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_a_corrupted_zip_gives_problems_not_an_exception(zipped, data):
    broken = data.draw(mutated_bytes(zipped, max_changes=3))
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "b.zip"
        path.write_bytes(broken)
        report = verify.verify_bundle(path, checks=verify.NO_CONTENT_CHECKS)
    assert broken == zipped or not report.ok or _same_members(broken)


def _same_members(data: bytes) -> bool:
    """A zip whose change touched no member's content (e.g. a comment or a timestamp)."""
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "z.zip"
        path.write_bytes(data)
        try:
            with zipfile.ZipFile(path) as z:
                return {n: z.read(n) for n in z.namelist() if not n.endswith("/")} == FILES
        except Exception:  # noqa: BLE001 - unreadable: then the report must have said so
            return False


def test_entries_lines_that_are_not_json_name_the_line(tmp_path):
    lines = FILES["entries.jsonl"].splitlines(keepends=True)
    for bad in (b"\xff\xfe\n", b"{}\n", b"null\n", json.dumps({"seq": 3}).encode() + b"\n"):
        changed = dict(FILES, **{"entries.jsonl": b"".join(lines[:3] + [bad] + lines[4:])})
        report = _verify_files(changed, tmp_path)
        assert not report.ok and report.first.seq == 3, (bad[:20], report.problems)


def test_a_deeply_nested_entry_line_is_a_problem(tmp_path):
    lines = FILES["entries.jsonl"].splitlines(keepends=True)
    changed = dict(FILES, **{"entries.jsonl": b"".join(lines[:3] + [b"[" * 100_000 + b"\n"] + lines[4:])})
    report = _verify_files(changed, tmp_path)
    assert not report.ok and report.first.seq == 3


HASHES = st.lists(st.binary(min_size=0, max_size=40), max_size=40)
SIZES = st.integers(min_value=-3, max_value=2**64)


@FUZZ
@given(SIZES, SIZES, st.binary(max_size=40), HASHES, st.binary(max_size=40))
def test_inclusion_proofs_refuse_garbage_with_a_proof_error(index, size, leaf, proof, root):
    from ledger.proof import ProofError, verify_inclusion

    try:
        verify_inclusion(index, size, leaf, proof, root)
    except ProofError as exc:
        assert str(exc).strip()


@FUZZ
@given(SIZES, SIZES, st.binary(max_size=40), st.binary(max_size=40), HASHES)
def test_consistency_proofs_refuse_garbage_with_a_proof_error(size1, size2, root1, root2, proof):
    from ledger.proof import ProofError, verify_consistency

    try:
        verify_consistency(size1, size2, root1, root2, proof)
    except ProofError as exc:
        assert str(exc).strip()


@FUZZ
@given(mutated_bytes(FILES["checkpoint"], max_changes=3) | st.binary(max_size=200))
def test_a_corrupted_checkpoint_note_is_refused_with_a_checkpoint_error(data):
    from ledger.checkpoint import CheckpointError, open_checkpoint
    from ledger.note import parse_vkey

    try:
        cp = open_checkpoint(data.decode("utf-8", "replace"), parse_vkey(VKEY), ORIGIN)
    except CheckpointError as exc:
        assert str(exc).strip()
    else:
        assert data.decode("utf-8", "replace") == FILES["checkpoint"].decode() and cp.size == 12


@FUZZ
@given(mutated_bytes(VKEY.encode(), max_changes=3) | st.text(max_size=120))
def test_a_corrupted_verifier_key_text_is_refused_with_a_note_error(data):
    from ledger.note import NoteError, parse_vkey

    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        parse_vkey(text)
    except NoteError as exc:
        assert str(exc).strip()
