"""The ledger commands end to end: export (dir and zip), verify (text and JSON), checkpoint, proof,
witness keygen/cosign — including a witness refusing a fork."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest
from sqlalchemy import text

from ledger import checkpoint, keys, log
from ledger.db import make_engine, migrate, transaction
from ledger.note import parse_note, parse_vkey, verify_cosignature
from web.cli import main

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


@pytest.fixture
def server(tmp_path, monkeypatch):
    db = tmp_path / "gongjue.db"
    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "var" / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_log_key_file_is_created_private(server, tmp_path):
    key = keys.log_key()
    path = tmp_path / "var" / "log.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+gongjue.local+")
    assert keys.log_key().vkey == key.vkey and key.vkey.startswith("gongjue.local+")
    assert parse_vkey(key.vkey).public_key == key.signer.verifier.public_key


def test_export_and_verify_dir_and_zip(server, tmp_path, capsys):
    fill(server, ORIGIN, 5)
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    lines = (tmp_path / "b" / "entries.jsonl").read_bytes().split(b"\n")
    with transaction(server) as s:
        log_id = log.get_log(s, ORIGIN).id
        assert lines == [e.data for e in log.entries(s, log_id)] + [b""]
        assert (tmp_path / "b" / "checkpoint").read_text() == checkpoint.latest(s, log_id).note
    assert (tmp_path / "b" / "log.vkey").read_text() == keys.log_key().vkey + "\n"
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b.zip"), "--zip"]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b.zip")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"核验通过 / OK: {ORIGIN} — 5 条 entries, 根 root ")
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 1  # never overwrites
    assert main(["export", "--estate", "nowhere", "--out", str(tmp_path / "c")]) == 2
    assert "no ledger for estate nowhere" in capsys.readouterr().err


def test_verify_names_a_non_canonical_entry(server, tmp_path, capsys):
    fill(server, ORIGIN, 3)
    main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")])
    path = tmp_path / "b" / "entries.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'{"body":{', b'{"body": {')
    path.write_bytes(b"\n".join(lines))
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("核验失败 / FAILED: 第 1 条 / entry 1: [条目编码 / entry encoding] entry 1: bytes are not "
                          "the RFC 8785 canonical form of the entry\n")


def test_verify_refuses_a_bundle_signed_by_another_key(server, tmp_path, capsys):
    fill(server, ORIGIN, 2)
    main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")])
    other = keys.create_key_file(tmp_path / "other.key", "gongjue.local")
    (tmp_path / "b" / "log.vkey").write_text(other.vkey + "\n")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["first"] == {"check": "signature", "seq": None,
                               "message": f"checkpoint: no signature by gongjue.local+{other.signer.verifier.key_id.hex()}"}


def test_verify_estate_entry_content(server, tmp_path, capsys):
    key = keys.log_key()
    with transaction(server) as s:
        log_id = log.create_log(s, ORIGIN).id
        log.append(s, log_id, "estate", {"slug": SLUG, "name": "枫林苑", "origin": "gongjue.local/other",
                                         "log_key": key.vkey})
    main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")])
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [{"check": "content", "seq": 0, "message": (
        "entry 0 (estate): origin 'gongjue.local/other' is not the checkpoint origin 'gongjue.local/maple-court'")}]


def test_checkpoint_and_proof_commands(server, capsys):
    fill(server, ORIGIN, 4)
    assert main(["checkpoint", "--estate", SLUG]) == 0
    note = capsys.readouterr().out
    assert note.startswith(f"{ORIGIN}\n4\n")
    assert main(["proof", "--estate", SLUG, "--seq", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["seq"] == 2 and r["tree_size"] == 4 and len(r["proof"]) == 2 and r["checkpoint"] == note
    assert main(["proof", "--estate", SLUG, "--seq", "4"]) == 2
    assert "entry 4 is not covered by the checkpoint of size 4" in capsys.readouterr().err


def test_witness_cosigns_and_refuses_a_fork(server, tmp_path, capsys):
    log_id = fill(server, ORIGIN, 3, keys.log_key())
    wkey = tmp_path / "w.key"
    assert main(["witness", "keygen", "--name", "auditor.example/zhang", "--out", str(wkey)]) == 0
    wvkey = capsys.readouterr().out.strip()
    assert wvkey.startswith("auditor.example/zhang+") and parse_vkey(wvkey).alg == 0x04
    assert main(["witness", "keygen", "--name", "x", "--out", str(wkey)]) == 2
    cosign = ["witness", "cosign", "--key", str(wkey), "--estate", SLUG, "--state", str(tmp_path / "state")]
    assert main(cosign) == 0
    assert main(cosign) == 0 and "already cosigned" in capsys.readouterr().out
    with transaction(server) as s:
        row = checkpoint.latest(s, log_id)
        cosigned = checkpoint.with_cosignatures(s, row)
    assert verify_cosignature(parse_note(cosigned), parse_vkey(wvkey)) > 1_700_000_000
    with transaction(server) as s:
        log.append(s, log_id, "test", {"i": 3})
        checkpoint.sign(s, log_id, keys.log_key())
    assert main(cosign) == 0  # consistent growth 3 → 4
    # the operator rewrites history and signs a fork: entry 1 changed, tree re-signed
    with server.begin() as conn:
        for trig in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all():
            conn.exec_driver_sql(f"DROP TRIGGER {trig}")
        conn.execute(text("DELETE FROM ledger_cosignatures"))
        conn.execute(text("DELETE FROM ledger_checkpoints"))
        conn.execute(text("DELETE FROM ledger_hashes"))
        conn.execute(text("DELETE FROM ledger_entries"))
    with transaction(server) as s:
        for i in range(5):
            log.append(s, log_id, "test", {"i": i, "forged": True})
        checkpoint.sign(s, log_id, keys.log_key())
    capsys.readouterr()
    assert main(cosign) == 1
    assert "拒绝联署 / refused to cosign: fork: checkpoint 5 is not consistent with 4 cosigned before" in \
        capsys.readouterr().err
    with transaction(server) as s:
        assert checkpoint.cosigned(s, checkpoint.latest(s, log_id), wvkey) is False


def test_parallel_verification_agrees_with_sequential(server, tmp_path, monkeypatch):
    from ledger import verify

    fill(server, ORIGIN, 40)
    main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")])
    monkeypatch.setattr(verify, "CHUNK", 4)  # 10 chunks, so 2 workers really share the work
    good = verify.verify_bundle(tmp_path / "b", checks=verify.NO_CONTENT_CHECKS, jobs=2)
    assert good.ok and good.entries == 40 and good.types == {"test": 40}
    path = tmp_path / "b" / "entries.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[13], lines[22] = lines[22], lines[13]
    lines[30] = lines[30].replace(b'"i":30', b'"i":31')
    path.write_bytes(b"\n".join(lines))
    none = verify.NO_CONTENT_CHECKS
    one = verify.verify_bundle(tmp_path / "b", checks=none, jobs=1)
    two = verify.verify_bundle(tmp_path / "b", checks=none, jobs=2)
    assert one.to_json() == two.to_json()
    assert [(p.check, p.seq) for p in two.problems] == [
        ("seq", 13), ("prev", 13), ("seq", 22), ("prev", 22), ("prev", 30), ("root", 0)]
    assert two.first.seq == 13


def test_offline_witness_with_proof_files(server, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from web import audit
    from web.app import create_app

    key = keys.log_key()
    log_id = fill(server, ORIGIN, 3, key)
    app = create_app(server)
    app.include_router(audit.router)
    web = TestClient(app)
    wkey = tmp_path / "w.key"
    main(["witness", "keygen", "--name", "auditor.example/li", "--out", str(wkey)])
    wvkey = parse_vkey(capsys.readouterr().out.strip())
    (tmp_path / "log.vkey").write_text(web.get(f"/estates/{SLUG}/audit/log.vkey").text)
    cp3 = tmp_path / "cp3"
    cp3.write_text(web.get(f"/estates/{SLUG}/audit/checkpoint").text)
    base = ["witness", "cosign", "--key", str(wkey), "--state", str(tmp_path / "st")]
    assert main(base + ["--checkpoint", str(cp3)]) == 2  # first use needs the log key
    assert main(base + ["--checkpoint", str(cp3), "--log-vkey", str(tmp_path / "log.vkey")]) == 0
    cosigned = capsys.readouterr().out
    assert cosigned.startswith(cp3.read_text()) and verify_cosignature(parse_note(cosigned), wvkey) > 0
    with transaction(server) as s:
        log.append(s, log_id, "test", {"i": 3})
        log.append(s, log_id, "test", {"i": 4})
        checkpoint.sign(s, log_id, key)
    cp5 = tmp_path / "cp5"
    cp5.write_text(web.get(f"/estates/{SLUG}/audit/checkpoint").text)
    assert main(base + ["--checkpoint", str(cp5)]) == 1
    assert "need --proof: consistency proof from size 3 (cosigned before) to 5" in capsys.readouterr().err
    proof = tmp_path / "proof.json"
    proof.write_text(web.get(f"/estates/{SLUG}/audit/consistency.json", params={"size1": 3, "size2": 5}).text)
    bad = json.loads(proof.read_text())
    bad["proof"][0] = "00" * 32
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(base + ["--checkpoint", str(cp5), "--proof", str(tmp_path / "bad.json")]) == 1
    assert "fork: checkpoint 5 is not consistent with 3 cosigned before" in capsys.readouterr().err
    assert main(base + ["--checkpoint", str(cp5), "--proof", str(proof)]) == 0
    assert main(base + ["--checkpoint", str(cp3)]) == 1
    assert "rollback: log size 3 is smaller than 5 cosigned before" in capsys.readouterr().err


def test_verify_runs_the_roll_content_check(server, tmp_path, capsys):
    from pathlib import Path

    from identity import record
    from identity.roll import read_roll

    roll = read_roll((Path(__file__).resolve().parents[2] / "docs/examples/roll.csv").read_bytes(), "roll.csv")
    key = keys.log_key()
    good = record.roll_body(1, roll)
    bad = record.roll_body(2, roll)
    stated = bad["totals"]["estate"]["heads"]
    bad["totals"]["estate"]["heads"] = stated + 1
    with transaction(server) as s:
        log_id = log.create_log(s, ORIGIN).id
        log.append(s, log_id, "estate", record.estate_body(SLUG, "枫林苑", ORIGIN, key.vkey))
        log.append(s, log_id, "roll", good)
        log.append(s, log_id, "roll", bad)
    main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")])
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["types"] == {"estate": 1, "roll": 2}
    assert [(p["check"], p["seq"]) for p in report["problems"]] == [("content", 2)]
    assert re.fullmatch(f"entry 2 \\(roll\\): totals.estate.heads: stated {stated + 1}, the (parts|voters) give {stated}",
                        report["problems"][0]["message"])
    assert "张伟" not in (tmp_path / "b" / "entries.jsonl").read_text()
