"""Secret and open ballots: encryption, signing, verification, tracking code, reveal (docs/SPEC.md §3.6).

A secret ballot holds, for one voter and one round, every agenda item's selections as
exponential ElGamal ciphertexts with a 0/1 proof each (§3.4) and one count proof per item
(§3.5).  An open ballot holds the plaintext 0/1 selections.  Either body is signed with the
voter's Ed25519 credential key (RFC 8032) over ``b"gongjue/v1/ballot\\x00" ‖ JCS(body)``
(RFC 8785); the signed ballot is ``{"ballot": body, "sig": hex}`` and its tracking code is
SHA-256(JCS(signed ballot)).

API (what the rounds code and the test-vector generator call):

- ``ItemShape(id, n, lo, hi)``: an agenda item as the crypto sees it (n selections, between lo
  and hi of them set).  Motion: n = 3, lo = hi = 1.  Choice: n = options, lo = hi = 1.
  Election: n = candidates, lo = 0, hi = seats.
- ``encrypt_ballot(*, fingerprint, joint_key, items, choices, signing_key, rand=None)
  -> (signed, Reveal)``; ``rand`` is a scalar source (``drbg.TestDRBG``) for test vectors.
- ``verify_ballot(signed, *, fingerprint, joint_key, items, voter_key=None) -> VerifiedBallot``;
  raises ``BallotError`` naming the item and selection and the reason.
- ``make_open_ballot`` / ``verify_open_ballot`` -> ``VerifiedOpenBallot``.
- ``verify_ballot_text(text, *, secrecy, fingerprint, joint_key, items, voter_key=None)``: what a
  server or auditor calls on a received ballot: strict JSON (``strictjson``), the kind pinned
  to the round's secrecy, then the checks above.  Signatures and voter keys follow the one
  Ed25519 rule of ``ed25519`` (SPEC §3.6).
- ``tracking_code(signed) -> (full, short)``; ``check_reveal(signed, reveal, *, joint_key, items)``.
- ``round_fingerprint(*, origin, round_id, secrecy, agenda, rules, roll, joint_key) -> bytes`` (SPEC §3.6).
- ``verify_ballots(signed_list, *, fingerprint, joint_key, items, workers=None)``: audit, every core.

``VerifiedBallot`` and ``VerifiedOpenBallot`` are only built by the verify functions here
(constructing one elsewhere raises), and the tally only accepts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Callable

import nacl.signing
import rfc8785

from voting.crypto import ed25519, group, strictjson
from voting.crypto.batch import Batch
from voting.crypto.chaum_pedersen import (
    BitProof, CountProof, ProofError, prove_bit, prove_count, verify_bit, verify_count,
)
from voting.crypto.elgamal import Ciphertext
from voting.crypto.group import G, GroupError, L, Point
from voting.crypto.transcript import _LEN4, _LEN32, BIT_TAG, _enc_text

SIGNING_PREFIX = b"gongjue/v1/ballot\x00"
_TOKEN = object()


class BallotError(ValueError):
    """A ballot that is malformed, wrongly signed, or whose proofs do not verify."""


@dataclass(frozen=True, slots=True)
class ItemShape:
    """An agenda item as the ballot crypto sees it: id, n selections, lo ≤ Σ selections ≤ hi."""

    id: str
    n: int
    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("item id must be a non-empty string")
        if not 1 <= self.n or not 0 <= self.lo <= self.hi <= self.n:
            raise ValueError(f"item {self.id!r}: need 0 ≤ lo ≤ hi ≤ n and n ≥ 1")


@dataclass(frozen=True, slots=True)
class VerifiedBallot:
    """A secret ballot whose signature and every proof verified.  Built only by ``verify_ballot``."""

    voter: bytes
    fingerprint: bytes
    item_ids: tuple[str, ...]
    ciphertexts: tuple[tuple[Ciphertext, ...], ...]
    tracking: str
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("VerifiedBallot is only built by ballot.verify_ballot")


@dataclass(frozen=True, slots=True)
class VerifiedOpenBallot:
    """An open (named) ballot whose signature and counts verified.  Built only by ``verify_open_ballot``."""

    voter: bytes
    fingerprint: bytes
    item_ids: tuple[str, ...]
    selections: tuple[tuple[int, ...], ...]
    tracking: str
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("VerifiedOpenBallot is only built by ballot.verify_open_ballot")


@dataclass(frozen=True, slots=True)
class Reveal:
    """Cast-or-audit (Benaloh) reveal: the plaintexts and nonces of one ballot."""

    tracking: str
    items: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (id, selections, nonces)

    def to_json(self) -> dict:
        """{"tracking", "items": [{"id", "selections", "nonces"}]}."""
        return {"tracking": self.tracking,
                "items": [{"id": i, "selections": list(m), "nonces": [group.scalar_to_hex(r) for r in rs]}
                          for i, m, rs in self.items]}

    @classmethod
    def from_json(cls, obj: object) -> "Reveal":
        if not isinstance(obj, dict) or set(obj) != {"tracking", "items"} or not isinstance(obj["items"], list):
            raise BallotError("reveal: expected an object with exactly tracking and items")
        items = []
        for it in obj["items"]:
            if not isinstance(it, dict) or set(it) != {"id", "selections", "nonces"}:
                raise BallotError("reveal: each item needs exactly id, selections and nonces")
            if not isinstance(it["selections"], list) or not isinstance(it["nonces"], list):
                raise BallotError(f"reveal item {it['id']!r}: selections and nonces must be lists")
            try:
                nonces = tuple(group.scalar_from_hex(r, what="nonce") for r in it["nonces"])
            except GroupError as e:
                raise BallotError(f"reveal item {it['id']!r}: {e}") from None
            items.append((it["id"], tuple(it["selections"]), nonces))
        return cls(str(obj["tracking"]), tuple(items))


# --- canonical bytes, signature, tracking code ---------------------------------------------


def _jcs_ballot(obj: object) -> bytes:
    """RFC 8785 bytes of a ballot-shaped object, fast path.

    For objects whose keys are ASCII and whose numbers are small integers, RFC 8785 output
    equals ``json.dumps`` with sorted keys, no separators' whitespace and UTF-8 output (same
    string escapes: \\b \\f \\n \\r \\t, other controls as \\u00xx).  Every ballot that passes
    verification is of that kind (its structure is checked key by key, its numbers are typed
    ints < 2^16), so for an accepted ballot these are exactly the JCS bytes; a ballot outside
    that shape is refused whatever bytes were hashed.
    """
    try:
        out = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return rfc8785.dumps(obj)
    return out


def signing_bytes(body: dict) -> bytes:
    """b"gongjue/v1/ballot\\x00" ‖ JCS(body): the bytes the credential key signs."""
    return SIGNING_PREFIX + rfc8785.dumps(body)


def _signed_jcs(body_jcs: bytes, sig_hex: str) -> bytes:
    # JCS of {"ballot": body, "sig": sig}: keys sort as "ballot" < "sig".
    return b'{"ballot":' + body_jcs + b',"sig":"' + sig_hex.encode() + b'"}'


def _short(full: str) -> str:
    s = full[:12].upper()
    return f"{s[0:4]}-{s[4:8]}-{s[8:12]}"


def _plain(obj: object) -> bool:
    """True when ``_jcs_ballot``'s fast encoding of ``obj`` is its RFC 8785 encoding: only objects
    with ASCII keys (code-point order = UTF-16 order), lists, strings, booleans, null and
    integers of magnitude < 2^53 (no floats) — every ballot-shaped value."""
    stack = [obj]
    while stack:
        o = stack.pop()
        t = type(o)
        if t is str or t is bool or o is None:
            continue
        if t is int:
            if -(2**53) < o < 2**53:
                continue
            return False
        if t is dict:
            for k, v in o.items():
                if type(k) is not str or not k.isascii():
                    return False
                stack.append(v)
            continue
        if t is list:
            stack.extend(o)
            continue
        return False
    return True


def tracking_code(signed: dict) -> tuple[str, str]:
    """(full, short): full = SHA-256(JCS(signed ballot)) hex; short = first 12 hex upper-cased, "XXXX-XXXX-XXXX".

    Ballot-shaped values (``_plain``) take the fast encoding, which is byte for byte their JCS;
    anything else goes through ``rfc8785`` (the audit recomputes one code per recorded ballot)."""
    known = _TRACKED.get(id(signed))
    if known is not None and known[0] is signed:
        return known[1], _short(known[1])
    full = hashlib.sha256(_jcs_ballot(signed) if _plain(signed) else rfc8785.dumps(signed)).hexdigest()
    return full, _short(full)


_TRACKED: dict[int, tuple[dict, str]] = {}
"""Inside ``remembering_tracking()``: the tracking codes of the ballots ``verify_ballots`` accepted,
by object.  The verifier computed each from the ballot's exact JCS bytes already, and an audit asks
for them again (paper ballots, duplicates).  An entry holds the ballot itself, so its id cannot be
reused while it is there; everything is dropped when the block ends."""
_TRACKING_ON = [0]


@contextlib.contextmanager
def remembering_tracking():
    """Within the block, ``tracking_code`` answers from ``verify_ballots``' results (an audit)."""
    _TRACKING_ON[0] += 1
    try:
        yield
    finally:
        _TRACKING_ON[0] -= 1
        if not _TRACKING_ON[0]:
            _TRACKED.clear()


