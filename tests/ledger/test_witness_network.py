"""Network witnesses (c2sp.org/tlog-witness, SPEC §2.5): ``gongjue witness serve`` run as a separate
process with its own key and state, cosigning over HTTP what the server's background pass
(ledger.anchor) sends; the cosignature verified by ``gongjue verify --witness``; a forked log (same
origin, same log key, other entries) and a rollback refused with nothing cosigned; its state kept
across a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ledger import anchor, checkpoint, keys, log, witness
from ledger.db import make_engine, migrate, reading, transaction
from ledger.note import COSIGNATURE_V1, parse_note, parse_vkey, verify_cosignature
from web.cli import main

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"
ROOT = Path(__file__).resolve().parents[2]


class WitnessProcess:
    """``gongjue witness serve`` in its own process (its own session: killed as a group)."""

    def __init__(self, key: Path, state: Path, logs: list[str]) -> None:
        self.args = [sys.executable, "-m", "web.cli", "witness", "serve", "--key", str(key), "--state", str(state),
                     "--listen", "127.0.0.1:0"] + [a for item in logs for a in ("--log", item)]
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        assert "witness listening on http://" in line, line + self.proc.stderr.read()
        self.url = line.rsplit(" ", 1)[1].strip().removesuffix("/add-checkpoint")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def server(engine, tmp_path, monkeypatch):
    """The server's database (SQLite and PostgreSQL), also for the CLI (GONGJUE_DATABASE_URL)."""
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "var" / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    return engine


@pytest.fixture
def witness_key(tmp_path):
    return keys.create_key_file(tmp_path / "w" / "witness.key", "witness.example/w1", COSIGNATURE_V1)


@pytest.fixture
def served(server, tmp_path, witness_key):
    log_key = keys.log_key()
    proc = WitnessProcess(tmp_path / "w" / "witness.key", tmp_path / "w" / "state", [f"{ORIGIN}={log_key.vkey}"])
    yield proc
    proc.kill()


def _config(proc: WitnessProcess, witness_key) -> anchor.AnchorConfig:  # noqa: ANN001
    return anchor.AnchorConfig(witnesses=(anchor.WitnessPeer(proc.url, parse_vkey(witness_key.vkey)),), timeout=10)


