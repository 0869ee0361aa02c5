"""The credential authority and the credential keys it registers in the ledger (SPEC §4.5).

Split trust (DESIGN.md "Credentials and trust"): the *credential authority* (street office,
notary; offline) draws the codes and prints the letters; the *operator* runs the server. The
authority signs, with its own Ed25519 key, every statement about voters' public keys; the server
only records what that key signed, and anybody can check it from the ledger alone.

Entry types (bodies in SPEC §4.5):

- ``authority``: the authority's name, contact and Ed25519 public key, recorded by an admin. A
  later ``authority`` entry replaces the key for the statements after it.
- ``credentials``, ``credential.revoke``, ``credential.reissue``: ``{"statement": S,
  "signature": sig}`` where ``sig`` is an Ed25519 signature by the recorded authority key over
  ``"gongjue/v1/" ‖ S.type ‖ 0x00 ‖ JCS(S)``. A credentials statement lists ``{"voter":
  pseudonym, "public_key": hex}`` — never a code.

``Registry`` is the state those entries make: the current key of each voter, the voter of each
key, and the revoked keys. ``registry_from_entries`` replays entries and raises on the first
statement that breaks a rule; ``check_log`` (run by ``gongjue verify`` through ``CHECKS``)
reports every such statement. ``registry(session, slug)`` reads the ledger, never a table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.signing
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import record
from identity.models import Estate
from ledger import checkpoint, keys, log
from ledger.entry import ParsedEntry, canonical, parse_entry
from ledger.models import Entry
from ledger.verify import ContentChecks, audit_memo, memoized

AUTHORITY = "authority"
CREDENTIALS = "credentials"
REVOKE = "credential.revoke"
REISSUE = "credential.reissue"
STATEMENT_TYPES = (CREDENTIALS, REVOKE, REISSUE)
ENTRY_TYPES = (AUTHORITY, *STATEMENT_TYPES)
REASONS = {"lost": "遗失", "exposed": "泄露", "transferred": "房屋转让", "error": "发放错误", "other": "其他"}
"""Why a key is revoked or reissued (a code, never free text: the ledger is public)."""

MAX_NAME = 100
MAX_CONTACT = 200
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX128 = re.compile(r"[0-9a-f]{128}\Z")
_VOTER = re.compile(r"[^\x00-\x20\x7f]{1,64}\Z")  # SPEC §6.2: a roll pseudonym (32 hex digits)


class AuthorityError(ValueError):
    """A statement, key or authority entry that breaks SPEC §4.5 (message: Chinese / English)."""


# --- keys and signatures ----------------------------------------------------------------------


def check_public_key(value: object, what: str = "public_key", *, point: bool = True) -> str:
    """``value`` if it is a valid Ed25519 public key in lowercase hex (SPEC §4.5), else AuthorityError.

    Valid: 64 lowercase hex digits encoding a canonical point of the prime-order subgroup that is
    not of small order (libsodium ``crypto_core_ed25519_is_valid_point``, ~0.1 ms: ``point=False``
    checks the form only, for keys already checked when they were recorded).
    """
    if not isinstance(value, str) or not _HEX64.match(value):
        raise AuthorityError(f"{what} 应为 64 位小写十六进制 / {what} must be 64 lowercase hex digits")
    if point and not _is_point(value):
        raise AuthorityError(f"{what} 不是有效的 Ed25519 公钥 / {what} is not a valid Ed25519 public key")
    return value


_POINTS: dict[str, bool] = {}
"""Keys (hex) already put through libsodium's point check in this process, with the answer (an
audit meets every key in several replays; ``precheck_points`` fills it from worker processes)."""
_POINTS_MAX = 1 << 20


def _is_point(value: str) -> bool:
    """libsodium's point check of a key in hex (cached in ``_POINTS``)."""
    known = _POINTS.get(value)
    if known is None:
        known = bool(nacl.bindings.crypto_core_ed25519_is_valid_point(bytes.fromhex(value)))
        if len(_POINTS) < _POINTS_MAX:
            _POINTS[value] = known
    return known


def _points_of(values: list[str]) -> list[bool]:
    """libsodium's point check of each key (a worker's part of ``precheck_points``)."""
    return [bool(nacl.bindings.crypto_core_ed25519_is_valid_point(bytes.fromhex(v))) for v in values]


