"""RFC 3161 timestamps of checkpoints (SPEC §2.10) against a real local TSA (OpenSSL ``ts -reply``
with a test CA, over HTTP): tokens fetched in the background pass, stored append-only, exported as
``timestamps/<size>.<n>.tsr`` and checked by ``gongjue verify --tsa-roots``; a forged or mismatched
token refused; a TSA that is down delays the token, never an append or a checkpoint."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ledger import anchor, checkpoint, log, timestamp
from ledger.db import make_engine, migrate, reading, transaction
from web.cli import main

from .helpers import fill, make_key
from .timestamp_tsa import TestTSA

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    found = TestTSA(tmp_path_factory.mktemp("tsa"))
    yield found
    found.stop()


@pytest.fixture(scope="module")
def other_tsa(tmp_path_factory):
    found = TestTSA(tmp_path_factory.mktemp("tsa-other"), cn="Another Root")
    yield found
    found.stop()


def _config(tsa: TestTSA, roots: bool = True) -> anchor.AnchorConfig:
    return anchor.AnchorConfig(tsa_urls=(tsa.url,), tsa_roots=tuple(timestamp.load_roots(tsa.roots)) if roots else (),
                               timeout=5)


# --- the token itself -------------------------------------------------------------------------------

NOTE3 = f"{ORIGIN}\n3\n{'A' * 43}=\n\n— gongjue.local AAAAAAAA\n"
NOTE4 = f"{ORIGIN}\n4\n{'B' * 43}=\n\n— gongjue.local AAAAAAAA\n"


def test_imprint_is_sha256_of_the_checkpoint_body():
    body = f"{ORIGIN}\n3\n{'A' * 43}=\n".encode()
    assert timestamp.body_bytes(NOTE3) == body
    assert timestamp.imprint(NOTE3) == hashlib.sha256(body).digest()
    assert timestamp.imprint(NOTE3 + "— witness.example/w1 AAAA\n") == hashlib.sha256(body).digest()  # cosignatures apart


def test_token_verified_and_forgeries_refused(tsa, other_tsa):
    roots = timestamp.load_roots(tsa.roots)
    before = datetime.now(UTC).replace(microsecond=0)
    token, stamp = timestamp.fetch_token(tsa.url, NOTE3, roots)
    assert stamp == timestamp.check_token(token, NOTE3, roots)
    assert before - timedelta(seconds=1) <= stamp.gen_time <= datetime.now(UTC) + timedelta(seconds=1)
    assert stamp.accuracy == timedelta(seconds=1) and stamp.tsa == "CN=Gongjue Test TSA,C=CN"
    with pytest.raises(timestamp.TimestampError, match="token for other data"):
        timestamp.check_token(token, NOTE4, roots)  # a token of another checkpoint
    with pytest.raises(timestamp.TimestampError, match="unable to get local issuer certificate"):
        timestamp.check_token(token, NOTE3, timestamp.load_roots(other_tsa.roots))  # wrong root
    other_token, _ = timestamp.fetch_token(other_tsa.url, NOTE3, timestamp.load_roots(other_tsa.roots))
    with pytest.raises(timestamp.TimestampError, match="does not verify against the TSA roots"):
        timestamp.check_token(other_token, NOTE3, roots)  # a TSA the auditor does not trust
    at = token.find(hashlib.sha256(timestamp.body_bytes(NOTE3)).digest())
    assert at > 0
    for i in (at, len(token) - 5, len(token) // 2):  # the imprint, the signature, the middle
        altered = token[:i] + bytes([token[i] ^ 1]) + token[i + 1:]
        with pytest.raises(timestamp.TimestampError):
            timestamp.check_token(altered, NOTE3, roots)
    with pytest.raises(timestamp.TimestampError, match="not a DER timestamp reply"):
        timestamp.check_token(b"not a token", NOTE3, roots)


def test_fetch_refuses_a_down_or_wrong_tsa(tsa, other_tsa):
    tsa.down = True
    try:
        with pytest.raises(timestamp.TimestampError, match="503"):
            timestamp.fetch_token(tsa.url, NOTE3, timeout=5)
    finally:
        tsa.down = False
    with pytest.raises(timestamp.TimestampError, match="does not verify"):  # answered by a TSA of other roots
        timestamp.fetch_token(other_tsa.url, NOTE3, timestamp.load_roots(tsa.roots), timeout=5)
    with pytest.raises(timestamp.TimestampError, match="TSA http://127.0.0.1:9/"):
        timestamp.fetch_token("http://127.0.0.1:9/", NOTE3, timeout=5)  # nothing listens


# --- the background pass and the database ------------------------------------------------------------

def test_anchor_stamps_each_checkpoint_once_in_size_order(engine, tmp_path, tsa):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 3, key, sign_each=True)  # checkpoints 1, 2, 3
    first = anchor.anchor_once(engine, _config(tsa))
    assert (first.stamped, first.failures) == (3, [])
    assert (anchor.anchor_once(engine, _config(tsa)).stamped) == 0  # nothing new
    with reading(engine) as s:
        rows = timestamp.tokens(s, log_id)
        assert [r.size for r in rows] == [1, 2, 3]
        assert [r.gen_time for r in rows] == sorted(r.gen_time for r in rows)
        roots = timestamp.load_roots(tsa.roots)
        for r in rows:
            cp = checkpoint.at_size(s, log_id, r.size)
            assert r.checkpoint_id == cp.id and r.tsa == tsa.url
            timestamp.check_token(bytes(r.token), cp.note, roots)
    with pytest.raises(Exception, match="append-only"):  # the token table refuses UPDATE and DELETE
        with engine.begin() as conn:
            conn.execute(text("UPDATE ledger_timestamps SET tsa = 'x'"))
    with pytest.raises(Exception, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_timestamps"))


def test_tsa_down_delays_the_timestamp_never_an_append(engine, tmp_path, tsa):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 2, key)
    tsa.down = True
    try:
        outcome = anchor.anchor_once(engine, _config(tsa))
        assert outcome.stamped == 0 and len(outcome.failures) == 1 and "503" in outcome.failures[0]
        with transaction(engine) as s:  # appends and checkpoints go on while the TSA is down
            log.append(s, log_id, "test", {"i": 99})
            checkpoint.sign(s, log_id, key)
        assert anchor.anchor_once(engine, _config(tsa)).stamped == 0
    finally:
        tsa.down = False
    outcome = anchor.anchor_once(engine, _config(tsa))  # retried: both waiting checkpoints stamped
    assert (outcome.stamped, outcome.failures) == (2, [])
    with reading(engine) as s:
        assert [r.size for r in timestamp.tokens(s, log_id)] == [2, 3]


def test_a_stuck_tsa_never_holds_the_write_path(engine, tmp_path, tsa):
    """While the background pass waits on a TSA that does not answer, appends and checkpoints go on:
    the pass holds no transaction while it talks to the network."""
    import threading
    import time

    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 1, key)
    tsa.hang = 4.0
    done = threading.Event()
    outcome: list = []
    worker = threading.Thread(target=lambda: (outcome.append(anchor.anchor_once(engine, _config(tsa))), done.set()))
    before = tsa.arrived
    try:
        worker.start()
        while tsa.arrived == before and worker.is_alive():
            time.sleep(0.01)  # wait until the pass is talking to the TSA
        for i in range(5):
            with transaction(engine) as s:
                log.append(s, log_id, "test", {"during": i})
                checkpoint.sign(s, log_id, key)
        assert not done.is_set()  # the five appends and checkpoints finished while the pass still waited
    finally:
        worker.join(30)
        tsa.hang = 0.0
    assert outcome[0].stamped == 1  # the slow answer still arrived (within the 5 s timeout)
    with reading(engine) as s:
        assert checkpoint.latest(s, log_id).size == 6


def test_one_pass_at_a_time_per_database(engine, tmp_path, tsa):
    """Several app workers: while one runs a pass, another's pass does nothing (no TSA asked twice)."""
    key = make_key(tmp_path)
    fill(engine, ORIGIN, 2, key)
    before = tsa.arrived
    with anchor.only_one_pass(engine) as mine:
        assert mine
        outcome = anchor.anchor_once(engine, _config(tsa))
        assert (outcome.skipped, outcome.stamped, tsa.arrived) == (True, 0, before)
    outcome = anchor.anchor_once(engine, _config(tsa))
    assert (outcome.skipped, outcome.stamped, tsa.arrived) == (False, 1, before + 1)


