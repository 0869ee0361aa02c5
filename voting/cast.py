"""Casting a ballot: verify, check the round and the voter, append, sign, receipt (SPEC §7.2, §7.8).

``cast(engine, slug, round_id, text, *, voter, factor, for_voter=None, now=None) -> dict`` is what
the ballot API, paper stations, the simulator and tests call.  ``voter`` and ``factor`` come from
the owner session (``web.owner.owner_session``: the second factor); ``text`` is the signed
ballot's JSON text exactly as received; ``for_voter`` names the represented voter when the
session's voter casts as a proxy.  Steps:

1. read (``ledger.db.reading``, no write lock): the estate, the round (``voting.rounds.load`` —
   the ledger's view — and its state at ``now``), the credential registry (SPEC §4.5);
2. verify the ballot from its text, in this thread (never a forked process): strict JSON, kind
   pinned to the round's secrecy, the round fingerprint, the signature, every proof;
3. the key's voter (registry) must be the session's voter; the voter counted is that voter, or,
   for a proxy ballot, ``for_voter`` with a grant in force to the session's voter;
4. one short write transaction: lock the log, re-check what entries appended since step 1 may
   have changed (close, extension, credentials), the duplicate / revote / paper policy and the
   proxy grant against the projections (``voting_voted`` has one row per voter: its primary key
   makes two simultaneous casts for one voter end with exactly one ballot when revotes are off),
   append the ``ballot`` entry, sign a checkpoint, build the receipt.  The casts of one process
   that wait for the log meanwhile share that transaction (group commit, ``_commit``): each is
   checked on its own, then one checkpoint covers all of them and each gets its receipt;
5. return the receipt only after the commit.

Every refusal raises ``CastError(code, message)`` with a stable code (``CODES``) and writes
nothing.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CompoundSelect,
    ForeignKey,
    Integer,
    Select,
    String,
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import authority
from identity.models import Estate
from ledger import checkpoint, keys, log
from ledger import receipt as receipts
from ledger.db import Base, lookups, reading, transaction
from ledger.models import Entry
from ledger.receipt import build_receipt
from voting import proxy as proxies
from voting import proxy_ref as proxy_refs
from voting import round_record
from voting import rounds as rounds_
from voting.crypto import ballot as ballots_
from voting.crypto import ed25519, strictjson

CODES = {
    "no_session": (401, "需要业主登录（短信验证码或 PIN）/ an owner session (second factor) is needed"),
    "no_estate": (404, "没有这个小区 / no such estate"),
    "no_round": (404, "没有这个表决轮次 / no such round"),
    "round_not_open": (409, "本轮不在投票期内 / the round is not open for voting"),
    "bad_ballot": (422, "选票格式无效 / the ballot is malformed"),
    "wrong_round": (422, "选票属于另一轮表决 / the ballot was made for another round"),
    "bad_signature": (422, "选票签名无效 / the ballot's signature does not verify"),
    "bad_proof": (422, "选票证明无效 / a proof in the ballot does not verify"),
    "unknown_credential": (403, "凭证未登记 / the credential key is not registered"),
    "revoked_credential": (403, "凭证已被吊销 / the credential key was revoked"),
    "wrong_voter": (403, "这张凭证不属于登录的业主 / the credential is not the signed-in owner's"),
    "not_eligible": (403, "不在本轮表决范围内 / the voter is not eligible in this round"),
    "no_proxy_grant": (403, "没有生效的委托 / no proxy grant in force"),
    "already_voted": (409, "已经投过票 / a ballot was already cast for this voter"),
    "duplicate_ballot": (409, "这张选票已经投过 / this very ballot was already cast"),
    "proxy_exists": (409, "已有生效的委托 / a proxy grant is already in force"),
    "proxy_cap": (409, "受托人代理人数已达上限 / the proxy already represents the round's cap of voters"),
    "bad_request": (422, "请求无效 / invalid request"),
}
"""Stable refusal codes → (HTTP status, general message).  The raised message names the detail."""


class CastError(ValueError):
    """A refused cast (or proxy entry): ``code`` (a key of ``CODES``) and a message 中文 / English."""

    def __init__(self, code: str, message: str | None = None):
        super().__init__(message or CODES[code][1])
        self.code = code
        self.message = message or CODES[code][1]

    @property
    def status(self) -> int:
        return CODES.get(self.code, (422,))[0]


# --- projections (migration voting_0002) ------------------------------------------------------


class Voted(Base):
    """Who has a ballot in a round: one row per (log, round, voter); the first ballot inserts it."""

    __tablename__ = "voting_voted"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    round_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    voter: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # electronic | paper
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    ballots: Mapped[int] = mapped_column(Integer)


class BallotRow(Base):
    """One ``ballot`` entry: the voter it counts for, the key that signed, the proxy, the tracking code."""

    __tablename__ = "voting_ballots"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    round_id: Mapped[str] = mapped_column(String(63))
    voter: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    proxy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking: Mapped[str] = mapped_column(String(64))


class ProxyGrant(Base):
    """The grant in force for a represented voter of a round (``proxy.grant`` not yet revoked or ended)."""

    __tablename__ = "voting_proxy_grants"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    round_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    voter: Mapped[str] = mapped_column(String(64), primary_key=True)
    proxy: Mapped[str] = mapped_column(String(64))
    grant_seq: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[bool] = mapped_column(Boolean)


# --- the round as casting sees it -------------------------------------------------------------

LIFECYCLE = ("round", "round.extend", "round.close", "round.result", "round.final")
CREDENTIAL_TYPES = ("estate", *authority.ENTRY_TYPES)
_LIFE = frozenset(LIFECYCLE) | frozenset(rounds_.LIFE_TYPES)  # any entry that changes a round's view


@dataclass(frozen=True)
class RoundInfo:
    round_id: str
    secrecy: str
    fingerprint: bytes
    joint_key: bytes | None
    items: list
    voters: dict[str, int]
    state: str
    revote: bool
    proxy_cap: int | None
    duplicate: str


def _policy(policies: object, name: str, default):
    if isinstance(policies, dict):
        return policies.get(name, default)
    return getattr(policies, name, default) if policies is not None else default


def _bytes(value) -> bytes | None:
    if value is None:
        return None
    return bytes.fromhex(value) if isinstance(value, str) else bytes(value)


def _round_base(session: Session, estate: Estate, round_id: str) -> tuple[rounds_.RoundView, RoundInfo]:
    """The round's view from the ledger (``voting.rounds.load``) and its RoundInfo without a state."""
    try:
        view = rounds_.load(session, estate.slug, round_id)
    except rounds_.RoundError as e:
        raise CastError("no_round", str(e)) from None
    if view is None:
        raise CastError("no_round", f"没有表决轮次 {round_id} / no round {round_id!r}")
    pol = view.policies
    return view, RoundInfo(view.round_id, view.secrecy, _bytes(view.fingerprint), _bytes(view.joint_key),
                           list(view.items), dict(view.voters), "", bool(_policy(pol, "revote", False)),
                           _policy(pol, "proxy_cap", None), _policy(pol, "duplicate", "first"))


