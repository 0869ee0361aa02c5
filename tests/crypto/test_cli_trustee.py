"""``gongjue trustee`` key files and the k-of-n ceremony through the CLI (SPEC §3.7, §3.10).

Decryption from a round's bundle (``gongjue trustee decrypt``) is tested in
tests/voting/test_trustee_cli.py; here: ``keygen``, ``load_key`` (what ``decrypt`` reads the key
with) refusing every malformed key file with exit status 2 and a clear message, and the DKG
ceremony's steps, including the forged-share attack of issue #7.3.
"""

import json

import nacl.public
import nacl.pwhash
import nacl.secret
import nacl.signing
import pytest

from voting.crypto import ballot, dkg, group, tally, trustee
from voting.crypto.ballot import ItemShape
from web.cli import keyfiles, main
from web.cli.keyfiles import Refused, key_file, load_key, write_json

FP = bytes([3]) * 32
CTX = "gongjue.local/maple-court/r7"
ITEMS = [ItemShape("m", 3, 1, 1)]
PASSPHRASE = "correct horse battery"
FAST = (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", PASSPHRASE)
    # the smallest parameters the files may carry, to keep the suite quick
    monkeypatch.setattr(keyfiles, "OPSLIMIT", FAST[0])
    monkeypatch.setattr(keyfiles, "MEMLIMIT", FAST[1])


def _load_via_cli(path, capsys, **kw) -> tuple[int, str]:
    """load_key as ``gongjue trustee decrypt`` runs it: through ``run`` (Refused → exit 2)."""
    status = keyfiles.run(lambda _args: load_key(str(path), **kw) and 0)(None)
    return status, capsys.readouterr().err


def _aggregates(joint_key):
    verified = []
    for i, (choice, w) in enumerate([([1, 0, 0], 8850), ([0, 0, 1], 12000), ([1, 0, 0], 6543)]):
        key = nacl.signing.SigningKey(bytes([i + 1]) * 32)
        signed, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=joint_key, items=ITEMS, choices={"m": choice},
                                          signing_key=key)
        verified.append((ballot.verify_ballot(signed, fingerprint=FP, joint_key=joint_key, items=ITEMS), w))
    return tally.tally_secret(verified, fingerprint=FP, items=ITEMS)


def _decrypt(agg, keys, ts):
    shares = []
    for path in keys:
        j, secret = load_key(str(path))
        shares.append(trustee.verify_shares(trustee.compute_shares(secret, j, agg), aggregates=agg, trustees=ts))
    return trustee.combine(agg, shares, trustees=ts)


def test_n_of_n_keygen_and_key_files(tmp_path, capsys):
    publics = []
    for j in (1, 2):
        assert main(["trustee", "keygen", "--trustee", str(j), "--context", CTX,
                     "--out", str(tmp_path / f"k{j}.json"), "--public", str(tmp_path / f"p{j}.json")]) == 0
        publics.append(trustee.verify_public_key(json.loads((tmp_path / f"p{j}.json").read_text()), context=CTX))
    kf = json.loads((tmp_path / "k1.json").read_text())
    assert kf["kdf"]["alg"] == "argon2id" and "secret" not in json.dumps(kf)
    assert (tmp_path / "k1.json").stat().st_mode & 0o777 == 0o600
    ts = trustee.trustee_set(publics)
    result = _decrypt(_aggregates(ts.joint_key), [tmp_path / "k1.json", tmp_path / "k2.json"], ts)
    assert result[0].heads == (2, 0, 1) and result[0].area == (15393, 0, 12000)
    capsys.readouterr()
    assert main(["trustee", "keygen", "--trustee", "1", "--context", CTX, "--out", str(tmp_path / "k1.json")]) == 2
    assert "file exists, a key is never overwritten" in capsys.readouterr().err


@pytest.fixture()
def good_key(tmp_path):
    path = tmp_path / "key.json"
    write_json(str(path), key_file(4, CTX, 987654321, None, PASSPHRASE.encode()), private=True)
    return path


def _rewrite(path, change) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def test_load_key_reads_a_good_file(good_key, capsys):
    assert load_key(str(good_key)) == (4, 987654321)
    assert load_key(str(good_key), context=CTX) == (4, 987654321)
    status, err = _load_via_cli(good_key, capsys, context=CTX + "/other")
    assert status == 2 and "key made for ceremony" in err


def test_key_match_check(good_key, capsys):
    """A key file whose clear public key is not the sealed secret's is refused (SPEC §3.7)."""
    _rewrite(good_key, lambda o: o.__setitem__("key", group.base_mul(5).hex()))
    status, err = _load_via_cli(good_key, capsys)
    assert status == 2
    assert err == f"gongjue trustee: {good_key}: 私钥与公钥不符 / private key does not match the public key\n"