def _sign(body: dict, signing_key: nacl.signing.SigningKey) -> tuple[dict, str]:
    body_jcs = _jcs_ballot(body)
    sig = signing_key.sign(SIGNING_PREFIX + body_jcs).signature.hex()
    return {"ballot": body, "sig": sig}, hashlib.sha256(_signed_jcs(body_jcs, sig)).hexdigest()


_valid_keys: set[bytes] = set()


def _check_joint_key(joint_key: Point) -> None:
    """K must be a valid non-identity point (checked once per process per key)."""
    if joint_key not in _valid_keys:
        try:
            group.check_point(joint_key, what="joint key")
        except GroupError as e:
            raise BallotError(str(e)) from None
        _valid_keys.add(bytes(joint_key))


SECRECIES = ("secret", "open")


def round_fingerprint(*, origin: str, round_id: str, secrecy: str, agenda: dict, rules: str, roll: str,
                      joint_key: Point | None) -> bytes:
    """The 32 bytes every ballot and proof of a round is bound to (SPEC §3.6).

    SHA-256(JCS({"v": 1, "origin", "round", "secrecy", "agenda", "rules", "roll", "joint_key"})):
    the log origin and the round id make it unique per round, so a ballot never replays into
    another round even with the same agenda, roll and joint key.  A secret round has a joint
    key (a valid non-identity point); an open round has none (``joint_key=None``, JSON null).
    """
    for name, value in (("origin", origin), ("round_id", round_id), ("rules", rules), ("roll", roll)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"round fingerprint: {name} must be a non-empty string")
    if secrecy not in SECRECIES:
        raise ValueError("round fingerprint: secrecy must be 'secret' or 'open'")
    if not isinstance(agenda, dict):
        raise ValueError("round fingerprint: agenda must be a JSON object")
    if secrecy == "secret":
        if joint_key is None:
            raise ValueError("round fingerprint: a secret round needs its joint key")
        group.check_point(joint_key, what="joint key")
        key_hex: str | None = bytes(joint_key).hex()
    else:
        if joint_key is not None:
            raise ValueError("round fingerprint: an open round has no joint key (pass None)")
        key_hex = None
    return hashlib.sha256(rfc8785.dumps({"v": 1, "origin": origin, "round": round_id, "secrecy": secrecy,
                                         "agenda": agenda, "rules": rules, "roll": roll,
                                         "joint_key": key_hex})).digest()


