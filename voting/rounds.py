"""The round lifecycle: draft → announced → open → closed → counted → published → final.

A **draft** lives in the database only (``voting_round_drafts``): the supervisor writes the
round's spec (``check_spec``) and may change it until the announcement.  **Announcing**
(``announce``) appends the ``round`` entry (SPEC §7.1): the agenda (rules and scope inside), the
roll snapshot of the scope (voters and weights from the roll openings the server holds, totals),
the credential registry position, the trustees and joint key (secret rounds), form, notice,
window, attachments, policies and the candidates fixed by ``voting.candidates`` (SPEC §7.7).
From then on the round is the ledger's: the draft is locked and every later fact is an entry —
``round.extend`` (``extend``, SPEC §7.6), then ``round.close``, ``round.shares``,
``round.result`` and ``round.final`` from the count (``voting.count_round``).

``load`` builds a ``RoundView`` from the ledger entries (authoritative) — the draft only while
the round is not announced; ``RoundView.state(now)`` reads the window and those entries.

Notice (DOMAIN.md "Procedure"; SPEC §7.1): voting may open no earlier than 15 days after the
notice day, the notice day itself not counted, on China Standard Time dates
(``voting.lifecycle.notice_days``); a shorter notice needs a recorded reason
(``short_notice_reason``), which the entry carries.  Extensions only before the close, later
than the current close, with a reason; no shortening, no reopening.

Every refusal is ``RoundError(code, message)`` with a stable code and a ``中文 / English``
message, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import authority, store
from identity.models import Estate
from identity.scope import unknown_places, voters_in_scope
from ledger import checkpoint, keys, log, tree
from ledger.db import Base
from ledger.entry import ParsedEntry, canonical, parse_entry
from ledger.models import Entry
from voting import lifecycle
from voting.agenda import Agenda, AgendaError, parse_agenda
from voting.crypto import dkg
from voting.crypto import trustee as trustees_
from voting.crypto.ballot import ItemShape
from voting.lifecycle import (
    DUPLICATE,
    EXTEND,
    FORMS,
    MAX_NAME,
    MAX_REASON,
    NOTICE_DAYS,
    LifecycleError,
    format_time,
    notice_days,
    parse_time,
)
from voting.round_record import (
    ROUND,
    ROUND_ID_RE,
    SECRECY,
    Announcement,
    RoundRecordError,
    parse_round,
    round_body,
    trustee_context,
)

CLOSE = "round.close"
SHARES = "round.shares"
RESULT = "round.result"
FINAL = "round.final"
LIFE_TYPES = (ROUND, EXTEND, CLOSE, SHARES, RESULT, FINAL)
STATES = ("draft", "announced", "open", "closed", "counted", "published", "final")
SPEC_KEYS = frozenset({"round", "agenda", "secrecy", "form", "opens", "closes", "short_notice_reason",
                       "attachments", "trustees", "policies", "cosigners"})
DEFAULT_POLICIES = {"duplicate": "first", "revote": False, "proxy_cap": None, "deemed_consent": False,
                    "objection_days": 7}
DEFAULT_COSIGNERS = 5


class RoundError(ValueError):
    """A refused lifecycle step: ``code`` is stable (API ``{"detail": {"code", "message"}}``)."""

    def __init__(self, code: str, message: str, status: int = 409):
        self.code, self.message, self.status = code, message, status
        super().__init__(f"{code}: {message}")


class RoundDraft(Base):
    """A round before its announcement (migration ``voting_0001``): the spec as JSON text."""

    __tablename__ = "voting_round_drafts"
    __table_args__ = (UniqueConstraint("estate_slug", "round_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    estate_slug: Mapped[str] = mapped_column(String(64), nullable=False)
    round_id: Mapped[str] = mapped_column(String(64), nullable=False)
    spec: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# --- the spec of a draft ----------------------------------------------------------------------


def _bad(message: str) -> RoundError:
    return RoundError("bad_spec", message, 422)


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value == value.strip()


def check_spec(spec: object, *, origin: str | None = None) -> dict:
    """The draft spec normalised (defaults written out); RoundError ``bad_spec`` naming every problem.

    Members: ``round`` (id), ``agenda`` (SPEC §5.4), ``secrecy`` (``secret`` default | ``open``),
    ``form`` (``written`` default | ``meeting``), ``opens``/``closes`` (RFC 3339 UTC),
    ``short_notice_reason`` (null), ``attachments`` ([{name, sha256}]), ``trustees`` (secret
    rounds: §7.1 form, may stay null until the announcement; with ``origin`` the keys' proofs are
    checked now), ``policies`` ({duplicate, revote, proxy_cap, deemed_consent, objection_days},
    defaults: first, false, null, false, 7), ``cosigners`` (owners needed to co-sign a nomination, default 5).
    """
    if not isinstance(spec, dict):
        raise _bad("轮次设置必须是 JSON 对象 / the round spec must be a JSON object")
    problems: list[str] = []
    spec = {k: v for k, v in spec.items() if v is not None}  # null = the default
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        problems.append(f"未知字段 / unknown members: {', '.join(unknown)}")
    rid = spec.get("round")
    if not (isinstance(rid, str) and ROUND_ID_RE.match(rid)):
        problems.append("round: 轮次编号须为小写字母、数字和连字符 / the round id must match [a-z0-9][a-z0-9-]{0,62}")
    agenda_json = None
    try:
        agenda_json = parse_agenda(spec.get("agenda"), "agenda").as_json()
    except AgendaError as e:
        problems += [f"agenda: {p}" for p in e.problems]
    except (TypeError, AttributeError):
        problems.append("agenda: 议程必须是 JSON 对象 / the agenda must be a JSON object (SPEC §5.4)")
    secrecy = spec.get("secrecy", "secret")
    if secrecy not in SECRECY:
        problems.append("secrecy: 只能是 secret（无记名）或 open（记名） / must be \"secret\" or \"open\"")
    form = spec.get("form", "written")
    if form not in FORMS:
        problems.append("form: 只能是 written（书面征求意见）或 meeting（会议） / must be \"written\" or \"meeting\"")
    opens = closes = None
    for name in ("opens", "closes"):
        try:
            t = parse_time(spec.get(name), name)
            opens, closes = (t, closes) if name == "opens" else (opens, t)
        except LifecycleError as e:
            problems.append(f"投票开始和截止时间须为 UTC 时间，如 2026-12-01T00:00:00Z / {e}")
    if opens and closes and closes <= opens:
        problems.append("closes: 截止时间须晚于开始时间 / the window must close after it opens")
    reason = spec.get("short_notice_reason")
    if reason is not None and not _text(reason, MAX_REASON):
        problems.append(f"short_notice_reason: 须为 1–{MAX_REASON} 个字符的说明 / must be a text of 1–{MAX_REASON} "
                        "characters (no surrounding spaces)")
    atts = spec.get("attachments", [])
    if not isinstance(atts, list) or not all(
            isinstance(a, dict) and set(a) == {"name", "sha256"} and _text(a["name"], MAX_NAME)
            and isinstance(a["sha256"], str) and len(a["sha256"]) == 64
            and all(ch in "0123456789abcdef" for ch in a["sha256"]) for a in atts):
        problems.append("attachments: 须为 [{name, sha256}]，sha256 为 64 位小写十六进制 / must be [{name, sha256}] "
                        "with sha256 as 64 lowercase hex digits")
        atts = []
    elif len({a["name"] for a in atts}) != len(atts):
        problems.append("attachments: 附件名称重复 / two attachments share a name")
    policies = DEFAULT_POLICIES | spec.get("policies", {}) if isinstance(spec.get("policies", {}), dict) else None
    try:
        if policies is None:
            raise LifecycleError("policies must be an object")
        lifecycle.check_policies(policies, "policies")
    except LifecycleError as e:
        problems.append(str(e))
    cosigners = spec.get("cosigners", DEFAULT_COSIGNERS)
    if not (type(cosigners) is int and 1 <= cosigners <= lifecycle.MAX_COSIGNERS):
        problems.append(f"cosigners: 联名推荐所需业主人数须为 1–{lifecycle.MAX_COSIGNERS} / must be an integer "
                        f"1–{lifecycle.MAX_COSIGNERS}")
    trustees = spec.get("trustees")
    if secrecy == "open" and trustees is not None:
        problems.append("trustees: 记名投票没有监票人密钥 / an open round has no trustees")
    if secrecy == "secret" and trustees is not None and not problems and origin is not None:
        try:
            _trustee_set(trustees, origin, rid)
        except RoundError as e:
            problems.append(e.message)
    if problems:
        raise _bad("轮次设置有误 / the round spec is refused: " + "; ".join(problems))
    return {"round": rid, "agenda": agenda_json, "secrecy": secrecy, "form": form, "opens": format_time(opens),
            "closes": format_time(closes), "short_notice_reason": reason, "attachments": atts,
            "trustees": trustees, "policies": policies, "cosigners": cosigners}


def _trustee_set(trustees: object, origin: str, round_id: str):
    context = trustee_context(origin, round_id)
    t = trustees
    try:
        if not isinstance(t, dict):
            raise TypeError("not an object")
        if set(t) == {"threshold", "keys"} and t["threshold"] is None and isinstance(t["keys"], list) and t["keys"]:
            return trustees_.trustee_set([trustees_.verify_public_key(k, context=context) for k in t["keys"]])
        if (set(t) == {"threshold", "dealers"} and type(t["threshold"]) is int and isinstance(t["dealers"], list)
                and 1 <= t["threshold"] <= len(t["dealers"])):
            n = len(t["dealers"])
            return dkg.trustee_set([dkg.verify_commitments(d, context=context, threshold=t["threshold"], trustees=n)
                                    for d in t["dealers"]], trustees=n)
        raise TypeError("shape")
    except (trustees_.TrusteeError, dkg.DKGError, TypeError, KeyError, ValueError) as e:
        raise RoundError("bad_trustees", f"监票人公钥无效（仪式编号须为 {context}） / trustees refused (the ceremony "
                                         f"context must be {context}): {e}", 422) from None


# --- drafts -----------------------------------------------------------------------------------


def _estate(session: Session, slug: str) -> Estate:
    estate = store.get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise RoundError("no_estate", f"小区 '{slug}' 不存在 / no estate '{slug}'", 404)
    return estate


def _draft(session: Session, slug: str, round_id: str) -> RoundDraft | None:
    return session.scalar(select(RoundDraft).where(RoundDraft.estate_slug == slug, RoundDraft.round_id == round_id))


def open_draft(session: Session, slug: str, round_id: str, fixed: tuple[str, str]) -> tuple[Estate, RoundDraft]:
    """Lock the estate's log and return its draft ``round_id``: RoundError ``agenda_locked`` once the
    round is announced (``fixed``: what the announcement fixed, in Chinese and English, for the
    message), ``no_such_round`` when there is no such draft."""
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    if _announced(session, estate, round_id) is not None:
        raise RoundError("agenda_locked", f"轮次 {round_id} 已公告，{fixed[0]} / round {round_id} was announced: "
                                          f"{fixed[1]}")
    row = _draft(session, slug, round_id)
    if row is None:
        raise RoundError("no_such_round", f"没有轮次 {round_id} / no round {round_id!r}", 404)
    return estate, row


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return moment.astimezone(UTC).replace(microsecond=0)


def create_draft(session: Session, slug: str, spec: dict, *, by: str, now: datetime | None = None) -> None:
    """Store a new draft round (database only); RoundError ``bad_spec``, ``round_exists``, ``no_estate``."""
    estate = _estate(session, slug)
    clean = check_spec(spec, origin=estate.origin)
    log.lock_log(session, estate.log_id)  # two drafts of one id cannot race past the check below
    if _draft(session, slug, clean["round"]) is not None or _announced(session, estate, clean["round"]) is not None:
        raise RoundError("round_exists", f"轮次 {clean['round']} 已存在 / round {clean['round']!r} already exists")
    t = _now(now)
    session.add(RoundDraft(estate_slug=slug, round_id=clean["round"], spec=json.dumps(clean, ensure_ascii=False),
                           created_by=by, created_at=t, updated_by=by, updated_at=t))
    session.flush()


def update_draft(session: Session, slug: str, round_id: str, spec: dict, *, by: str,
                 now: datetime | None = None) -> None:
    """Replace a draft's spec before the announcement; after it, RoundError ``agenda_locked``."""
    estate, row = open_draft(session, slug, round_id, ("议程和设置已锁定，不能修改", "its agenda and settings are locked"))
    clean = check_spec({**spec, "round": round_id}, origin=estate.origin)
    row.spec, row.updated_by, row.updated_at = json.dumps(clean, ensure_ascii=False), by, _now(now)
    session.flush()