PARALLEL_POINTS = 2048
"""From this many keys on, ``precheck_points`` spreads the point checks over worker processes."""


def precheck_points(values: Iterable[object], jobs: int) -> None:
    """Put the well-formed keys among ``values`` through the same point check as ``_is_point``, over
    ``jobs`` forked processes when there are many, and remember the answers: the replay that
    follows checks every key as before, from ``_POINTS``.  Nothing is accepted here."""
    todo = sorted({v for v in values if isinstance(v, str) and _HEX64.match(v) and v not in _POINTS})
    if jobs <= 1 or len(todo) < PARALLEL_POINTS or len(_POINTS) + len(todo) > _POINTS_MAX:
        return
    import multiprocessing

    step = len(todo) // (2 * jobs) + 1
    parts = [todo[i:i + step] for i in range(0, len(todo), step)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for part, answers in zip(parts, pool.map(_points_of, parts, chunksize=1)):
            _POINTS.update(zip(part, answers))


def valid_points() -> Iterator[str]:
    """The keys (hex) this process found to be valid Ed25519 points by ``_is_point``."""
    return (k for k, ok in _POINTS.items() if ok)


def fingerprint(public_key_hex: str) -> str:
    """What owners compare: the first 16 hex digits of SHA-256(key bytes) in groups of four."""
    digest = hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]
    return " ".join(digest[i:i + 4] for i in range(0, 16, 4))


def signed_message(statement: Mapping) -> bytes:
    """The bytes the authority signs: ``"gongjue/v1/" ‖ type ‖ 0x00 ‖ JCS(statement)``.

    JCS through ``ledger.entry.canonical`` (RFC 8785 bytes, the fast encoder; a statement holds
    only strings and integers, as its shape check requires), not the pure-Python ``rfc8785``:
    a 10,000-key statement is re-encoded by every registry replay of an audit."""
    return b"gongjue/v1/" + str(statement["type"]).encode("utf-8") + b"\x00" + canonical(statement)


def sign_statement(statement: dict, key: nacl.signing.SigningKey) -> dict:
    """The ledger body (and file) for ``statement``: ``{"statement": S, "signature": hex}``."""
    check_statement_shape(statement)
    if statement["authority"] != key.verify_key.encode().hex():
        raise AuthorityError("声明中的机构公钥与签名密钥不符 / the statement names another authority key")
    signature = key.sign(signed_message(statement)).signature.hex()
    return {"statement": statement, "signature": signature}


def verify_document(document: object, *, check_keys: bool = True) -> dict:
    """The statement of a signed document if its shape and its signature (by the key it names) hold.

    Within ``gongjue verify`` (``ledger.verify.audit_memo``) a document is checked once, however many
    registry replays meet it (the credentials, round, lifecycle, petition and consultation checks
    each replay the statements; a 10,000-key statement takes ~50 ms): the entries do not change
    during the audit, and a document that failed is checked again each time."""
    if audit_memo() is None:
        return _verify_document(document, check_keys=check_keys)
    if not check_keys:  # a document checked with its keys as points holds without
        known = audit_memo().get(("identity.authority.verify_document", id(document)))
        if known is not None and known[0] is document:
            return known[1]
    return memoized("identity.authority.verify_document" if check_keys else "identity.authority.verify_form",
                    document, lambda: _verify_document(document, check_keys=check_keys))


def _verify_document(document: object, *, check_keys: bool) -> dict:
    if not isinstance(document, dict) or set(document) != {"statement", "signature"}:
        raise AuthorityError("文件应只含 statement 与 signature / a signed statement has exactly the members "
                             "statement and signature")
    statement = document["statement"]
    check_statement_shape(statement, check_keys=check_keys)
    signature = document["signature"]
    if not isinstance(signature, str) or not _HEX128.match(signature):
        raise AuthorityError("签名应为 128 位小写十六进制 / signature must be 128 lowercase hex digits")
    try:
        nacl.signing.VerifyKey(bytes.fromhex(statement["authority"])).verify(
            signed_message(statement), bytes.fromhex(signature))
    except nacl.exceptions.BadSignatureError:
        raise AuthorityError("签名无效：声明不是该机构密钥签署的，或签署后被改动 / bad signature: the statement "
                             "was not signed by the key it names, or was changed after signing") from None
    return statement


