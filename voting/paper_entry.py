"""Paper ballots entered twice by two scrutineers (issue #9 part 5, SPEC §7.9).

A paper ballot counts only when two different scrutineers (staff with the estate role
``scrutineer``) have entered it independently and their entries agree item for item (and on the
SHA-256 of the scanned ballot).  The first entry waits in a private table
(``voting_paper_pending``, migration ``voting_0003``); the second is compared with it:

- they agree → one ``paper.ballot`` entry is appended and the pending row is deleted;
- they disagree → nothing is recorded; both scrutineers are told the differing items
  (``PaperDisagreement.items``); the first entry keeps waiting (``discard`` drops it);
- the same scrutineer twice → refused (``same_scrutineer``).

The entry carries the voter's pseudonym, the scan hash, the two entries' digests (salted
SHA-256 commitments, each with the scrutineer's estate pseudonym, never a name) and the ballot
the scrutineers' station made: in a secret round the marks encrypted under the round's joint key
with every proof of SPEC §3.4–§3.5; in an open round the marks in the clear.  The station key is
a fresh Ed25519 key per paper ballot (its public half is the ballot's ``voter``; the proofs and
the signature bind it; the private half is forgotten after signing).  The plaintext of a secret
paper ballot never reaches the ledger and is not kept: the pending row is deleted when the
ballot is recorded.

One ballot per voter (DOMAIN.md): a voter with a ballot in the record (paper or electronic)
cannot have a paper ballot recorded (``already_voted``).  The round's duplicate policy decides
which one counts when an electronic ballot arrives after the paper one: ``first`` (the paper
one; the cast refuses the later electronic ballot) or ``electronic`` (the electronic one).
``count_paper`` is the audit's rule (called from ``voting.round_audit.audit_round``).

Raises ``PaperError(code, message)``; codes are stable strings (``CODES``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nacl.signing
import rfc8785
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import authority, record
from identity import store as identity_store
from ledger import checkpoint, keys, log
from ledger.db import Base
from ledger.entry import HEX64_RE, ParsedEntry, parse_entry
from ledger.models import Entry
from voting.agenda import Agenda
from voting.crypto import ballot as ballots_
from voting.crypto.ballot import ItemShape
from voting.round_record import (
    BALLOT,
    CLOSE,
    ROUND,
    ROUND_ID_RE,
    Announcement,
    RoundEntries,
    RoundRecordError,
    parse_round,
)

PAPER = "paper.ballot"
PAPER_KEYS = frozenset({"v", "round", "voter", "ballot", "scan", "entries"})
POLICIES = ("first", "electronic")
MOTION_WORDS = {"agree": "agree", "同意": "agree", "oppose": "oppose", "反对": "oppose",
                "abstain": "abstain", "弃权": "abstain", "": "abstain"}
MOTION_ORDER = ("agree", "oppose", "abstain")
_SEPARATOR = re.compile(r"[;；]")
DIGEST_TAG = "gongjue/v1/paper-entry"
SCRUTINEER_TAG = b"gongjue/v1/scrutineer|"

CODES = {
    "no_estate": 404, "no_round": 404, "round_not_open": 409, "not_eligible": 422, "bad_marks": 422,
    "bad_scan": 422, "already_voted": 409, "same_scrutineer": 409, "disagreement": 409, "no_pending": 404,
}
"""Every refusal code with the HTTP status the API gives it."""


class PaperError(ValueError):
    """A paper entry refused; nothing was written.  ``code`` is stable (``CODES``)."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(message)


class PaperDisagreement(PaperError):
    """The second entry differs from the first: ``items`` lists the differing item ids (and
    ``"scan"`` when the scan hashes differ).  Nothing is recorded; the first entry keeps waiting."""

    def __init__(self, items: list[str]):
        self.items = items
        super().__init__("disagreement", f"两位监票人的录入不一致：{'、'.join(items)}，未记录；请核对纸质选票后重新录入 / "
                                         f"the two scrutineers' entries differ in {', '.join(items)}; nothing was "
                                         "recorded: check the paper ballot and enter it again")