def _post(url: str, body: bytes, method: str = "POST") -> tuple[int, str, str]:
    request = urllib.request.Request(url + "/add-checkpoint", data=body if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _notes(engine) -> dict[int, str]:  # noqa: ANN001
    with reading(engine) as s:
        return {row.size: row.note for row in checkpoint.history(s, log.get_log(s, ORIGIN).id)}


def test_witness_cosigns_over_http_and_verify_checks_it(server, served, witness_key, tmp_path, capsys):
    key = keys.log_key()
    log_id = fill(server, ORIGIN, 3, key)
    first = anchor.anchor_once(server, _config(served, witness_key))
    assert (first.cosigned, first.failures) == (1, [])
    with transaction(server) as s:
        for i in range(4):
            log.append(s, log_id, "test", {"i": 10 + i})
        checkpoint.sign(s, log_id, key)
    second = anchor.anchor_once(server, _config(served, witness_key))  # old 3, a consistency proof 3 → 7
    assert (second.cosigned, second.failures) == (1, [])
    assert anchor.anchor_once(server, _config(served, witness_key)).cosigned == 0  # already cosigned
    with reading(server) as s:
        for row in checkpoint.history(s, log_id):
            note = parse_note(checkpoint.with_cosignatures(s, row))
            verify_cosignature(note, parse_vkey(witness_key.vkey))
    state = tmp_path / "w" / "state" / "gongjue.local__maple-court" / "checkpoint"
    assert state.read_text().startswith(f"{ORIGIN}\n7\n")

    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["verify", "--json", "--no-progress", "--jobs", "1", str(tmp_path / "b"),
                 "--witness", witness_key.vkey]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["ok"] and found["witnesses"][0]["size"] == 7 and found["witnesses"][0]["checkpoints"] == [3, 7]
    (tmp_path / "w.vkey").write_text(witness_key.vkey + "\n")
    assert main(["verify", "--no-progress", "--jobs", "1", str(tmp_path / "b"), "--witness", str(tmp_path / "w.vkey")]) == 0
    assert "见证人联署 / cosigned by witness.example/w1: size 7 at " in capsys.readouterr().out

    other = keys.create_key_file(tmp_path / "other.key", "witness.example/w2", COSIGNATURE_V1)
    assert main(["verify", "--json", "--no-progress", "--jobs", "1", str(tmp_path / "b"), "--witness", other.vkey]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["problems"] == [{"check": "cosignature", "seq": None,
                                  "message": f"witness {other.vkey} cosigned no checkpoint of the bundle"}]

    text = (tmp_path / "b" / "checkpoint").read_text()  # a cosignature line altered in the bundle
    lines = text.split("\n")
    name, sig = lines[-2].rsplit(" ", 1)
    raw = bytearray(__import__("base64").b64decode(sig))
    raw[20] ^= 1
    lines[-2] = f"{name} {__import__('base64').b64encode(bytes(raw)).decode()}"
    (tmp_path / "b" / "checkpoint").write_text("\n".join(lines))
    assert main(["verify", "--json", "--no-progress", "--jobs", "1", str(tmp_path / "b"),
                 "--witness", witness_key.vkey]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["problems"] == [{"check": "cosignature", "seq": None,
                                  "message": "checkpoint 7: cosignature by witness.example/w1 does not verify"}]
    assert found["witnesses"][0]["size"] == 3


def test_witness_refuses_a_forked_log(server, served, witness_key, tmp_path):
    """Another database with the same origin and log key but other entries: nothing cosigned."""
    key = keys.log_key()
    fill(server, ORIGIN, 3, key)
    assert anchor.anchor_once(server, _config(served, witness_key)).cosigned == 1
    state = tmp_path / "w" / "state" / "gongjue.local__maple-court" / "checkpoint"
    kept = state.read_text()

    forked = make_engine(f"sqlite:///{tmp_path / 'fork.db'}")
    migrate(forked)
    with transaction(forked) as s:
        log_id = log.create_log(s, ORIGIN).id
        for i in range(3):
            log.append(s, log_id, "test", {"fork": i})
        checkpoint.sign(s, log_id, key)  # size 3, another root
    outcome = anchor.anchor_once(forked, _config(served, witness_key))
    assert outcome.cosigned == 0 and outcome.failures == [f"witness {served.url} answered 409: 3"]
    with transaction(forked) as s:
        for i in range(3, 6):
            log.append(s, log_id, "test", {"fork": i})
        checkpoint.sign(s, log_id, key)  # size 6: the proof 3 → 6 of the fork fails against the witness's root
    outcome = anchor.anchor_once(forked, _config(served, witness_key))
    assert outcome.cosigned == 0 and len(outcome.failures) == 1
    assert outcome.failures[0].startswith(f"witness {served.url} answered 422: consistency proof from 3 to 6 does not verify")
    with reading(forked) as s:
        assert all(checkpoint.cosignature_count(s, row) == 0 for row in checkpoint.history(s, log_id))
    assert state.read_text() == kept
    forked.dispose()


def test_witness_refuses_a_rollback_and_keeps_its_state_across_a_kill(server, served, witness_key, tmp_path):
    key = keys.log_key()
    fill(server, ORIGIN, 5, key, sign_each=True)
    assert anchor.anchor_once(server, _config(served, witness_key)).cosigned == 1  # size 5
    notes = _notes(server)
    served.kill()
    served.start()  # same key and state: it still remembers size 5
    status, ctype, body = _post(served.url, witness.request_body(5, [], notes[3]))
    assert (status, body) == (400, "old size 5 is larger than the checkpoint's size 3\n")
    status, ctype, body = _post(served.url, witness.request_body(3, [], notes[3]))
    assert (status, ctype, body) == (409, "text/x.tlog.size", "5\n")
    status, ctype, body = _post(served.url, witness.request_body(0, [], notes[3]))
    assert (status, ctype, body) == (409, "text/x.tlog.size", "5\n")
    status, ctype, body = _post(served.url, witness.request_body(5, [], notes[5]))  # same size, same root: again
    assert status == 200 and body.startswith("— witness.example/w1 ")
    verify_cosignature(parse_note(notes[5] + body), parse_vkey(witness_key.vkey))


def test_witness_protocol_refusals(server, served, witness_key, tmp_path):
    key = keys.log_key()
    fill(server, ORIGIN, 4, key, sign_each=True)
    notes = _notes(server)
    assert _post(served.url, witness.request_body(0, [], notes[2]))[0] == 200  # first contact: old 0
    with reading(server) as s:
        proof = log.consistency_proof(s, log.get_log(s, ORIGIN).id, 2, 4)
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1])] + proof[1:]
    status, _, body = _post(served.url, witness.request_body(2, bad, notes[4]))
    assert status == 422 and body.startswith("consistency proof from 2 to 4 does not verify")
    assert _post(served.url, witness.request_body(2, [], notes[4]))[0] == 422  # proof missing
    other = keys.create_key_file(tmp_path / "other-log.key", "gongjue.local")
    from ledger.note import sign_note
    forged = sign_note(f"{ORIGIN}\n4\n{parse_note(notes[4]).text.split(chr(10))[2]}\n", other.signer)
    assert _post(served.url, witness.request_body(2, proof, forged)) == (
        403, "text/plain; charset=utf-8", f"no valid signature by the key this witness trusts for {ORIGIN}\n")
    unknown = sign_note("gongjue.local/elsewhere\n1\n" + "A" * 43 + "=\n", key.signer)
    assert _post(served.url, witness.request_body(0, [], unknown))[:2] == (404, "text/plain; charset=utf-8")
    assert _post(served.url, b"old 02\n\n" + notes[4].encode())[0] == 400
    assert _post(served.url, b"no blank line")[0] == 400
    assert _post(served.url, b"old 2\nnot base64!\n\n" + notes[4].encode())[0] == 400
    assert _post(served.url, b"", method="GET")[0] == 405
    assert _post(served.url + "/elsewhere", witness.request_body(2, proof, notes[4]))[0] == 404  # …/elsewhere/add-checkpoint
    status, _, body = _post(served.url, witness.request_body(2, proof, notes[4]))  # the honest request
    assert status == 200
    verify_cosignature(parse_note(notes[4] + body), parse_vkey(witness_key.vkey))