# --- statement shapes -------------------------------------------------------------------------


def credentials_statement(origin: str, authority: str, roll_version: int, pairs: Iterable[tuple[str, str]]) -> dict:
    """A ``credentials`` statement: the voters of roll ``roll_version`` and their public keys."""
    return {"v": 1, "type": CREDENTIALS, "estate": origin, "authority": authority, "roll": roll_version,
            "credentials": [{"voter": v, "public_key": k} for v, k in pairs]}


def revoke_statement(origin: str, authority: str, voter: str, public_key: str, reason: str) -> dict:
    """A ``credential.revoke`` statement: ``public_key`` (the voter's current key) never casts again."""
    return {"v": 1, "type": REVOKE, "estate": origin, "authority": authority, "voter": voter,
            "public_key": public_key, "reason": reason}


def reissue_statement(origin: str, authority: str, voter: str, public_key: str, replaces: str | None,
                      reason: str) -> dict:
    """A ``credential.reissue`` statement: ``public_key`` becomes the voter's key, ``replaces`` is revoked."""
    return {"v": 1, "type": REISSUE, "estate": origin, "authority": authority, "voter": voter,
            "public_key": public_key, "replaces": replaces, "reason": reason}


_MEMBERS = {
    CREDENTIALS: {"v", "type", "estate", "authority", "roll", "credentials"},
    REVOKE: {"v", "type", "estate", "authority", "voter", "public_key", "reason"},
    REISSUE: {"v", "type", "estate", "authority", "voter", "public_key", "replaces", "reason"},
}


def check_statement_shape(statement: object, *, check_keys: bool = True) -> None:
    """Refuse (AuthorityError) a statement whose members or values break SPEC §4.5 (``check_keys``
    False: voters' keys are checked for their form, not as curve points)."""
    if not isinstance(statement, dict) or statement.get("type") not in _MEMBERS:
        raise AuthorityError(f"未知的声明类型 / unknown statement type "
                             f"{statement.get('type') if isinstance(statement, dict) else None!r}")
    kind = statement["type"]
    if set(statement) != _MEMBERS[kind]:
        raise AuthorityError(f"{kind} 声明的字段应为 {sorted(_MEMBERS[kind])} / a {kind} statement has exactly "
                             f"the members {sorted(_MEMBERS[kind])}")
    if statement["v"] != 1 or isinstance(statement["v"], bool):
        raise AuthorityError("声明版本应为 1 / statement version v must be 1")
    if not isinstance(statement["estate"], str) or "/" not in statement["estate"]:
        raise AuthorityError("estate 应为小区的日志来源 <站点>/<代号> / estate must be the log origin <site>/<slug>")
    check_public_key(statement["authority"], "authority")
    if kind == CREDENTIALS:
        roll = statement["roll"]
        if not isinstance(roll, int) or isinstance(roll, bool) or roll < 1:
            raise AuthorityError("roll 应为名册版本号（正整数）/ roll must be a roll version number")
        items = statement["credentials"]
        if not isinstance(items, list) or not items:
            raise AuthorityError("credentials 应为非空列表 / credentials must be a non-empty list")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"voter", "public_key"}:
                raise AuthorityError(f"credentials[{i}] 应只含 voter 与 public_key / credentials[{i}] has exactly "
                                     f"the members voter and public_key")
            _check_voter(item["voter"], f"credentials[{i}].voter")
            check_public_key(item["public_key"], f"credentials[{i}].public_key", point=check_keys)
        return
    _check_voter(statement["voter"], "voter")
    check_public_key(statement["public_key"], point=check_keys)
    if statement["reason"] not in REASONS:
        raise AuthorityError(f"原因应为 {'、'.join(REASONS)} 之一 / reason must be one of {', '.join(REASONS)}")
    if kind == REISSUE and statement["replaces"] is not None:
        check_public_key(statement["replaces"], "replaces")


def _check_voter(value: object, what: str) -> None:
    if not isinstance(value, str) or not _VOTER.match(value):
        raise AuthorityError(f"{what} 不是有效的表决权人编号 / {what} is not a valid voter pseudonym")