def _check_choices(items: list[ItemShape], choices: dict[str, list[int]]) -> None:
    if set(choices) != {it.id for it in items}:
        raise ValueError("choices must name every agenda item exactly once")
    for it in items:
        ms = choices[it.id]
        if len(ms) != it.n or any(m not in (0, 1) or type(m) is not int for m in ms):
            raise ValueError(f"item {it.id!r}: expected {it.n} selections, each 0 or 1")
        if not it.lo <= sum(ms) <= it.hi:
            raise ValueError(f"item {it.id!r}: {sum(ms)} selections, allowed {it.lo}..{it.hi}")


# --- secret ballots ------------------------------------------------------------------------


def encrypt_ballot(*, fingerprint: bytes, joint_key: Point, items: list[ItemShape],
                   choices: dict[str, list[int]], signing_key: nacl.signing.SigningKey,
                   rand: Callable[[], int] | None = None) -> tuple[dict, Reveal]:
    """Encrypt, prove and sign one voter's choices (SPEC §3.6; draw order §3.9).

    Per item, per selection: r, then the bit proof's w, c_sim, z_sim; then the count proof's w
    and (c_v, z_v) for each simulated branch in increasing v.
    """
    rand = rand or group.random_scalar
    _check_joint_key(joint_key)
    _check_choices(items, choices)
    voter = bytes(signing_key.verify_key)
    body_items = []
    reveal_items = []
    for it in items:
        selections = []
        nonces, alphas, betas = [], [], []
        for index, m in enumerate(choices[it.id]):
            r = rand()
            alpha = group.base_mul(r)
            rk = group.mul(r, joint_key)
            beta = group.add(rk, G) if m else rk
            proof = prove_bit(m, r, alpha, beta, joint_key, fingerprint=fingerprint, voter=voter,
                              item_id=it.id, index=index, rand=rand)
            selections.append({"alpha": alpha.hex(), "beta": beta.hex(), "proof": proof.to_json()})
            nonces.append(r)
            alphas.append(alpha)
            betas.append(beta)
        big_r = sum(nonces) % L
        count = prove_count(sum(choices[it.id]), big_r, alphas, betas, joint_key,
                            lo=it.lo, hi=it.hi, fingerprint=fingerprint, voter=voter, item_id=it.id, rand=rand)
        body_items.append({"id": it.id, "selections": selections, "count_proof": count.to_json()})
        reveal_items.append((it.id, tuple(choices[it.id]), tuple(nonces)))
    body = {"v": 1, "kind": "secret", "round": fingerprint.hex(), "voter": voter.hex(), "items": body_items}
    signed, full = _sign(body, signing_key)
    return signed, Reveal(full, tuple(reveal_items))


