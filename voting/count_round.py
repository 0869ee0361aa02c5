"""Close, count and publish a round (issue #9 part 7; SPEC §7.3, §7.10).

Every function runs inside the caller's write transaction (``ledger.db.transaction``) and
first locks the estate's log (``ledger.log.lock_log``: ``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already holds the write lock), then re-reads the round's entries,
so that every decision (is it closed already? which ballots are in? which shares?) is taken
on the state no other process can change before the commit:

- ``close(session, slug, round_id, *, now)``: once the window has ended, appends the one
  ``round.close`` with the aggregates (secret) or plaintext counts (open) recomputed from the
  counted ballots by ``voting.round_audit`` — the verifier's own recomputation.  Idempotent:
  a round already closed returns None (several app processes may race; exactly one closes).
  An open (named-vote) round is counted at once: its ``round.result`` follows in the same
  transaction.
- ``submit_shares(session, slug, round_id, shares, *, now)``: one trustee's decryption shares,
  checked against the trustee's recorded key and the recorded aggregates (every proof), appended
  as ``round.shares``; when enough are in (n-of-n: all; k-of-n: any k) the aggregates are
  decrypted (discrete logs bounded by the recorded totals, SPEC §3.8), decided under the rule
  set (``voting.count_result``) and recorded as ``round.result``, which opens the objection
  window.
- ``finalise(session, slug, round_id, *, now)``: after the objection window, ``round.final``.
- ``due(session, slug, now)``: what the scheduler (``voting.scheduler``) should do next.
- ``published(session, slug, round_id)``: the public result (no personal data).

Each refusal is a ``CountError(code, message)`` with a stable code and a message
``中文 / English``; nothing is written (the caller's transaction rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.store import get_estate
from ledger import checkpoint, keys, log
from ledger.entry import ParsedEntry, parse_entry
from ledger.models import Entry
from voting import count_result as cr
from voting import paper_entry, proxy_ref
from voting.crypto import tally
from voting.crypto import trustee as trustees_
from voting.report import to_text
from voting.round_audit import RoundAudit, _check_trustees, audit_round
from voting.round_record import CLOSE, ROUND, RoundEntries, close_body, collect_rounds
from voting.rules import Amount

EXTEND = "round.extend"
STATE_TYPES = (ROUND, EXTEND, CLOSE, cr.SHARES, cr.RESULT, cr.FINAL)  # what due() and published() read


class CountError(ValueError):
    """A refused close, share submission or final announcement: ``code`` is stable, the message
    is ``中文 / English``; ``status`` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Submitted:
    """What a share submission appended: the ``round.shares`` entry and, when it completed the
    set, the ``round.result`` entry."""

    shares: Entry
    result: Entry | None
    trustee: int
    present: tuple[int, ...]
    needed: int


# --- reading the round -----------------------------------------------------------------------


def _log_of(session: Session, slug: str) -> tuple[int, str]:
    estate = get_estate(session, slug)
    if estate is None or estate.log_id is None:
        raise CountError("no_estate", f"没有小区 {slug} / no estate {slug!r}", 404)
    return estate.log_id, estate.origin


def _parsed(session: Session, log_id: int, types: tuple[str, ...] | None = None) -> list[ParsedEntry]:
    q = select(Entry.data).where(Entry.log_id == log_id)
    if types is not None:
        q = q.where(Entry.type.in_(types))
    return [parse_entry(bytes(d)) for d in session.scalars(q.order_by(Entry.seq))]


def _round(entries: list[ParsedEntry], round_id: str) -> RoundEntries:
    rounds, _ = collect_rounds(entries)
    rec = rounds.get(round_id)
    if rec is None:
        raise CountError("no_round", f"账本中没有轮次 {round_id} / the record has no round {round_id!r}", 404)
    return rec


def settings(rec: RoundEntries, entries: list[ParsedEntry]) -> cr.Settings:
    """Window end (after the extensions in force), deemed consent, objection window."""
    limit = rec.close[0] if rec.close is not None else None
    times = {e.seq: e.time for e in entries if e.type == EXTEND}
    return cr.settings_of(rec.body, [(times.get(s), b) for s, b in rec.of(EXTEND) if limit is None or s < limit])


def _locked(session: Session, slug: str, round_id: str) -> tuple[int, str, list[ParsedEntry], RoundEntries]:
    """The round's state entries (no ballots: shares and finals never need them), read after
    locking the log."""
    log_id, origin = _log_of(session, slug)
    log.lock_log(session, log_id)  # every decision below is taken on what no one else can change now
    entries = _parsed(session, log_id, STATE_TYPES)
    return log_id, origin, entries, _round(entries, round_id)


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(UTC).replace(microsecond=0)