def authority_body(name: str, contact: str, public_key: str) -> dict:
    """Body of an ``authority`` entry (no personal data: an office's name and public contact)."""
    body = {"v": 1, "name": name.strip(), "contact": contact.strip(), "public_key": public_key}
    check_authority_body(body)
    return body


def check_authority_body(body: object) -> None:
    if not isinstance(body, dict) or set(body) != {"v", "name", "contact", "public_key"} or body["v"] != 1:
        raise AuthorityError("authority 条目应含 v=1、name、contact、public_key / an authority entry has exactly "
                             "v (1), name, contact and public_key")
    if not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= MAX_NAME:
        raise AuthorityError(f"机构名称应为 1–{MAX_NAME} 个字符 / authority name must have 1-{MAX_NAME} characters")
    if not isinstance(body["contact"], str) or len(body["contact"]) > MAX_CONTACT:
        raise AuthorityError(f"联系方式至多 {MAX_CONTACT} 个字符 / contact must have at most {MAX_CONTACT} characters")
    check_public_key(body["public_key"])


# --- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    """The credential authority as its latest ``authority`` entry records it."""

    name: str
    contact: str
    public_key: str
    seq: int


@dataclass
class Registry:
    """Voters' credential keys as the ledger's statements leave them (SPEC §4.5).

    ``key_of`` and ``voter_of`` answer only for current (registered, unrevoked) keys.
    """

    origin: str | None = None
    authority: Authority | None = None
    _current: dict[str, str] = field(default_factory=dict)  # voter → current key
    _holder: dict[str, str] = field(default_factory=dict)  # every key ever registered → voter
    _revoked: set[str] = field(default_factory=set)
    _ever: set[str] = field(default_factory=set)  # voters ever given a key
    _since: dict[str, int] = field(default_factory=dict)  # voter → seq of the entry that gave the current key
    _rolls: dict[int, frozenset[str]] = field(default_factory=dict)  # version → voters (when rolls were seen)
    _latest_roll: int | None = None

    def key_of(self, voter: str) -> str | None:
        """The voter's current key (hex), or None when they have none or it was revoked."""
        return self._current.get(voter)

    def voter_of(self, public_key: str) -> str | None:
        """The voter a current key belongs to; None for an unknown or revoked key."""
        voter = self._holder.get(public_key)
        return voter if voter is not None and self._current.get(voter) == public_key else None

    def revoked(self, public_key: str) -> bool:
        """True when ``public_key`` was registered and has since been revoked or replaced."""
        return public_key in self._revoked

    def registered_at(self, voter: str) -> int | None:
        """The seq of the ledger entry that registered the voter's current key (for a link to it)."""
        return self._since.get(voter) if voter in self._current else None

    def registered(self, public_key: str) -> bool:
        """True when ``public_key`` was ever registered for any voter."""
        return public_key in self._holder

    def had_credential(self, voter: str) -> bool:
        """True when the voter was ever given a key (current or revoked)."""
        return voter in self._ever

    @property
    def current(self) -> dict[str, str]:
        """voter → current key, in registration order."""
        return dict(self._current)

    # -- replay -------------------------------------------------------------------------------

    def apply(self, entry: ParsedEntry, *, check_roll: bool = True, check_keys: bool = True) -> None:
        """Apply one ledger entry; raise AuthorityError (nothing changed) if it breaks a rule."""
        if entry.type == record.ESTATE:
            self.origin = entry.body.get("origin")
        elif entry.type == record.ROLL:
            self._see_roll(entry.body)
        elif entry.type == AUTHORITY:
            check_authority_body(entry.body)
            b = entry.body
            self.authority = Authority(b["name"], b["contact"], b["public_key"], entry.seq)
        elif entry.type in STATEMENT_TYPES:
            statement = self.check(entry.body, check_roll=check_roll, check_keys=check_keys)
            if statement["type"] != entry.type:
                raise AuthorityError(f"条目类型 {entry.type} 与声明类型 {statement['type']} 不符 / entry type "
                                     f"{entry.type} carries a {statement['type']} statement")
            self._record(statement, entry.seq)

    def check(self, document: object, *, check_roll: bool = True, check_keys: bool = True) -> dict:
        """The statement of ``document`` if it may be recorded now, else AuthorityError naming why."""
        statement = verify_document(document, check_keys=check_keys)
        if self.authority is None:
            raise AuthorityError("账本中还没有登记凭证机构的公钥 / no credential authority key is recorded "
                                 "in this estate's ledger yet")
        if statement["authority"] != self.authority.public_key:
            raise AuthorityError("声明不是本小区登记的凭证机构签署的 / the statement is not signed by the "
                                 "credential authority recorded for this estate")
        if self.origin is not None and statement["estate"] != self.origin:
            raise AuthorityError(f"声明属于另一个小区 {statement['estate']} / the statement is for another estate "
                                 f"({statement['estate']}, this is {self.origin})")
        kind = statement["type"]
        if kind == CREDENTIALS:
            self._check_credentials(statement, check_roll)
        elif kind == REVOKE:
            if self._current.get(statement["voter"]) != statement["public_key"]:
                raise AuthorityError("要作废的不是该表决权人当前的公钥 / the key to revoke is not the voter's "
                                     "current key")
        else:
            self._check_reissue(statement, check_roll)
        return statement

    def _check_credentials(self, statement: dict, check_roll: bool) -> None:
        voters = self._rolls.get(statement["roll"]) if check_roll else None
        if check_roll and voters is None:
            raise AuthorityError(f"账本中没有第 {statement['roll']} 版名册 / roll version {statement['roll']} "
                                 f"is not in the ledger")
        latest = self._rolls[self._latest_roll] if check_roll else None
        seen_voters: set[str] = set()
        seen_keys: set[str] = set()
        for i, item in enumerate(statement["credentials"]):
            voter, key = item["voter"], item["public_key"]
            if voters is not None and voter not in voters:
                raise AuthorityError(f"credentials[{i}]：表决权人 {voter} 不在第 {statement['roll']} 版名册中 / "
                                     f"voter {voter} is not in roll version {statement['roll']}")
            if latest is not None and voter not in latest:
                raise AuthorityError(f"credentials[{i}]：表决权人 {voter} 已不在最新的第 {self._latest_roll} 版名册中 / "
                                     f"voter {voter} is no longer in the latest roll (version {self._latest_roll})")
            if voter in seen_voters or self.had_credential(voter):
                raise AuthorityError(f"credentials[{i}]：表决权人 {voter} 已有凭证，补发请用 reissue / voter {voter} "
                                     f"already has a credential (use a reissue statement)")
            if key in seen_keys or key in self._holder:
                raise AuthorityError(f"credentials[{i}]：公钥已登记过 / public key already registered")
            seen_voters.add(voter)
            seen_keys.add(key)

    def _check_reissue(self, statement: dict, check_roll: bool) -> None:
        voter = statement["voter"]
        if not self.had_credential(voter):
            raise AuthorityError(f"表决权人 {voter} 从未登记过凭证 / voter {voter} never had a credential "
                                 f"(register it with a credentials statement)")
        if check_roll and self._latest_roll is not None and voter not in self._rolls[self._latest_roll]:
            raise AuthorityError(f"表决权人 {voter} 不在最新名册中 / voter {voter} is not in the latest roll")
        if statement["replaces"] != self._current.get(voter):
            raise AuthorityError("replaces 应为该表决权人当前的公钥（已作废则为 null）/ replaces must be the "
                                 "voter's current key (null when it was revoked)")
        if statement["public_key"] in self._holder:
            raise AuthorityError("新公钥已登记过 / the new public key was registered before")

    def _record(self, statement: dict, seq: int) -> None:
        if statement["type"] == CREDENTIALS:
            for item in statement["credentials"]:
                self._current[item["voter"]] = item["public_key"]
                self._holder[item["public_key"]] = item["voter"]
                self._ever.add(item["voter"])
                self._since[item["voter"]] = seq
        elif statement["type"] == REVOKE:
            del self._current[statement["voter"]]
            self._revoked.add(statement["public_key"])
        else:
            if statement["replaces"] is not None:
                self._revoked.add(statement["replaces"])
            self._current[statement["voter"]] = statement["public_key"]
            self._holder[statement["public_key"]] = statement["voter"]
            self._since[statement["voter"]] = seq

    def _see_roll(self, body: dict) -> None:
        version = body.get("version")
        if isinstance(version, int):
            self._rolls[version] = frozenset(roll_voters(body))
            self._latest_roll = version