def add_trustee_key(session: Session, slug: str, round_id: str, public: object, *, by: str,
                    now: datetime | None = None) -> list[int]:
    """Add (or replace, by trustee number) one n-of-n trustee public key (SPEC §3.7) in a secret
    draft — what a scrutineer submits after ``gongjue trustee keygen``; returns the trustee numbers
    now in the draft.  RoundError ``bad_trustees`` (wrong context, bad proof), ``bad_spec`` (an
    open round, or a draft with k-of-n dealers), ``agenda_locked``, ``no_such_round``."""
    estate, row = open_draft(session, slug, round_id, ("监票人已确定", "its trustees are fixed"))
    spec = json.loads(row.spec)
    current = spec["trustees"] or {"threshold": None, "keys": []}
    if spec["secrecy"] != "secret" or "keys" not in current:
        raise _bad("记名投票或 k-of-n 监票人的草稿不能逐个添加公钥 / keys are added one by one only to a secret round "
                   "with n-of-n trustees (k-of-n: put the dealers in the spec)")
    try:
        key = trustees_.verify_public_key(public, context=trustee_context(estate.origin, round_id))
    except (trustees_.TrusteeError, TypeError, KeyError, ValueError) as e:
        raise RoundError("bad_trustees", f"监票人公钥无效（仪式编号须为 {trustee_context(estate.origin, round_id)}） / "
                                         f"trustee key refused: {e}", 422) from None
    keys = [k for k in current["keys"] if k.get("trustee") != key.trustee] + [public]
    keys.sort(key=lambda k: k["trustee"])
    clean = check_spec({**spec, "trustees": {"threshold": None, "keys": keys}}, origin=estate.origin)
    row.spec, row.updated_by, row.updated_at = json.dumps(clean, ensure_ascii=False), by, _now(now)
    session.flush()
    return [k["trustee"] for k in keys]


