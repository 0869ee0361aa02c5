"""``gongjue trustee`` keygen / decrypt and the k-of-n ceremony, end to end through the CLI."""

import json

import nacl.signing
import pytest

from voting.crypto import ballot, tally, trustee
from voting.crypto.ballot import ItemShape
from web.cli import main

FP = bytes([3]) * 32
CTX = "gongjue.local/maple-court/r7"
ITEMS = [ItemShape("m", 3, 1, 1)]


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "correct horse battery")


def _aggregates(joint_key, tmp_path):
    verified = []
    for i, (choice, w) in enumerate([([1, 0, 0], 8850), ([0, 0, 1], 12000), ([1, 0, 0], 6543)]):
        key = nacl.signing.SigningKey(bytes([i + 1]) * 32)
        signed, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=joint_key, items=ITEMS, choices={"m": choice},
                                          signing_key=key)
        verified.append((ballot.verify_ballot(signed, fingerprint=FP, joint_key=joint_key, items=ITEMS), w))
    agg = tally.tally_secret(verified, fingerprint=FP, items=ITEMS)
    path = tmp_path / "aggregates.json"
    path.write_text(json.dumps(agg.to_json()))
    return agg, path


def _combine(agg, share_paths, ts):
    shares = [trustee.verify_shares(json.loads(p.read_text()), aggregates=agg, trustees=ts) for p in share_paths]
    return trustee.combine(agg, shares, trustees=ts)


def test_n_of_n_keygen_and_decrypt(tmp_path, capsys):
    publics = []
    for j in (1, 2):
        assert main(["trustee", "keygen", "--trustee", str(j), "--context", CTX,
                     "--out", str(tmp_path / f"k{j}.json"), "--public", str(tmp_path / f"p{j}.json")]) == 0
        publics.append(trustee.verify_public_key(json.loads((tmp_path / f"p{j}.json").read_text()), context=CTX))
    key_file = json.loads((tmp_path / "k1.json").read_text())
    assert key_file["kdf"]["alg"] == "argon2id" and "secret" not in json.dumps(key_file)
    assert (tmp_path / "k1.json").stat().st_mode & 0o777 == 0o600
    ts = trustee.trustee_set(publics)
    agg, agg_path = _aggregates(ts.joint_key, tmp_path)
    for j in (1, 2):
        assert main(["trustee", "decrypt", "--key", str(tmp_path / f"k{j}.json"), "--aggregates", str(agg_path),
                     "--out", str(tmp_path / f"s{j}.json")]) == 0
    result = _combine(agg, [tmp_path / "s1.json", tmp_path / "s2.json"], ts)
    assert result[0].heads == (2, 0, 1) and result[0].area == (15393, 0, 12000)
    # refusals
    capsys.readouterr()
    assert main(["trustee", "keygen", "--trustee", "1", "--context", CTX, "--out", str(tmp_path / "k1.json")]) == 2
    assert "file exists, a key is never overwritten" in capsys.readouterr().err


def test_wrong_passphrase_and_bad_files_are_refused(tmp_path, capsys, monkeypatch):
    assert main(["trustee", "keygen", "--trustee", "1", "--context", CTX, "--out", str(tmp_path / "k.json")]) == 0
    public = json.loads(capsys.readouterr().out)
    ts = trustee.trustee_set([trustee.verify_public_key(public, context=CTX)])
    _, agg_path = _aggregates(ts.joint_key, tmp_path)
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "wrong passphrase")
    assert main(["trustee", "decrypt", "--key", str(tmp_path / "k.json"), "--aggregates", str(agg_path),
                 "--out", str(tmp_path / "s.json")]) == 2
    assert "口令错误或密钥文件已损坏 / wrong passphrase or damaged key file" in capsys.readouterr().err
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "short")
    assert main(["trustee", "keygen", "--trustee", "2", "--context", CTX, "--out", str(tmp_path / "k2.json")]) == 2
    assert "passphrase must have at least 8 characters" in capsys.readouterr().err
    assert main(["trustee", "decrypt", "--key", str(agg_path), "--aggregates", str(agg_path),
                 "--out", str(tmp_path / "s.json")]) == 2
    assert "not a trustee key file" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_k_of_n_ceremony_and_decryption_with_a_missing_trustee(tmp_path, capsys):
    n, k = 3, 2
    for i in range(1, n + 1):
        assert main(["trustee", "dkg-start", "--trustee", str(i), "--trustees", str(n), "--threshold", str(k),
                     "--context", CTX, "--out", str(tmp_path / f"state{i}.json"),
                     "--public", str(tmp_path / f"pub{i}.json")]) == 0
    pubs = [str(tmp_path / f"pub{i}.json") for i in range(1, n + 1)]
    for i in range(1, n + 1):
        assert main(["trustee", "dkg-deal", "--state", str(tmp_path / f"state{i}.json"), "--publics", *pubs,
                     "--out", str(tmp_path / f"sealed{i}.json")]) == 0
    sealed = [str(tmp_path / f"sealed{i}.json") for i in range(1, n + 1)]
    capsys.readouterr()
    summaries = []
    for j in (1, 3):  # trustee 2 loses everything after dealing
        assert main(["trustee", "dkg-finish", "--state", str(tmp_path / f"state{j}.json"), "--publics", *pubs,
                     "--sealed", *sealed, "--out", str(tmp_path / f"key{j}.json")]) == 0
        summaries.append(json.loads(capsys.readouterr().out))
    assert summaries[0] == summaries[1] and summaries[0]["threshold"] == 2
    ts = trustee.TrusteeSet({int(j): bytes.fromhex(v) for j, v in summaries[0]["keys"].items()},
                            bytes.fromhex(summaries[0]["joint_key"]), 2)
    agg, agg_path = _aggregates(ts.joint_key, tmp_path)
    for j in (1, 3):
        assert main(["trustee", "decrypt", "--key", str(tmp_path / f"key{j}.json"), "--aggregates", str(agg_path),
                     "--out", str(tmp_path / f"s{j}.json")]) == 0
    result = _combine(agg, [tmp_path / "s1.json", tmp_path / "s3.json"], ts)
    assert result[0].heads == (2, 0, 1) and result[0].area == (15393, 0, 12000)
    # a tampered share file is refused, naming the dealer
    bad = json.loads((tmp_path / "sealed2.json").read_text())
    other = json.loads((tmp_path / "sealed3.json").read_text())
    bad["shares"]["1"] = other["shares"]["1"]
    (tmp_path / "sealed2.json").write_text(json.dumps(bad))
    assert main(["trustee", "dkg-finish", "--state", str(tmp_path / "state1.json"), "--publics", *pubs,
                 "--sealed", *sealed, "--out", str(tmp_path / "key1b.json")]) == 2
    assert "share from trustee 2 to trustee 1 does not match its commitments" in capsys.readouterr().err