def test_the_last_pass_keeps_its_failures_for_staff_pages(engine, tmp_path, tsa):
    """A TSA that does not answer: the pass's failure is kept (without the URL's credentials) until
    a pass succeeds; staff pages read it through ``anchor.failing``."""
    key = make_key(tmp_path)
    fill(engine, ORIGIN, 2, key)
    with reading(engine) as s:
        assert anchor.failing(s) is None  # no pass yet
    down = anchor.AnchorConfig(tsa_urls=("http://stamper:s3cret@127.0.0.1:9/tsr",), timeout=2)
    outcome = anchor.anchor_once(engine, down)
    assert outcome.stamped == 0 and len(outcome.failures) == 1
    with reading(engine) as s:
        row = anchor.failing(s)
        assert row is not None and row.stamped == 0 and len(row.failures.splitlines()) == 1
        assert "127.0.0.1:9" in row.failures and "s3cret" not in row.failures and "stamper" not in row.failures
    assert anchor.anchor_once(engine, _config(tsa)).stamped == 1
    with reading(engine) as s:
        assert anchor.failing(s) is None


def test_staff_pages_show_the_last_passs_failures(engine, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from tests.web.conftest import add_staff, sign_in
    from web.app import create_app

    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    fill(engine, ORIGIN, 2, make_key(tmp_path))
    add_staff(engine)
    with TestClient(create_app(engine), follow_redirects=False) as client:
        assert sign_in(client).status_code == 303
        assert "anchor-warning" not in client.get("/").text
        anchor.anchor_once(engine, anchor.AnchorConfig(tsa_urls=("http://127.0.0.1:9/<tsr>",), timeout=2))
        page = client.get("/").text
        assert "警告：最近一次可信时间戳和见证人联署未能完成" in page and "127.0.0.1:9/&lt;tsr&gt;" in page
        client.cookies.clear()
        assert "anchor-warning" not in client.get("/").text  # staff only


def test_only_the_newest_batch_is_stamped_and_never_a_smaller_size_later(engine, tmp_path, tsa, monkeypatch):
    monkeypatch.setattr(anchor, "BATCH", 2)
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 5, key, sign_each=True)
    assert anchor.anchor_once(engine, _config(tsa)).stamped == 2
    with reading(engine) as s:
        assert [r.size for r in timestamp.tokens(s, log_id)] == [4, 5]  # 1-3 covered by the token of 4
    assert anchor.anchor_once(engine, _config(tsa)).stamped == 0


