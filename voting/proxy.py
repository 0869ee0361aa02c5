"""Proxies: an owner authorises another voter of the estate to cast for them in one round (SPEC §7.8).

Entry types (bodies in SPEC §7.8): ``proxy.grant`` and ``proxy.revoke``, each
``{"v": 1, "round", "voter", "proxy", "authorisation"}`` where ``voter`` is the represented
voter's pseudonym, ``proxy`` the proxy's, and ``authorisation`` either

- ``{"kind": "signed", "key": <the voter's credential key>, "sig": <Ed25519 signature>}`` — the
  owner signed, with their own credential key (in their browser), the statement
  ``{"v": 1, "type": <entry type>, "round": <round fingerprint hex>, "voter", "proxy"}`` as
  ``"gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement)`` (the Ed25519 rule of SPEC §3.6); or the same
  with ``"salt"`` added, when the owner named the proxy by a flat and signed ``proxy_ref`` (a
  salted hash of the proxy's pseudonym, ``proxy_ref``) in place of ``proxy``: the owner's browser
  never learns another owner's pseudonym; or
- ``{"kind": "written", "scan_sha256": <64 hex>}`` — a supervisor recorded a written
  authorisation (or revocation) on paper; the ledger keeps the SHA-256 of its scan.

Rules (the same in ``record_grant`` / ``record_revoke``, in ``voting.cast`` and in the audit,
``Book``): both voters differ; the represented voter is in the round's snapshot and has no ballot
in the round yet; at most one grant in force per represented voter; the round's proxy cap bounds
the grants in force per proxy; a revocation needs the grant in force and no ballot cast for the
voter yet ("revocation works until the owner's ballot is cast"). A ballot the owner casts
themselves ends the grant in force (decision, SPEC §7.8): the owner's own vote always wins over
an authorisation they gave, and the proxy can no longer cast for them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import nacl.signing
import rfc8785

from voting.crypto import ed25519

GRANT = "proxy.grant"
REVOKE = "proxy.revoke"
TYPES = (GRANT, REVOKE)
BODY_KEYS = frozenset({"v", "round", "voter", "proxy", "authorisation"})
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX128 = re.compile(r"[0-9a-f]{128}\Z")
_VOTER = re.compile(r"\S{1,64}\Z")
_ROUND = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


class ProxyError(ValueError):
    """A refused grant, revocation or proxy ballot: a stable ``code`` and a message 中文 / English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --- formats ----------------------------------------------------------------------------------


REF_TAG = b"gongjue/v1/proxy.ref"


def proxy_ref(fingerprint_hex: str, proxy: str, salt: str) -> str:
    """The proxy named without its pseudonym (SPEC §7.8): SHA-256(``"gongjue/v1/proxy.ref"`` ‖ 0x00 ‖
    JCS({"round": <fingerprint hex>, "proxy", "salt"})), hex. ``salt``: 64 hex, random, kept by the
    server until the entry that uses it publishes it."""
    return hashlib.sha256(REF_TAG + b"\x00" + rfc8785.dumps({"round": fingerprint_hex, "proxy": proxy,
                                                             "salt": salt})).hexdigest()


def statement(kind: str, fingerprint_hex: str, voter: str, proxy: str, salt: str | None = None) -> dict:
    """What the owner's credential key signs for a grant or a revocation (SPEC §7.8): the proxy by
    pseudonym, or with ``salt`` by ``proxy_ref`` (``statement_by_ref``)."""
    if salt is not None:
        return statement_by_ref(kind, fingerprint_hex, voter, proxy_ref(fingerprint_hex, proxy, salt))
    return {"v": 1, "type": kind, "round": fingerprint_hex, "voter": voter, "proxy": proxy}


def statement_by_ref(kind: str, fingerprint_hex: str, voter: str, ref: str) -> dict:
    """The statement that names the proxy by ``proxy_ref`` (what the proxies page has the browser sign)."""
    return {"v": 1, "type": kind, "round": fingerprint_hex, "voter": voter, "proxy_ref": ref}


def signing_bytes(st: dict) -> bytes:
    return b"gongjue/v1/" + st["type"].encode() + b"\x00" + rfc8785.dumps(st)


def signed_authorisation(kind: str, fingerprint_hex: str, voter: str, proxy: str,
                         signing_key: nacl.signing.SigningKey, salt: str | None = None) -> dict:
    """The ``authorisation`` of an owner-signed grant or revocation (what the owner's browser makes,
    with the server's ``salt`` added when it signed ``proxy_ref``)."""
    sig = signing_key.sign(signing_bytes(statement(kind, fingerprint_hex, voter, proxy, salt))).signature
    made = {"kind": "signed", "key": bytes(signing_key.verify_key).hex(), "sig": sig.hex()}
    return made if salt is None else {**made, "salt": salt}