def _hex_bytes(s: object, n: int, what: str) -> bytes:
    if not isinstance(s, str) or len(s) != 2 * n or s != s.lower():
        raise BallotError(f"{what}: expected {2 * n} lowercase hex characters")
    try:
        raw = bytes.fromhex(s)
    except ValueError:
        raise BallotError(f"{what}: expected {2 * n} lowercase hex characters") from None
    if len(raw) != n:
        raise BallotError(f"{what}: expected {2 * n} lowercase hex characters")
    return raw


def _check_envelope(signed: object, kind: str, fingerprint: bytes, items: list[ItemShape],
                    voter_key: bytes | None) -> tuple[dict, bytes, bytes]:
    """Structure, round, voter and signature checks shared by secret and open ballots."""
    if not isinstance(signed, dict) or set(signed) != {"ballot", "sig"}:
        raise BallotError("signed ballot: expected an object with exactly ballot and sig")
    body = signed["ballot"]
    keys = {"v", "kind", "round", "voter", "items"}
    if kind == "open" and isinstance(body, dict) and "for" in body:  # cast by a proxy (SPEC §3.6, §7.8)
        if not isinstance(body["for"], str) or _FOR.fullmatch(body["for"]) is None:
            raise BallotError("ballot: for must be the pseudonym of the voter it is cast for")
        keys.add("for")
    if not isinstance(body, dict) or set(body) != keys:
        raise BallotError("ballot: expected exactly v, kind, round, voter and items (and for, in an open "
                          "ballot a proxy casts)")
    if body["v"] != 1 or type(body["v"]) is not int:
        raise BallotError("ballot: unsupported version (expected v = 1)")
    if body["kind"] != kind:
        raise BallotError(f"ballot: kind must be {kind!r}")
    if _hex_bytes(body["round"], 32, "ballot.round") != fingerprint:
        raise BallotError("ballot: cast for another round (fingerprint differs)")
    voter = _hex_bytes(body["voter"], 32, "ballot.voter")
    if voter_key is not None and voter != bytes(voter_key):
        raise BallotError("ballot: voter key is not the expected credential")
    if not ed25519.is_valid_public_key(voter):
        raise BallotError("ballot: voter key is not a valid credential key (Ed25519 rule, SPEC §3.6)")
    if not isinstance(body["items"], list) or [i.get("id") if isinstance(i, dict) else None
                                               for i in body["items"]] != [it.id for it in items]:
        raise BallotError("ballot: items do not match the round's agenda (ids, order)")
    sig = _hex_bytes(signed["sig"], 64, "signature")
    try:
        body_jcs = _jcs_ballot(body)
    except Exception as e:  # non-canonicalisable content (floats, huge ints…)
        raise BallotError(f"ballot: not canonical JSON ({e})") from None
    try:
        ed25519.verify(voter, SIGNING_PREFIX + body_jcs, sig)
    except ed25519.SignatureError as e:
        raise BallotError(f"ballot: signature does not verify with the voter's credential key ({e})") from None
    return body, voter, hashlib.sha256(_signed_jcs(body_jcs, signed["sig"])).digest()


_FOR = re.compile(r"\S{1,64}")  # a voter pseudonym (SPEC §6.2)
_SEL_KEYS = frozenset(("alpha", "beta", "proof"))
_PROOF_KEYS = frozenset(("c", "z", "a", "b"))
_HEX64 = re.compile("[0-9a-f]{64}").fullmatch
_HEX640 = re.compile("[0-9a-f]{640}").fullmatch


class _Deferred(list):
    """Equations collected for one ballot, handed to the caller's Batch only if the ballot passes
    every other check (a refused ballot's equations never reach the batch)."""

    equation = list.append