def test_witness_down_delays_the_cosignature_never_a_checkpoint(server, witness_key, tmp_path):
    key = keys.log_key()
    log_id = fill(server, ORIGIN, 2, key)
    config = anchor.AnchorConfig(witnesses=(anchor.WitnessPeer("http://127.0.0.1:9", parse_vkey(witness_key.vkey)),),
                                 timeout=5)
    outcome = anchor.anchor_once(server, config)
    assert outcome.cosigned == 0 and len(outcome.failures) == 1 and outcome.failures[0].startswith("witness http://127.0.0.1:9: ")
    with transaction(server) as s:
        log.append(s, log_id, "test", {"i": 5})
        checkpoint.sign(s, log_id, key)
        assert checkpoint.latest(s, log_id).size == 3


def test_state_is_replaced_atomically(tmp_path, witness_key):
    state = witness.WitnessState(tmp_path / "s")
    note = f"{ORIGIN}\n1\n{'A' * 43}=\n\n— gongjue.local AAAAAAAA\n"
    with state.locked():
        state.save(ORIGIN, note)
    assert state.latest(ORIGIN).size == 1
    assert sorted(str(p.relative_to(tmp_path / "s")) for p in (tmp_path / "s").rglob("*")) == [
        ".lock", "gongjue.local__maple-court", "gongjue.local__maple-court/checkpoint"]


def test_parse_witnesses_config(witness_key):
    peers = anchor.parse_witnesses(f"http://a.example/w {witness_key.vkey};\n https://b.example {witness_key.vkey}\n")
    assert [p.url for p in peers] == ["http://a.example/w", "https://b.example"]
    with pytest.raises(ValueError, match="must be '<http"):
        anchor.parse_witnesses(f"a.example {witness_key.vkey}")


def test_public_record_page_shows_witnesses_and_timestamps(server, served, witness_key, tmp_path):
    from fastapi.testclient import TestClient

    from ledger import timestamp
    from web.app import create_app

    from .timestamp_tsa import TestTSA

    tsa = TestTSA(tmp_path / "tsa")
    try:
        key = keys.log_key()
        fill(server, ORIGIN, 3, key)
        client = TestClient(create_app(server))
        html = client.get(f"/estates/{SLUG}/audit").text
        assert "还没有独立见证人联署这个账本。" in html and "还没有可信时间戳。" in html
        config = anchor.AnchorConfig(tsa_urls=(tsa.url,), tsa_roots=tuple(timestamp.load_roots(tsa.roots)),
                                     witnesses=_config(served, witness_key).witnesses, timeout=10)
        outcome = anchor.anchor_once(server, config)
        assert (outcome.stamped, outcome.cosigned, outcome.failures) == (1, 1, [])
        html = client.get(f"/estates/{SLUG}/audit").text
        assert "见证人 witness.example/w1 已联署账本的前 3 条" in html and witness_key.vkey in html
        host = tsa.url.split("/")[2]
        assert re.search(rf"时间戳服务 {re.escape(host)} 证明：前 3 条记录不晚于 \d{{4}}年\d+月\d+日 \d\d:\d\d 已存在", html)
        assert f'href="/estates/{SLUG}/audit/timestamps/3.0.tsr"' in html
        token = client.get(f"/estates/{SLUG}/audit/timestamps/3.0.tsr")
        assert token.status_code == 200 and token.headers["content-type"] == "application/timestamp-reply"
        with reading(server) as s:
            row = checkpoint.latest(s, log.get_log(s, ORIGIN).id)
            timestamp.check_token(token.content, row.note, timestamp.load_roots(tsa.roots))
        assert client.get(f"/estates/{SLUG}/audit/timestamps/3.1.tsr").status_code == 404
        assert client.get(f"/estates/{SLUG}/audit/timestamps/2.0.tsr").status_code == 404
        assert client.get(f"/estates/{SLUG}/audit/timestamps/03.0.tsr").status_code == 404
        bundle = client.get(f"/estates/{SLUG}/audit/bundle.zip")
        import io
        import zipfile
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
            assert zf.read("timestamps/3.0.tsr") == token.content
            assert zf.read("checkpoint").decode().count("— witness.example/w1 ") == 1
    finally:
        tsa.stop()