def draft_spec(session: Session, slug: str, round_id: str) -> dict | None:
    row = _draft(session, slug, round_id)
    return None if row is None else json.loads(row.spec)


# --- reading the ledger -----------------------------------------------------------------------

_PARSED: dict[bytes, ParsedEntry] = {}  # leaf hash → parsed entry: entries never change
_ANNOUNCED: dict[bytes, Announcement] = {}  # leaf hash → parsed ``round`` body (parse_round of 10,000 voters: ms)


def _life_entries(session: Session, log_id: int) -> list[ParsedEntry]:
    rows = session.execute(select(Entry.seq, Entry.leaf_hash).where(Entry.log_id == log_id,
                                                                    Entry.type.in_(LIFE_TYPES))
                           .order_by(Entry.seq)).all()
    out = []
    for seq, leaf in rows:
        leaf = bytes(leaf)
        parsed = _PARSED.get(leaf)
        if parsed is None:
            data = bytes(session.scalar(select(Entry.data).where(Entry.log_id == log_id, Entry.seq == seq)))
            if tree.leaf_hash(data) != leaf:
                raise RoundError("bad_record", f"账本条目 {seq} 的内容与其哈希不符 / ledger entry {seq}'s bytes do not "
                                               "give its leaf hash", 500)
            parsed = parse_entry(data)
            with _CACHE_LOCK:
                if len(_PARSED) > 256:
                    old = next(iter(_PARSED))
                    _LEAF.pop(id(_PARSED.pop(old)), None)
                    _ANNOUNCED.pop(old, None)
                _PARSED[leaf] = parsed
                _LEAF[id(parsed)] = leaf
        out.append(parsed)
    return out