class PendingEntry(Base):
    """A first entry of a paper ballot waiting for the second (private; deleted when recorded)."""

    __tablename__ = "voting_paper_pending"
    __table_args__ = (UniqueConstraint("log_id", "round_id", "voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[int] = mapped_column(Integer)
    round_id: Mapped[str] = mapped_column(String(64))
    voter: Mapped[str] = mapped_column(String(64))
    scrutineer: Mapped[str] = mapped_column(String(200))  # staff username (private table)
    marks: Mapped[str] = mapped_column(Text)  # JSON of the canonical marks
    scan_sha256: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disputed: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: item ids of the last disagreement


# --- marks --------------------------------------------------------------------------------------


def paper_shapes(agenda: Agenda) -> list[ItemShape]:
    """Ballot shapes of a paper ballot (SPEC §7.9): as electronic ones (SPEC §7.1), except that a
    choice may be blank (0 … 1 selections): a blank paper choice counts in no option (SPEC §5.2)."""
    shapes = []
    for item in agenda.items:
        n = len(item.choices)
        if item.kind == "motion":
            shapes.append(ItemShape(item.id, 3, 1, 1))
        elif item.kind == "choice":
            shapes.append(ItemShape(item.id, n, 0, 1))
        else:
            shapes.append(ItemShape(item.id, n, 0, min(item.seats, n)))
    return shapes


def normalise_marks(agenda: Agenda, marks: object) -> dict[str, str | list[str]]:
    """The canonical marks of one paper ballot: motion ``agree|oppose|abstain`` (同意|反对|弃权,
    blank = abstain); choice an option id or ``""`` (blank); election the approved candidates in
    agenda order (a list, or a cell ``"K1;K2"``; more than ``seats`` is kept as entered and makes
    the item invalid for this ballot).  PaperError ``bad_marks`` lists every problem."""
    if not isinstance(marks, dict):
        raise PaperError("bad_marks", "选票标记须为对象 {事项: 标记} / marks must be an object {item id: mark}")
    problems = [f"未知事项 / unknown item {k!r}" for k in marks if k not in {i.id for i in agenda.items}]
    out: dict[str, str | list[str]] = {}
    for item in agenda.items:
        if item.id not in marks:
            problems.append(f"缺少事项 / item {item.id!r} has no mark (enter blank as \"\")")
            continue
        raw = marks[item.id]
        if item.kind == "motion":
            word = MOTION_WORDS.get(raw.strip().casefold()) if isinstance(raw, str) else None
            if word is None:
                problems.append(f"事项 {item.id!r}: 无法识别 {raw!r}（同意|反对|弃权）/ unknown mark (agree|oppose|abstain)")
            out[item.id] = word or ""
        elif item.kind == "choice":
            value = "" if raw is None else raw.strip() if isinstance(raw, str) else None
            if value is None or value and value not in item.choices:
                problems.append(f"事项 {item.id!r}: 未知选项 {raw!r} / unknown option (options: "
                                f"{', '.join(item.choices)}; one option or blank)")
            out[item.id] = value or ""
        else:
            names = ([p.strip() for p in _SEPARATOR.split(raw)] if isinstance(raw, str)
                     else raw if isinstance(raw, list) and all(isinstance(p, str) for p in raw) else None)
            if names is None:
                problems.append(f"事项 {item.id!r}: 须为候选人列表 / an election mark is a list of candidates")
                continue
            names = [n.strip() for n in names if n.strip()]
            for n in sorted(set(names)):
                if n not in item.choices:
                    problems.append(f"事项 {item.id!r}: 未知候选人 / unknown candidate {n!r}")
                elif names.count(n) > 1:
                    problems.append(f"事项 {item.id!r}: 候选人 {n!r} 重复 / candidate marked twice")
            out[item.id] = [c for c in item.choices if c in names]
    if problems:
        raise PaperError("bad_marks", "选票标记无效 / marks refused: " + "; ".join(problems))
    return out


def selections(agenda: Agenda, canon: dict) -> dict[str, list[int]]:
    """0/1 selections of canonical marks in the ballot's order; an over-marked election is all 0
    (invalid for that item, the voter still participates, SPEC §5.2)."""
    out = {}
    for item in agenda.items:
        mark = canon[item.id]
        if item.kind == "motion":
            out[item.id] = [int(m == mark) for m in MOTION_ORDER]
        elif item.kind == "choice":
            out[item.id] = [int(c == mark) for c in item.choices]
        else:
            over = len(mark) > item.seats
            out[item.id] = [0 if over else int(c in mark) for c in item.choices]
    return out


def differing(first: dict, second: dict, first_scan: str, second_scan: str) -> list[str]:
    """Item ids whose marks differ (in the order of ``second``: the agenda's), then ``"scan"`` if
    the scan hashes do."""
    items = [k for k in second if first.get(k) != second[k]]
    return items + (["scan"] if first_scan != second_scan else [])


def entry_digest(*, round_id: str, voter: str, marks: dict, scan: str, scrutineer: str, salt: str) -> str:
    """One scrutineer's entry as a salted commitment (SPEC §7.9): hex SHA-256 of JCS({"tag",
    "round", "voter", "marks", "scan", "scrutineer", "salt"})."""
    obj = {"tag": DIGEST_TAG, "round": round_id, "voter": voter, "marks": marks, "scan": scan,
           "scrutineer": scrutineer, "salt": salt}
    return hashlib.sha256(rfc8785.dumps(obj)).hexdigest()


def scrutineer_pseudonym(estate_secret: bytes, username: str) -> str:
    """A scrutineer as the ledger names them: 32 hex digits of HMAC-SHA-256(estate secret,
    "gongjue/v1/scrutineer|" ‖ username) — stable in the estate, never the name."""
    return hmac.new(estate_secret, SCRUTINEER_TAG + username.encode(), hashlib.sha256).hexdigest()[:32]


def _check_scan(scan: object) -> str:
    if not isinstance(scan, str) or HEX64_RE.match(scan.lower()) is None:
        raise PaperError("bad_scan", "扫描件哈希须为 64 位十六进制 SHA-256 / scan_sha256 must be the 64 hex digits of "
                                     "the scanned ballot's SHA-256")
    return scan.lower()


# --- the entry body -----------------------------------------------------------------------------


def paper_body(round_id: str, voter: str, signed: dict, scan: str, entries: list[tuple[str, str]]) -> dict:
    """Body of a ``paper.ballot`` entry (SPEC §7.9); ``entries``: (scrutineer pseudonym, digest) ×2."""
    body = {"v": 1, "round": round_id, "voter": voter, "ballot": signed, "scan": scan,
            "entries": [{"scrutineer": s, "digest": d} for s, d in entries]}
    parse_paper(body)
    return body


def parse_paper(body: object) -> dict:
    """The shape of a ``paper.ballot`` body (SPEC §7.9); RoundRecordError naming the member."""
    def need(cond: bool, message: str) -> None:
        if not cond:
            raise RoundRecordError(f"paper.ballot: {message}")

    need(isinstance(body, dict) and set(body) == PAPER_KEYS,
         f"expected exactly the members {', '.join(sorted(PAPER_KEYS))}")
    need(body["v"] == 1 and type(body["v"]) is int, "v must be 1")
    need(isinstance(body["round"], str) and ROUND_ID_RE.match(body["round"]) is not None, "bad round id")
    need(isinstance(body["voter"], str) and re.fullmatch(r"\S{1,64}", body["voter"]) is not None, "bad voter")
    need(isinstance(body["ballot"], dict), "the station's signed ballot must be an object")
    need(isinstance(body["scan"], str) and HEX64_RE.match(body["scan"]) is not None, "scan must be 64 hex digits")
    es = body["entries"]
    need(isinstance(es, list) and len(es) == 2 and all(
        isinstance(e, dict) and set(e) == {"scrutineer", "digest"} and isinstance(e["scrutineer"], str)
        and re.fullmatch(r"[0-9a-f]{32}", e["scrutineer"]) is not None and isinstance(e["digest"], str)
        and HEX64_RE.match(e["digest"]) is not None for e in es),
         "entries must be two {\"scrutineer\": 32 hex, \"digest\": 64 hex}")
    return body


def duplicate_policy(round_body: dict | None) -> str:
    """The round's duplicate policy as its ``round`` entry records it (``first`` when absent)."""
    policies = round_body.get("policies") if isinstance(round_body, dict) else None
    value = policies.get("duplicate") if isinstance(policies, dict) else None
    return value if value in POLICIES else "first"


# --- the round as the ledger states it ----------------------------------------------------------


@dataclass
class RoundState:
    """What an entry or a turnout figure needs of one round, read from the ledger."""

    estate: object
    rec: RoundEntries
    round_body: dict
    electronic: dict[str, int]  # voter → seq of the first ballot of an eligible, current key
    paper: dict[str, int]  # voter → seq of its paper ballot
    paper_keys: set[str]

    @property
    def participants(self) -> dict[str, int]:
        """voter → seq of the ballot that made it a participant (the earlier of the two)."""
        out = dict(self.paper)
        for v, s in self.electronic.items():
            out[v] = min(s, out.get(v, s))
        return out


_TYPES = (record.ESTATE, *authority.ENTRY_TYPES, ROUND, BALLOT, PAPER, CLOSE)


@dataclass
class _Replay:
    """The replay of one round up to entry ``seq`` (whose leaf hash is ``leaf``): entries never
    change, so the next call reads only the entries after it."""

    registry: authority.Registry
    seq: int = -1
    leaf: bytes = b""
    announce: tuple[int, dict, Announcement] | None = None
    close: tuple[int, dict] | None = None
    electronic: dict[str, int] = field(default_factory=dict)
    paper: dict[str, int] = field(default_factory=dict)
    paper_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


_REPLAYS: dict[tuple[str, int, str], _Replay] = {}
_REPLAYS_LOCK = threading.Lock()
MAX_REPLAYS = 64


def _replay_for(session: Session, log_id: int, round_id: str) -> _Replay:
    bind = session.get_bind()
    key = (str(getattr(bind, "engine", bind).url), log_id, round_id)
    with _REPLAYS_LOCK:
        found = _REPLAYS.get(key)
        if found is None:
            if len(_REPLAYS) >= MAX_REPLAYS:
                _REPLAYS.pop(next(iter(_REPLAYS)))
            found = _REPLAYS[key] = _Replay(authority.Registry())
        return found


def _advance(session: Session, log_id: int, round_id: str, r: _Replay) -> None:
    """Apply the entries after ``r.seq`` (or start again if the entry at ``r.seq`` is not the one
    replayed: another database behind the same URL)."""
    if r.seq >= 0:
        leaf = session.scalar(select(Entry.leaf_hash).where(Entry.log_id == log_id, Entry.seq == r.seq))
        if leaf is None or bytes(leaf) != r.leaf:
            fresh = _Replay(authority.Registry())
            r.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})
    rows = session.execute(select(Entry.seq, Entry.data, Entry.leaf_hash)
                           .where(Entry.log_id == log_id, Entry.seq > r.seq, Entry.type.in_(_TYPES))
                           .order_by(Entry.seq))
    for seq, data, leaf in rows:
        e = parse_entry(bytes(data))
        r.seq, r.leaf = seq, bytes(leaf)
        body = e.body if isinstance(e.body, dict) else {}
        if e.type in (record.ESTATE, *authority.ENTRY_TYPES):
            try:
                r.registry.apply(e, check_roll=False, check_keys=False)
            except (ValueError, KeyError, TypeError):
                pass  # gongjue verify names it; live figures go on
            continue
        if body.get("round") != round_id:
            continue
        if e.type == ROUND:
            if r.announce is None:
                try:
                    r.announce = (seq, body, parse_round(body))
                except RoundRecordError:
                    pass  # the audit reports it; the round does not exist for entering
            continue
        if r.announce is None:
            continue
        weights = r.announce[2].voters
        if e.type == CLOSE:
            r.close = r.close or (seq, body)
        elif e.type == BALLOT:
            try:  # a proxy's ballot counts for the represented voter (member "for", SPEC §7.8)
                voter = body.get("for") or r.registry.voter_of(body["ballot"]["ballot"]["voter"])
            except (KeyError, TypeError, AttributeError):
                continue
            if voter in weights and voter not in r.electronic:
                r.electronic[voter] = seq
        elif e.type == PAPER:
            voter = body.get("voter")
            if voter in weights and voter not in r.paper:
                r.paper[voter] = seq
            try:
                r.paper_keys.add(body["ballot"]["ballot"]["voter"])
            except (KeyError, TypeError):
                pass


