"""An independent verifier written from docs/SPEC.md §3 alone (hashlib, json, PyNaCl bindings).

It re-checks a ballot made by ``voting.crypto`` without importing the proof code, so the spec
text and the implementation cannot drift apart silently.
"""

import hashlib
import json

import nacl.bindings as nb
import nacl.signing

from voting.crypto import ballot as impl

L = 2**252 + 27742317777372353535851937790883648493
O = b"\x01" + bytes(31)


def enc(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def challenge(tag: str, *fields) -> int:
    raw = enc(tag.encode())
    for f in fields:
        raw += enc(f.encode() if isinstance(f, str) else f.to_bytes(4, "big") if isinstance(f, int) else f)
    return int.from_bytes(hashlib.sha512(raw).digest(), "little") % L


def mul(k: int, p: bytes) -> bytes:
    k %= L
    return O if k == 0 or p == O else nb.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), p)


def gmul(k: int) -> bytes:
    k %= L
    return O if k == 0 else nb.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little"))


def sub(p: bytes, q: bytes) -> bytes:
    return nb.crypto_core_ed25519_sub(p, q)


def scal(h: str) -> int:
    v = int.from_bytes(bytes.fromhex(h), "little")
    assert v < L
    return v


def spec_verify(signed: dict, fp: bytes, k: bytes, shapes: list[tuple[str, int, int, int]]) -> str:
    body = signed["ballot"]
    jcs = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    nacl.signing.VerifyKey(bytes.fromhex(body["voter"])).verify(b"gongjue/v1/ballot\x00" + jcs,
                                                               bytes.fromhex(signed["sig"]))
    assert body["v"] == 1 and body["kind"] == "secret" and body["round"] == fp.hex()
    voter = bytes.fromhex(body["voter"])
    g = gmul(1)
    for (item_id, n, lo, hi), item in zip(shapes, body["items"], strict=True):
        assert item["id"] == item_id and len(item["selections"]) == n
        a_sum, b_sum = O, O
        for index, sel in enumerate(item["selections"]):
            alpha, beta = bytes.fromhex(sel["alpha"]), bytes.fromhex(sel["beta"])
            assert nb.crypto_core_ed25519_is_valid_point(alpha) and nb.crypto_core_ed25519_is_valid_point(beta)
            c = [scal(x) for x in sel["proof"]["c"]]
            z = [scal(x) for x in sel["proof"]["z"]]
            commit = []
            for v in (0, 1):
                commit.append(sub(gmul(z[v]), mul(c[v], alpha)))
                commit.append(sub(mul(z[v], k), mul(c[v], sub(beta, gmul(v)))))
            assert (c[0] + c[1]) % L == challenge("gongjue/v1/bit", fp, voter, item_id, index, k, alpha, beta, *commit)
            a_sum, b_sum = nb.crypto_core_ed25519_add(a_sum, alpha), nb.crypto_core_ed25519_add(b_sum, beta)
        cp = item["count_proof"]
        assert (cp["lo"], cp["hi"]) == (lo, hi)
        cs, zs = [scal(x) for x in cp["c"]], [scal(x) for x in cp["z"]]
        commit = []
        for i, v in enumerate(range(lo, hi + 1)):
            commit.append(sub(gmul(zs[i]), mul(cs[i], a_sum)))
            commit.append(sub(mul(zs[i], k), mul(cs[i], sub(b_sum, gmul(v)))))
        assert sum(cs) % L == challenge("gongjue/v1/count", fp, voter, item_id, lo, hi, k, a_sum, b_sum, *commit)
    full = hashlib.sha256(json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return full.hexdigest()


def test_spec_verifier_accepts_what_the_implementation_makes():
    k = gmul(424242)
    fp = hashlib.sha256(b"round").digest()
    shapes = [("动议", 3, 1, 1), ("election", 4, 0, 3)]
    items = [impl.ItemShape(*s) for s in shapes]
    key = nacl.signing.SigningKey(bytes(range(32)))
    for choices in ({"动议": [0, 0, 1], "election": [0, 0, 0, 0]}, {"动议": [1, 0, 0], "election": [1, 1, 0, 1]}):
        signed, _ = impl.encrypt_ballot(fingerprint=fp, joint_key=k, items=items, choices=choices, signing_key=key)
        assert spec_verify(signed, fp, k, shapes) == impl.verify_ballot(
            signed, fingerprint=fp, joint_key=k, items=items).tracking