_CACHE_LOCK = threading.Lock()
_LEAF: dict[int, bytes] = {}  # id of a cached ParsedEntry → its leaf hash (the cache keeps the object alive)


def _parse_round_cached(e: ParsedEntry) -> Announcement:
    leaf = _LEAF.get(id(e)) if _PARSED.get(_LEAF.get(id(e), b"")) is e else None
    if leaf is not None and leaf in _ANNOUNCED:
        return _ANNOUNCED[leaf]
    ann = parse_round(e.body)
    if leaf is not None:
        with _CACHE_LOCK:
            _ANNOUNCED[leaf] = ann
    return ann


def _announced(session: Session, estate: Estate, round_id: str) -> ParsedEntry | None:
    for e in _life_entries(session, estate.log_id):
        if e.type == ROUND and isinstance(e.body, dict) and e.body.get("round") == round_id:
            return e
    return None


@dataclass(frozen=True)
class Policies:
    duplicate: str = "first"  # first | electronic
    revote: bool = False
    proxy_cap: int | None = None
    deemed_consent: bool = False
    objection_days: int = 7

    def as_json(self) -> dict:
        return {"duplicate": self.duplicate, "revote": self.revote, "proxy_cap": self.proxy_cap,
                "deemed_consent": self.deemed_consent, "objection_days": self.objection_days}