def load_round(session: Session, slug: str, round_id: str) -> RoundState:
    """The round ``round_id`` of ``slug`` and who took part so far, replayed from the ledger:
    electronic ballots by their key's voter at the ballot's place in the log (SPEC §7.4), paper
    ballots by their voter.  Incremental: each call reads only the entries appended since the
    last one (per database, log and round)."""
    estate = identity_store.get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise PaperError("no_estate", f"没有这个小区 / no estate '{slug}'")
    r = _replay_for(session, estate.log_id, round_id)
    with r.lock:
        _advance(session, estate.log_id, round_id, r)
        if r.announce is None:
            raise PaperError("no_round", f"没有轮次 {round_id} / no round '{round_id}' in estate '{slug}'")
        seq, body, ann = r.announce
        rec = RoundEntries(round_id, seq, ann)
        rec.close = r.close
        return RoundState(estate, rec, body, dict(r.electronic), dict(r.paper), set(r.paper_keys))


def _round_view(session: Session, slug: str, round_id: str):
    """helper A's ``voting.rounds.load`` when it exists (window, policies), else None."""
    try:
        from voting import rounds
    except ImportError:
        return None
    load = getattr(rounds, "load", None)
    return load(session, slug, round_id) if load is not None else None


def _check_open(session: Session, slug: str, state: RoundState, now: datetime) -> None:
    """Open = not closed and, for an announcement with a window (SPEC §7.1, §7.6), inside it."""
    if state.rec.close is not None:
        raise PaperError("round_not_open", f"轮次 {state.rec.round_id} 已结束投票 / round {state.rec.round_id} is closed")
    if getattr(state.rec.announcement, "lifecycle", None) is None:
        return  # a bare announcement (no window): open until closed
    view = _round_view(session, slug, state.rec.round_id)
    if view is not None and hasattr(view, "state"):
        current = view.state(now)
        if current != "open":
            raise PaperError("round_not_open", f"轮次 {state.rec.round_id} 当前不在投票期（{current}）/ round "
                                               f"{state.rec.round_id} is not open for voting (it is {current})")