def roll_voters(body: dict) -> Iterable[str]:
    """The voters (pseudonyms) a ``roll`` entry body lists (SPEC §6.2); none when it is malformed
    (``identity.record.CHECKS`` reports that entry)."""
    try:
        return record.voter_weights(body).keys()
    except (ValueError, TypeError, KeyError):
        return ()


def registry_from_entries(entries: Iterable[ParsedEntry], *, check_roll: bool = True,
                          check_keys: bool = True) -> Registry:
    """Replay ``entries`` (seq order); raise ValueError naming the first entry that breaks SPEC §4.5.

    With ``check_roll`` (default) statements must name voters of roll entries among ``entries``;
    with ``check_keys`` (default) every key is checked as a curve point (~1.2 s per 10,000 keys).
    ``registry()`` passes False for both: registration and ``gongjue verify`` check them, and the
    authority's signature is still verified on every statement.
    """
    reg = Registry()
    for entry in entries:
        try:
            reg.apply(entry, check_roll=check_roll, check_keys=check_keys)
        except AuthorityError as exc:
            raise AuthorityError(f"条目 {entry.seq}（{entry.type}）：{exc}") from None
    return reg


def check_log(entries: Iterable[ParsedEntry], ctx: object) -> Iterator[tuple[int | None, str]]:
    """Whole-log content check (contract C4): every broken credential statement, by entry."""
    reg = Registry(origin=getattr(ctx, "origin", None))
    entries = list(entries)
    precheck_points((item.get("public_key") for e in entries if e.type == CREDENTIALS
                     and isinstance(e.body, dict) and isinstance(e.body.get("statement"), dict)
                     and isinstance(e.body["statement"].get("credentials"), list)
                     for item in e.body["statement"]["credentials"] if isinstance(item, dict)),
                    getattr(ctx, "jobs", 1))
    for entry in entries:
        if entry.type == record.ESTATE:
            continue  # the estate entry's own check compares it with the checkpoint origin
        try:
            reg.apply(entry)
        except AuthorityError as exc:
            yield entry.seq, f"{entry.type}: {exc}"
        except (KeyError, TypeError, ValueError) as exc:
            yield entry.seq, f"{entry.type}: malformed ({exc})"


