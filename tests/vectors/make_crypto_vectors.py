"""Generate the shared crypto test vectors in tests/vectors/crypto/ from the Python implementation.

Run ``python tests/vectors/make_crypto_vectors.py`` from the repository root to rewrite the
files.  Every value comes from ``voting.crypto`` with the test DRBG (SPEC §3.9) and fixed seeds,
so the output is deterministic; ``tests/crypto_cross/test_vectors.py`` checks that the files
equal a fresh ``build()``, that Python accepts or rejects each case, and that the browser
module (``web/static/booth/gongjue-crypto.js``, through ``tests/js/check_vectors.mjs``)
reproduces every byte and every rejection.

Files:

- ``credentials.json``: typed code → normalised code, printed form, HKDF seed, Ed25519 public
  key; refused inputs with their exact message (SPEC §4).
- ``group.json``: test-DRBG outputs, challenge hashes, k·G, point and scalar validity, ElGamal
  encryptions (SPEC §3.1–3.3).
- ``ballots.json``: round fingerprints (SPEC §3.6) of rounds differing in one input each; full
  secret ballots (a motion, a choice of 3, an election with 2 seats, and all three together)
  and an open ballot: fixed inputs → exact signed ballot, tracking code and reveal (SPEC §3.6).
- ``invalid.json``: ballots every implementation must refuse, each re-signed after its
  mutation so the intended check is the one that fails, plus bad reveals.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nacl.bindings  # noqa: E402
import nacl.signing  # noqa: E402

from identity import credential  # noqa: E402
from voting.crypto import ballot, elgamal, group  # noqa: E402
from voting.crypto.ballot import BallotError, ItemShape  # noqa: E402
from voting.crypto.chaum_pedersen import prove_bit, prove_count  # noqa: E402
from voting.crypto.drbg import TestDRBG  # noqa: E402
from voting.crypto.transcript import challenge  # noqa: E402

OUT = Path(__file__).resolve().parent / "crypto"
ORIGIN = "gongjue.local/maple-court"

# --- a tiny independent Edwards25519 (for forging invalid Ed25519 keys and signatures only) ---

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if (x & 1) != sign else x


def _decode(b: bytes) -> tuple[int, int]:
    n = int.from_bytes(b, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = _recover_x(y, sign)
    assert x is not None
    return x, y


def _encode(pt: tuple[int, int]) -> bytes:
    x, y = pt
    return ((y | ((x & 1) << 255))).to_bytes(32, "little")


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


ORDER8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")  # Ed25519, order 8


def _ed_base(k: int) -> bytes:
    """k·B as an Ed25519 (RFC 8032) encoding: keys and signatures are Ed25519, not ristretto255."""
    return nacl.bindings.crypto_scalarmult_ed25519_base_noclamp((k % group.L).to_bytes(32, "little"))


# ristretto255 encodings that do not decode (RFC 9496 §4.3.1; A.2 has these and more):
RISTRETTO_NON_CANONICAL = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # s = p
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # s ≥ 2^255
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # s = p + 6
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # s = 2^255 − 1
]
RISTRETTO_NEGATIVE = "0100000000000000000000000000000000000000000000000000000000000000"  # s = 1 (odd)
RISTRETTO_NON_SQUARE = "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371"  # x² not square


def _not_a_ristretto_point() -> str:
    return RISTRETTO_NON_SQUARE


# --- helpers ---------------------------------------------------------------------------------


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _joint_key(seed: bytes, trustees: int) -> tuple[list[int], bytes]:
    rand = TestDRBG(seed)
    secrets = [rand() for _ in range(trustees)]
    return secrets, group.add_all(group.base_mul(s) for s in secrets)


def _code(label: str) -> str:
    """A deterministic valid code for a label (symbols from SHA-256, rejection as in generation)."""
    stream = iter(hashlib.sha256(label.encode()).digest() * 4)
    return credential.generate_code(lambda n: bytes([next(stream)]))


def _shapes(items: list[dict]) -> list[ItemShape]:
    return [ItemShape(i["id"], i["n"], i["lo"], i["hi"]) for i in items]


def _resign(signed: dict, key: nacl.signing.SigningKey) -> dict:
    body = signed["ballot"]
    return {"ballot": body, "sig": key.sign(ballot.signing_bytes(body)).signature.hex()}


# --- credentials.json ------------------------------------------------------------------------


def credentials_vectors() -> dict:
    derivations = []
    typed = [
        ("2" * 24, ORIGIN),
        (credential.format_code(_code("a")), ORIGIN),
        (credential.format_code(_code("a")).lower().replace("-", " "), ORIGIN),
        ("\u3000" + _code("b")[:12] + "\t" + _code("b")[12:] + "\r\n", ORIGIN),
        (_code("a"), "gongjue.local/pine-garden"),
        (_code("c"), "投票.example.cn/枫林苑"),
    ]
    for text, origin in typed:
        code = credential.normalise_code(text)
        derivations.append({"input": text, "origin": origin, "code": code, "printed": credential.format_code(code),
                            "seed": credential.derive_seed(code, origin).hex(),
                            "public_key": credential.public_key_hex(code, origin)})
    good = _code("a")
    refused_inputs = [
        "0" + good[1:], "O" + good[1:], good[:5] + "o" + good[6:], "1" + good[1:], good[:3] + "I" + good[4:],
        good[:-1] + "L", "l" + good[1:], good[:4] + "_" + good[4:], good[:4] + "Ａ" + good[4:],
        good[:4] + "－" + good[4:], good[:4] + "\u00a0" + good[4:], good[:4] + "\u200b" + good[4:],
        good[:23], good + "2", "", good[:-1] + credential.ALPHABET[(credential.ALPHABET.index(good[-1]) + 1) % 31],
        good[1] + good[0] + good[2:] if good[0] != good[1] else good[:22] + good[23] + good[22],
    ]
    refusals = []
    for text in refused_inputs:
        try:
            credential.normalise_code(text)
        except credential.CodeError as e:
            refusals.append({"input": text, "kind": e.kind, "message": str(e)})
        else:
            raise AssertionError(f"expected a refusal for {text!r}")
    return {"description": "Credential codes and key derivation (SPEC §4): normalise typed input, "
                           "HKDF-SHA256 seed, Ed25519 public key; refused inputs with exact messages.",
            "alphabet": credential.ALPHABET, "derivations": derivations, "refusals": refusals}


# --- group.json ------------------------------------------------------------------------------


def group_vectors() -> dict:
    drbg = []
    for seed in (b"", b"\x00", b"gongjue", bytes(range(32))):
        rand = TestDRBG(seed)
        drbg.append({"seed": seed.hex(), "scalars": [group.scalar_to_hex(rand()) for _ in range(4)]})
    g = group.base_mul(1)
    challenges = []
    for tag, fields in [
        ("gongjue/v1/bit", []),
        ("gongjue/v1/bit", [("bytes", _h("fp")), ("bytes", g), ("text", "议题-1"), ("int", 0), ("int", 4294967295)]),
        ("gongjue/v1/count", [("text", ""), ("int", 7), ("bytes", group.IDENTITY), ("bytes", b"")]),
    ]:
        c = challenge(tag, *[v for _, v in fields])
        challenges.append({"tag": tag, "fields": [{k: (v.hex() if isinstance(v, bytes) else v)} for k, v in fields],
                           "c": group.scalar_to_hex(c)})
    ks = [0, 1, 2, 3, group.L - 1, TestDRBG(b"k")()]
    base_mul = [{"k": group.scalar_to_hex(k), "point": group.base_mul(k).hex()} for k in ks]
    valid_point = group.base_mul(TestDRBG(b"p")())
    points = [
        {"hex": valid_point.hex(), "allow_identity": False, "valid": True, "why": "random group element"},
        {"hex": g.hex(), "allow_identity": False, "valid": True, "why": "base point G"},
        {"hex": group.IDENTITY.hex(), "allow_identity": True, "valid": True, "why": "identity where allowed"},
        {"hex": group.IDENTITY.hex(), "allow_identity": False, "valid": False, "why": "identity where not allowed"},
        {"hex": RISTRETTO_NON_SQUARE, "allow_identity": False, "valid": False, "why": "does not decode (non-square)"},
        {"hex": RISTRETTO_NEGATIVE, "allow_identity": True, "valid": False, "why": "negative (odd) s"},
        {"hex": _ed_base(1).hex(), "allow_identity": True, "valid": False, "why": "RFC 8032 encoding of G"},
        {"hex": (b"\x01" + bytes(31)).hex(), "allow_identity": True, "valid": False,
         "why": "RFC 8032 encoding of the identity"},
        {"hex": valid_point.hex().upper(), "allow_identity": False, "valid": False, "why": "uppercase hex"},
        {"hex": valid_point.hex()[:62], "allow_identity": False, "valid": False, "why": "31 bytes"},
    ]
    points += [{"hex": h, "allow_identity": True, "valid": False, "why": "non-canonical encoding (s ≥ p)"}
               for h in RISTRETTO_NON_CANONICAL]
    s_g = int.from_bytes(g, "little")
    points += [
        {"hex": (s_g + P).to_bytes(32, "little").hex(), "allow_identity": False, "valid": False,
         "why": "G's s plus p (non-canonical)"},
        {"hex": (P - s_g).to_bytes(32, "little").hex(), "allow_identity": False, "valid": False,
         "why": "G's s negated (odd: negative)"},
    ]
    for pt in points:  # the Python implementation agrees with every expectation here
        try:
            group.point_from_hex(pt["hex"], allow_identity=pt["allow_identity"])
            ok = True
        except group.GroupError:
            ok = False
        assert ok == pt["valid"], pt
    scalars = [
        {"hex": group.scalar_to_hex(group.L - 1), "valid": True},
        {"hex": group.scalar_to_hex(0), "valid": True},
        {"hex": group.L.to_bytes(32, "little").hex(), "valid": False},
        {"hex": (2**256 - 1).to_bytes(32, "little").hex(), "valid": False},
        {"hex": group.scalar_to_hex(group.L - 1).upper(), "valid": False},
    ]
    secrets, k = _joint_key(b"elgamal", 2)
    rand = TestDRBG(b"nonces")
    elg = []
    for m in (0, 1, 2, 1000):
        r = rand()
        ct = elgamal.encrypt(m, r, k)
        elg.append({"m": m, "r": group.scalar_to_hex(r), "joint_key": k.hex(), "alpha": ct.alpha.hex(),
                    "beta": ct.beta.hex()})
    return {"description": "Group, challenge, test DRBG and ElGamal vectors (SPEC §3.1–3.3, §3.9).",
            "drbg": drbg, "challenges": challenges, "base_mul": base_mul, "points": points, "scalars": scalars,
            "elgamal": elg}


# --- ballots.json ----------------------------------------------------------------------------

MOTION = {"id": "item-1", "n": 3, "lo": 1, "hi": 1}
CHOICE = {"id": "item-2", "n": 3, "lo": 1, "hi": 1}
ELECTION = {"id": "选举-3", "n": 4, "lo": 0, "hi": 2}

BALLOTS = [
    ("motion", [MOTION], {"item-1": [1, 0, 0]}),
    ("choice-of-3", [CHOICE], {"item-2": [0, 0, 1]}),
    ("election-seats-2", [ELECTION], {"选举-3": [1, 0, 1, 0]}),
    ("election-none", [ELECTION], {"选举-3": [0, 0, 0, 0]}),
    ("compound", [MOTION, CHOICE, ELECTION], {"item-1": [0, 0, 1], "item-2": [0, 1, 0], "选举-3": [0, 0, 0, 1]}),
]


RULES = "civil-code-2021"


def _round(round_id: str, secrecy: str, items: list[dict], joint_key: bytes | None, origin: str = ORIGIN) -> dict:
    """The inputs of a round fingerprint (SPEC §3.6) and its value."""
    r = {"origin": origin, "round_id": round_id, "secrecy": secrecy, "agenda": {"items": items}, "rules": RULES,
         "roll": _h("roll/" + origin).hex(), "joint_key": None if joint_key is None else joint_key.hex()}
    fp = ballot.round_fingerprint(origin=origin, round_id=round_id, secrecy=secrecy, agenda=r["agenda"], rules=RULES,
                                  roll=r["roll"], joint_key=joint_key)
    return {**r, "fingerprint": fp.hex()}


def fingerprint_vectors() -> list[dict]:
    """Rounds differing in one input each (round id, origin, secrecy): every fingerprint differs."""
    _, k = _joint_key(b"trustees/fingerprints", 2)
    out = [_round("r1", "secret", [MOTION], k), _round("r2", "secret", [MOTION], k),
           _round("r1", "secret", [MOTION], k, origin="gongjue.local/pine-garden"),
           _round("r1", "open", [MOTION], None), _round("选举-2026", "secret", [MOTION, ELECTION], k)]
    assert len({r["fingerprint"] for r in out}) == len(out)
    return out


def _ballot_case(name: str, items: list[dict], choices: dict) -> dict:
    code = _code("voter/" + name)
    key = credential.signing_key(code, ORIGIN)
    secrets, k = _joint_key(b"trustees/" + name.encode(), 3)
    rnd = _round("round/" + name, "secret", items, k)
    fingerprint = bytes.fromhex(rnd["fingerprint"])
    seed = ("ballot/" + name).encode()
    signed, reveal = ballot.encrypt_ballot(fingerprint=fingerprint, joint_key=k, items=_shapes(items),
                                           choices=choices, signing_key=key, rand=TestDRBG(seed))
    full, short = ballot.tracking_code(signed)
    ballot.verify_ballot(signed, fingerprint=fingerprint, joint_key=k, items=_shapes(items))
    return {"name": name, "origin": ORIGIN, "code": code, "voter_key": key.verify_key.encode().hex(),
            "trustee_secrets": [group.scalar_to_hex(s) for s in secrets], "joint_key": k.hex(),
            "fingerprint": fingerprint.hex(), "round": rnd, "items": items, "choices": choices,
            "drbg_seed": seed.hex(), "signed": signed, "tracking": {"full": full, "short": short}, "reveal": reveal.to_json()}


def _open_case(for_voter: str | None = None) -> dict:
    """An open ballot; with ``for_voter``, the one a proxy casts for that voter (SPEC §3.6 ``for``)."""
    items = [MOTION, ELECTION]
    choices = {"item-1": [0, 1, 0], "选举-3": [1, 1, 0, 0]}
    code = _code("voter/open")
    key = credential.signing_key(code, ORIGIN)
    rnd = _round("round/open", "open", items, None)
    fingerprint = bytes.fromhex(rnd["fingerprint"])
    signed = ballot.make_open_ballot(fingerprint=fingerprint, items=_shapes(items), choices=choices, signing_key=key,
                                     for_voter=for_voter)
    full, short = ballot.tracking_code(signed)
    case = {"name": "open-named-vote" if for_voter is None else "open-cast-by-a-proxy", "origin": ORIGIN, "code": code,
            "voter_key": key.verify_key.encode().hex(), "fingerprint": fingerprint.hex(), "round": rnd,
            "items": items, "choices": choices, "signed": signed, "tracking": {"full": full, "short": short}}
    return case if for_voter is None else {**case, "for": for_voter}


def ballots_vectors() -> dict:
    return {"description": "Secret ballots from fixed inputs and the test DRBG (SPEC §3.6, draw order §3.9): "
                           "exact signed ballot, tracking code and reveal; and an open ballot.",
            "secret": [_ballot_case(*b) for b in BALLOTS], "open": [_open_case(), _open_case("代理-0042")],
            "fingerprints": fingerprint_vectors()}


# --- invalid.json ----------------------------------------------------------------------------


def _text(signed: dict) -> str:
    """The JSON text a verifier receives (not canonical: verification never depends on the layout)."""
    return json.dumps(signed, ensure_ascii=False, separators=(", ", ": "))


def _invalid_cases(base: dict, election: dict, open_case: dict) -> list[dict]:
    """Mutations of valid ballots; each is re-signed by the voter so that only the named check fails.

    Every case is verified from its JSON text (``text``) for a round of the given ``secrecy``.
    """
    key = credential.signing_key(base["code"], ORIGIN)
    other = credential.signing_key(_code("voter/other"), ORIGIN)
    cases = []

    def add(name: str, reason: str, python_match: str, signed: dict | str, src: dict = base,
            secrecy: str | None = None, **extra) -> None:
        secrecy = secrecy or ("open" if src is open_case else "secret")
        case = {"name": name, "reason": reason, "python_match": python_match, "secrecy": secrecy,
                "fingerprint": src["fingerprint"], "joint_key": src.get("joint_key") if secrecy == "secret" else None,
                "items": src["items"], "text": signed if isinstance(signed, str) else _text(signed)}
        case.update(extra)
        cases.append(case)

    def mutated(src: dict, change, signer=key) -> dict:
        s = copy.deepcopy(src["signed"])
        change(s["ballot"])
        return _resign(s, signer)

    def set_sel(field: str, value: str, i: int = 0):
        return lambda b: b["items"][0]["selections"][i].__setitem__(field, value)

    add("point encoding that does not decode (non-square)", "point", "invalid ciphertext point",
        mutated(base, set_sel("alpha", _not_a_ristretto_point())))
    add("non-canonical point encoding (s = p)", "point", "invalid ciphertext point",
        mutated(base, set_sel("beta", RISTRETTO_NON_CANONICAL[0])))
    add("negative point encoding (odd s)", "point", "invalid ciphertext point",
        mutated(base, set_sel("beta", RISTRETTO_NEGATIVE)))
    add("RFC 8032 (Ed25519) encoding instead of ristretto255", "point", "invalid ciphertext point",
        mutated(base, set_sel("alpha", _ed_base(1).hex())))
    add("identity where not allowed", "identity", "invalid ciphertext point",
        mutated(base, set_sel("alpha", group.IDENTITY.hex())))
    add("wrong voter key (ballot of another credential)", "voter", "not the expected credential", base["signed"],
        voter_key=other.verify_key.encode().hex())

    def rekey(b: dict) -> None:
        b["voter"] = other.verify_key.encode().hex()
    add("proofs bound to another voter (re-signed by a different credential)", "proof", "does not verify",
        mutated(base, rekey, signer=other))

    def swap(b: dict) -> None:
        sels = b["items"][0]["selections"]
        sels[0]["proof"], sels[1]["proof"] = sels[1]["proof"], sels[0]["proof"]
    add("proofs swapped between selections", "proof", "selection proof does not verify", mutated(base, swap))

    def swap_cts(b: dict) -> None:
        sels = b["items"][0]["selections"]
        for f in ("alpha", "beta"):
            sels[0][f], sels[1][f] = sels[1][f], sels[0][f]
    add("ciphertexts swapped between selections", "proof", "selection proof does not verify",
        mutated(base, swap_cts))
    add("selection encrypting 2 (election, count in range)", "proof", "selection proof does not verify",
        _forged_two(election), src=election)
    add("count out of range (motion with 2 marks)", "proof", "count proof does not verify", _forged_count(base))
    add("count proof over another range", "proof", "count proof range", _other_range(base))

    # carried commitments (SPEC §3.4, §3.5): each must be a valid non-identity point, and the
    # equations must hold, not only the challenge sum
    def set_commitment(field: str, value: str):
        return lambda b: b["items"][0]["selections"][0]["proof"][field].__setitem__(1, value)
    add("commitment encoding that does not decode", "point", "selection proof",
        mutated(base, set_commitment("a", _not_a_ristretto_point())))
    add("identity commitment", "identity", "selection proof", mutated(base, set_commitment("b", group.IDENTITY.hex())))
    add("commitment of another selection (challenge no longer matches)", "proof", "selection proof does not verify",
        mutated(base, lambda b: b["items"][0]["selections"][0]["proof"]["a"].__setitem__(
            0, b["items"][0]["selections"][1]["proof"]["a"][0])))
    add("commitments that hash correctly but break an equation (a challenge-only verifier accepts it)", "proof",
        "selection proof does not verify (A_0", _forged_commitments(base))
    add("count-proof commitments that hash correctly but break an equation", "proof",
        "count proof does not verify (A'_1", _forged_count_commitments(base))

    def unreduced(b: dict) -> None:
        proof = b["items"][0]["selections"][0]["proof"]
        proof["z"][0] = (group.scalar_from_hex(proof["z"][0]) + group.L).to_bytes(32, "little").hex()
    add("proof scalar not reduced modulo ℓ", "scalar", "not reduced", mutated(base, unreduced))
    bad = copy.deepcopy(base["signed"])
    sig = bytearray(bytes.fromhex(bad["sig"]))
    sig[5] ^= 0x01
    bad["sig"] = sig.hex()
    add("bad signature (one bit flipped)", "signature", "signature does not verify", bad)
    add("signature by another key", "signature", "signature does not verify",
        {"ballot": copy.deepcopy(base["signed"]["ballot"]), "sig": _resign(base["signed"], other)["sig"]})
    add("extra field in a selection", "structure", "expected exactly",
        mutated(base, set_sel("note", "x")))
    add("open ballot with two marks on a motion", "count", "allowed 1..1", _open_two_marks(open_case), src=open_case)
    open_key = credential.signing_key(open_case["code"], ORIGIN)
    add("open ballot whose for is not a pseudonym (empty)", "structure", "for must be the pseudonym",
        mutated(open_case, lambda b: b.__setitem__("for", ""), signer=open_key), src=open_case)
    add("secret ballot with a for member (only open ballots name one)", "structure", "expected exactly",
        mutated(base, lambda b: b.__setitem__("for", "代理-0042")))
    # the kind is the round's (SPEC §3.6): an open ballot never counts in a secret round, nor the reverse
    add("open ballot in a secret round", "kind", "kind must be 'secret'", _open_ballot_for(base), src=base)
    add("secret ballot in an open round", "kind", "kind must be 'open'", base["signed"],
        src=dict(open_case, fingerprint=base["fingerprint"], items=base["items"]), secrecy="open")
    # strict JSON text (SPEC §1): lenient parsers accept all of these and the signature still verifies
    good = _text(base["signed"])
    assert good.count('"v": 1,') == 1
    add('"v": 1.0 (a fraction in a number token)', "json", "not strict JSON", good.replace('"v": 1,', '"v": 1.0,'))
    add('"v": 1e0 (an exponent in a number token)', "json", "not strict JSON", good.replace('"v": 1,', '"v": 1e0,'))
    add("duplicate key (kind given twice)", "json", "duplicate key",
        good.replace('"kind": "secret",', '"kind": "open", "kind": "secret",'))
    sig = base["signed"]["sig"]
    add("duplicate key (a junk signature before the real one)", "json", "duplicate key",
        good.replace(f'"sig": "{sig}"', f'"sig": "{"00" * 64}", "sig": "{sig}"'))
    add("integer beyond 2^53 (count proof lo)", "json", "outside",
        good.replace('"lo": 1,', '"lo": 9007199254740993,', 1))
    # the one Ed25519 rule (SPEC §3.6): R and A in the prime-order subgroup, cofactorless equation
    add("signature whose R has a small-order component (R + T8; passes the cofactored equation)", "signature",
        "R is not a point of the prime-order subgroup", _torsion_r_signature(base))
    add("voter key A + T8 (a signature that passes libsodium's cofactorless check)", "voter",
        "not a valid credential key", _torsion_key_ballot(open_case), src=open_case)
    k = bytes.fromhex(base["joint_key"])
    same = base["round"]
    for what, rnd in (("another round id", _round("round/other", "secret", base["items"], k)),
                      ("another log origin", _round(same["round_id"], "secret", base["items"], k,
                                                     origin="gongjue.local/pine-garden"))):
        add(f"ballot replayed into a round with the same agenda, roll and key but {what}", "round", "another round",
            base["signed"], src=dict(base, fingerprint=rnd["fingerprint"]), round=rnd)
    return cases


def _forged_two(src: dict) -> dict:
    """An election ballot whose first selection encrypts 2; the count (2 ≤ seats) is proved honestly."""
    key = credential.signing_key(src["code"], ORIGIN)
    voter = key.verify_key.encode()
    k = bytes.fromhex(src["joint_key"])
    fp = bytes.fromhex(src["fingerprint"])
    item = src["items"][0]
    rand = TestDRBG(b"forge/two")
    marks = [2] + [0] * (item["n"] - 1)
    sels, rs = [], []
    for index, m in enumerate(marks):
        r = rand()
        ct = elgamal.encrypt(m, r, k)
        proof = prove_bit(min(m, 1), r, ct.alpha, ct.beta, k, fingerprint=fp, voter=voter, item_id=item["id"],
                          index=index, rand=rand)
        sels.append({"alpha": ct.alpha.hex(), "beta": ct.beta.hex(), "proof": proof.to_json()})
        rs.append(r)
    big_r = sum(rs) % group.L
    alphas = [bytes.fromhex(x["alpha"]) for x in sels]
    betas = [bytes.fromhex(x["beta"]) for x in sels]
    count = prove_count(sum(marks), big_r, alphas, betas, k, lo=item["lo"], hi=item["hi"], fingerprint=fp,
                        voter=voter, item_id=item["id"], rand=rand)
    body = {"v": 1, "kind": "secret", "round": fp.hex(), "voter": voter.hex(),
            "items": [{"id": item["id"], "selections": sels, "count_proof": count.to_json()}]}
    return _resign({"ballot": body}, key)


def _forged_commitments(case: dict) -> dict:
    """The first selection's proof with A_0 replaced by another valid point and the challenges
    recomputed over it: c_0 + c_1 = c holds, the equation A_0 = z_0·G − c_0·α does not."""
    from voting.crypto.chaum_pedersen import bit_challenge
    s = copy.deepcopy(case["signed"])
    body = s["ballot"]
    sel = body["items"][0]["selections"][0]
    proof = sel["proof"]
    a = [bytes.fromhex(h) for h in proof["a"]]
    b = [bytes.fromhex(h) for h in proof["b"]]
    a[0] = group.add(a[0], group.G)
    c = bit_challenge(bytes.fromhex(body["round"]), bytes.fromhex(body["voter"]), body["items"][0]["id"], 0,
                      bytes.fromhex(case["joint_key"]), bytes.fromhex(sel["alpha"]), bytes.fromhex(sel["beta"]),
                      a[0], b[0], a[1], b[1])
    c1 = group.scalar_from_hex(proof["c"][1])
    proof["a"][0] = a[0].hex()
    proof["c"][0] = group.scalar_to_hex(c - c1)
    return _resign(s, credential.signing_key(case["code"], ORIGIN))


def _forged_count_commitments(case: dict) -> dict:
    """The first item's count proof (lo = hi = 1) with A'_1 moved by G and c recomputed over it."""
    from voting.crypto.chaum_pedersen import count_challenge
    s = copy.deepcopy(case["signed"])
    body = s["ballot"]
    item = body["items"][0]
    proof = item["count_proof"]
    alphas = [bytes.fromhex(x["alpha"]) for x in item["selections"]]
    betas = [bytes.fromhex(x["beta"]) for x in item["selections"]]
    a = [bytes.fromhex(h) for h in proof["a"]]
    b = [bytes.fromhex(h) for h in proof["b"]]
    a[0] = group.add(a[0], group.G)
    c = count_challenge(bytes.fromhex(body["round"]), bytes.fromhex(body["voter"]), item["id"], proof["lo"],
                        proof["hi"], bytes.fromhex(case["joint_key"]), alphas, betas,
                        [p for pair in zip(a, b) for p in pair])
    assert proof["lo"] == proof["hi"] == 1
    proof["a"][0] = a[0].hex()
    proof["c"][0] = group.scalar_to_hex(c)
    return _resign(s, credential.signing_key(case["code"], ORIGIN))


def _forged_count(src: dict) -> dict:
    """A motion ballot with two marks: valid 0/1 proofs, a count proof claiming 1 with the real nonce sum."""
    key = credential.signing_key(src["code"], ORIGIN)
    voter = key.verify_key.encode()
    k = bytes.fromhex(src["joint_key"])
    fp = bytes.fromhex(src["fingerprint"])
    item = src["items"][0]
    rand = TestDRBG(b"forge/count")
    marks = [1, 1, 0]
    sels, rs, cts = [], [], []
    for index, m in enumerate(marks):
        r = rand()
        ct = elgamal.encrypt(m, r, k)
        proof = prove_bit(m, r, ct.alpha, ct.beta, k, fingerprint=fp, voter=voter, item_id=item["id"], index=index,
                          rand=rand)
        sels.append({"alpha": ct.alpha.hex(), "beta": ct.beta.hex(), "proof": proof.to_json()})
        rs.append(r)
        cts.append(ct)
    count = prove_count(1, sum(rs) % group.L, [ct.alpha for ct in cts], [ct.beta for ct in cts], k, lo=1, hi=1, fingerprint=fp, voter=voter,
                        item_id=item["id"], rand=rand)
    body = {"v": 1, "kind": "secret", "round": fp.hex(), "voter": voter.hex(),
            "items": [{"id": item["id"], "selections": sels, "count_proof": count.to_json()}]}
    return _resign({"ballot": body}, key)


def _other_range(src: dict) -> dict:
    """A motion ballot with two marks proved honestly in [1, 2] while the item allows [1, 1]."""
    key = credential.signing_key(src["code"], ORIGIN)
    item = src["items"][0]
    wide = ItemShape(item["id"], item["n"], item["lo"], 2)
    signed, _ = ballot.encrypt_ballot(fingerprint=bytes.fromhex(src["fingerprint"]),
                                      joint_key=bytes.fromhex(src["joint_key"]), items=[wide],
                                      choices={item["id"]: [1, 1, 0]}, signing_key=key, rand=TestDRBG(b"forge/range"))
    return signed


def _open_two_marks(src: dict) -> dict:
    """An open (named) ballot marking both agree and oppose on its motion, properly signed."""
    key = credential.signing_key(src["code"], ORIGIN)
    marks = [[1, 1, 0]] + [[0] * it["n"] for it in src["items"][1:]]
    body = {"v": 1, "kind": "open", "round": src["fingerprint"], "voter": key.verify_key.encode().hex(),
            "items": [{"id": it["id"], "selections": m} for it, m in zip(src["items"], marks)]}
    return _resign({"ballot": body}, key)


def _open_ballot_for(src: dict) -> dict:
    """A valid-looking open ballot (one mark per item, in range) for a secret round's fingerprint and agenda."""
    key = credential.signing_key(src["code"], ORIGIN)
    body = {"v": 1, "kind": "open", "round": src["fingerprint"], "voter": key.verify_key.encode().hex(),
            "items": [{"id": it["id"], "selections": [1] * it["lo"] + [0] * (it["n"] - it["lo"])}
                      for it in src["items"]]}
    return _resign({"ballot": body}, key)