# --- entering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryResult:
    """``status`` "pending" (first entry stored, waiting for a second scrutineer) or "recorded"
    (both agreed: the ``paper.ballot`` entry ``seq`` with the station ballot's ``tracking`` code)."""

    status: str
    voter: str
    seq: int | None = None
    tracking: str | None = None
    short: str | None = None


def enter(session: Session, slug: str, round_id: str, *, voter: str, marks: object, scan_sha256: object, by: str,
          now: datetime | None = None, rand: Callable[[], int] | None = None,
          station: Callable[[object, dict, RoundState], dict] | None = None) -> EntryResult:
    """One scrutineer's entry of one paper ballot (inside a write transaction; ``by`` = username,
    whose scrutineer role the caller checked).  The first entry waits; the second by another
    scrutineer is compared and, if it agrees, recorded.  PaperError otherwise, nothing written.

    ``station(announcement, canonical marks, round state)``: the station ballot made elsewhere (the
    scrutineers' browser, ``voting.paper_station``), checked by it to encrypt exactly these marks;
    None: the server acts as the station (``station_ballot``)."""
    now = now or datetime.now(UTC)
    estate = identity_store.get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise PaperError("no_estate", f"没有这个小区 / no estate '{slug}'")
    log.lock_log(session, estate.log_id)  # every paper entry of the estate in turn
    state = load_round(session, slug, round_id)
    _check_open(session, slug, state, now)
    ann = state.rec.announcement
    if voter not in ann.voters:
        raise PaperError("not_eligible", f"投票人 {voter} 不在本轮名册范围内 / voter {voter} is not in the round's "
                                         "roll snapshot (not eligible)")
    scan = _check_scan(scan_sha256)
    canon = normalise_marks(ann.agenda, marks)
    _check_not_voted(state, voter)
    secret = identity_store.estate_secret(session, estate)
    me = scrutineer_pseudonym(secret, by)
    pending = session.scalar(select(PendingEntry).where(PendingEntry.log_id == estate.log_id,
                                                        PendingEntry.round_id == round_id,
                                                        PendingEntry.voter == voter))
    if pending is None:
        salt = secrets.token_hex(32)
        digest = entry_digest(round_id=round_id, voter=voter, marks=canon, scan=scan, scrutineer=me, salt=salt)
        session.add(PendingEntry(log_id=estate.log_id, round_id=round_id, voter=voter, scrutineer=by,
                                 marks=json.dumps(canon, ensure_ascii=False, sort_keys=True), scan_sha256=scan,
                                 salt=salt, digest=digest, created_at=now))
        session.flush()
        return EntryResult("pending", voter)
    if pending.scrutineer == by:
        seen = json.loads(pending.disputed) if pending.disputed else None
        note = (f"；另一位监票人的录入在 {'、'.join(seen)} 上与您的不同 / another scrutineer's entry differed from "
                f"yours in {', '.join(seen)}" if seen else "")
        raise PaperError("same_scrutineer", "同一位监票人不能录入同一张纸质选票两次，第二次录入须由另一位监票人完成 / "
                                            "the same scrutineer cannot enter this paper ballot twice: the second "
                                            "entry must come from another scrutineer" + note)
    first = json.loads(pending.marks)
    diff = differing(first, canon, pending.scan_sha256, scan)
    if diff:
        raise PaperDisagreement(diff)
    salt = secrets.token_hex(32)
    digest = entry_digest(round_id=round_id, voter=voter, marks=canon, scan=scan, scrutineer=me, salt=salt)
    signed = station_ballot(ann, canon, rand=rand) if station is None else station(ann, canon, state)
    body = paper_body(round_id, voter, signed, scan,
                      [(scrutineer_pseudonym(secret, pending.scrutineer), pending.digest), (me, digest)])
    entry = log.append(session, estate.log_id, PAPER, body, time=now)
    session.execute(delete(PendingEntry).where(PendingEntry.id == pending.id))
    _project(session, estate.log_id, round_id, voter, entry.seq)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    full, short = ballots_.tracking_code(signed)
    return EntryResult("recorded", voter, entry.seq, full, short)