def _sign(session: Session, log_id: int) -> None:
    checkpoint.sign(session, log_id, keys.log_key())


# --- close -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """The close recomputed from a read snapshot of ``size`` entries (outside the write lock)."""

    size: int
    entries: list[ParsedEntry]
    rec: RoundEntries
    audit: RoundAudit | None


def _check_window(rec: RoundEntries, entries: list[ParsedEntry], now: datetime) -> cr.Settings:
    s = settings(rec, entries)
    if s.closes is not None and now < s.closes:
        raise CountError("window_open", f"投票期尚未结束（{cr.format_time(s.closes)} 结束）/ the voting window is "
                                        f"still open until {cr.format_time(s.closes)}")
    return s


def prepare_close(session: Session, slug: str, round_id: str, *, now: datetime | None = None) -> Prepared:
    """Recompute the close from a read-only snapshot (``ledger.db.reading``): the ballots are
    verified here, without holding the write lock; ``close`` reuses it when no entry was
    appended since."""
    log_id, origin = _log_of(session, slug)
    entries = _parsed(session, log_id)
    rec = _round(entries, round_id)
    audit = None
    if rec.close is None:
        _check_window(rec, entries, _now(now))
        audit = audit_round(entries, rec, origin)
    return Prepared(len(entries), entries, rec, audit)


def close_round(engine, slug: str, round_id: str, *, now: datetime | None = None) -> Entry | None:
    """``close`` in its own write transaction, the heavy recomputation done before it from a read
    snapshot (the write lock is held only to re-check and append)."""
    from ledger.db import reading, transaction

    now = _now(now)
    with reading(engine) as session:
        prepared = prepare_close(session, slug, round_id, now=now)
    if prepared.rec.close is not None:
        return None
    with transaction(engine) as session:
        return close(session, slug, round_id, now=now, prepared=prepared)


def close(session: Session, slug: str, round_id: str, *, now: datetime | None = None,
          prepared: Prepared | None = None) -> Entry | None:
    """Append the round's one ``round.close`` (and an open round's ``round.result``); None when
    it is closed already.  Refused while the window is open (``window_open``) and when the
    announcement does not verify (``record_invalid``).  ``prepared`` (``prepare_close``) is used
    only when the log has not grown since it was read; else everything is recomputed here."""
    now = _now(now)
    log_id, origin = _log_of(session, slug)
    log.lock_log(session, log_id)  # every decision below is taken on what no one else can change now
    if prepared is not None and prepared.audit is not None and log.size(session, log_id) == prepared.size:
        entries, rec, audit = prepared.entries, prepared.rec, prepared.audit  # nothing appended since
    else:
        entries = _parsed(session, log_id)
        rec, audit = _round(entries, round_id), None
    if rec.close is not None:
        return None
    s = _check_window(rec, entries, now)
    audit = audit or audit_round(entries, rec, origin)
    ann = rec.announcement
    secret = ann.secrecy == "secret"
    if (audit.aggregates if secret else audit.counts) is None:
        shown = "; ".join(m for _, m in audit.problems[:3])
        raise CountError("record_invalid", f"轮次记录未通过核验，不能结束 / the round's record does not verify: {shown}",
                         422)
    if secret:
        body = close_body(round_id, ballots=audit.counted, aggregates=audit.aggregates.to_json())
    else:
        body = close_body(round_id, ballots=audit.counted,
                          counts=[{"id": c.id, "heads": list(c.heads), "area": list(c.area)} for c in audit.counts])
    entry = log.append(session, log_id, CLOSE, body, time=now)
    paper_entry.forget_pending(session, log_id, round_id)  # an unmatched first entry can no longer count (SPEC §7.9)
    proxy_ref.forget(session, log_id, round_id)  # no grant or revocation can follow: the flats typed go
    if not secret:
        counts = [cr.SelectionCounts(c.id, c.heads, c.area) for c in audit.counts]
        _append_result(session, log_id, rec, entry.seq, None, counts, Amount(audit.counted, audit.weight), s, now)
    _sign(session, log_id)
    return entry