# --- the bundle and gongjue verify --------------------------------------------------------------------

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


def _stamped_bundle(server, tmp_path, tsa, capsys, entries: int = 4):  # noqa: ANN001, ANN202
    from ledger import keys

    key = keys.log_key()
    fill(server, ORIGIN, entries, key, sign_each=True)
    assert anchor.anchor_once(server, _config(tsa)).stamped == entries
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    return tmp_path / "b"


def _verify(capsys, *args: str) -> tuple[int, dict]:
    status = main(["verify", "--json", "--no-progress", "--jobs", "1", *args])
    return status, json.loads(capsys.readouterr().out)


def test_bundle_tokens_verified_by_gongjue_verify(server, tmp_path, tsa, other_tsa, capsys):
    bundle = _stamped_bundle(server, tmp_path, tsa, capsys)
    assert sorted(p.name for p in (bundle / "timestamps").iterdir()) == ["1.0.tsr", "2.0.tsr", "3.0.tsr", "4.0.tsr"]
    status, found = _verify(capsys, str(bundle), "--tsa-roots", str(tsa.roots))
    assert status == 0 and found["ok"], found["problems"]
    assert [t["size"] for t in found["timestamps"]] == [1, 2, 3, 4]
    assert all(t["verified"] and t["tsa"] == "CN=Gongjue Test TSA,C=CN" for t in found["timestamps"])
    assert main(["verify", "--no-progress", "--jobs", "1", str(bundle), "--tsa-roots", str(tsa.roots)]) == 0
    out = capsys.readouterr().out
    assert "时间戳 / timestamp timestamps/4.0.tsr: " in out and "chain verified" in out
    # the same bundle, zipped by hand with an enclosing folder
    shutil.make_archive(str(tmp_path / "z"), "zip", tmp_path, "b")
    status, found = _verify(capsys, str(tmp_path / "z.zip"), "--tsa-roots", str(tsa.roots))
    assert status == 0 and len(found["timestamps"]) == 4
    # without roots the tokens are listed, not verified, and not a failure
    status, found = _verify(capsys, str(bundle))
    assert status == 0 and [t["verified"] for t in found["timestamps"]] == [False] * 4
    # the wrong roots: every token refused
    status, found = _verify(capsys, str(bundle), "--tsa-roots", str(other_tsa.roots))
    assert status == 1
    assert [p["check"] for p in found["problems"]] == ["timestamp"] * 4
    assert all("does not verify against the TSA roots" in p["message"] for p in found["problems"])