def _reseal(path, ops, mem) -> None:
    """Re-seal the secret of a key file under the right passphrase with the given KDF parameters."""
    obj = json.loads(path.read_text())
    secret = keyfiles.open_secret(obj, PASSPHRASE.encode())
    salt = bytes(16)
    key = nacl.pwhash.argon2id.kdf(32, PASSPHRASE.encode(), salt, opslimit=ops, memlimit=mem)
    obj["box"] = bytes(nacl.secret.SecretBox(key).encrypt(json.dumps(secret).encode())).hex()
    obj["kdf"] = {"alg": "argon2id", "salt": salt.hex(), "opslimit": ops, "memlimit": mem}
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize("ops, mem", [
    (1, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),        # too few passes: a weak file decrypts without the check
    (2, nacl.pwhash.argon2id.MEMLIMIT_MIN),                # too little memory: likewise
    (17, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),       # above the bound: refused before the KDF runs
])
def test_kdf_bounds_check(good_key, capsys, ops, mem):
    if ops <= 16:
        _reseal(good_key, ops, mem)
    else:
        _rewrite(good_key, lambda o: o["kdf"].update(opslimit=ops, memlimit=mem))
    status, err = _load_via_cli(good_key, capsys)
    assert status == 2
    assert "密钥派生参数超出范围 / key file: unsupported key-derivation parameters (opslimit 2..16, " \
           "memlimit 67108864..1073741824 bytes)" in err