def _project(session: Session, log_id: int, round_id: str, voter: str, seq: int) -> None:
    """The casting projections (``voting.cast``): this voter has a paper ballot, so a later
    electronic one is refused (policy ``first``) or recorded (``electronic``); a proxy grant in
    force for the voter ends, as when the owner casts in person (the proxy can no longer cast)."""
    try:
        from voting.cast import ProxyGrant, Voted
    except ImportError:
        return
    if session.get(Voted, (log_id, round_id, voter)) is None:
        session.add(Voted(log_id=log_id, round_id=round_id, voter=voter, channel="paper", first_seq=seq,
                          last_seq=seq, ballots=1))
    grant = session.get(ProxyGrant, (log_id, round_id, voter))
    if grant is not None:  # the owner voted in person: the grant ends (SPEC §7.8 rule 6)
        session.delete(grant)
    session.flush()


def _check_not_voted(state: RoundState, voter: str) -> None:
    if voter in state.paper:
        raise PaperError("already_voted", f"投票人 {voter} 的纸质选票已记录（条目 {state.paper[voter]}）/ a paper ballot "
                                          f"of voter {voter} is already recorded (entry {state.paper[voter]})")
    if voter in state.electronic:
        raise PaperError("already_voted", f"投票人 {voter} 已在线投票（条目 {state.electronic[voter]}），一人一票 / "
                                          f"voter {voter} already voted electronically (entry "
                                          f"{state.electronic[voter]}): one ballot per voter")