@dataclass(frozen=True)
class Totals:
    heads: int
    area: int


@dataclass
class RoundView:
    """A round as its ledger entries state it (its draft while it is not announced)."""

    slug: str
    round_id: str
    announcement: Announcement | None  # None: a draft
    seq: int | None  # the ``round`` entry's seq
    announced_at: datetime | None
    opens: datetime
    closes: datetime  # after extensions
    secrecy: str
    form: str
    policies: Policies
    agenda: Agenda
    body: dict | None = None  # the ``round`` entry's body
    spec: dict | None = None  # the draft (drafts only)
    extensions: list[tuple[int, dict]] = field(default_factory=list)
    close_seq: int | None = None
    shares: list[int] = field(default_factory=list)
    result_seq: int | None = None
    final_seq: int | None = None

    @property
    def voters(self) -> dict[str, int]:
        return dict(self.announcement.voters) if self.announcement else {}

    @property
    def totals(self) -> Totals:
        a = self.announcement
        return Totals(a.heads, a.area) if a else Totals(0, 0)

    @property
    def items(self) -> list[ItemShape]:
        from voting.round_record import item_shapes

        return item_shapes(self.agenda)

    @property
    def fingerprint(self) -> bytes | None:
        return bytes.fromhex(self.announcement.fingerprint) if self.announcement else None

    @property
    def joint_key(self) -> bytes | None:
        a = self.announcement
        return bytes.fromhex(a.joint_key) if a and a.joint_key else None

    @property
    def lifecycle(self) -> dict | None:
        return self.announcement.lifecycle if self.announcement else None

    def state(self, now: datetime | None = None) -> str:
        """draft | announced | open | closed | counted | published | final (SPEC §7.6)."""
        if self.announcement is None:
            return "draft"
        if self.final_seq is not None:
            return "final"
        if self.result_seq is not None:
            return "published"
        if self.shares:
            return "counted"
        if self.close_seq is not None:
            return "closed"
        t = _now(now)
        if t < self.opens:
            return "announced"
        return "open" if t < self.closes else "closed"