def _append_result(session: Session, log_id: int, rec: RoundEntries, close_seq: int, share_seqs: list[int] | None,
                   counts: list[cr.SelectionCounts], participation: Amount, s: cr.Settings, now: datetime) -> Entry:
    ann = rec.announcement
    try:
        decided = cr.decide_counts(ann.agenda, Amount(ann.heads, ann.area), participation, counts,
                                   deemed=s.deemed_consent)
    except ValueError as e:
        raise CountError("inconsistent_counts", f"计数不一致，无法决定 / the counts cannot come from ballots: {e}",
                         422) from None
    stamp = cr.format_time(now)
    body = cr.result_body(rec.round_id, close_seq=close_seq, share_seqs=share_seqs, counts=counts, decided=decided,
                          objection_until_=cr.objection_until(stamp, s.objection_days))
    return log.append(session, log_id, cr.RESULT, body, time=now)


# --- shares ----------------------------------------------------------------------------------


def _trustee_set(rec: RoundEntries, origin: str) -> trustees_.TrusteeSet:
    out = RoundAudit(rec.round_id)
    _check_trustees(rec.announcement, origin, rec.announce_seq, out)
    if out.trustees is None:
        raise CountError("record_invalid", f"轮次的监票人公钥未通过核验 / the round's trustee keys do not verify: "
                                           f"{'; '.join(m for _, m in out.problems)}", 422)
    return out.trustees


def _needed(ts: trustees_.TrusteeSet) -> int:
    return len(ts.keys) if ts.threshold is None else ts.threshold


def submit_shares(session: Session, slug: str, round_id: str, shares: object, *,
                  now: datetime | None = None) -> Submitted:
    """Check one trustee's shares (SPEC §3.8) and append them; decrypt, decide and record the
    result when they complete the set."""
    now = _now(now)
    log_id, origin, entries, rec = _locked(session, slug, round_id)
    ann = rec.announcement
    if ann.secrecy != "secret":
        raise CountError("open_round", f"轮次 {round_id} 是记名表决，没有需要解密的内容 / round {round_id} is an "
                                       "open (named-vote) round: there is nothing to decrypt")
    if rec.close is None:
        raise CountError("round_not_closed", f"轮次 {round_id} 尚未结束 / round {round_id} is not closed yet")
    if rec.of(cr.RESULT):
        raise CountError("already_counted", f"轮次 {round_id} 已计票并公布 / round {round_id} is counted already "
                                            f"(entry {rec.of(cr.RESULT)[0][0]})")
    ts = _trustee_set(rec, origin)
    try:
        aggregates = tally.Aggregates.from_json(rec.close[1]["aggregates"])
    except tally.TallyError as e:
        raise CountError("record_invalid", f"结束条目的聚合密文无效 / the close's aggregates: {e}", 422) from None
    if not isinstance(shares, dict) or type(shares.get("trustee")) is not int:
        raise CountError("bad_shares", "解密份额格式不符 / shares: expected the JSON of gongjue trustee decrypt "
                                       "(SPEC §3.8)", 422)
    j = shares["trustee"]
    if j not in ts.keys:
        raise CountError("unknown_trustee", f"轮次 {round_id} 没有第 {j} 号监票人 / round {round_id} has no trustee {j} "
                                            f"(trustees {sorted(ts.keys)})", 422)
    if shares.get("key") != ts.keys[j].hex():
        raise CountError("wrong_key", f"份额的公钥不是本轮登记的第 {j} 号监票人公钥 / the shares' key is not the key "
                                      f"recorded for trustee {j} in round {round_id}", 422)
    prior: dict[int, tuple[int, dict]] = {}
    for seq, body in rec.of(cr.SHARES):
        try:
            prior[cr.parse_shares(body)["shares"]["trustee"]] = (seq, body["shares"])
        except (cr.ResultShapeError, KeyError, TypeError):
            raise CountError("record_invalid", f"条目 {seq} 的解密份额无法读取 / the shares of entry {seq} cannot be "
                                               "read", 422) from None
    if j in prior:
        raise CountError("duplicate_shares", f"第 {j} 号监票人已提交份额（条目 {prior[j][0]}）/ trustee {j} submitted "
                                             f"shares already (entry {prior[j][0]})")
    try:
        mine = trustees_.verify_shares(shares, aggregates=aggregates, trustees=ts)
    except trustees_.TrusteeError as e:
        raise CountError("bad_shares", f"解密份额未通过核验 / decryption shares refused: {e}", 422) from None
    entry = log.append(session, log_id, cr.SHARES, cr.shares_body(round_id, shares), time=now)
    present = sorted([*prior, j])
    result = None
    if len(present) >= _needed(ts):
        verified = [trustees_.verify_shares(sh, aggregates=aggregates, trustees=ts) for _, sh in prior.values()]
        try:
            combined = trustees_.combine(aggregates, [*verified, mine], trustees=ts)
        except trustees_.TrusteeError as e:
            raise CountError("decrypt_failed", f"解密失败 / decryption failed: {e}", 422) from None
        counts = [cr.SelectionCounts(r.id, r.heads, r.area) for r in combined]
        share_seqs = sorted([s for s, _ in prior.values()] + [entry.seq])
        result = _append_result(session, log_id, rec, rec.close[0], share_seqs, counts,
                                Amount(aggregates.ballots, aggregates.total_weight), settings(rec, entries), now)
    _sign(session, log_id)
    return Submitted(entry, result, j, tuple(present), _needed(ts))