@pytest.mark.parametrize("change, message", [
    (lambda o: o.pop("trustee"), "missing field(s) trustee"),
    (lambda o: o.pop("kdf"), "missing field(s) kdf"),
    (lambda o: o.pop("box"), "missing field(s) box"),
    (lambda o: o.pop("key"), "missing field(s) key"),
    (lambda o: o.__setitem__("trustee", "4"), "field 'trustee' must be an integer in 1..65535"),
    (lambda o: o.__setitem__("trustee", True), "field 'trustee' must be an integer"),
    (lambda o: o.__setitem__("trustee", 0), "field 'trustee' must be an integer in 1..65535"),
    (lambda o: o.__setitem__("context", ""), "field 'context' must be a non-empty string"),
    (lambda o: o.__setitem__("threshold", "2"), "field 'threshold' must be an integer"),
    (lambda o: o.__setitem__("v", 2), "unsupported version"),
    (lambda o: o.__setitem__("key", "zz" * 32), "field 'key' must be a valid group element"),
    (lambda o: o.__setitem__("key", group.IDENTITY.hex()), "field 'key' must be a valid group element"),
    (lambda o: o.__setitem__("kdf", "argon2id"), "field 'kdf' must be an object"),
    (lambda o: o["kdf"].pop("salt"), "expected kdf {alg: argon2id, salt, opslimit, memlimit}"),
    (lambda o: o["kdf"].__setitem__("alg", "scrypt"), "expected kdf {alg: argon2id"),
    (lambda o: o["kdf"].__setitem__("salt", "00"), "field 'kdf.salt' must be 32 lowercase hex characters"),
    (lambda o: o["kdf"].__setitem__("opslimit", "3"), "unsupported key-derivation parameters"),
    (lambda o: o["kdf"].__setitem__("opslimit", True), "unsupported key-derivation parameters"),
    (lambda o: o["kdf"].__setitem__("memlimit", 2**40), "unsupported key-derivation parameters"),
    (lambda o: o.__setitem__("box", "not hex"), "field 'box' must be lowercase hex characters"),
    (lambda o: o.__setitem__("box", o["box"][:-2]), "wrong passphrase or damaged key file"),
    (lambda o: o.__setitem__("kind", "gongjue/dkg-state"), "not a trustee key file"),
])
def test_malformed_key_files_exit_2_with_a_message(good_key, capsys, change, message):
    _rewrite(good_key, change)
    status, err = _load_via_cli(good_key, capsys)
    assert status == 2, err
    assert err.startswith(f"gongjue trustee: {good_key}: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "expected a JSON object"), ("{", "not valid JSON"), ("", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_key_files_that_are_not_json_objects(tmp_path, capsys, text, message):
    path = tmp_path / "k.json"
    path.write_text(text)
    status, err = _load_via_cli(path, capsys)
    assert status == 2 and message in err
    status, err = _load_via_cli(tmp_path / "absent.json", capsys)
    assert status == 2 and "no such file" in err
    status, err = _load_via_cli(tmp_path, capsys)
    assert status == 2 and "is a directory" in err


def test_wrong_passphrase_and_short_passphrase(good_key, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "wrong passphrase")
    status, err = _load_via_cli(good_key, capsys)
    assert status == 2 and "口令错误或密钥文件已损坏 / wrong passphrase or damaged key file" in err
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", "short")
    assert main(["trustee", "keygen", "--trustee", "2", "--context", CTX, "--out", str(tmp_path / "k2.json")]) == 2
    assert "passphrase must have at least 8 characters" in capsys.readouterr().err


# --- the k-of-n ceremony --------------------------------------------------------------------


def _ceremony(tmp_path, n=3, k=2):
    for i in range(1, n + 1):
        assert main(["trustee", "dkg-start", "--trustee", str(i), "--trustees", str(n), "--threshold", str(k),
                     "--context", CTX, "--out", str(tmp_path / f"state{i}.json"),
                     "--public", str(tmp_path / f"pub{i}.json")]) == 0
    pubs = [str(tmp_path / f"pub{i}.json") for i in range(1, n + 1)]
    for i in range(1, n + 1):
        assert main(["trustee", "dkg-deal", "--state", str(tmp_path / f"state{i}.json"), "--publics", *pubs,
                     "--out", str(tmp_path / f"sealed{i}.json")]) == 0
    return pubs, [str(tmp_path / f"sealed{i}.json") for i in range(1, n + 1)]


def _finish(tmp_path, j, pubs, sealed, out=None) -> int:
    return main(["trustee", "dkg-finish", "--state", str(tmp_path / f"state{j}.json"), "--publics", *pubs,
                 "--sealed", *sealed, "--out", str(out or tmp_path / f"key{j}.json")])


def test_k_of_n_ceremony_and_decryption_with_a_missing_trustee(tmp_path, capsys):
    pubs, sealed = _ceremony(tmp_path)
    pub = json.loads((tmp_path / "pub1.json").read_text())
    assert set(pub["commitments"]) >= {"signing_key", "transport", "proof"}
    shares = json.loads((tmp_path / "sealed1.json").read_text())["shares"]
    assert set(shares) == {"1", "2", "3"} and all(set(s) == {"sealed", "sig"} for s in shares.values())
    capsys.readouterr()
    summaries = []
    for j in (1, 3):  # trustee 2 loses everything after dealing
        assert _finish(tmp_path, j, pubs, sealed) == 0
        summaries.append(json.loads(capsys.readouterr().out))
    assert summaries[0] == summaries[1] and summaries[0]["threshold"] == 2
    ts = trustee.TrusteeSet({int(j): bytes.fromhex(v) for j, v in summaries[0]["keys"].items()},
                            bytes.fromhex(summaries[0]["joint_key"]), 2)
    result = _decrypt(_aggregates(ts.joint_key), [tmp_path / "key1.json", tmp_path / "key3.json"], ts)
    assert result[0].heads == (2, 0, 1) and result[0].area == (15393, 0, 12000)


def test_a_forged_share_is_refused_and_the_honest_dealer_is_not_named(tmp_path, capsys):
    """Issue #7.3: an outsider seals a bad share "from" honest trustee 2 to trustee 1."""
    pubs, sealed = _ceremony(tmp_path)
    transport1 = bytes.fromhex(json.loads((tmp_path / "pub1.json").read_text())["commitments"]["transport"])
    outsider = nacl.signing.SigningKey.generate()
    forged = json.loads((tmp_path / "sealed2.json").read_text())
    forged["shares"]["1"] = dkg.seal_share(12345, to=1, recipient=transport1, context=CTX, dealer=2,
                                           signing_key=outsider)
    (tmp_path / "sealed2.json").write_text(json.dumps(forged))
    capsys.readouterr()
    assert _finish(tmp_path, 1, pubs, sealed) == 2
    err = capsys.readouterr().err
    assert "伪造的份额，已拒绝（不归咎于监票人 2）" in err and "refused as forged (trustee 2 is not at fault)" in err
    assert "应将其排除" not in err and "does not match its commitments" not in err
    assert not (tmp_path / "key1.json").exists()
    # trustee 2's genuine signature copied onto the forged ciphertext does not help
    genuine = json.loads((tmp_path / "sealed3.json").read_text())["shares"]["1"]
    forged["shares"]["1"]["sig"] = genuine["sig"]
    (tmp_path / "sealed2.json").write_text(json.dumps(forged))
    assert _finish(tmp_path, 1, pubs, sealed) == 2
    assert "refused as forged (trustee 2 is not at fault)" in capsys.readouterr().err


def test_a_dealers_own_bad_share_names_that_dealer(tmp_path, capsys):
    """A share really signed by dealer 2 that fails its commitments names dealer 2 for exclusion."""
    pubs, sealed = _ceremony(tmp_path)
    # dealer 2 seals and signs a share that is not f_2(1), with its own signing key
    state = json.loads((tmp_path / "state2.json").read_text())
    secret = keyfiles.open_secret(state, PASSPHRASE.encode())
    signing = nacl.signing.SigningKey(bytes.fromhex(secret["signing"]))
    transport1 = bytes.fromhex(json.loads((tmp_path / "pub1.json").read_text())["commitments"]["transport"])
    bad = json.loads((tmp_path / "sealed2.json").read_text())
    bad["shares"]["1"] = dkg.seal_share(12345, to=1, recipient=transport1, context=CTX, dealer=2, signing_key=signing)
    (tmp_path / "sealed2.json").write_text(json.dumps(bad))
    capsys.readouterr()
    assert _finish(tmp_path, 1, pubs, sealed) == 2
    err = capsys.readouterr().err
    assert "监票人 2 的份额无效，应将其排除 / share from trustee 2 to trustee 1 does not match its commitments" in err


def test_duplicate_trustee_check(tmp_path, capsys):
    pubs, sealed = _ceremony(tmp_path)
    capsys.readouterr()
    assert _finish(tmp_path, 1, [pubs[0], pubs[1], pubs[1], pubs[2]], sealed) == 2
    assert f"{pubs[1]}: 监票人 2 重复 / trustee 2 given twice" in capsys.readouterr().err
    assert main(["trustee", "dkg-deal", "--state", str(tmp_path / "state1.json"), "--publics", pubs[0], pubs[0],
                 pubs[1], pubs[2], "--out", str(tmp_path / "again.json")]) == 2
    assert "trustee 1 given twice" in capsys.readouterr().err
    assert _finish(tmp_path, 1, pubs, [sealed[0], sealed[1], sealed[1]]) == 2
    assert "shares of trustee 2 given twice" in capsys.readouterr().err
    assert _finish(tmp_path, 1, pubs, sealed[:2]) == 2
    assert "no share file from trustee(s) [3]" in capsys.readouterr().err
    assert _finish(tmp_path, 1, pubs[:2], sealed) == 2
    assert "need the public files of trustees 1..3" in capsys.readouterr().err


@pytest.mark.parametrize("target, change, message", [
    ("state1.json", lambda o: o.pop("context"), "field 'context' is missing"),
    ("state1.json", lambda o: o.__setitem__("threshold", 9), "field 'threshold' must be an integer in 1..3"),
    ("state1.json", lambda o: o["kdf"].__setitem__("memlimit", 2**40), "unsupported key-derivation parameters"),
    ("pub2.json", lambda o: o["commitments"].pop("signing_key"), "expected v, context, trustee"),
    ("pub2.json", lambda o: o.__setitem__("trustees", 4), "made for a ceremony of 4 trustees"),
    ("pub2.json", lambda o: o.__setitem__("kind", "x"), "not a DKG public file"),
    ("pub2.json", lambda o: o["commitments"].__setitem__("transport", "00" * 31), "transport: expected 64"),
    ("sealed3.json", lambda o: o["shares"].pop("1"), "no share for trustee 1"),
    ("sealed3.json", lambda o: o.__setitem__("from", "3"), "shares from an unknown trustee '3'"),
    ("sealed3.json", lambda o: o["shares"]["1"].pop("sig"), "expected exactly sealed and sig"),
])
def test_malformed_ceremony_files_exit_2(tmp_path, capsys, target, change, message):
    pubs, sealed = _ceremony(tmp_path)
    _rewrite(tmp_path / target, change)
    capsys.readouterr()
    assert _finish(tmp_path, 1, pubs, sealed) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_public_file_that_is_not_the_states_own_is_refused(tmp_path, capsys):
    pubs, sealed = _ceremony(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert main(["trustee", "dkg-start", "--trustee", "1", "--trustees", "3", "--threshold", "2", "--context", CTX,
                 "--out", str(other / "state1.json"), "--public", str(other / "pub1.json")]) == 0
    capsys.readouterr()
    assert _finish(tmp_path, 1, [str(other / "pub1.json"), *pubs[1:]], sealed) == 2
    assert "the public file of trustee 1 is not this state's" in capsys.readouterr().err


def test_refused_is_what_run_reports():
    assert keyfiles.run(lambda _a: (_ for _ in ()).throw(Refused("x / y")))(None) == 2