def _view_from_entries(slug: str, round_id: str, entries: list[ParsedEntry]) -> RoundView | None:
    view = None
    for e in entries:
        body = e.body if isinstance(e.body, dict) else {}
        if body.get("round") != round_id:
            continue
        if e.type == ROUND and view is None:
            try:
                ann = _parse_round_cached(e)
            except RoundRecordError as exc:
                raise RoundError("bad_record", f"轮次公告条目 {e.seq} 无法读取 / round entry {e.seq} is "
                                               f"malformed: {exc}", 500) from None
            life = ann.lifecycle or {}
            window = life.get("window")
            announced = parse_time(e.time, "time")
            opens = parse_time(window["opens"], "opens") if window else announced
            closes = parse_time(window["closes"], "closes") if window else datetime.max.replace(tzinfo=UTC)
            pol = Policies(**life["policies"]) if "policies" in life else Policies()
            view = RoundView(slug, round_id, ann, e.seq, announced, opens, closes, ann.secrecy,
                             life.get("form", "written"), pol, ann.agenda, body=body)
        elif view is None:
            continue
        elif e.type == EXTEND:
            try:
                lifecycle.parse_extend(body)
            except LifecycleError:
                continue  # the audit reports it; an ill-formed extension extends nothing
            if (view.close_seq is None and body["previous"] == format_time(view.closes)
                    and parse_time(e.time, "time") < view.closes):  # as the audit: no reopening
                view.extensions.append((e.seq, body))
                view.closes = parse_time(body["closes"], "closes")
        elif e.type == CLOSE and view.close_seq is None:
            view.close_seq = e.seq
        elif e.type == SHARES:
            view.shares.append(e.seq)
        elif e.type == RESULT and view.result_seq is None:
            view.result_seq = e.seq
        elif e.type == FINAL and view.final_seq is None:
            view.final_seq = e.seq
    return view


def _draft_view(slug: str, spec: dict) -> RoundView:
    agenda = parse_agenda(spec["agenda"], "agenda")
    pol = Policies(**spec["policies"])
    return RoundView(slug, spec["round"], None, None, None, parse_time(spec["opens"], "opens"),
                     parse_time(spec["closes"], "closes"), spec["secrecy"], spec["form"], pol, agenda, spec=spec)


def load(session: Session, slug: str, round_id: str) -> RoundView:
    """The round from the ledger (its draft while not announced); RoundError ``no_such_round``."""
    estate = _estate(session, slug)
    view = _view_from_entries(slug, round_id, _life_entries(session, estate.log_id))
    if view is not None:
        return view
    spec = draft_spec(session, slug, round_id)
    if spec is None:
        raise RoundError("no_such_round", f"没有轮次 {round_id} / no round {round_id!r} in estate '{slug}'", 404)
    return _draft_view(slug, spec)


def list_rounds(session: Session, slug: str, *, drafts: bool = True) -> list[RoundView]:
    """Announced rounds in log order, then (with ``drafts``) the drafts not yet announced."""
    estate = _estate(session, slug)
    entries = _life_entries(session, estate.log_id)
    ids = [e.body["round"] for e in entries if e.type == ROUND and isinstance(e.body, dict)
           and isinstance(e.body.get("round"), str)]
    out = []
    for rid in dict.fromkeys(ids):
        v = _view_from_entries(slug, rid, entries)
        if v is not None:
            out.append(v)
    if drafts:
        seen = {v.round_id for v in out}
        rows = session.scalars(select(RoundDraft).where(RoundDraft.estate_slug == slug).order_by(RoundDraft.id))
        out += [_draft_view(slug, json.loads(r.spec)) for r in rows if r.round_id not in seen]
    return out


# --- announcing -------------------------------------------------------------------------------


def credentials_digest(pairs: list[tuple[str, str]]) -> str:
    """H({"keys": [{"voter", "key"} …]}) over the current keys of the snapshot's voters, in its order."""
    return hashlib.sha256(canonical({"keys": [{"voter": v, "key": k} for v, k in pairs]})).hexdigest()


