"""The shared crypto vectors (tests/vectors/crypto) against Python and, through node, the browser module.

Python: the files equal a fresh run of the generator (so neither the files nor the Python code
drifted), every valid vector is reproduced and verifies, every invalid one is refused for its
stated reason.  JavaScript: ``node tests/js/check_vectors.mjs`` must pass every vector; it is
skipped only when node is absent and GONGJUE_REQUIRE_NODE is not "1".
"""

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from identity import credential
from voting.crypto import ballot, elgamal, group
from voting.crypto.ballot import BallotError, ItemShape, Reveal
from voting.crypto.drbg import TestDRBG
from voting.crypto.transcript import challenge

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "crypto"
CHECKER = ROOT / "tests" / "js" / "check_vectors.mjs"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text("utf-8"))


def shapes(items: list[dict]) -> list[ItemShape]:
    return [ItemShape(i["id"], i["n"], i["lo"], i["hi"]) for i in items]


def _generator():
    spec = importlib.util.spec_from_file_location("make_crypto_vectors", ROOT / "tests/vectors/make_crypto_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_files_equal_a_fresh_generation():
    gen = _generator()
    built = gen.build()
    assert sorted(built) == sorted(p.name for p in VECTORS.glob("*.json"))
    for name, doc in built.items():
        assert (VECTORS / name).read_text("utf-8") == gen.render(doc), f"{name} is stale: rerun the generator"


def test_vector_coverage():
    b, inv = load("ballots.json"), load("invalid.json")
    names = {c["name"] for c in b["secret"]}
    assert {"motion", "choice-of-3", "election-seats-2", "compound"} <= names
    reasons = {c["reason"] for c in inv["ballots"]}
    assert reasons == {"point", "identity", "voter", "proof", "scalar", "signature", "round", "structure", "count",
                       "kind", "json"}
    assert len(inv["ballots"]) == 35 and len(inv["reveals"]) == 3
    assert [c.get("for") for c in b["open"]] == [None, "代理-0042"]  # the proxy's open ballot names its voter
    assert {c["secrecy"] for c in inv["ballots"]} == {"secret", "open"}
    assert len(b["fingerprints"]) == 5


def _fingerprint(r: dict) -> bytes:
    return ballot.round_fingerprint(origin=r["origin"], round_id=r["round_id"], secrecy=r["secrecy"],
                                    agenda=r["agenda"], rules=r["rules"], roll=r["roll"],
                                    joint_key=None if r["joint_key"] is None else bytes.fromhex(r["joint_key"]))


def test_round_fingerprints():
    b = load("ballots.json")
    for r in b["fingerprints"]:
        assert _fingerprint(r).hex() == r["fingerprint"]
    for d in b["secret"] + b["open"]:
        assert _fingerprint(d["round"]).hex() == d["fingerprint"]


def test_credentials():
    v = load("credentials.json")
    assert v["alphabet"] == credential.ALPHABET
    for d in v["derivations"]:
        code = credential.normalise_code(d["input"])
        assert code == d["code"] and credential.format_code(code) == d["printed"]
        assert credential.derive_seed(d["input"], d["origin"]).hex() == d["seed"]
        assert credential.public_key_hex(code, d["origin"]) == d["public_key"]
    kinds = set()
    for r in v["refusals"]:
        with pytest.raises(credential.CodeError) as e:
            credential.normalise_code(r["input"])
        assert (e.value.kind, str(e.value)) == (r["kind"], r["message"])
        kinds.add(r["kind"])
    assert kinds == {"character", "length", "check"}


def test_group():
    v = load("group.json")
    for d in v["drbg"]:
        rand = TestDRBG(bytes.fromhex(d["seed"]))
        assert [group.scalar_to_hex(rand()) for _ in d["scalars"]] == d["scalars"]
    for d in v["challenges"]:
        fields = [bytes.fromhex(f["bytes"]) if "bytes" in f else f.get("text", f.get("int")) for f in d["fields"]]
        assert group.scalar_to_hex(challenge(d["tag"], *fields)) == d["c"]
    for d in v["base_mul"]:
        assert group.base_mul(group.scalar_from_hex(d["k"])).hex() == d["point"]
    for d in v["points"]:
        try:
            group.point_from_hex(d["hex"], allow_identity=d["allow_identity"])
            ok = True
        except group.GroupError:
            ok = False
        assert ok == d["valid"], d["why"]
    for d in v["scalars"]:
        try:
            group.scalar_from_hex(d["hex"])
            ok = True
        except group.GroupError:
            ok = False
        assert ok == d["valid"], d["hex"]
    for d in v["elgamal"]:
        ct = elgamal.encrypt(d["m"], group.scalar_from_hex(d["r"]), bytes.fromhex(d["joint_key"]))
        assert (ct.alpha.hex(), ct.beta.hex()) == (d["alpha"], d["beta"])


def test_secret_ballots():
    for d in load("ballots.json")["secret"]:
        key = credential.signing_key(d["code"], d["origin"])
        k, fp = bytes.fromhex(d["joint_key"]), bytes.fromhex(d["fingerprint"])
        assert group.add_all(group.base_mul(group.scalar_from_hex(s)) for s in d["trustee_secrets"]) == k
        signed, reveal = ballot.encrypt_ballot(fingerprint=fp, joint_key=k, items=shapes(d["items"]),
                                               choices=d["choices"], signing_key=key,
                                               rand=TestDRBG(bytes.fromhex(d["drbg_seed"])))
        assert signed == d["signed"] and reveal.to_json() == d["reveal"]
        assert ballot.tracking_code(signed) == (d["tracking"]["full"], d["tracking"]["short"])
        verified = ballot.verify_ballot(d["signed"], fingerprint=fp, joint_key=k, items=shapes(d["items"]),
                                        voter_key=bytes.fromhex(d["voter_key"]))
        assert verified.tracking == d["tracking"]["full"]
        assert ballot.check_reveal(d["signed"], Reveal.from_json(d["reveal"]), joint_key=k,
                                   items=shapes(d["items"])) == d["choices"]


def test_open_ballots():
    for d in load("ballots.json")["open"]:
        key = credential.signing_key(d["code"], d["origin"])
        fp = bytes.fromhex(d["fingerprint"])
        signed = ballot.make_open_ballot(fingerprint=fp, items=shapes(d["items"]), choices=d["choices"], signing_key=key,
                                         for_voter=d.get("for"))
        assert signed == d["signed"] and signed["ballot"].get("for") == d.get("for")
        verified = ballot.verify_open_ballot(d["signed"], fingerprint=fp, items=shapes(d["items"]))
        assert verified.tracking == d["tracking"]["full"]


def test_invalid_ballots_are_refused_for_their_reason():
    gen = _generator()
    for d in load("invalid.json")["ballots"]:
        with pytest.raises(BallotError) as e:
            gen.verify_any(d)
        assert d["python_match"] in str(e.value), d["name"]


def test_invalid_reveals_are_refused():
    for d in load("invalid.json")["reveals"]:
        with pytest.raises(BallotError) as e:
            ballot.check_reveal(d["signed"], Reveal.from_json(d["reveal"]), joint_key=bytes.fromhex(d["joint_key"]),
                                items=shapes(d["items"]))
        assert d["python_match"] in str(e.value), d["name"]


def test_browser_module_passes_every_vector():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("GONGJUE_REQUIRE_NODE") == "1":
            pytest.fail("GONGJUE_REQUIRE_NODE=1 but node is not installed")
        pytest.skip("node is not installed")
    done = subprocess.run([node, str(CHECKER)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    c, g, b, inv = load("credentials.json"), load("group.json"), load("ballots.json"), load("invalid.json")
    expected = (1 + len(c["derivations"]) + len(c["refusals"])
                + sum(len(g[k]) for k in ("drbg", "challenges", "base_mul", "points", "scalars", "elgamal"))
                + 4 * len(b["secret"]) + 3 * len(b["open"]) + len(b["fingerprints"])
                + len(inv["ballots"]) + len(inv["reveals"]))
    assert done.stdout.strip().splitlines()[-1] == f"gongjue-crypto.js vectors: {expected} passed, 0 failed"
    # and the commitment-carrying proofs altered and re-signed (moved commitment, changed response,
    # identity or non-canonical commitment, missing commitments): every one refused, naming the check
    tampered = done.stdout.strip().splitlines()[-2]
    assert tampered.startswith("tampered proofs: ") and tampered.endswith(" passed, 0 failed"), tampered
    assert int(tampered.split()[2]) >= 18


def test_browser_checker_fails_on_a_wrong_vector(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    for f in VECTORS.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    doc = load("ballots.json")
    doc["secret"][0]["tracking"]["short"] = "0000-0000-0000"
    (tmp_path / "ballots.json").write_text(json.dumps(doc), "utf-8")
    done = subprocess.run([node, str(CHECKER), str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    assert "FAIL ballots / motion: encrypt: short: got" in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith(" passed, 2 failed")


NORMALISE_JS = """
import { readFileSync } from 'node:fs';
import * as gc from './web/static/booth/gongjue-crypto.js';
const inputs = JSON.parse(readFileSync(0, 'utf8'));
const out = inputs.map((text) => {
  try { return {code: gc.normaliseCode(text)}; } catch (e) { return {kind: e.kind, message: e.message}; }
});
process.stdout.write(JSON.stringify(out));
"""


def _python_normalise(text: str) -> dict:
    try:
        return {"code": credential.normalise_code(text)}
    except credential.CodeError as e:
        return {"kind": e.kind, "message": str(e)}


def test_normalise_agrees_with_the_browser_module_on_random_input():
    """Random near-codes (typos, confusables, separators, odd Unicode) give the same result in both."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("GONGJUE_REQUIRE_NODE") == "1":
            pytest.fail("GONGJUE_REQUIRE_NODE=1 but node is not installed")
        pytest.skip("node is not installed")
    import random

    rng = random.Random(20261123)
    noise = list(credential.ALPHABET.lower()) + list("0OoIi1Ll -\t\n\u3000\u00a0\u200b－Ａ，é_ß🙂")
    inputs = []
    for _ in range(400):
        code = credential.format_code(credential.generate_code(lambda n: bytes([rng.randrange(256)])))
        chars = list(code)
        for _ in range(rng.choice([0, 0, 1, 2])):
            action, at = rng.randrange(3), rng.randrange(len(chars) + 1)
            if action == 0:
                chars.insert(at, rng.choice(noise + list(credential.ALPHABET)))
            elif chars and at < len(chars):
                if action == 1:
                    chars[at] = rng.choice(noise + list(credential.ALPHABET))
                else:
                    del chars[at]
        inputs.append("".join(chars))
    done = subprocess.run([node, "--input-type=module", "-e", NORMALISE_JS], input=json.dumps(inputs),
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    py = [_python_normalise(t) for t in inputs]
    assert js == py
    assert {r.get("kind", "ok") for r in py} == {"ok", "character", "length", "check"}


CANONICAL_JS = """
import { readFileSync } from 'node:fs';
import * as gc from './web/static/booth/gongjue-crypto.js';
const values = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(values.map((v) => gc.canonicalJson(v))));
"""


def test_canonical_json_agrees_with_rfc8785():
    """canonicalJson in the browser equals the rfc8785 package on tricky strings, keys and integers."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("GONGJUE_REQUIRE_NODE") == "1":
            pytest.fail("GONGJUE_REQUIRE_NODE=1 but node is not installed")
        pytest.skip("node is not installed")
    import random

    import rfc8785

    rng = random.Random(8785)
    pieces = ["a", "B", "é", "选举", "\u0000", "\u001f", "\u007f", "\"", "\\", "/", "\u2028", "😀", "\ue000", "\t"]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(6)))

    def value(depth: int):
        kind = rng.randrange(7 if depth < 3 else 4)
        if kind == 0:
            return text()
        if kind == 1:
            return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randrange(-10**9, 10**9)])
        if kind == 2:
            return rng.choice([True, False, None])
        if kind == 3:
            return text()
        if kind in (4, 5):
            return {text(): value(depth + 1) for _ in range(rng.randrange(5))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    values = [{"\U0001f600": 1, "\ue000": 2, "z": 3, "é": 4, "": 5, "10": 6, "9": 7}] + [value(0) for _ in range(300)]
    done = subprocess.run([node, "--input-type=module", "-e", CANONICAL_JS], input=json.dumps(values),
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [rfc8785.dumps(v).decode("utf-8") for v in values]


STRICT_JS = """
import { readFileSync } from 'node:fs';
import * as gc from './web/static/booth/gongjue-crypto.js';
const texts = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map((t) => {
  try { return {value: gc.canonicalJson(gc.parseStrictJson(t))}; } catch (e) { return {refused: e.kind}; }
})));
"""


def test_strict_json_agrees_with_the_browser_module_on_random_text():
    """Python's strictjson and the module's parseStrictJson accept and refuse the same texts (SPEC §1)."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("GONGJUE_REQUIRE_NODE") == "1":
            pytest.fail("GONGJUE_REQUIRE_NODE=1 but node is not installed")
        pytest.skip("node is not installed")
    import random

    import rfc8785

    from voting.crypto import strictjson

    rng = random.Random(1053)
    atoms = ['1', '-1', '0', '-0', '1.0', '1e0', '1E+2', '01', '9007199254740991', '9007199254740992',
             '-9007199254740992', '"a"', '"\\ud800"', '"\\ud83d\\ude00"', '"é"', 'true', 'null', 'NaN', '[]', '{}',
             '"\\u0000"', '"\\x"', '2.5e-3', '-', '1.', '.5']
    keys = ['"a"', '"b"', '"__proto__"', '"\\u0061"', '""']

    def value(depth: int) -> str:
        kind = rng.randrange(4 if depth < 3 else 1)
        if kind == 0:
            return rng.choice(atoms)
        if kind == 1:
            return "[" + ", ".join(value(depth + 1) for _ in range(rng.randrange(4))) + "]"
        pairs = [f"{rng.choice(keys)}: {value(depth + 1)}" for _ in range(rng.randrange(4))]
        return "{" + ",".join(pairs) + "}"

    texts = [value(0) for _ in range(500)]
    texts += [" " + t + "\n" for t in texts[:20]] + ["\ufeff{}", "{} {}", "", " ", "[1,]", '{"a":1,}', "\t[\r]"]
    done = subprocess.run([node, "--input-type=module", "-e", STRICT_JS], input=json.dumps(texts),
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    py = []
    for t in texts:
        try:
            py.append({"value": rfc8785.dumps(strictjson.loads(t)).decode()})
        except strictjson.StrictJSONError:
            py.append({"refused": "json"})
    assert [(t, j) for t, j in zip(texts, js)] == [(t, p) for t, p in zip(texts, py)]
    outcomes = {("value" in p) for p in py}
    assert outcomes == {True, False} and sum("value" in p for p in py) > 50