def test_mismatched_tokens_refused(server, tmp_path, tsa, capsys):
    bundle = _stamped_bundle(server, tmp_path, tsa, capsys)
    stamps = bundle / "timestamps"
    (stamps / "2.0.tsr").write_bytes((stamps / "3.0.tsr").read_bytes())  # a token of another checkpoint
    data = bytearray((stamps / "4.0.tsr").read_bytes())
    data[-3] ^= 0x40  # altered bytes (in the signature)
    (stamps / "4.0.tsr").write_bytes(bytes(data))
    (stamps / "9.0.tsr").write_bytes((stamps / "1.0.tsr").read_bytes())  # no checkpoint of size 9
    (stamps / "notes.txt").write_text("hello")
    status, found = _verify(capsys, str(bundle), "--tsa-roots", str(tsa.roots))
    assert status == 1
    messages = sorted(p["message"] for p in found["problems"])
    assert [p["check"] for p in found["problems"]] == ["timestamp"] * 4
    assert messages[0].startswith("timestamps/2.0.tsr: token imprint is not SHA-256 of this checkpoint's body")
    assert messages[1].startswith("timestamps/4.0.tsr: token does not verify against the TSA roots")
    assert messages[2] == "timestamps/9.0.tsr: the bundle has no signed checkpoint of size 9"
    assert messages[3] == "timestamps/notes.txt: not a timestamps/<size>.<n>.tsr file name"
    assert [t["file"] for t in found["timestamps"]] == ["timestamps/1.0.tsr", "timestamps/3.0.tsr"]


def test_roots_given_but_no_token_is_a_problem(server, tmp_path, tsa, capsys):
    fill(server, ORIGIN, 2, None)
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    status, found = _verify(capsys, str(tmp_path / "b"), "--tsa-roots", str(tsa.roots))
    assert status == 1
    assert found["problems"] == [{"check": "timestamp", "seq": None, "message": "the bundle has no timestamp token "
                                  "(timestamps/), but TSA roots were given"}]
    with pytest.raises(SystemExit) as exited:
        main(["verify", str(tmp_path / "b"), "--tsa-roots", str(tmp_path / "missing.pem")])
    assert exited.value.code == 2


def test_token_older_than_the_entries_it_covers_refused(server, tmp_path, tsa, capsys):
    """An entry stamped with a time after the token's (a back-dated checkpoint, or a lying clock)."""
    from ledger import keys

    key = keys.log_key()
    with transaction(server) as s:
        log_id = log.create_log(s, ORIGIN).id
        log.append(s, log_id, "test", {"i": 0}, datetime.now(UTC) - timedelta(minutes=5))
        checkpoint.sign(s, log_id, key)
    assert anchor.anchor_once(server, _config(tsa)).stamped == 1
    with transaction(server) as s:
        log.append(s, log_id, "test", {"i": 1}, datetime.now(UTC) + timedelta(hours=2))
        checkpoint.sign(s, log_id, key)
    assert anchor.anchor_once(server, _config(tsa)).stamped == 1
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    status, found = _verify(capsys, str(tmp_path / "b"), "--tsa-roots", str(tsa.roots))
    assert status == 1
    assert len(found["problems"]) == 1
    assert found["problems"][0]["message"].startswith("timestamps/2.0.tsr: token time ")
    assert "is before entry time" in found["problems"][0]["message"]


def test_tokens_of_one_tsa_may_not_go_back_in_time(server, tmp_path, tsa, capsys):
    """The token of checkpoint 1 swapped with a later one of checkpoint 1's own body is fine; a
    smaller checkpoint stamped later than a larger one is refused."""
    from ledger import keys

    key = keys.log_key()
    fill(server, ORIGIN, 2, key, sign_each=True)
    with reading(server) as s:
        log_id = log.get_log(s, ORIGIN).id
        cps = checkpoint.history(s, log_id)
        notes = {c.size: c.note for c in cps}
    token2, _ = timestamp.fetch_token(tsa.url, notes[2])
    import time
    time.sleep(1.1 + 2)  # beyond both tokens' accuracy (1 s each)
    token1, _ = timestamp.fetch_token(tsa.url, notes[1])
    with transaction(server) as s:
        timestamp.add_token(s, checkpoint.at_size(s, log_id, 1), tsa.url, token1)
        timestamp.add_token(s, checkpoint.at_size(s, log_id, 2), tsa.url, token2)
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    status, found = _verify(capsys, str(tmp_path / "b"), "--tsa-roots", str(tsa.roots))
    assert status == 1
    assert [p["message"].split(":")[0] for p in found["problems"]] == ["timestamps/2.0.tsr"]
    assert "a smaller checkpoint stamped by the same TSA" in found["problems"][0]["message"]