def _fast_selection(sel: object, k: Point, prefix: bytes, index: int, eqs: Batch | _Deferred) -> tuple[Point, Point] | None:
    """(α, β) of a well-formed selection whose challenges add up (SPEC §3.4), its four equations
    appended to ``eqs``; or None: then the general path checks the selection again and names
    what fails.

    The same checks as ``BitProof.from_json`` + ``verify_bit`` (lowercase hex, scalars < ℓ, the
    challenge of §3.2 over the carried commitments, with the item's fields hashed from ``prefix`` =
    enc(tag) ‖ enc(fingerprint) ‖ enc(voter) ‖ enc(item id)), without the intermediate objects: an
    audit runs this for every selection.  The points (α, β and the commitments) are validated
    where the equations are checked (``batch.Batch.check`` refuses an invalid or identity point)."""
    if type(sel) is not dict or sel.keys() != _SEL_KEYS:
        return None
    proof = sel["proof"]
    if type(proof) is not dict or proof.keys() != _PROOF_KEYS:
        return None
    cs, zs, as_, bs = proof["c"], proof["z"], proof["a"], proof["b"]
    for pair in (cs, zs, as_, bs):
        if type(pair) is not list or len(pair) != 2:
            return None
    hexes = (sel["alpha"], sel["beta"], cs[0], cs[1], zs[0], zs[1], as_[0], as_[1], bs[0], bs[1])
    for h in hexes:
        if type(h) is not str or len(h) != 64:
            return None
    joined = "".join(hexes)
    if not _HEX640(joined):  # ten fields of 64 lowercase hex digits each
        return None
    raw = bytes.fromhex(joined)
    alpha, beta, a0, a1, b0, b1 = raw[:32], raw[32:64], raw[192:224], raw[224:256], raw[256:288], raw[288:]
    c0, c1 = int.from_bytes(raw[64:96], "little"), int.from_bytes(raw[96:128], "little")
    z0, z1 = int.from_bytes(raw[128:160], "little"), int.from_bytes(raw[160:192], "little")
    if c0 >= L or c1 >= L or z0 >= L or z1 >= L:
        return None
    digest = hashlib.sha512(b"".join((prefix, _LEN4, index.to_bytes(4, "big"), _LEN32, k, _LEN32, alpha,
                                      _LEN32, beta, _LEN32, a0, _LEN32, b0, _LEN32, a1, _LEN32, b1))).digest()
    if (c0 + c1) % L != int.from_bytes(digest, "little") % L:
        return None
    for eq in ([(1, a0), (-z0, G), (c0, alpha)], [(1, b0), (-z0, k), (c0, beta)],
               [(1, a1), (-z1, G), (c1, alpha)], [(1, b1), (-z1, k), (c1, beta), (-c1, G)]):  # bit_equations
        eqs.equation(eq)
    return alpha, beta


_COUNT_KEYS = frozenset(("lo", "hi", "c", "z", "a", "b"))


def _fast_count(obj: object, it: ItemShape) -> CountProof | None:
    """The item's count proof if well formed (SPEC §3.5: exact keys, the item's lo and hi,
    lowercase hex, scalars < ℓ), its points left to the batch to validate; or None: then
    ``CountProof.from_json`` reads it again and names what is wrong."""
    if type(obj) is not dict or obj.keys() != _COUNT_KEYS or obj["lo"] != it.lo or obj["hi"] != it.hi:
        return None
    if type(obj["lo"]) is not int or type(obj["hi"]) is not int:
        return None
    n = it.hi - it.lo + 1
    fields = []
    for key in ("c", "z", "a", "b"):
        values = obj[key]
        if type(values) is not list or len(values) != n:
            return None
        for h in values:
            if type(h) is not str or not _HEX64(h):
                return None
        fields.append([bytes.fromhex(h) for h in values])
    cs, zs = ([int.from_bytes(x, "little") for x in f] for f in fields[:2])
    if max(cs) >= L or max(zs) >= L:
        return None
    return CountProof(it.lo, it.hi, tuple(cs), tuple(zs), tuple(fields[2]), tuple(fields[3]))