CHECKS = ContentChecks(whole_log=(check_log,))
"""What ``gongjue verify`` runs for credentials (contract C4): ``check_log`` over the whole log."""


# --- the database side: read the ledger, record statements ------------------------------------


def _estate(session: Session, slug: str) -> Estate:
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None or estate.log_id is None:
        raise AuthorityError(f"小区 '{slug}' 不存在 / no estate '{slug}'")
    return estate


def _entries(session: Session, log_id: int, types: Iterable[str]) -> Iterator[ParsedEntry]:
    rows = session.scalars(select(Entry.data).where(Entry.log_id == log_id, Entry.type.in_(tuple(types)))
                           .order_by(Entry.seq))
    for data in rows:
        yield parse_entry(bytes(data))


def registry(session: Session, slug: str, *, with_rolls: bool = False) -> Registry:
    """The estate's registry, replayed from its ledger entries (never from tables)."""
    estate = _estate(session, slug)
    types = (record.ESTATE, *ENTRY_TYPES, *((record.ROLL,) if with_rolls else ()))
    return registry_from_entries(_entries(session, estate.log_id, types), check_roll=with_rolls, check_keys=False)


def record_authority(session: Session, slug: str, name: str, contact: str, public_key: str) -> int:
    """Append an ``authority`` entry (an admin's act) and sign a checkpoint; returns its seq."""
    body = authority_body(name, contact, check_public_key(public_key))
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    entry = log.append(session, estate.log_id, AUTHORITY, body)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry.seq


def record_statement(session: Session, slug: str, document: object) -> tuple[int, dict]:
    """Check a signed statement against the ledger and append it; returns (seq, statement).

    The log is locked first, so two registrations cannot both give one voter a key. Raises
    AuthorityError, writing nothing, when the signature, the authority, the estate, a voter or a
    key is wrong.
    """
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    reg = registry(session, slug, with_rolls=True)
    statement = reg.check(document)
    entry = log.append(session, estate.log_id, statement["type"], document)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry.seq, statement