def written_authorisation(scan: bytes | None = None, *, scan_sha256: str | None = None) -> dict:
    """The ``authorisation`` of a paper authorisation recorded by a supervisor: the scan's SHA-256."""
    digest = hashlib.sha256(scan).hexdigest() if scan is not None else scan_sha256
    return {"kind": "written", "scan_sha256": digest}


def body(round_id: str, voter: str, proxy: str, authorisation: dict) -> dict:
    b = {"v": 1, "round": round_id, "voter": voter, "proxy": proxy, "authorisation": authorisation}
    parse_body(b)
    return b


def parse_body(b: object) -> dict:
    """Shape of a ``proxy.grant`` / ``proxy.revoke`` body (SPEC §7.8); ProxyError(bad_request)."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ProxyError("bad_request", f"委托条目格式不符 / proxy entry: {msg}")

    need(isinstance(b, dict) and set(b) == BODY_KEYS, "expected exactly v, round, voter, proxy, authorisation")
    need(b["v"] == 1 and type(b["v"]) is int, "v must be 1")
    need(isinstance(b["round"], str) and _ROUND.match(b["round"]) is not None, "bad round id")
    for k in ("voter", "proxy"):
        need(isinstance(b[k], str) and _VOTER.match(b[k]) is not None, f"{k} must be a voter pseudonym")
    a = b["authorisation"]
    need(isinstance(a, dict) and a.get("kind") in ("signed", "written"), "authorisation.kind must be signed or written")
    if a["kind"] == "signed":
        need(set(a) in ({"kind", "key", "sig"}, {"kind", "key", "sig", "salt"})
             and isinstance(a["key"], str) and _HEX64.match(a["key"]) is not None
             and isinstance(a["sig"], str) and _HEX128.match(a["sig"]) is not None
             and (isinstance(a.get("salt", ""), str) and _HEX64.match(a.get("salt", "0" * 64)) is not None),
             "a signed authorisation is {kind, key: 64 hex, sig: 128 hex[, salt: 64 hex]}")
    else:
        need(set(a) == {"kind", "scan_sha256"} and isinstance(a["scan_sha256"], str)
             and _HEX64.match(a["scan_sha256"]) is not None,
             "a written authorisation is {kind, scan_sha256: 64 hex}")
    return b


def check_signature(kind: str, b: dict, fingerprint_hex: str, voter_key: str | None) -> None:
    """An owner-signed authorisation: the key is the represented voter's current credential key
    (``voter_key``, from the registry at the entry's place) and the signature verifies."""
    a = b["authorisation"]
    if a["kind"] != "signed":
        return
    if voter_key is None or a["key"] != voter_key:
        raise ProxyError("bad_signature", "委托不是被代理人当前的凭证签署的 / the authorisation is not signed with "
                                          "the represented voter's current credential key")
    try:
        signed = statement(kind, fingerprint_hex, b["voter"], b["proxy"], a.get("salt"))
        ed25519.verify(bytes.fromhex(a["key"]), signing_bytes(signed), bytes.fromhex(a["sig"]))
    except ed25519.SignatureError as e:
        raise ProxyError("bad_signature", f"委托签名无效 / the authorisation's signature does not verify ({e})") from None


# --- a proxy's ballot: bound to the voter it counts for -------------------------------------------

BALLOT_BINDING = "proxy.ballot"


def ballot_statement(fingerprint_hex: str, voter: str, tracking: str) -> dict:
    """What the proxy's credential key signs with a ballot cast for ``voter`` (SPEC §7.8 rule 5):
    the ballot (its tracking code) counts for that represented voter, in that round."""
    return {"v": 1, "type": BALLOT_BINDING, "round": fingerprint_hex, "for": voter, "tracking": tracking}


def _binding_bytes(st: dict) -> bytes:
    return b"gongjue/v1/" + BALLOT_BINDING.encode() + b"\x00" + rfc8785.dumps(st)


def sign_ballot_binding(fingerprint_hex: str, voter: str, tracking: str, signing_key: nacl.signing.SigningKey) -> str:
    """The ``for_sig`` of a proxy's ballot entry (what the proxy's browser makes), hex."""
    return signing_key.sign(_binding_bytes(ballot_statement(fingerprint_hex, voter, tracking))).signature.hex()


def check_ballot_binding(fingerprint_hex: str, voter: str, tracking: str, key_hex: str, for_sig: object) -> None:
    """``for_sig`` is the ballot key's signature binding ``tracking`` to ``voter``; else ProxyError(bad_signature)."""
    try:
        if not isinstance(for_sig, str) or _HEX128.match(for_sig) is None:
            raise ed25519.SignatureError("for_sig must be 128 hex digits")
        ed25519.verify(bytes.fromhex(key_hex), _binding_bytes(ballot_statement(fingerprint_hex, voter, tracking)),
                       bytes.fromhex(for_sig))
    except ed25519.SignatureError as e:
        raise ProxyError("bad_signature", f"代投选票缺少受托人对被代理人的有效签名 / the proxy's signature binding the "
                                          f"ballot to voter {voter} is missing or does not verify ({e})") from None


# --- the rules, replayed (audit) --------------------------------------------------------------


@dataclass
class Book:
    """The proxies of one round as its entries leave them, in log order (SPEC §7.8)."""

    voters: dict[str, int]
    cap: int | None
    in_force: dict[str, tuple[str, int]] = field(default_factory=dict)  # voter → (proxy, grant seq)
    voted: set[str] = field(default_factory=set)  # voters with a ballot (own or by proxy)

    def load(self, voter: str) -> int:
        return sum(1 for p, _ in self.in_force.values() if p == voter)

    def check_grant(self, voter: str, proxy: str) -> None:
        if voter == proxy:
            raise ProxyError("bad_request", "不能委托给自己 / a voter cannot be their own proxy")
        if voter not in self.voters:
            raise ProxyError("not_eligible", f"被代理人 {voter} 不在本轮范围内 / voter {voter} is not in the round's snapshot")
        if voter in self.voted:
            raise ProxyError("already_voted", f"表决权人 {voter} 已投票，不能再委托 / voter {voter} has already voted")
        if voter in self.in_force:
            raise ProxyError("proxy_exists", f"表决权人 {voter} 已有生效的委托（先撤销）/ voter {voter} already has a "
                                             f"proxy in force (revoke it first)")
        if self.cap is not None and self.load(proxy) >= self.cap:
            raise ProxyError("proxy_cap", f"受托人 {proxy} 已代理 {self.cap} 位表决权人（上限）/ proxy {proxy} already "
                                          f"represents {self.cap} voter(s), the round's cap")

    def check_revoke(self, voter: str, proxy: str) -> None:
        if self.in_force.get(voter, (None,))[0] != proxy:
            raise ProxyError("no_proxy_grant", f"没有生效的委托 {voter} → {proxy} / no grant in force from {voter} to {proxy}")
        if voter in self.voted:
            raise ProxyError("already_voted", f"受托人已为 {voter} 投票，委托不能再撤销 / a ballot was already cast for "
                                              f"{voter}: the grant can no longer be revoked")

    def grant(self, voter: str, proxy: str, seq: int) -> None:
        self.check_grant(voter, proxy)
        self.in_force[voter] = (proxy, seq)

    def revoke(self, voter: str, proxy: str) -> None:
        self.check_revoke(voter, proxy)
        del self.in_force[voter]

    def check_ballot(self, voter: str, caster: str) -> None:
        """``caster`` (the key's voter) casts for ``voter``: a grant must be in force."""
        if self.in_force.get(voter, (None,))[0] != caster:
            raise ProxyError("no_proxy_grant", f"{caster} 没有 {voter} 生效的委托 / {caster} holds no grant in force "
                                               f"from {voter}")

    def ballot(self, voter: str, caster: str) -> None:
        """Record a ballot for ``voter`` cast by ``caster``; the owner's own ballot ends the grant."""
        if caster != voter:
            self.check_ballot(voter, caster)
        else:
            self.in_force.pop(voter, None)
        self.voted.add(voter)


def apply_entry(book: Book, entry_type: str, seq: int, b: dict, fingerprint_hex: str, key_of) -> None:
    """Check and apply one proxy entry; ``key_of(voter)`` is the registry's current key at its place."""
    parse_body(b)
    check_signature(entry_type, b, fingerprint_hex, key_of(b["voter"]))
    if key_of(b["proxy"]) is None and entry_type == GRANT:
        raise ProxyError("not_eligible", f"受托人 {b['proxy']} 没有有效凭证 / proxy {b['proxy']} holds no current credential")
    if entry_type == GRANT:
        book.grant(b["voter"], b["proxy"], seq)
    else:
        book.revoke(b["voter"], b["proxy"])