def _strict_selection(sel: object, k: Point, fingerprint: bytes, voter: bytes, item_id: str, index: int,
                      eqs: Batch | _Deferred | None, here: str) -> tuple[Point, Point]:
    """(α, β) of a selection through ``BitProof.from_json`` and ``verify_bit``; BallotError names
    what fails.  ``eqs`` None: the equations are checked here, one by one."""
    if not isinstance(sel, dict) or set(sel) != {"alpha", "beta", "proof"}:
        raise BallotError(f"{here}: expected exactly alpha, beta and proof")
    alpha = _hex_bytes(sel["alpha"], 32, f"{here} alpha")
    beta = _hex_bytes(sel["beta"], 32, f"{here} beta")
    try:
        proof = BitProof.from_json(sel["proof"])
        verify_bit(proof, alpha, beta, k, fingerprint=fingerprint, voter=voter, item_id=item_id, index=index,
                   batch=eqs)
    except GroupError as e:
        raise BallotError(f"{here}: invalid ciphertext point ({e})") from None
    except ProofError as e:
        raise BallotError(f"{here}: {e}") from None
    return alpha, beta


def _check_secret(signed: dict, *, fingerprint: bytes, joint_key: Point, items: list[ItemShape],
                  voter_key: bytes | None, eqs: Batch | _Deferred | None) -> tuple[bytes, bytes, list]:
    """Every check of a secret ballot (SPEC §3.6) but, when ``eqs`` is given (the cast's Batch, or
    the audit's _Deferred), the proofs' equations: those go into it for the caller to check.  ``eqs`` None: the strict path,
    which checks each point and each equation on its own and names the first that fails.
    Returns (voter, tracking code, ciphertexts per item)."""
    _check_joint_key(joint_key)
    body, voter, tracking = _check_envelope(signed, "secret", fingerprint, items, voter_key)
    all_cts = []
    for it, obj in zip(items, body["items"]):
        where = f"item {it.id!r}"
        if set(obj) != {"id", "selections", "count_proof"} or not isinstance(obj["selections"], list):
            raise BallotError(f"{where}: expected exactly id, selections and count_proof")
        if len(obj["selections"]) != it.n:
            raise BallotError(f"{where}: expected {it.n} selections, got {len(obj['selections'])}")
        cts = []
        prefix = (_enc_text(BIT_TAG) + _LEN32 + fingerprint + _LEN32 + voter + _enc_text(it.id)
                  if eqs is not None and len(fingerprint) == 32 else None)
        for index, sel in enumerate(obj["selections"]):
            here = f"{where} selection {index}"
            fast = _fast_selection(sel, joint_key, prefix, index, eqs) if prefix is not None else None
            alpha, beta = fast or _strict_selection(sel, joint_key, fingerprint, voter, it.id, index, eqs, here)
            cts.append(Ciphertext(alpha, beta))
        try:
            count = (_fast_count(obj["count_proof"], it) if prefix is not None else None) \
                or CountProof.from_json(obj["count_proof"])
            if (count.lo, count.hi) != (it.lo, it.hi):
                raise ProofError(f"count proof range [{count.lo}, {count.hi}] is not the item's [{it.lo}, {it.hi}]")
            verify_count(count, [ct.alpha for ct in cts], [ct.beta for ct in cts], joint_key,
                         fingerprint=fingerprint, voter=voter, item_id=it.id, batch=eqs)
        except ProofError as e:
            raise BallotError(f"{where}: {e}") from None
        all_cts.append(tuple(cts))
    return voter, tracking, all_cts


def _verify_into(signed: dict, batch: Batch, *, fingerprint: bytes, joint_key: Point,
                 items: list[ItemShape]) -> tuple[bytes, tuple, str]:
    """Every check of ``verify_ballot`` but the proofs' equations, which go into ``batch``: the
    ballot is accepted only if the caller's ``batch.check()`` then passes (``verify_ballots``)."""
    eqs = _Deferred()
    voter, tracking, cts = _check_secret(signed, fingerprint=fingerprint, joint_key=joint_key, items=items,
                                         voter_key=None, eqs=eqs)
    for eq in eqs:
        batch.equation(eq)
    return voter, tuple(cts), tracking.hex()


def verify_ballot(signed: dict, *, fingerprint: bytes, joint_key: Point, items: list[ItemShape],
                  voter_key: bytes | None = None) -> VerifiedBallot:
    """Check a signed secret ballot completely (SPEC §3.6) and return it as a VerifiedBallot.

    Checks: exact structure; v = 1, kind "secret"; round = fingerprint; voter = voter_key if
    given; items = the agenda in order; Ed25519 signature; per selection the point encodings
    (valid, non-identity) and the 0/1 proof; per item the count proof over the sum.  The proofs'
    equations are checked together (``batch.Batch``, SPEC §3.11); if that fails, the ballot is
    checked again equation by equation, so that the error names the selection and equation.
    """
    batch = Batch()  # a refused ballot raises before its batch is checked
    voter, tracking, cts = _check_secret(signed, fingerprint=fingerprint, joint_key=joint_key, items=items,
                                         voter_key=voter_key, eqs=batch)
    try:
        ok = batch.check()
    except GroupError:
        ok = False
    if not ok:
        _check_secret(signed, fingerprint=fingerprint, joint_key=joint_key, items=items, voter_key=voter_key,
                      eqs=None)  # raises, naming the selection and equation
        raise BallotError("ballot: the proofs' equations do not hold together")  # unreachable
    return VerifiedBallot(voter, bytes(fingerprint), tuple(it.id for it in items), tuple(cts),
                          tracking.hex(), _TOKEN)