# --- final -----------------------------------------------------------------------------------


def finalise(session: Session, slug: str, round_id: str, *, now: datetime | None = None) -> Entry | None:
    """Append ``round.final`` once the objection window has ended; None when it is final already."""
    now = _now(now)
    log_id, _, _, rec = _locked(session, slug, round_id)
    if rec.of(cr.FINAL):
        return None
    results = rec.of(cr.RESULT)
    if not results:
        raise CountError("not_counted", f"轮次 {round_id} 尚未计票 / round {round_id} has no result yet")
    seq, body = results[0]
    until = cr.parse_time(body["objection_until"])
    if now < until:
        raise CountError("objection_window", f"异议期尚未结束（{body['objection_until']} 结束）/ the objection window "
                                             f"runs until {body['objection_until']}")
    entry = log.append(session, log_id, cr.FINAL, cr.final_body(round_id, seq), time=now)
    _sign(session, log_id)
    return entry


# --- scheduler and public views --------------------------------------------------------------


def due(session: Session, slug: str, now: datetime | None = None) -> list[tuple[str, str]]:
    """(round id, "close" | "final") for each round whose window or objection window has ended
    and whose next entry is missing.  Reads round-state entries only (no ballots)."""
    now = _now(now)
    estate = get_estate(session, slug)
    if estate is None or estate.log_id is None:
        return []
    entries = _parsed(session, estate.log_id, STATE_TYPES)
    rounds, _ = collect_rounds(entries)
    out = []
    for rid, rec in rounds.items():
        s = settings(rec, entries)
        if rec.close is None:
            if s.closes is not None and now >= s.closes:
                out.append((rid, "close"))
            continue
        results = rec.of(cr.RESULT)
        if results and not rec.of(cr.FINAL):
            try:
                until = cr.parse_time(results[0][1]["objection_until"])
            except (KeyError, TypeError, ValueError):
                continue
            if now >= until:
                out.append((rid, "final"))
    return out


def published(session: Session, slug: str, round_id: str) -> dict:
    """The public count of a round: state, close, shares present, the result with its
    explanations, the final announcement.  No personal data is in any of it."""
    log_id, _ = _log_of(session, slug)
    rec = _round(_parsed(session, log_id, STATE_TYPES), round_id)
    out: dict = {"round": round_id, "secrecy": rec.announcement.secrecy, "close": None, "shares": [],
                 "needed": None, "result": None, "final": None, "explanation": None, "deemed_explanation": None}
    if rec.close is not None:
        seq, body = rec.close
        out["close"] = {"seq": seq, "ballots": body["ballots"]}
    out["shares"] = [{"seq": seq, "trustee": b["shares"].get("trustee")} for seq, b in rec.of(cr.SHARES)
                     if isinstance(b.get("shares"), dict)]
    t = rec.announcement.trustees
    if t is not None:
        out["needed"] = len(t["keys"]) if t["threshold"] is None else t["threshold"]
    results = rec.of(cr.RESULT)
    if results:
        seq, body = results[0]
        out["result"] = {"seq": seq, **{k: body[k] for k in ("tally", "deemed", "counts", "objection_until")}}
        ann = rec.announcement
        try:
            decided = cr.decide_counts(
                ann.agenda, Amount(ann.heads, ann.area),
                _participation(rec, body), [cr.SelectionCounts(c["id"], tuple(c["heads"]), tuple(c["area"]))
                                            for c in body["counts"]], deemed=body["deemed"] is not None)
            out["explanation"] = to_text(decided.result, ann.agenda.scope)
            if decided.deemed is not None:
                out["deemed_explanation"] = to_text(decided.deemed, ann.agenda.scope)
        except ValueError:
            pass
    finals = rec.of(cr.FINAL)
    if finals:
        out["final"] = {"seq": finals[0][0]}
    return out


def _participation(rec: RoundEntries, result: dict) -> Amount:
    p = result["tally"]["participation"]
    whole, _, frac = str(p["area"]).partition(".")
    return Amount(int(p["heads"]), int(whole) * 100 + int(frac or 0))