def load_round(session: Session, estate: Estate, round_id: str, now: datetime) -> RoundInfo:
    """The round from the ledger (``voting.rounds.load``), its state at ``now``."""
    view, base = _round_base(session, estate, round_id)
    return replace(base, state=view.state(now))


# --- what casting knows, kept between casts ---------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """The estate, the round and the credential registry as of log entry ``mark`` (leaf hash ``leaf``).

    Kept per engine between casts, so a cast reads nothing before it verifies.  It is never
    trusted blindly: under the log lock the cast reads the entries from ``mark`` on, checks that
    entry ``mark`` still has ``leaf`` (else everything is read again) and re-reads the round or
    the registry when a lifecycle or credential entry came after ``mark``; a refusal based on it
    (not open, unknown key, …) is only given after reading the ledger afresh.
    """

    estate: Estate
    view: rounds_.RoundView
    base: RoundInfo
    reg: authority.Registry
    mark: int
    leaf: bytes
    fresh: bool = False  # read in this cast (a refusal may rest on it)

    def at(self, now: datetime) -> RoundInfo:
        return replace(self.base, state=self.view.state(now))


_known: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → {(slug, round id): _Known}
_known_lock = threading.Lock()


def _read_known(session: Session, slug: str, round_id: str) -> _Known:
    estate = _estate(session, slug)
    view, base = _round_base(session, estate, round_id)
    reg = registry(session, estate)
    last = session.connection().execute(_LAST_ENTRY, {"log_id": estate.log_id}).first()
    if last is None:
        raise CastError("no_round", f"没有表决轮次 {round_id} / no round {round_id!r}")
    return _Known(estate, view, base, reg, last.seq, bytes(last.leaf_hash), fresh=True)


def _remember(engine: Engine, slug: str, round_id: str, known: _Known) -> None:
    with _known_lock:
        table = _known.setdefault(engine, {})
        old = table.get((slug, round_id))
        if old is None or old.mark <= known.mark:
            if len(table) > 64:
                table.clear()
            table[(slug, round_id)] = replace(known, fresh=False)


def _recall(engine: Engine, slug: str, round_id: str) -> _Known | None:
    with _known_lock:
        return _known.get(engine, {}).get((slug, round_id))


_LAST_ENTRY = (select(Entry.seq, Entry.leaf_hash).where(Entry.log_id == bindparam("log_id"))
               .order_by(Entry.seq.desc()).limit(1))
_FROM_MARK = (select(Entry.seq, Entry.type, Entry.leaf_hash)
              .where(Entry.log_id == bindparam("log_id"), Entry.seq >= bindparam("mark")).order_by(Entry.seq))


# --- registry cache ---------------------------------------------------------------------------

_registries: dict[tuple, authority.Registry] = {}
_lock = threading.Lock()


def _registry_mark(session: Session, log_id: int) -> tuple:
    row = session.execute(select(Entry.seq, Entry.leaf_hash).where(
        Entry.log_id == log_id, Entry.type.in_(CREDENTIAL_TYPES)).order_by(Entry.seq.desc()).limit(1)).first()
    return (row.seq, bytes(row.leaf_hash)) if row is not None else (None, None)


def registry(session: Session, estate: Estate) -> authority.Registry:
    """The estate's credential registry, replayed from the ledger only when a credential entry was
    added since the last replay (keyed by that entry's leaf hash)."""
    key = (estate.origin, *_registry_mark(session, estate.log_id))
    with _lock:
        found = _registries.get(key)
    if found is None:
        found = authority.registry(session, estate.slug)
        with _lock:
            if len(_registries) > 256:
                _registries.clear()
            _registries[key] = found
    return found


# --- verification (no database, no fork) ------------------------------------------------------


def verify_text(text: str | bytes, rnd: RoundInfo):
    """(signed ballot, verified ballot) or CastError: bad_ballot, wrong_round, bad_signature, bad_proof."""
    try:
        signed = strictjson.loads(text)
    except strictjson.StrictJSONError as e:
        raise CastError("bad_ballot", f"选票不是严格的 JSON / the ballot is not strict JSON ({e})") from None
    body = signed.get("ballot") if isinstance(signed, dict) else None
    if not isinstance(body, dict) or set(signed) != {"ballot", "sig"}:
        raise CastError("bad_ballot", "选票应为 {ballot, sig} / a signed ballot is {\"ballot\", \"sig\"}")
    if body.get("kind") != rnd.secrecy:
        raise CastError("bad_ballot", f"本轮只接受 {rnd.secrecy} 选票 / this round accepts only kind "
                                      f"{rnd.secrecy!r} ballots")
    if body.get("round") != rnd.fingerprint.hex():
        raise CastError("wrong_round", "选票属于另一轮表决（指纹不符）/ the ballot was made for another round "
                                       "(its round fingerprint is not this round's)")
    voter, sig = body.get("voter"), signed.get("sig")
    try:
        key = bytes.fromhex(voter) if isinstance(voter, str) and len(voter) == 64 else None
        sig_b = bytes.fromhex(sig) if isinstance(sig, str) and len(sig) == 128 else None
    except ValueError:
        key = sig_b = None
    if key is None or sig_b is None:
        raise CastError("bad_ballot", "选票的 voter 或 sig 格式无效 / the ballot's voter or sig is malformed")
    try:  # the text is parsed once: verify_ballot_text would parse it again (same strict rule, parse_ballot)
        if rnd.secrecy == "secret":
            if rnd.joint_key is None:
                raise ValueError("a secret round needs its joint key")
            verified = ballots_.verify_ballot(signed, fingerprint=rnd.fingerprint, joint_key=rnd.joint_key,
                                              items=rnd.items)
        elif rnd.secrecy == "open":
            verified = ballots_.verify_open_ballot(signed, fingerprint=rnd.fingerprint, items=rnd.items)
        else:
            raise ValueError("secrecy must be 'secret' or 'open'")
    except ballots_.BallotError as e:
        # the verifier checks the signature too; a refused ballot whose signature does not verify is
        # refused as bad_signature whatever else is wrong with it (the signature is checked here only
        # then: an accepted ballot's signature was checked once, by the verifier)
        try:
            ed25519.verify(key, ballots_.signing_bytes(body), sig_b)
        except (ed25519.SignatureError, ValueError, TypeError) as e2:
            raise CastError("bad_signature", f"选票签名无效 / the ballot's signature does not verify ({e2})") from None
        msg = str(e)
        code = "bad_proof" if ("proof" in msg or "selection" in msg or "point" in msg) else "bad_ballot"
        raise CastError(code, f"选票未通过验证 / the ballot does not verify: {msg}") from None
    return signed, verified


# --- cast -------------------------------------------------------------------------------------


def _estate(session: Session, slug: str) -> Estate:
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None or estate.log_id is None:
        raise CastError("no_estate", f"没有这个小区 / no estate {slug!r}")
    session.expunge(estate)
    return estate


def _caster(reg: authority.Registry, key: str) -> str:
    owner = reg.voter_of(key)
    if owner is None:
        if reg.revoked(key):
            raise CastError("revoked_credential", "选票的凭证已被吊销 / the ballot is signed with a revoked credential key")
        raise CastError("unknown_credential", "选票的凭证未登记 / the ballot's credential key is not registered")
    return owner


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


_STALE = frozenset({"round_not_open", "unknown_credential", "revoked_credential", "wrong_voter", "not_eligible"})
"""Refusals that may rest on what an earlier cast read: given only after reading the ledger afresh."""


def _known_now(engine: Engine, slug: str, round_id: str) -> _Known:
    with reading(engine) as s:
        return _read_known(s, slug, round_id)


def _need_open(rnd: RoundInfo, round_id: str, *, still: bool = False) -> None:
    if rnd.state != "open":
        if still:
            raise CastError("round_not_open", f"轮次 {round_id} 已不在投票期内 / round {round_id} is no longer open")
        raise CastError("round_not_open", f"轮次 {round_id} 现在是 {rnd.state} 状态，不能投票 / round {round_id} is "
                                          f"{rnd.state}, not open for voting")


def _check_named(named: str | None, counted_for: str | None) -> None:
    """An open ballot that names the voter it is cast for (SPEC §3.6 ``for``) counts for that voter only."""
    if named is not None and named != counted_for:
        whom = f"代 {counted_for} 投出" if counted_for else "本人投出"
        raise CastError("bad_request", f"选票写明代 {named} 投票，但这次是{whom} / the ballot names voter {named} as the "
                                       f"one it is cast for, but it is cast "
                                       f"{'for ' + counted_for if counted_for else 'as the voter’s own'}")


def _who(reg: authority.Registry, rnd: RoundInfo, key: str, voter: str, for_voter: str | None) -> tuple[str, str | None]:
    """(the voter counted, the proxy or None): the key's voter must be the session's (SPEC §7.2)."""
    caster = _caster(reg, key)
    if caster != voter:
        raise CastError("wrong_voter", "这张凭证不属于登录的业主 / the ballot's credential belongs to another voter "
                                       "than the signed-in owner")
    target = for_voter or caster
    if target not in rnd.voters:
        raise CastError("not_eligible", f"表决权人 {target} 不在本轮范围内 / voter {target} is not in the round's "
                                        f"snapshot")
    return target, (caster if target != caster else None)


_LOG_KEYS: dict[tuple, keys.LogKey] = {}


def _log_key() -> keys.LogKey:
    """``keys.log_key()``, read again only when the key file (its path or mtime) changes."""
    path = keys.key_file()
    try:
        mark = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return keys.log_key()
    found = _LOG_KEYS.get(mark)
    if found is None:
        found = keys.log_key(path)
        _LOG_KEYS.clear()
        _LOG_KEYS[mark] = found
    return found


def cast(engine: Engine, slug: str, round_id: str, text: str | bytes, *, voter: str | None, factor: str | None,
         for_voter: str | None = None, for_sig: str | None = None, now: datetime | None = None) -> dict:
    """Cast the signed ballot ``text`` for the session's ``voter`` (or, as proxy, for ``for_voter``,
    with ``for_sig``: the proxy's signature binding the ballot's tracking code to that voter,
    ``voting.proxy.sign_ballot_binding``).

    Returns the receipt (SPEC §7.2): ``{"tracking", "short", "voter", "proxy", "origin", "seq",
    "entry", "leaf_hash", "tree_size", "proof", "checkpoint"}`` — SPEC §2.6 plus the tracking code —
    only after the commit; the checkpoint covers the entry (size ``seq + 1`` or more: concurrent
    casts share one signature, SPEC §2.6).  Raises CastError; nothing is written then.
    """
    if not voter or factor not in round_record.FACTORS:
        raise CastError("no_session")
    now = _now(now)
    known = _recall(engine, slug, round_id) or _known_now(engine, slug, round_id)
    verified = None
    while True:  # at most twice: a refusal resting on remembered state is re-checked on fresh state
        try:
            rnd = known.at(now)
            _need_open(rnd, round_id)
            if verified is None:
                signed, verified = verify_text(text, rnd)
                key = verified.voter.hex()
            target, proxy = _who(known.reg, rnd, key, voter, for_voter)
            break
        except CastError as e:
            if known.fresh or e.code not in _STALE:
                raise
            known = _known_now(engine, slug, round_id)
    tracking, short = verified.tracking, ballots_._short(verified.tracking)
    _check_named(signed["ballot"].get("for"), target if proxy is not None else None)
    if proxy is not None:
        try:
            proxies.check_ballot_binding(rnd.fingerprint.hex(), target, tracking, key, for_sig)
        except proxies.ProxyError as e:
            raise CastError(e.code, e.message) from None
    body = round_record.ballot_body(round_id, signed, factor, for_voter=target if proxy else None,
                                    for_sig=for_sig if proxy else None)
    job = _Job(text, voter, for_voter, key, tracking, body, now, rnd, known)
    receipt = _commit(engine, slug, round_id, job)
    return {"tracking": tracking, "short": short, "voter": job.target, "proxy": job.proxy, **receipt}


# --- group commit: the casts waiting in this process share one transaction and one checkpoint --


@dataclass
class _Job:
    """One verified cast waiting for its turn to be written (``_commit``)."""

    text: str | bytes
    voter: str
    for_voter: str | None
    key: str
    tracking: str
    body: dict
    now: datetime
    rnd: RoundInfo  # what it was verified against
    known: _Known
    target: str = ""
    proxy: str | None = None
    entry: Entry | None = None
    receipt: dict | None = None
    error: BaseException | None = None
    done: bool = False


class _Queue:
    """The casts of one (engine, estate, round) waiting to be written; one of their threads writes."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.waiting: list[_Job] = []
        self.busy = False


_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → {(slug, round id): _Queue}
_queues_lock = threading.Lock()
MAX_GROUP = 64
"""At most this many casts in one transaction."""


def _queue(engine: Engine, slug: str, round_id: str) -> _Queue:
    with _queues_lock:
        table = _queues.setdefault(engine, {})
        found = table.get((slug, round_id))
        if found is None:
            found = table[(slug, round_id)] = _Queue()
        return found


def _commit(engine: Engine, slug: str, round_id: str, job: _Job) -> dict:
    """Write ``job`` (group commit): the casts that arrive while a transaction is being written wait;
    then one of them takes the log lock (on SQLite first the write turn, ``ledger.db.write_turn``)
    and only then the casts waiting by now, and writes them all in one transaction — every check of
    step 4 for each cast, its entry and projections, then one checkpoint of the new size signed
    (``checkpoint.sign_size``, with all its checks) and each receipt against it — and commits.
    Each cast's receipt is returned only after that commit; a cast refused under the lock writes
    nothing and does not stop the others."""
    q = _queue(engine, slug, round_id)
    with q.cond:
        q.waiting.append(job)
        while not job.done and q.busy:
            q.cond.wait()
        lead = not job.done
        if lead:  # this thread writes its own cast and the ones waiting when it holds the lock
            q.busy = True
    if lead:
        group: list[_Job] = []

        def take() -> list[_Job]:
            with q.cond:  # in the order they came, this thread's own among them
                if job not in q.waiting[:MAX_GROUP]:
                    q.waiting.remove(job)
                    q.waiting.insert(0, job)
                group[:] = q.waiting[:MAX_GROUP]
                del q.waiting[:MAX_GROUP]
            return group

        try:
            _write_group(engine, slug, round_id, take)
        finally:
            with q.cond:
                for j in group or [job]:
                    if j.receipt is None and j.error is None:  # the writer itself was interrupted
                        j.error = CastError("bad_request", "写入中断，请重试 / the write was interrupted: cast again")
                    j.done = True
                if job in q.waiting:
                    q.waiting.remove(job)
                q.busy = False
                q.cond.notify_all()
    if job.error is not None:
        raise job.error
    return job.receipt


def _write_group(engine: Engine, slug: str, round_id: str, take) -> None:
    """Write the group ``take()`` returns (called under the log lock) in one transaction (see
    ``_commit``); on an unexpected error each of its casts is tried alone."""
    taken: list[_Job] = []

    def take_once() -> list[_Job]:
        if not taken:
            taken.extend(take())
        return taken

    try:
        _write(engine, slug, round_id, take_once)
    except Exception as e:  # noqa: BLE001 — a database error: nothing of the group was written
        group = take_once()
        if len(group) == 1:
            if isinstance(e, IntegrityError):
                e = CastError("already_voted", f"表决权人 {group[0].target} 已经投过票 / voter {group[0].target} "
                                               f"already has a ballot in round {round_id}")
            group[0].error, group[0].entry, group[0].receipt = e, None, None
            return
        for j in group:
            j.error, j.entry, j.receipt = None, None, None
            _write_group(engine, slug, round_id, lambda j=j: [j])


def _write(engine: Engine, slug: str, round_id: str, take) -> None:
    known = _recall(engine, slug, round_id)
    with transaction(engine) as s:
        if known is None:
            known = _read_known(s, slug, round_id)
        log_id = known.estate.log_id
        origin = log.lock(s, log_id)
        log.remember_hashes(s)  # the appends, the root and the receipts share what they read and write
        group = take()
        newest = max((j.known for j in group), key=lambda k: k.mark)
        if newest.mark > known.mark:
            known = newest
        written: list[_Job] = []
        rows = s.connection().execute(_FROM_MARK, {"log_id": log_id, "mark": known.mark}).all()
        if rows and rows[0].seq == known.mark and bytes(rows[0].leaf_hash) == known.leaf:
            changed = {r.type for r in rows[1:]}
            last = (rows[-1].seq, bytes(rows[-1].leaf_hash))
        else:  # what this process remembered is not this log's: read it all again, under the lock
            known, changed = _read_known(s, slug, round_id), _LIFE | set(CREDENTIAL_TYPES)
            last = (known.mark, known.leaf)
        if changed & _LIFE:
            view, base = _round_base(s, known.estate, round_id)
            known = replace(known, view=view, base=base)
        if changed & set(CREDENTIAL_TYPES):
            known = replace(known, reg=registry(s, known.estate))
        ready: list[tuple[_Job, RoundInfo]] = []
        for j in group:
            j.error = None
            try:
                # every job is checked against the state read under the lock (it may have been verified
                # against an older one): open, the same ballot shape, its key's voter and eligibility
                rnd = known.at(j.now)
                _need_open(rnd, round_id, still=True)
                if _shape(known.base) != _shape(j.rnd):
                    verify_text(j.text, rnd)
                j.target, j.proxy = _who(known.reg, rnd, j.key, j.voter, j.for_voter)
                ready.append((j, rnd))
            except CastError as e:
                j.error = e
        seen = _seen(s, log_id, round_id, [j for j, _ in ready])  # one query for the group
        later = _Later()  # the group's new rows, inserted together (one statement per table)
        voters: set[str] = set()  # what this group's casts have changed so far
        trackings: set[str] = set()
        for (j, rnd), found in zip(ready, seen, strict=True):
            if j.proxy is not None or j.target in voters or j.tracking in trackings:
                later.write(s)  # this cast's checks must see the rows of the ones before it
                found = _seen(s, log_id, round_id, [j])[0]
            try:
                found = _check(rnd, j.target, j.proxy, found)
            except CastError as e:
                j.error = e
                continue
            j.entry = log.append(s, log_id, round_record.BALLOT, j.body, time=j.now, last=last, later=later.log)
            _record_ballot(s, log_id, rnd, j.entry.seq, j.target, j.key, j.proxy, j.tracking, found, later)
            last = (j.entry.seq, j.entry.leaf_hash)
            voters.add(j.target)
            trackings.add(j.tracking)
            written.append(j)
        later.write(s)
        if written:
            size, note = checkpoint.sign_size(s, log_id, _log_key(), appended=[j.entry for j in written],
                                              origin=origin)
            for j in written:
                j.receipt = receipts.receipt_at(s, log_id, known.estate.origin, j.entry, size, note)
    _remember(engine, slug, round_id, replace(known, mark=last[0], leaf=last[1]))


def _shape(rnd: RoundInfo) -> tuple:
    """What a ballot is verified against (a round's announcement fixes it)."""
    return rnd.secrecy, rnd.fingerprint, rnd.joint_key, rnd.items


_V, _G, _B = Voted.__table__, ProxyGrant.__table__, BallotRow.__table__


@functools.lru_cache(maxsize=MAX_GROUP)
def _seen_query(n: int) -> Select | CompoundSelect:
    """(i, channel, grant, replayed) for casts 0 … n-1 (parameters ``v<i>``: the voter, ``t<i>``: the
    tracking code): each lookup an equality on the whole key of its index, which any plan answers
    with one index search. (An ``IN`` list, planned while the tables had no statistics, walked every
    row of the round on PostgreSQL.)"""
    log_round = {t: (t.c.log_id == bindparam("log_id"), t.c.round_id == bindparam("round_id")) for t in (_V, _G, _B)}
    return lookups(n, lambda i: select(
        literal_column(str(i)),
        select(_V.c.channel).where(*log_round[_V], _V.c.voter == bindparam(f"v{i}")).scalar_subquery(),
        select(_G.c.proxy).where(*log_round[_G], _G.c.voter == bindparam(f"v{i}")).scalar_subquery(),
        select(_B.c.seq).where(*log_round[_B], _B.c.tracking == bindparam(f"t{i}")).limit(1).scalar_subquery()))


_MINE_V = (_V.c.log_id == bindparam("k_log"), _V.c.round_id == bindparam("k_round"), _V.c.voter == bindparam("k_voter"))
_MINE_G = (_G.c.log_id == bindparam("k_log"), _G.c.round_id == bindparam("k_round"), _G.c.voter == bindparam("k_voter"))
_GRANT_USED = update(_G).where(*_MINE_G).values(used=True)
_GRANT_END = delete(_G).where(*_MINE_G)
_VOTED_NEW = insert(_V)
_VOTED_AGAIN = update(_V).where(*_MINE_V).values(channel="electronic", last_seq=bindparam("seq"),
                                                 ballots=_V.c.ballots + 1)
_BALLOT_NEW = insert(_B)


@dataclass(frozen=True)
class _Found:
    """What the database holds, under the log lock, for one cast's voter and ballot."""

    channel: str | None  # the channel of the voter's earlier ballot, None when none
    grant: str | None  # the proxy of the grant in force for the voter, None when none
    replayed: int | None  # an entry that cast this very ballot (tracking code), None when none


def _seen(s: Session, log_id: int, round_id: str, jobs: list[_Job]) -> list[_Found]:
    """``_Found`` for each of ``jobs`` (their target voter and tracking code), in one query."""
    if not jobs:
        return []
    params = {"log_id": log_id, "round_id": round_id}
    for i, j in enumerate(jobs):
        params[f"v{i}"], params[f"t{i}"] = j.target, j.tracking
    found = {row[0]: _Found(*row[1:]) for row in s.connection().execute(_seen_query(len(jobs)), params)}
    return [found[i] for i in range(len(jobs))]


def _check(rnd: RoundInfo, target: str, proxy: str | None, found: _Found) -> _Found:
    """The duplicate / revote / paper policy, the proxy grant (SPEC §7.8) and the replay check (SPEC
    §7.4), on ``found``: read under the log lock, after every row of this group's earlier casts that
    could change it."""
    rid = rnd.round_id
    channel, grant, replayed = found.channel, found.grant, found.replayed
    if channel is not None:
        electronic_over_paper = channel == "paper" and rnd.duplicate == "electronic"
        if not (rnd.revote and channel == "electronic") and not electronic_over_paper:
            raise CastError("already_voted", f"表决权人 {target} 已经投过票（本轮不允许改票）/ voter {target} already "
                                             f"has a ballot in round {rid} (revotes are off)")
    if proxy is not None:
        if channel == "paper":
            raise CastError("already_voted", f"表决权人 {target} 已亲自投纸质票，委托随之结束 / voter {target} voted in "
                                             "person on paper, which ended the proxy grant (SPEC §7.8 rule 6)")
        if grant is None or grant != proxy:
            raise CastError("no_proxy_grant", f"{proxy} 没有 {target} 生效的委托 / {proxy} holds no grant in force "
                                              f"from {target}")
    if replayed is not None:
        raise CastError("duplicate_ballot", f"这张选票已在条目 {replayed} 投过（同一张签名选票只计一次）/ this signed "
                                            f"ballot was already cast as entry {replayed}: a ballot counts once")
    return found


class _Later:
    """A cast group's rows not inserted yet: its entries (``log.Later``) and their new ``voted`` and
    ``ballots`` rows. ``write`` inserts them, one statement per table; ``_write`` writes before a cast
    whose checks could see them (the same voter or tracking code again, a proxy's cast) and before
    signing."""

    def __init__(self) -> None:
        self.log = log.Later()
        self.voted: list[dict] = []
        self.ballots: list[dict] = []

    def write(self, s: Session) -> None:
        self.log.write(s)
        conn = s.connection()
        if self.voted:
            conn.execute(_VOTED_NEW, self.voted)
        if self.ballots:
            conn.execute(_BALLOT_NEW, self.ballots)
        self.voted, self.ballots = [], []


def _record_ballot(s: Session, log_id: int, rnd: RoundInfo, seq: int, target: str, key: str, proxy: str | None,
                   tracking: str, found: _Found, later: _Later) -> None:
    """The projections of the ballot entry (Core statements, in the cast's transaction): updates now,
    new rows kept in ``later``."""
    conn, rid = s.connection(), rnd.round_id
    mine = {"k_log": log_id, "k_round": rid, "k_voter": target}
    if proxy is not None:
        conn.execute(_GRANT_USED, mine)
    elif found.grant is not None:
        conn.execute(_GRANT_END, mine)  # the owner's own ballot ends the grant (SPEC §7.8)
    if found.channel is None:
        later.voted.append({"log_id": log_id, "round_id": rid, "voter": target, "channel": "electronic",
                            "first_seq": seq, "last_seq": seq, "ballots": 1})
    else:
        conn.execute(_VOTED_AGAIN, {**mine, "seq": seq})
    later.ballots.append({"log_id": log_id, "seq": seq, "round_id": rid, "voter": target, "key": key,
                          "proxy": proxy, "tracking": tracking})


def dumps(signed: dict) -> str:
    """The JSON text of a signed ballot, as a browser would send it."""
    return json.dumps(signed, separators=(",", ":"), ensure_ascii=False)


# --- proxies (database side) ------------------------------------------------------------------


def record_proxy(engine: Engine, slug: str, round_id: str, kind: str, *, voter: str, proxy: str | None = None,
                 proxy_ref: str | None = None, authorisation: dict, by_voter: str | None = None,
                 now: datetime | None = None) -> dict:
    """Append a ``proxy.grant`` or ``proxy.revoke`` (SPEC §7.8) after every rule holds; the receipt.

    The proxy is named by ``proxy`` (its pseudonym) or by ``proxy_ref``, the reference the proxies
    page handed to ``voter`` (``voting.proxy_ref``): the signed statement then names the reference,
    and the entry's authorisation gains the reference's salt.
    ``by_voter``: the owner session's voter when the owner records it themselves (it must be the
    represented voter and the authorisation owner-signed); None when a supervisor records a
    written authorisation (the web layer checks the role).
    """
    if kind not in proxies.TYPES:
        raise CastError("bad_request", f"unknown proxy entry type {kind!r}")
    if (proxy is None) == (proxy_ref is None):
        raise CastError("bad_request", "请只用 proxy 或 proxy_ref 之一指明代理人 / name the proxy by proxy or by "
                                       "proxy_ref, one of them")
    try:  # the shape first (a proxy named by reference is resolved under the lock: a placeholder here)
        b = proxies.body(round_id, voter, proxy or "-", authorisation)
    except proxies.ProxyError as e:
        raise CastError(e.code, e.message) from None
    if by_voter is not None and (by_voter != voter or authorisation["kind"] != "signed"):
        raise CastError("wrong_voter", "只有被代理人本人可以签署委托或撤销 / only the represented owner signs a grant "
                                       "or its revocation")
    if proxy_ref is not None and (authorisation["kind"] != "signed" or "salt" in authorisation):
        raise CastError("bad_request", "proxy_ref 只用于业主签署的委托，盐由服务器补上 / proxy_ref is for an "
                                       "owner-signed authorisation without a salt (the server adds it)")
    now = _now(now)
    with transaction(engine) as s:
        estate = _estate(s, slug)
        log.lock_log(s, estate.log_id)
        rnd = load_round(s, estate, round_id, now)
        if rnd.state not in ("announced", "open"):
            raise CastError("round_not_open", f"轮次 {round_id} 现在是 {rnd.state} 状态 / round {round_id} is "
                                              f"{rnd.state}: proxies are recorded only before it closes")
        if proxy_ref is not None:
            named = proxy_refs.resolve(s, estate.log_id, round_id, voter, proxy_ref)
            if named is None:
                raise CastError("bad_request", "找不到这个代理人引用，请重新查找房号 / unknown proxy_ref: look the flat "
                                               "up again on the proxies page")
            proxy = named.proxy
            b = proxies.body(round_id, voter, proxy, {**authorisation, "salt": named.salt})
        reg = registry(s, estate)
        book = _book(s, estate.log_id, rnd)
        try:
            proxies.apply_entry(book, kind, -1, b, rnd.fingerprint.hex(), reg.key_of)
        except proxies.ProxyError as e:
            raise CastError(e.code if e.code in CODES else "bad_request", e.message) from None
        entry = log.append(s, estate.log_id, kind, b, time=now)
        if kind == proxies.GRANT:
            s.add(ProxyGrant(log_id=estate.log_id, round_id=round_id, voter=voter, proxy=proxy, grant_seq=entry.seq,
                             used=False))
            # the owner's page names (and revokes) every grant in force by reference
            proxy_refs.refer(s, estate.log_id, round_id, rnd.fingerprint.hex(), voter, proxy)
        else:
            s.delete(s.get(ProxyGrant, (estate.log_id, round_id, voter)))
        s.flush()
        checkpoint.sign(s, estate.log_id, keys.log_key())
        return build_receipt(s, estate.log_id, entry.seq)


def _book(s: Session, log_id: int, rnd: RoundInfo) -> proxies.Book:
    """The round's proxy state from the projections (under the log lock)."""
    book = proxies.Book(rnd.voters, rnd.proxy_cap)
    for g in s.scalars(select(ProxyGrant).where(ProxyGrant.log_id == log_id, ProxyGrant.round_id == rnd.round_id)):
        book.in_force[g.voter] = (g.proxy, g.grant_seq)
    for voter, channel in s.execute(select(Voted.voter, Voted.channel).where(Voted.log_id == log_id,
                                                                             Voted.round_id == rnd.round_id)):
        book.voted.add(voter)
        if channel == "paper":  # a paper ballot is the owner's vote in person: it ended the grant (§7.8 rule 6)
            book.in_force.pop(voter, None)
    return book