def _secret_scalar(key: nacl.signing.SigningKey) -> int:
    """The Ed25519 secret scalar a of a seed (RFC 8032 §5.1.5: clamped first half of SHA-512(seed))."""
    h = bytearray(hashlib.sha512(key.encode()).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


def _raw_sign(a: int, public: bytes, message: bytes, r: int, r_point: bytes) -> bytes:
    """R ‖ S with S = r + k·a, k = SHA-512(R ‖ A ‖ M) for a chosen R (which need not be r·G)."""
    k = int.from_bytes(hashlib.sha512(r_point + public + message).digest(), "little") % group.L
    return r_point + ((r + k * a) % group.L).to_bytes(32, "little")


def _torsion_r_signature(src: dict) -> dict:
    """The base ballot signed with R' = r·G + T8: S·G = R' + k·A − T8, so 8·(S·G − R' − k·A) = O."""
    key = credential.signing_key(src["code"], ORIGIN)
    body = src["signed"]["ballot"]
    message = ballot.signing_bytes(body)
    r = TestDRBG(b"forge/torsion-r")()
    r_point = _encode(_add(_decode(_ed_base(r)), _decode(ORDER8)))
    sig = _raw_sign(_secret_scalar(key), key.verify_key.encode(), message, r, r_point)
    return {"ballot": body, "sig": sig.hex()}


def _torsion_key_ballot(src: dict) -> dict:
    """An open ballot by the voter key A' = A + T8, signed with A's scalar and an R whose k ≡ 0 (mod 8):
    then k·A' = k·A and the cofactorless equation S·G = R + k·A' holds."""
    key = credential.signing_key(src["code"], ORIGIN)
    public = _encode(_add(_decode(key.verify_key.encode()), _decode(ORDER8)))
    body = {"v": 1, "kind": "open", "round": src["fingerprint"], "voter": public.hex(),
            "items": [{"id": it["id"], "selections": src["choices"][it["id"]]} for it in src["items"]]}
    message = ballot.signing_bytes(body)
    rand = TestDRBG(b"forge/torsion-key")
    while True:
        r = rand()
        r_point = _ed_base(r)
        if int.from_bytes(hashlib.sha512(r_point + public + message).digest(), "little") % group.L % 8 == 0:
            break
    return {"ballot": body, "sig": _raw_sign(_secret_scalar(key), public, message, r, r_point).hex()}


def verify_any(case: dict):
    """Verify a vector's ballot text for a round of its secrecy, as a server does (SPEC §3.6)."""
    return ballot.verify_ballot_text(
        case["text"], secrecy=case["secrecy"], fingerprint=bytes.fromhex(case["fingerprint"]),
        joint_key=None if case["joint_key"] is None else bytes.fromhex(case["joint_key"]),
        items=_shapes(case["items"]),
        voter_key=bytes.fromhex(case["voter_key"]) if "voter_key" in case else None)


def _bad_reveals(src: dict) -> list[dict]:
    reveals = []
    good = src["reveal"]

    def add(name: str, python_match: str, change) -> None:
        r = copy.deepcopy(good)
        change(r)
        reveals.append({"name": name, "python_match": python_match, "joint_key": src["joint_key"],
                        "items": src["items"], "signed": src["signed"], "reveal": r})

    def flip(r: dict) -> None:
        r["items"][0]["selections"] = [1 - m for m in r["items"][0]["selections"]]
    add("marks changed", "re-encryption does not match", flip)

    def nonce(r: dict) -> None:
        r["items"][0]["nonces"][0] = group.scalar_to_hex(group.scalar_from_hex(r["items"][0]["nonces"][0]) + 1)
    add("wrong nonce", "re-encryption does not match", nonce)
    add("reveal of another ballot", "tracking code", lambda r: r.__setitem__("tracking", "00" * 32))
    return reveals


def _check_lenient_acceptance(cases: list[dict]) -> None:
    """The Ed25519 and JSON cases are real attacks: a lenient verifier accepts each of them."""
    by_name = {c["name"]: c for c in cases}
    r_case = next(c for n, c in by_name.items() if n.startswith("signature whose R"))
    a_case = next(c for n, c in by_name.items() if n.startswith("voter key A + T8"))
    for case in (r_case, a_case):
        signed = json.loads(case["text"])
        message = ballot.signing_bytes(signed["ballot"])
        sig, public = bytes.fromhex(signed["sig"]), bytes.fromhex(signed["ballot"]["voter"])
        r, s_ = _decode(sig[:32]), int.from_bytes(sig[32:], "little")
        k = int.from_bytes(hashlib.sha512(sig[:32] + public + message).digest(), "little") % group.L
        # S·G − R − k·A computed on the curve (mixed-order points included)
        lhs = _decode(_ed_base(s_))
        rhs = _add(r, _mul(k, _decode(public)))
        diff = _add(lhs, (P - rhs[0], rhs[1]))
        if case is a_case:  # cofactorless equation holds: libsodium alone accepts it
            assert diff == (0, 1)
            nacl.signing.VerifyKey(public).verify(message, sig)
        else:  # only the cofactored equation holds: 8·diff = O
            assert diff != (0, 1) and _mul(8, diff) == (0, 1)


def _mul(k: int, pt: tuple[int, int]) -> tuple[int, int]:
    acc = (0, 1)
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def invalid_vectors(ballots: dict) -> dict:
    by_name = {c["name"]: c for c in ballots["secret"]}
    cases = _invalid_cases(by_name["motion"], by_name["election-seats-2"], ballots["open"][0])
    for case in cases:  # generation-time check: Python refuses each for the intended reason
        try:
            verify_any(case)
        except BallotError as e:
            assert case["python_match"] in str(e), (case["name"], str(e))
        else:
            raise AssertionError(f"Python accepted invalid case {case['name']!r}")
    _check_lenient_acceptance(cases)
    reveals = _bad_reveals(by_name["compound"])
    return {"description": "Ballots and reveals every implementation must refuse. `reason` is the check that "
                           "fails (the JS CryptoError kind); `python_match` is a substring of the Python error.",
            "ballots": cases, "reveals": reveals}


# --- output ----------------------------------------------------------------------------------


def build() -> dict[str, dict]:
    """Every vector file's content, by file name."""
    ballots = ballots_vectors()
    return {"credentials.json": credentials_vectors(), "group.json": group_vectors(), "ballots.json": ballots,
            "invalid.json": invalid_vectors(ballots)}


def render(doc: dict) -> str:
    """A vector file's exact text (UTF-8, sorted keys, 1-space indent, trailing newline)."""
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, doc in build().items():
        (OUT / name).write_text(render(doc), encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