def check_reveal(signed: dict, reveal: Reveal, *, joint_key: Point, items: list[ItemShape]) -> dict[str, list[int]]:
    """Benaloh audit: re-encrypt every selection with the revealed nonce and compare α, β.

    Returns the revealed choices {item id: [m…]}; raises BallotError on any mismatch.
    """
    _check_joint_key(joint_key)
    try:
        full, _ = tracking_code(signed)
        body_items = signed["ballot"]["items"]
        selections = [obj["selections"] for obj in body_items]
        if any(len(sels) != it.n or not all(isinstance(x, dict) for x in sels) for sels, it in zip(selections, items)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise BallotError("reveal: the ballot is malformed") from None
    if reveal.tracking != full:
        raise BallotError("reveal: tracking code does not match the ballot")
    if [i for i, _, _ in reveal.items] != [it.id for it in items] or len(body_items) != len(items):
        raise BallotError("reveal: items do not match the agenda")
    out: dict[str, list[int]] = {}
    for it, sels, (item_id, ms, rs) in zip(items, selections, reveal.items):
        if len(ms) != it.n or len(rs) != it.n:
            raise BallotError(f"reveal item {item_id!r}: expected {it.n} selections and nonces")
        for index, (sel, m, r) in enumerate(zip(sels, ms, rs)):
            if m not in (0, 1) or type(m) is not int:
                raise BallotError(f"reveal item {item_id!r} selection {index}: plaintext must be 0 or 1")
            alpha = group.base_mul(r)
            beta = group.add(group.mul(r, joint_key), group.base_mul(m))
            if alpha.hex() != sel["alpha"] or beta.hex() != sel["beta"]:
                raise BallotError(f"reveal item {item_id!r} selection {index}: re-encryption does not match")
        out[item_id] = list(ms)
    return out


# --- open ballots --------------------------------------------------------------------------


def make_open_ballot(*, fingerprint: bytes, items: list[ItemShape], choices: dict[str, list[int]],
                     signing_key: nacl.signing.SigningKey, for_voter: str | None = None) -> dict:
    """Sign plaintext choices for a named-vote round (SPEC §3.6); ``for_voter``: the pseudonym of the
    voter a proxy casts it for (so the proxy's own ballot with the same choices is another ballot)."""
    _check_choices(items, choices)
    body = {"v": 1, "kind": "open", "round": fingerprint.hex(), "voter": bytes(signing_key.verify_key).hex(),
            "items": [{"id": it.id, "selections": list(choices[it.id])} for it in items]}
    if for_voter is not None:
        body["for"] = for_voter
    return _sign(body, signing_key)[0]


def verify_open_ballot(signed: dict, *, fingerprint: bytes, items: list[ItemShape],
                       voter_key: bytes | None = None) -> VerifiedOpenBallot:
    """Check an open ballot's structure, signature and counts (lo ≤ Σ ≤ hi in the clear)."""
    body, voter, tracking = _check_envelope(signed, "open", fingerprint, items, voter_key)
    sels = []
    for it, obj in zip(items, body["items"]):
        where = f"item {it.id!r}"
        if set(obj) != {"id", "selections"} or not isinstance(obj["selections"], list):
            raise BallotError(f"{where}: expected exactly id and selections")
        ms = obj["selections"]
        if len(ms) != it.n:
            raise BallotError(f"{where}: expected {it.n} selections, got {len(ms)}")
        for index, m in enumerate(ms):
            if type(m) is not int or m not in (0, 1):
                raise BallotError(f"{where} selection {index}: must be 0 or 1")
        if not it.lo <= sum(ms) <= it.hi:
            raise BallotError(f"{where}: {sum(ms)} selections, allowed {it.lo}..{it.hi}")
        sels.append(tuple(ms))
    return VerifiedOpenBallot(voter, bytes(fingerprint), tuple(it.id for it in items), tuple(sels),
                              tracking.hex(), _TOKEN)


# --- from the JSON text, pinned to the round's secrecy ---------------------------------------


def parse_ballot(text: str | bytes) -> dict:
    """A signed ballot from its JSON text under the strict rule (SPEC §1, §3.6); BallotError otherwise."""
    try:
        signed = strictjson.loads(text)
    except strictjson.StrictJSONError as e:
        raise BallotError(f"ballot: not strict JSON ({e})") from None
    if not isinstance(signed, dict):
        raise BallotError("signed ballot: expected an object with exactly ballot and sig")
    return signed


def verify_ballot_text(text: str | bytes, *, secrecy: str, fingerprint: bytes, joint_key: Point | None,
                       items: list[ItemShape], voter_key: bytes | None = None) -> VerifiedBallot | VerifiedOpenBallot:
    """Verify a ballot as received (its JSON text) for a round of the given secrecy (SPEC §3.6).

    The round decides the kind: a secret round accepts only ``kind: "secret"``, an open round
    only ``kind: "open"``, whatever the ballot says about itself.
    """
    signed = parse_ballot(text)
    if secrecy == "secret":
        if joint_key is None:
            raise ValueError("a secret round needs its joint key")
        return verify_ballot(signed, fingerprint=fingerprint, joint_key=joint_key, items=items, voter_key=voter_key)
    if secrecy == "open":
        return verify_open_ballot(signed, fingerprint=fingerprint, items=items, voter_key=voter_key)
    raise ValueError("secrecy must be 'secret' or 'open'")


# --- many ballots (audit) ------------------------------------------------------------------


def _verify_chunk(args: tuple) -> list:
    """Verify a run of ballots with one Batch for all their proofs' equations (SPEC §3.11).

    Each ballot's other checks run first; if the batch then fails (a false equation or an invalid
    point somewhere), every ballot the batch held is verified again on its own, which names it."""
    signed_list, fingerprint, joint_key, items, threads = args
    batch = Batch(threads=threads)
    out: list = []
    for signed in signed_list:
        try:
            out.append(_verify_into(signed, batch, fingerprint=fingerprint, joint_key=joint_key, items=items))
        except BallotError as e:
            out.append(str(e))
    try:
        ok = batch.check()
    except GroupError:
        ok = False
    if not ok:
        for i, signed in enumerate(signed_list):
            if isinstance(out[i], str):
                continue
            try:
                v = verify_ballot(signed, fingerprint=fingerprint, joint_key=joint_key, items=items)
                out[i] = (v.voter, v.ciphertexts, v.tracking)
            except BallotError as e:
                out[i] = str(e)
    return out


_SHARED: dict[int, tuple] = {}
"""Inputs of the running ``verify_ballots`` calls, by call: forked workers inherit them, so only
(call, start, stop) crosses to a worker, never the ballots themselves (no pickling)."""


def _verify_range(args: tuple[int, int, int]) -> list:
    token, start, stop = args
    signed_list, fingerprint, joint_key, items = _SHARED[token]
    return _verify_chunk((signed_list[start:stop], fingerprint, joint_key, items, 1))  # the pool uses the cores


def verify_ballots(signed_list: list[dict], *, fingerprint: bytes, joint_key: Point, items: list[ItemShape],
                   workers: int | None = None) -> list[VerifiedBallot | BallotError]:
    """Verify many ballots, in parallel over ``workers`` processes (default: every core).

    Returns, in order, a VerifiedBallot or the BallotError of each ballot.  The workers are forked
    after the inputs are in place, so each receives only a range of indices; each sends back the
    voter key, the ciphertexts and the tracking code of its ballots (or the refusal).
    """
    import multiprocessing
    import os

    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(signed_list) < 64:
        chunks = [_verify_chunk((signed_list, fingerprint, joint_key, items, 0))]
    else:
        size = max(16, len(signed_list) // (workers * 32))  # small chunks: no worker idles long at the end
        token = next(_TOKENS)
        _SHARED[token] = (signed_list, fingerprint, joint_key, items)
        try:
            ranges = [(token, i, min(i + size, len(signed_list))) for i in range(0, len(signed_list), size)]
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                chunks = pool.map(_verify_range, ranges, chunksize=1)
        finally:
            del _SHARED[token]
    ids = tuple(it.id for it in items)
    out: list[VerifiedBallot | BallotError] = []
    remember = _TRACKING_ON[0] > 0
    for signed, r in zip(signed_list, itertools.chain.from_iterable(chunks)):
        if isinstance(r, str):
            out.append(BallotError(r))
        else:
            out.append(VerifiedBallot(r[0], bytes(fingerprint), ids, r[1], r[2], _TOKEN))
            if remember:
                _TRACKED[id(signed)] = (signed, r[2])
    return out


_TOKENS = itertools.count()