def test_concurrent_first_contacts_cosign_exactly_one(server, served, witness_key):
    """Six requests at once, each 'old 0' with another size: the check and the save are one step,
    so exactly one is cosigned and the others learn its size (409)."""
    from concurrent.futures import ThreadPoolExecutor

    fill(server, ORIGIN, 6, keys.log_key(), sign_each=True)
    notes = _notes(server)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: _post(served.url, witness.request_body(0, [], notes[n])), range(1, 7)))
    won = [n for n, a in zip(range(1, 7), answers) if a[0] == 200]
    assert len(won) == 1
    assert sorted(a[2] for a in answers if a[0] == 409) == [f"{won[0]}\n"] * 5
    assert _post(served.url, witness.request_body(0, [], notes[6]))[2] == f"{won[0]}\n"


def test_a_server_restored_from_an_older_backup_is_told_so(server, served, witness_key, tmp_path):
    """The witness cosigned size 4; the server's database goes back to size 2 (a restored backup):
    the pass reports the rollback and records nothing."""
    if server.dialect.name != "sqlite":
        pytest.skip("the backup is taken with SQLite's online backup API (PostgreSQL: tests/deploy)")
    key = keys.log_key()
    log_id = fill(server, ORIGIN, 2, key)
    backup = make_engine(f"sqlite:///{tmp_path / 'backup.db'}")
    with server.connect() as source, backup.connect() as target:
        source.connection.driver_connection.backup(target.connection.driver_connection)
    with transaction(server) as s:
        log.append(s, log_id, "test", {"i": 2})
        log.append(s, log_id, "test", {"i": 3})
        checkpoint.sign(s, log_id, key)
    assert anchor.anchor_once(server, _config(served, witness_key)).cosigned == 1  # size 4
    outcome = anchor.anchor_once(backup, _config(served, witness_key))
    assert outcome.cosigned == 0
    assert outcome.failures == [f"witness {served.url} already cosigned size 4 of this log, larger than its latest "
                                "checkpoint 2: the log was rolled back (a restored backup?) or forked"]
    with reading(backup) as s:
        assert checkpoint.cosignature_count(s, checkpoint.latest(s, log_id)) == 0
    backup.dispose()


def test_offline_cosign_and_serve_share_one_state(server, witness_key, tmp_path, capsys):
    """A witness that cosigned size 2 by hand (witness cosign --checkpoint) is asked by the network
    with 'old 0': it answers 409 with 2 — the same record, whichever way it cosigned."""
    key = keys.log_key()
    fill(server, ORIGIN, 3, key, sign_each=True)
    notes = _notes(server)
    (tmp_path / "cp2").write_text(notes[2])
    (tmp_path / "log.vkey").write_text(key.vkey + "\n")
    state = tmp_path / "w" / "state"
    assert main(["witness", "cosign", "--key", str(tmp_path / "w" / "witness.key"), "--checkpoint",
                 str(tmp_path / "cp2"), "--log-vkey", str(tmp_path / "log.vkey"), "--state", str(state)]) == 0
    capsys.readouterr()
    from ledger.note import parse_skey
    served = witness.Witness(parse_skey((tmp_path / "w" / "witness.key").read_text()),
                             {ORIGIN: parse_vkey(key.vkey)}, witness.WitnessState(state))
    with pytest.raises(witness.Refused) as refused:
        served.add_checkpoint(witness.request_body(0, [], notes[3]))
    assert (refused.value.status, refused.value.message) == (409, "2\n")
    with reading(server) as s:
        proof = log.consistency_proof(s, log.get_log(s, ORIGIN).id, 2, 3)
    line = served.add_checkpoint(witness.request_body(2, proof, notes[3]))
    verify_cosignature(parse_note(notes[3] + line), parse_vkey(witness_key.vkey))