def snapshot(session: Session, estate: Estate, agenda: Agenda) -> tuple[int, str, list[tuple[str, int]]]:
    """(roll seq, roll leaf hash, [(pseudonym, area in scope)] in the roll entry's order) of the
    estate's latest roll, opened against its entry (the openings the server holds)."""
    try:
        view = store.current_roll(session, estate.slug)
    except store.RollTampered as e:
        raise RoundError("roll_tampered", str(e), 500) from None
    except store.EstateError as e:
        raise RoundError("no_roll", str(e)) from None
    if view is None:
        raise RoundError("no_roll", f"小区 '{estate.slug}' 还没有名册 / estate '{estate.slug}' has no roll yet")
    missing = unknown_places(view.opened.roll, agenda.scope)
    if missing:
        raise RoundError("bad_scope", f"范围中的楼栋或单元不在名册中 / the scope names places not in the roll: "
                                      f"{', '.join(missing)}", 422)
    version = store.roll_version(session, estate)
    row = session.execute(select(Entry.seq, Entry.leaf_hash).where(Entry.log_id == estate.log_id,
                                                                   Entry.seq == version.ledger_seq)).one()
    body = store.roll_entry(session, estate, version)
    order = [v["voter"] for v in body["voters"]]
    pseudonym = view.opened.pseudonyms
    weights = {pseudonym[v.voter_id]: v.area for v in voters_in_scope(view.opened.roll, agenda.scope)}
    voters = [(p, weights[p]) for p in order if p in weights]
    if not voters:
        raise RoundError("bad_scope", "范围内没有投票人 / no voter in the scope", 422)
    return row.seq, bytes(row.leaf_hash).hex(), voters


def announce(session: Session, slug: str, round_id: str, *, by: str, now: datetime | None = None) -> Entry:
    """Announce a draft: append its ``round`` entry (SPEC §7.1) and sign a checkpoint.

    Refuses (RoundError, nothing written): ``no_such_round``, ``already_announced``,
    ``opens_in_past``, ``notice_too_short`` (fewer than 15 days without ``short_notice_reason``),
    ``no_trustees`` / ``bad_trustees``, ``no_roll``, ``bad_scope``, ``roll_tampered``, and the
    candidates' refusals (``voting.candidates``).
    """
    from voting import candidates

    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    t = _now(now)
    if _announced(session, estate, round_id) is not None:
        raise RoundError("already_announced", f"轮次 {round_id} 已经公告 / round {round_id} was already announced")
    spec = draft_spec(session, slug, round_id)
    if spec is None:
        raise RoundError("no_such_round", f"没有轮次 {round_id} / no round {round_id!r} in estate '{slug}'", 404)
    agenda = parse_agenda(spec["agenda"], "agenda")
    opens, closes = parse_time(spec["opens"], "opens"), parse_time(spec["closes"], "closes")
    if opens < t:
        raise RoundError("opens_in_past", f"投票开始时间 {spec['opens']} 已过，请先修改草稿 / the window opens at "
                                          f"{spec['opens']}, before now ({format_time(t)}): change the draft first")
    days = notice_days(t, opens)
    reason = spec["short_notice_reason"]
    if days < NOTICE_DAYS and reason is None:
        raise RoundError("notice_too_short", f"公告期只有 {days} 天，少于 {NOTICE_DAYS} 天（公告当日不计），须填写理由 / "
                                             f"{days} days of notice (the notice day not counted) is fewer than "
                                             f"{NOTICE_DAYS}: a shorter notice needs short_notice_reason")
    secret = spec["secrecy"] == "secret"
    ts = None
    if secret:
        if spec["trustees"] is None:
            raise RoundError("no_trustees", "无记名投票须先登记监票人公钥 / a secret round needs the trustees' keys "
                                            "in the draft before it is announced")
        ts = _trustee_set(spec["trustees"], estate.origin, round_id)
    roll_seq, roll_leaf, voters = snapshot(session, estate, agenda)
    reg = authority.registry(session, slug)
    pairs = [(v, reg.key_of(v)) for v, _ in voters if reg.key_of(v) is not None]
    cred_seq = session.scalar(select(Entry.seq).where(Entry.log_id == estate.log_id,
                                                      Entry.type.in_(authority.STATEMENT_TYPES))
                              .order_by(Entry.seq.desc()).limit(1))
    life = {
        "form": spec["form"],
        "notice": {"date": lifecycle.china_date(t).isoformat(), "days": days,
                   "short_reason": reason if days < NOTICE_DAYS else None},
        "window": {"opens": spec["opens"], "closes": spec["closes"]},
        "attachments": spec["attachments"],
        "policies": spec["policies"],
        "credentials": {"seq": cred_seq, "keys": len(pairs), "digest": credentials_digest(pairs)},
        "candidates": candidates.announcement_member(session, slug, round_id, agenda, spec["cosigners"],
                                                     voters=dict(voters), registry=reg, opens=opens, now=t),
    }
    try:
        body = round_body(origin=estate.origin, round_id=round_id, secrecy=spec["secrecy"], agenda=agenda,
                          roll_seq=roll_seq, roll_leaf_hash=roll_leaf, voters=voters,
                          trustees=spec["trustees"] if secret else None,
                          joint_key=ts.joint_key.hex() if secret else None, lifecycle=life)
        lifecycle.check_lifecycle(body, election_items={i.id: i.candidates for i in agenda.items
                                                        if i.kind == "election"}, time=format_time(t))
    except (RoundRecordError, LifecycleError) as e:
        raise RoundError("bad_spec", str(e), 422) from None
    _ = closes
    entry = log.append(session, estate.log_id, ROUND, body, time=t)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry


