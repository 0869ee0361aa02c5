"""web/static/verify/ledger.js agrees with the Python ledger (node; skipped without it).

- every inclusion and consistency vector of transparency-dev/merkle (tests/vectors/merkle, the
  copy of ../shared/vectors/merkle) gives the same verdict as ledger.proof;
- the Merkle root of n entries (treeHash) is ledger.tree's for n = 0 … 70;
- real checkpoints signed by ledger.checkpoint (keys whose base64 holds '+' included) open with
  their verifier key, and refuse another origin, a changed root, another key;
- a real receipt (ledger.receipt.build_receipt) verifies and a changed one does not;
- entries: canonical bytes accepted, a reordered or spaced entry refused.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger import checkpoint, keys, log, note, receipt
from ledger.db import transaction
from ledger.tree import leaf_hash

ROOT = Path(__file__).resolve().parents[2]
LEDGER_JS = ROOT / "web" / "static" / "verify" / "ledger.js"
VECTORS = ROOT / "tests" / "vectors" / "merkle" / "testdata"

SCRIPT = r"""
import { readFileSync } from 'node:fs';
const L = await import(process.argv[2]);
const input = JSON.parse(readFileSync(0, 'utf8'));
const b = (s) => Uint8Array.from(Buffer.from(s || '', 'base64'));
const out = {};
const verdict = (f) => { try { f(); return 'ok'; } catch (e) { return e.kind || ('crash: ' + e.message); } };
out.inclusion = input.inclusion.map((v) => verdict(() => {
  const root = L.rootFromInclusion(v.leafIdx, v.treeSize, b(v.leafHash), (v.proof || []).map(b));
  if (!L.bytesEqual(root, b(v.root))) throw new L.RecordError('proof', 'other root');
}));
out.consistency = input.consistency.map((v) => verdict(() =>
  L.verifyConsistency(v.size1, v.size2, b(v.root1), b(v.root2), (v.proof || []).map(b))));
out.roots = input.leaves.map((_, n) => L.toHex(L.treeHash(input.leaves.slice(0, n).map((h) => L.fromHex(h)))));
out.checkpoints = input.checkpoints.map((c) => verdict(() => {
  const cp = L.openCheckpoint(c.note, L.parseVkey(c.vkey), c.origin);
  if (cp.size !== c.size || L.toHex(cp.root) !== c.root) throw new L.RecordError('wrong', 'size or root');
}));
out.receipts = input.receipts.map((r) => verdict(() => L.verifyReceipt(r.receipt, L.parseVkey(r.vkey))));
out.entries = input.entries.map((t) => verdict(() => L.parseEntryLine(new TextEncoder().encode(t), null)));
process.stdout.write(JSON.stringify(out));
"""


def _node(tmp_path: Path, data: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "check.mjs"
    script.write_text(SCRIPT, "utf-8")
    done = subprocess.run([node, str(script), LEDGER_JS.as_uri()], input=json.dumps(data), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _vectors(kind: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((VECTORS / kind).rglob("*.json"))]


def _signer_with_plus() -> keys.LogKey:
    """A log key whose verifier key's base64 holds a '+' (the JS must not split the key there)."""
    for i in range(1000):
        signer = note.Signer("gongjue.local", note.ED25519, bytes([i % 256, i // 256]) + bytes(30))
        if "+" in signer.verifier.vkey.split("+", 2)[2]:
            return keys.LogKey(signer)
    raise AssertionError("no key with '+' found")


def test_ledger_js_agrees_with_the_python_ledger(engine, tmp_path):
    inclusion, consistency = _vectors("inclusion"), _vectors("consistency")
    assert len(inclusion) == 98 and len(consistency) == 98
    leaves = [leaf_hash(f"entry {i}".encode()).hex() for i in range(70)]

    origin = "gongjue.local/maple-court"
    signers = [keys.log_key(), _signer_with_plus()]
    cps, receipts = [], []
    for k, signer in enumerate(signers):
        with transaction(engine) as s:
            lid = log.create_log(s, f"{origin}{k}").id
            for i in range(5):
                log.append(s, lid, "test", {"i": i})
            signed = checkpoint.sign(s, lid, signer)
            vkey = signer.vkey
            cps.append({"note": signed, "vkey": vkey, "origin": f"{origin}{k}", "size": 5,
                        "root": base64.b64decode(signed.split("\n")[2]).hex(), "want": "ok"})
            good = receipt.build_receipt(s, lid, 3)
        receipts.append({"receipt": good, "vkey": vkey, "want": "ok"})
        changed = dict(good, entry=good["entry"].replace('"i":3', '"i":4'))
        receipts.append({"receipt": changed, "vkey": vkey, "want": "receipt"})
        rehashed = dict(changed, leaf_hash=leaf_hash(changed["entry"].encode()).hex())
        receipts.append({"receipt": rehashed, "vkey": vkey, "want": "proof"})
    good = cps[0]
    cps.append(dict(good, origin="gongjue.local/elsewhere", want="checkpoint"))
    body, _, sigs = good["note"].partition("\n\n")
    lines = body.split("\n")
    cps.append(dict(good, note=f"{lines[0]}\n{lines[1]}\n{base64.b64encode(bytes(32)).decode()}\n\n{sigs}",
                    want="signature"))
    cps.append(dict(good, vkey=cps[1]["vkey"], want="signature"))  # another key
    receipts.append({"receipt": receipts[0]["receipt"], "vkey": cps[1]["vkey"], "want": "signature"})

    entry = '{"body":{"i":1},"prev":"' + "0" * 64 + '","seq":0,"time":"2026-11-23T08:00:00Z","type":"test"}'
    entries = [entry, entry.replace('{"body":{"i":1},', '{ "body":{"i":1},'),
               '{"prev":"' + "0" * 64 + '","body":{"i":1},"seq":0,"time":"2026-11-23T08:00:00Z","type":"test"}',
               entry.replace('"i":1', '"i":1.0')]

    out = _node(tmp_path, {"inclusion": inclusion, "consistency": consistency, "leaves": leaves,
                           "checkpoints": cps, "receipts": receipts, "entries": entries})

    assert [r == "ok" for r in out["inclusion"]] == [not v["wantErr"] for v in inclusion]
    assert [r == "ok" for r in out["consistency"]] == [not v["wantErr"] for v in consistency]
    assert not any(r.startswith("crash") for r in out["inclusion"] + out["consistency"])
    assert out["roots"] == [_mth([bytes.fromhex(h) for h in leaves[:n]]).hex() for n in range(70)]
    assert out["checkpoints"] == [c["want"] for c in cps]
    assert out["receipts"] == [r["want"] for r in receipts]
    assert out["entries"] == ["ok", "entry", "entry", "entry"]


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written out recursively (independent of ledger.tree's stored hashes)."""
    import hashlib

    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()