def station_ballot(ann, canon: dict, *, rand: Callable[[], int] | None = None) -> dict:
    """The scrutineers' station's ballot for canonical marks: encrypted under the joint key with
    every proof (secret round) or in the clear (open round), signed with a fresh station key."""
    key = nacl.signing.SigningKey.generate()
    shapes = paper_shapes(ann.agenda)
    choices = selections(ann.agenda, canon)
    fp = bytes.fromhex(ann.fingerprint)
    if ann.secrecy == "secret":
        signed, _ = ballots_.encrypt_ballot(fingerprint=fp, joint_key=bytes.fromhex(ann.joint_key), items=shapes,
                                            choices=choices, signing_key=key, rand=rand)
        return signed
    return ballots_.make_open_ballot(fingerprint=fp, items=shapes, choices=choices, signing_key=key)


def discard(session: Session, slug: str, round_id: str, voter: str) -> None:
    """Drop the waiting first entry of ``voter``'s paper ballot (after a disagreement whose first
    entry was the wrong one); PaperError ``no_pending`` if there is none."""
    estate = identity_store.get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise PaperError("no_estate", f"没有这个小区 / no estate '{slug}'")
    done = session.execute(delete(PendingEntry).where(PendingEntry.log_id == estate.log_id,
                                                      PendingEntry.round_id == round_id, PendingEntry.voter == voter))
    if not done.rowcount:
        raise PaperError("no_pending", f"投票人 {voter} 没有待核对的录入 / no waiting entry for voter {voter}")