# --- extending --------------------------------------------------------------------------------


def extend(session: Session, slug: str, round_id: str, *, closes: datetime, reason: str, by: str,
           now: datetime | None = None) -> Entry:
    """Append ``round.extend`` (SPEC §7.6): the window closes later, for a recorded reason.

    Refuses: ``no_such_round``, ``not_announced`` (a draft: change it instead), ``round_closed``
    (at or after the close — no reopening), ``not_later`` (no shortening), ``no_reason``.
    """
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    t = _now(now)
    view = load(session, slug, round_id)
    if view.announcement is None:
        raise RoundError("not_announced", f"轮次 {round_id} 尚未公告，请直接修改草稿 / round {round_id} is not "
                                          "announced yet: change the draft instead")
    state = view.state(t)
    if state not in ("announced", "open"):
        raise RoundError("round_closed", f"轮次 {round_id} 已截止（{state}），不能延期或重新开放 / round {round_id} is "
                                         f"{state}: it can no longer be extended or reopened")
    if closes.tzinfo is None:
        raise RoundError("bad_spec", "closes 须带时区 / closes needs a time zone", 422)
    new = closes.astimezone(UTC).replace(microsecond=0)
    if new <= view.closes:
        raise RoundError("not_later", f"新的截止时间 {format_time(new)} 不晚于当前截止时间 {format_time(view.closes)}，"
                                      f"投票期只能延长 / the new close {format_time(new)} is not later than the "
                                      f"current close {format_time(view.closes)}: a window can only be extended")
    if not isinstance(reason, str) or not _text(reason, MAX_REASON):
        raise RoundError("no_reason", f"延期须填写 1–{MAX_REASON} 个字符的理由 / an extension needs a reason of "
                                      f"1–{MAX_REASON} characters", 422)
    body = lifecycle.parse_extend({"v": 1, "round": round_id, "previous": format_time(view.closes),
                                   "closes": format_time(new), "reason": reason})
    entry = log.append(session, estate.log_id, EXTEND, body, time=t)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry


__all__ = ["DUPLICATE", "STATES", "Policies", "RoundDraft", "RoundError", "RoundView", "Totals", "announce",
           "check_spec", "create_draft", "draft_spec", "extend", "list_rounds", "load", "snapshot", "update_draft"]