def test_add_token_refuses_a_token_of_other_data(engine, tmp_path, tsa):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 2, key, sign_each=True)
    with reading(engine) as s:
        note1 = checkpoint.at_size(s, log_id, 1).note
    token1, _ = timestamp.fetch_token(tsa.url, note1)
    with pytest.raises(timestamp.TimestampError, match="token for other data"):
        with transaction(engine) as s:
            timestamp.add_token(s, checkpoint.at_size(s, log_id, 2), tsa.url, token1)
    with reading(engine) as s:
        assert timestamp.tokens(s, log_id) == []


def test_gongjue_anchor_once(server, tmp_path, tsa, monkeypatch, capsys):
    from ledger import keys

    fill(server, ORIGIN, 2, keys.log_key(), sign_each=True)
    assert main(["anchor", "--once"]) == 2  # nothing configured
    assert "no TSA (GONGJUE_TSA_URLS) or witness (GONGJUE_WITNESSES) configured" in capsys.readouterr().err
    monkeypatch.setenv("GONGJUE_TSA_URLS", tsa.url)
    monkeypatch.setenv("GONGJUE_TSA_ROOTS", str(tsa.roots))
    tsa.down = True
    try:
        assert main(["anchor", "--once"]) == 1
        captured = capsys.readouterr()
        assert "稍后重试 / will retry: TSA " in captured.err and "stamped 0, cosigned 0" in captured.out
    finally:
        tsa.down = False
    assert main(["anchor", "--once"]) == 0
    assert "stamped 2, cosigned 0" in capsys.readouterr().out
    monkeypatch.setenv("GONGJUE_TSA_ROOTS", str(tmp_path / "none.pem"))
    assert main(["anchor", "--once"]) == 2


def test_the_app_runs_the_anchor_loop_in_its_lifespan(server, tmp_path, tsa, monkeypatch):
    import time

    from fastapi.testclient import TestClient

    from ledger import keys
    from web.app import create_app

    log_id = fill(server, ORIGIN, 2, keys.log_key())
    monkeypatch.setenv("GONGJUE_TSA_URLS", tsa.url)
    monkeypatch.setenv("GONGJUE_ANCHOR_SECONDS", "0.2")
    monkeypatch.setenv("GONGJUE_SELFCHECK_SECONDS", "0")
    app = create_app(server)
    with TestClient(app):
        assert app.state.anchor is not None and app.state.anchor.is_alive()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with reading(server) as s:
                if timestamp.tokens(s, log_id):
                    break
            time.sleep(0.1)
        with reading(server) as s:
            assert [r.size for r in timestamp.tokens(s, log_id)] == [2]
    assert not app.state.anchor.is_alive()  # stopped with the app


def test_an_outsider_checks_an_exported_token_with_openssl(server, tmp_path, tsa, other_tsa, capsys):
    """SPEC §2.10's recipe, with OpenSSL alone: the body file is the checkpoint's three lines."""
    import subprocess

    bundle = _stamped_bundle(server, tmp_path, tsa, capsys, entries=2)
    body = tmp_path / "body"
    body.write_bytes(timestamp.body_bytes((bundle / "checkpoint").read_text()))
    assert body.read_text().count("\n") == 3
    ok = subprocess.run(["openssl", "ts", "-verify", "-in", str(bundle / "timestamps" / "2.0.tsr"), "-data", str(body),
                         "-CAfile", str(tsa.roots)], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout
    other = subprocess.run(["openssl", "ts", "-verify", "-in", str(bundle / "timestamps" / "1.0.tsr"), "-data",
                            str(body), "-CAfile", str(tsa.roots)], capture_output=True, text=True)
    assert other.returncode != 0  # the token of checkpoint 1 is not one of checkpoint 2's body
    wrong_root = subprocess.run(["openssl", "ts", "-verify", "-in", str(bundle / "timestamps" / "2.0.tsr"), "-data",
                                 str(body), "-CAfile", str(other_tsa.roots)], capture_output=True, text=True)
    assert wrong_root.returncode != 0