def forget_pending(session: Session, log_id: int, round_id: str) -> int:
    """Delete every first entry still waiting in a round (to be called when the round closes: an
    unmatched entry can no longer count, and its marks must not outlive the round); the count."""
    done = session.execute(delete(PendingEntry).where(PendingEntry.log_id == log_id, PendingEntry.round_id == round_id))
    return int(done.rowcount or 0)


def note_dispute(session: Session, slug: str, round_id: str, voter: str, items: list[str]) -> None:
    """Mark the waiting first entry of ``voter`` as contradicted on ``items`` (item ids only, no
    marks), so the first scrutineer sees the disagreement too (``pending``).  Called in its own
    transaction after a ``PaperDisagreement``; nothing reaches the ledger."""
    estate = identity_store.get_estate(session, slug)
    row = session.scalar(select(PendingEntry).where(PendingEntry.log_id == estate.log_id,
                                                    PendingEntry.round_id == round_id,
                                                    PendingEntry.voter == voter)) if estate else None
    if row is not None:
        row.disputed = json.dumps(items)


def pending(session: Session, slug: str, round_id: str) -> list[tuple[str, list[str] | None]]:
    """(voter, item ids of the last disagreement or None) of every first entry still waiting."""
    estate = identity_store.get_estate(session, slug)
    if estate is None:
        return []
    rows = session.execute(select(PendingEntry.voter, PendingEntry.disputed)
                           .where(PendingEntry.log_id == estate.log_id, PendingEntry.round_id == round_id)
                           .order_by(PendingEntry.id))
    return [(v, json.loads(d) if d else None) for v, d in rows]


def pending_voters(session: Session, slug: str, round_id: str) -> list[str]:
    """Voters whose paper ballot has one entry waiting for the second (no marks, no names)."""
    estate = identity_store.get_estate(session, slug)
    if estate is None:
        return []
    return list(session.scalars(select(PendingEntry.voter).where(PendingEntry.log_id == estate.log_id,
                                                                 PendingEntry.round_id == round_id)
                                .order_by(PendingEntry.id)))


# --- the audit (SPEC §7.9; called from voting.round_audit) ---------------------------------------


