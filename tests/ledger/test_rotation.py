"""Log-key rotation (SPEC §2.4, issue #13): gongjue rotate-key appends a log.key entry, the
hand-over checkpoint is signed by the old and the new key, later ones by the new key; bundles and
receipts from before and after the rotation verify; a broken hand-over is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from identity.record import estate_body
from ledger import bundle, checkpoint, keys, log, receipt, rotation
from ledger.db import transaction
from ledger.models import CheckpointRow
from ledger.note import parse_note, parse_vkey, sign_note
from web.cli import main

from .helpers import T0

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


@pytest.fixture
def site(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "var" / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    key = keys.log_key()
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
        log.append(s, log_id, "estate", estate_body(SLUG, "枫庭", ORIGIN, key.vkey), T0)
        checkpoint.sign(s, log_id, key)
    add(engine, log_id, 0, 3)
    return engine, log_id


def add(engine, log_id, start, count, sign_each=True):  # noqa: ANN001
    for i in range(start, start + count):
        with transaction(engine) as s:
            log.append(s, log_id, "test", {"i": i}, T0 + timedelta(seconds=i + 1))
            if sign_each:
                checkpoint.sign(s, log_id, keys.log_key())


def cp_file(engine, log_id, size, path):  # noqa: ANN001
    with transaction(engine) as s:
        path.write_text(checkpoint.with_cosignatures(s, checkpoint.at_size(s, log_id, size)), encoding="utf-8")
    return path


def test_rotation_end_to_end(site, tmp_path, capsys):
    engine, log_id = site
    old = keys.log_key()
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "before")]) == 0
    before_cp = cp_file(engine, log_id, 4, tmp_path / "cp4")
    with transaction(engine) as s:
        before_receipt = receipt.build_receipt(s, log_id, 2)

    assert main(["rotate-key", "--reason", "年度轮换"]) == 0
    new = keys.log_key()
    assert new.vkey != old.vkey and new.name == old.name
    assert capsys.readouterr().out.strip().splitlines()[-1] == new.vkey
    assert keys.old_key(old.vkey).vkey == old.vkey  # kept as log.key.old-<id>
    with transaction(engine) as s:
        assert rotation.db_rotations(s, log_id) == [(4, new.vkey)]
        handover = checkpoint.at_size(s, log_id, 5)
        assert handover.vkey == new.vkey
    note = parse_note(handover.note)
    assert {sig.key_id for sig in note.signatures} == {parse_vkey(old.vkey).key_id, parse_vkey(new.vkey).key_id}

    add(engine, log_id, 3, 3)
    after_cp = cp_file(engine, log_id, 7, tmp_path / "cp7")
    with transaction(engine) as s:
        after_receipt = receipt.build_receipt(s, log_id, 6)
        assert parse_note(checkpoint.at_size(s, log_id, 8).note).signatures[0].key_id == parse_vkey(new.vkey).key_id

    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "after")]) == 0
    capsys.readouterr()
    assert main(["verify", "--no-progress", str(tmp_path / "after"), "--checkpoint", str(before_cp),
                 "--checkpoint", str(after_cp)]) == 0, capsys.readouterr()
    assert main(["verify", "--no-progress", str(tmp_path / "before"), "--checkpoint", str(before_cp)]) == 0
    assert (tmp_path / "after" / "log.vkey").read_text().strip() == new.vkey

    assert receipt.verify_receipt(before_receipt, old.vkey).seq == 2
    assert receipt.verify_receipt(after_receipt, new.vkey).seq == 6
    with pytest.raises(receipt.ReceiptError):
        receipt.verify_receipt(after_receipt, old.vkey)

    # a checkpoint after the rotation signed by the old key only is refused, naming the rotation
    with transaction(engine) as s:
        row = checkpoint.at_size(s, log_id, 7)
        text = row.note.split("\n\n")[0] + "\n"
    forged = tmp_path / "forged7"
    forged.write_text(sign_note(text, keys.old_key(old.vkey).signer), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", "--no-progress", str(tmp_path / "after"), "--checkpoint", str(forged)]) == 1
    err = capsys.readouterr()
    assert "log.key entry 4" in err.out + err.err and "forged7" in err.out + err.err

    # the server refuses to sign with the old key again
    with transaction(engine) as s:
        log.append(s, log_id, "test", {"i": 99}, T0 + timedelta(seconds=99))
        with pytest.raises(checkpoint.CheckpointError):
            checkpoint.sign(s, log_id, keys.old_key(old.vkey))


def test_handover_without_old_signature_is_refused(site, tmp_path, capsys):
    engine, log_id = site
    old = keys.log_key()
    assert main(["rotate-key"]) == 0
    new = keys.log_key()
    add(engine, log_id, 3, 2)
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    hand = tmp_path / "b" / "checkpoints" / "5"
    text = parse_note(hand.read_text(encoding="utf-8")).text
    hand.write_text(sign_note(text, new.signer), encoding="utf-8")  # the new key alone
    capsys.readouterr()
    assert main(["verify", "--no-progress", "--json", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "log.key entry 4" in out and old.vkey in out and "checkpoints/5" in out


def test_rotation_chain_made_without_old_key_is_refused(site, tmp_path, capsys):
    """Someone holding only a key of their own cannot append a log.key entry and take over the log."""
    engine, log_id = site
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    intruder = keys.create_key_file(tmp_path / "intruder.key", "gongjue.local")
    with transaction(engine) as s:
        log.append(s, log_id, rotation.LOG_KEY, rotation.key_body(intruder.vkey, "take-over"))
        with pytest.raises(checkpoint.CheckpointError):
            checkpoint.sign(s, log_id, intruder)  # no old key kept for it: the server refuses too
    with transaction(engine) as s:  # an intruder with database access signs the hand-over alone
        size = log.size(s, log_id)
        root = log.root(s, log_id, size)
        note = sign_note(checkpoint.checkpoint_text(ORIGIN, size, root), intruder.signer)
        s.add(CheckpointRow(log_id=log_id, size=size, root=root, note=note, vkey=intruder.vkey,
                            created_at=datetime.now(UTC)))
        s.flush()
        bundle.write_dir(s, log_id, tmp_path / "taken")
    capsys.readouterr()
    assert main(["verify", "--no-progress", str(tmp_path / "taken")]) == 1
    out = capsys.readouterr()
    assert f"log.key entry {size - 1}" in out.out + out.err and "old key" in out.out + out.err


def test_sign_with_new_key_needs_log_key_entry(site, tmp_path):
    engine, log_id = site
    other = keys.create_key_file(tmp_path / "other.key", "gongjue.local")
    add(engine, log_id, 3, 1, sign_each=False)
    with transaction(engine) as s, pytest.raises(checkpoint.CheckpointError, match="rotate-key"):
        checkpoint.sign(s, log_id, other)


def test_new_key_file_must_keep_the_name(site, tmp_path, capsys):
    other = keys.create_key_file(tmp_path / "other.key", "another.site")
    assert main(["rotate-key", "--new-key-file", str(tmp_path / "other.key")]) == 1
    assert "name" in capsys.readouterr().err
    prepared = keys.create_key_file(tmp_path / "prepared.key", "gongjue.local")
    assert main(["rotate-key", "--new-key-file", str(tmp_path / "prepared.key")]) == 0
    assert keys.log_key().vkey == prepared.vkey != other.vkey


def test_witness_follows_the_rotation_when_told(site, tmp_path, capsys):
    engine, log_id = site
    wkey, state = tmp_path / "w.key", tmp_path / "wstate"
    capsys.readouterr()
    assert main(["witness", "keygen", "--name", "auditor.example/zhang", "--out", str(wkey)]) == 0
    wvkey = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["witness", "cosign", "--key", str(wkey), "--estate", SLUG, "--state", str(state)]) == 0
    assert main(["rotate-key"]) == 0
    new = keys.log_key()
    # the cosignature of a checkpoint before the rotation is still found (opened with the old key)
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["verify", "--no-progress", "--json", str(tmp_path / "b"), "--witness", wvkey]) == 0, \
        capsys.readouterr().out
    add(engine, log_id, 3, 2)
    capsys.readouterr()
    # the witness pinned the old key: a checkpoint signed by the new key alone is refused
    assert main(["witness", "cosign", "--key", str(wkey), "--estate", SLUG, "--state", str(state)]) == 1
    assert "refused" in capsys.readouterr().err
    (tmp_path / "new.vkey").write_text(new.vkey + "\n", encoding="ascii")
    assert main(["witness", "cosign", "--key", str(wkey), "--estate", SLUG, "--state", str(state),
                 "--log-vkey", str(tmp_path / "new.vkey")]) == 0
    add(engine, log_id, 5, 1)
    assert main(["witness", "cosign", "--key", str(wkey), "--estate", SLUG, "--state", str(state)]) == 0


def test_an_interrupted_rotation_is_finished_by_running_it_again(site, tmp_path, capsys):
    engine, log_id = site
    old = keys.log_key()
    keys.rotate_key_file()  # the key file replaced, then the rotation stopped before any log.key entry
    new = keys.log_key()
    assert main(["rotate-key"]) == 0
    assert "interrupted" in capsys.readouterr().err
    assert keys.log_key().vkey == new.vkey != old.vkey
    with transaction(engine) as s:
        assert rotation.db_rotations(s, log_id) == [(4, new.vkey)]
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    assert main(["verify", "--no-progress", str(tmp_path / "b")]) == 0


def test_a_counted_round_verifies_before_and_after_a_rotation(engine, tmp_path, monkeypatch, capsys):
    """A real secret round (roll, authority, credentials, ballots, shares, result): its bundle exported
    before the rotation and the bundle exported after both pass every content check."""
    from tests.web.results_fixtures import SLUG as ROUND_ESTATE
    from tests.web.results_fixtures import make_round

    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "var" / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    make_round(engine, monkeypatch, secrecy="secret", tmp=tmp_path / "shares")
    old = keys.log_key()
    assert main(["export", "--estate", ROUND_ESTATE, "--out", str(tmp_path / "before")]) == 0
    assert main(["rotate-key", "--reason", "new committee"]) == 0
    new = keys.log_key()
    assert main(["export", "--estate", ROUND_ESTATE, "--out", str(tmp_path / "after")]) == 0
    kept = tmp_path / "before" / "checkpoint"
    for bundle_dir, extra in (("before", []), ("after", ["--checkpoint", str(kept)])):
        capsys.readouterr()
        status = main(["verify", "--no-progress", "--json", str(tmp_path / bundle_dir), *extra])
        report = json.loads(capsys.readouterr().out)
        assert status == 0 and report["ok"], report["problems"]
        assert any(c["check"] == "ballots verified" and c["count"] > 0 for c in report["checks"]), report["checks"]
    assert (tmp_path / "before" / "log.vkey").read_text().strip() == old.vkey
    assert (tmp_path / "after" / "log.vkey").read_text().strip() == new.vkey


def test_network_witness_given_both_keys_follows_the_rotation(site, tmp_path):
    """witness serve --log ORIGIN=<old> --log ORIGIN=<new>: the hand-over and later checkpoints are cosigned."""
    from ledger import witness
    from ledger.note import COSIGNATURE_V1, generate_signer
    from web.cli.witness import parse_logs

    engine, log_id = site
    old = keys.log_key()
    assert main(["rotate-key"]) == 0
    new = keys.log_key()
    add(engine, log_id, 3, 2)
    served = witness.Witness(generate_signer("auditor.example/li", COSIGNATURE_V1),
                             parse_logs([f"{ORIGIN}={old.vkey}", f"{ORIGIN}={new.vkey}"]),
                             witness.WitnessState(tmp_path / "ws"))
    only_old = witness.Witness(served.signer, parse_logs([f"{ORIGIN}={old.vkey}"]), witness.WitnessState(tmp_path / "wo"))
    last = 0
    for size in (4, 5, 7):  # old key only, both keys (hand-over), new key only
        with transaction(engine) as s:
            note = checkpoint.at_size(s, log_id, size).note
            proof = log.consistency_proof(s, log_id, last, size) if last else []
        assert served.add_checkpoint(witness.request_body(last, proof, note))
        if size < 7:
            assert only_old.add_checkpoint(witness.request_body(last, proof, note))
        else:
            with pytest.raises(witness.Refused) as refused:
                only_old.add_checkpoint(witness.request_body(last, proof, note))
            assert refused.value.status == 403
        last = size
