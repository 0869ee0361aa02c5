"""``gongjue trustee decrypt --bundle … --round …``: verify, recompute, then decrypt (SPEC §7.5).

The trustee's key files are made once (argon2id is slow on purpose); the ledger is real on both
databases.  Every refusal exits 2 with its reason and writes nothing.
"""

import json

import pytest

from ledger.db import make_engine, migrate
from tests.voting import round_scenario as rs
from tests.voting.round_scenario import ROUND_ID, TRUSTEE_SECRETS
from voting.crypto import tally
from web.cli import main
from web.cli.keyfiles import key_file, write_json

PASSPHRASE = "correct horse battery"


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    paths = {}
    for j, secret in TRUSTEE_SECRETS.items():
        paths[j] = d / f"k{j}.json"
        write_json(str(paths[j]), key_file(j, "gongjue.local/maple-court/r1", secret, None, PASSPHRASE.encode()),
                   private=True)
    return paths


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", PASSPHRASE)


def _decrypt(bundle, key, out, *extra) -> int:
    return main(["trustee", "decrypt", "--bundle", str(bundle), "--round", ROUND_ID, "--key", str(key),
                 "--out", str(out), *extra])


def test_decrypt_writes_shares_that_combine_to_the_exact_totals(engine, tmp_path, key_files, capsys):
    sc = rs.build(engine, tmp_path / "b")
    for j in TRUSTEE_SECRETS:
        assert _decrypt(tmp_path / "b", key_files[j], tmp_path / f"s{j}.json") == 0
    err = capsys.readouterr().err
    assert "recomputed 3 ballot(s) of round r1" in err and "decryption shares of trustee 2 written" in err
    close = [json.loads(line) for line in (tmp_path / "b" / "entries.jsonl").read_text().splitlines()][-1]
    agg = tally.Aggregates.from_json(close["body"]["aggregates"])
    shares = [json.loads((tmp_path / f"s{j}.json").read_text()) for j in TRUSTEE_SECRETS]
    result = rs.combine(sc, agg, shares)
    assert [(r.id, r.heads, r.area) for r in result] == [("m1", rs.HEADS, rs.AREA)]


def test_decrypt_accepts_the_checkpoints_the_trustee_kept(engine, tmp_path, key_files):
    rs.build(engine, tmp_path / "b")
    olds = sorted((tmp_path / "b" / "checkpoints").iterdir())
    kept = tmp_path / "kept"
    kept.write_text(olds[0].read_text())
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json", "--checkpoint", str(kept)) == 0


def test_decrypt_refuses_a_fabricated_aggregate_and_writes_nothing(engine, tmp_path, key_files, capsys):
    rs.build(engine, tmp_path / "b", one_ballot_aggregate=True)
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json") == 2
    err = capsys.readouterr().err
    assert err.startswith("gongjue trustee: 账本核验未通过，拒绝解密 / the record does not verify")
    assert "round.close: ballots is 1, the record holds 3 counted ballot(s)" in err
    assert not (tmp_path / "s.json").exists()


def test_decrypt_refuses_an_open_round_and_writes_nothing(engine, tmp_path, key_files, capsys):
    rs.build(engine, tmp_path / "b", close=False)
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json") == 2
    assert "round r1 is not closed" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_decrypt_refuses_a_rewritten_log_or_a_tampered_bundle(engine, tmp_path, key_files, capsys):
    rs.build(engine, tmp_path / "b")
    # the trustee kept the checkpoint of another history of the same log (same origin, same key)
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(other)
    rs.build(other, tmp_path / "other")
    other.dispose()
    kept = tmp_path / "kept"
    kept.write_text((tmp_path / "other" / "checkpoint").read_text())
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json", "--checkpoint", str(kept)) == 2
    assert "fork: the log key signed two different trees" in capsys.readouterr().err
    entries = tmp_path / "b" / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b'"factor":"sms"', b'"factor":"pin"', 1))
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json") == 2
    assert "the record does not verify" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_decrypt_refuses_the_wrong_trustee_key_a_missing_bundle_and_an_existing_output(engine, tmp_path,
                                                                                     key_files, capsys):
    rs.build(engine, tmp_path / "b")
    wrong = tmp_path / "wrong.json"
    write_json(str(wrong), key_file(1, "x", TRUSTEE_SECRETS[2], None, PASSPHRASE.encode()), private=True)
    assert _decrypt(tmp_path / "b", wrong, tmp_path / "s.json") == 2
    assert "this key is not the key recorded for trustee 1 in round r1" in capsys.readouterr().err
    assert _decrypt(tmp_path / "nowhere", key_files[1], tmp_path / "s.json") == 2
    assert "no such bundle" in capsys.readouterr().err
    (tmp_path / "s.json").write_text("{}")
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json") == 2
    assert "file exists, it is not overwritten" in capsys.readouterr().err
    assert (tmp_path / "s.json").read_text() == "{}"


def test_decrypt_no_longer_takes_an_aggregates_file(tmp_path, key_files, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["trustee", "decrypt", "--key", str(key_files[1]), "--aggregates", "agg.json", "--out", "s.json"])
    assert exc.value.code == 2
    assert "--bundle" in capsys.readouterr().err


def test_k_of_n_two_of_three_trustees_decrypt_the_recomputed_aggregates(engine, tmp_path, capsys):
    sc = rs.build(engine, tmp_path / "b", k_of_n=True)
    for j in (1, 3):  # trustee 2 is absent
        write_json(str(tmp_path / f"k{j}.json"), key_file(j, "ctx", sc.secrets[j], 2, PASSPHRASE.encode()),
                   private=True)
        assert _decrypt(tmp_path / "b", tmp_path / f"k{j}.json", tmp_path / f"s{j}.json") == 0
    close = [json.loads(line) for line in (tmp_path / "b" / "entries.jsonl").read_text().splitlines()][-1]
    agg = tally.Aggregates.from_json(close["body"]["aggregates"])
    shares = [json.loads((tmp_path / f"s{j}.json").read_text()) for j in (1, 3)]
    assert [(r.heads, r.area) for r in rs.combine(sc, agg, shares)] == [(rs.HEADS, rs.AREA)]
    # trustee 2's secret under trustee 3's number is not trustee 3's recorded key X_3
    write_json(str(tmp_path / "bad.json"), key_file(3, "ctx", sc.secrets[2], 2, PASSPHRASE.encode()), private=True)
    assert _decrypt(tmp_path / "b", tmp_path / "bad.json", tmp_path / "s.json") == 2
    assert "this key is not the key recorded for trustee 3 in round r1" in capsys.readouterr().err


def test_decrypt_with_a_wrong_passphrase_is_refused_after_verification(engine, tmp_path, key_files, capsys,
                                                                      monkeypatch):
    rs.build(engine, tmp_path / "b")
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "wrong passphrase")
    assert _decrypt(tmp_path / "b", key_files[1], tmp_path / "s.json") == 2
    assert "wrong passphrase or damaged key file" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