def count_paper(entries: Sequence[ParsedEntry], rec: RoundEntries, add: Callable[[int | None, str], None],
                counted: list, registry_at: Callable, later: list) -> list:
    """Judge every ``paper.ballot`` of ``rec`` and merge them with the counted electronic ballots.

    ``counted``: (verified ballot, weight) of the electronic ballots the ballot audit counted;
    returns the list of every counted ballot.  Checks per paper ballot: shape; before the close;
    the voter in the snapshot; two entries of two distinct scrutineers with distinct digests; the
    station ballot verifies completely with the paper shapes (kind = the round's secrecy), its key
    is no credential key ever registered and signs no other paper ballot; one ballot per voter
    under the round's duplicate policy (problems reported with the entry).
    """
    ann = rec.announcement
    round_body = next((e.body for e in entries if e.seq == rec.announce_seq), None)
    policy = duplicate_policy(round_body)
    close_seq = rec.close[0] if rec.close else None
    fp = bytes.fromhex(ann.fingerprint)
    shapes = paper_shapes(ann.agenda)
    # the voter and seq of each counted electronic ballot
    seq_of: dict[str, tuple[int, dict]] = {}
    for seq, body in rec.ballots:
        try:
            seq_of.setdefault(ballots_.tracking_code(body["ballot"])[0], (seq, body))
        except Exception:  # noqa: BLE001, S112 — a malformed ballot was reported by the ballot audit
            continue
    electronic: dict[str, tuple[int, int]] = {}  # voter → (seq, index in counted)
    for index, (v, _) in enumerate(counted):
        if v.tracking not in seq_of:
            continue
        seq, body = seq_of[v.tracking]
        voter = body.get("for")  # a proxy's ballot counts for the represented voter (SPEC §7.8)
        if voter is None:
            registry, _ = registry_at(seq)
            voter = registry.voter_of(v.voter.hex()) if registry is not None else None
        if voter is not None:
            electronic[voter] = (seq, index)
    dropped: set[int] = set()
    paper_counted = []
    seen_voter: dict[str, int] = {}
    seen_key: dict[str, int] = {}
    mine = [e for e in entries if e.type == PAPER and isinstance(e.body, dict) and e.body.get("round") == rec.round_id]
    for e in mine:
        seq = e.seq
        try:
            body = parse_paper(e.body)
        except RoundRecordError as exc:
            add(seq, str(exc))
            continue
        voter = body["voter"]
        if close_seq is not None and seq > close_seq:
            add(seq, f"纸质选票在投票结束之后 / a paper ballot after the round closed at entry {close_seq}")
            continue
        if voter not in ann.voters:
            add(seq, f"纸质选票的投票人不在本轮范围内 / paper ballot of voter {voter}, who is not in the round's "
                     "snapshot (not eligible)")
            continue
        a, b = body["entries"]
        if a["scrutineer"] == b["scrutineer"]:
            add(seq, "纸质选票的两次录入出自同一位监票人 / both entries of the paper ballot come from the same "
                     f"scrutineer ({a['scrutineer']})")
            continue
        if a["digest"] == b["digest"]:
            add(seq, "纸质选票的两次录入摘要相同 / the two entries of the paper ballot have the same digest")
            continue
        try:
            if ann.secrecy == "secret":
                v = ballots_.verify_ballot(body["ballot"], fingerprint=fp, joint_key=bytes.fromhex(ann.joint_key),
                                           items=shapes)
            else:
                v = ballots_.verify_open_ballot(body["ballot"], fingerprint=fp, items=shapes)
        except ballots_.BallotError as exc:
            add(seq, f"纸质选票验证失败 / paper ballot refused: {exc}")
            continue
        key = v.voter.hex()
        registry, _ = registry_at(seq)
        if registry is not None and registry.registered(key):
            add(seq, f"纸质选票用了投票人的凭证公钥 / the paper ballot's station key {key[:16]}… is a registered "
                     "credential key")
            continue
        if key in seen_key:
            add(seq, f"纸质选票的站点公钥重复 / the station key {key[:16]}… also signs the paper ballot at entry "
                     f"{seen_key[key]}")
            continue
        seen_key[key] = seq
        if voter in seen_voter:
            later.append((seq, voter))
            add(seq, f"同一投票人的第二张纸质选票 / a second paper ballot of voter {voter}: the first, entry "
                     f"{seen_voter[voter]}, counts; this one does not")
            continue
        seen_voter[voter] = seq
        if voter in electronic:
            e_seq, index = electronic[voter]
            if e_seq < seq:  # the entry refuses a paper ballot after an electronic one, under both policies
                later.append((seq, voter))
                add(seq, f"投票人已在线投票（条目 {e_seq}）后又记录纸质选票 / a paper ballot of voter {voter} after "
                         f"the voter's electronic ballot (entry {e_seq}): the electronic one counts")
                continue
            if policy == "electronic":  # the electronic ballot arrived later and wins: not a problem
                later.append((seq, voter))
                continue
            dropped.add(index)  # first received: the paper ballot counts, the later electronic one does not
            later.append((e_seq, voter))
            add(e_seq, f"投票人的纸质选票（条目 {seq}）在先，此电子选票不计 / an electronic ballot of voter {voter} "
                       f"after the voter's paper ballot (entry {seq}) under the policy \"first received\": the paper "
                       "one counts")
        paper_counted.append((v, ann.voters[voter]))
    return [c for i, c in enumerate(counted) if i not in dropped] + paper_counted
