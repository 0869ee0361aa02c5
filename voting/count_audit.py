"""What the verifier recomputes of a round's count (SPEC §7.10): shares, result, final.

``check_count(entries, rec, out)`` runs after the ballots and the close were recomputed
(``voting.round_audit``: ``out.aggregates`` / ``out.counts`` are the verifier's own, from the
counted ballots, never the close entry's) and reports, naming the entry:

1. the close was appended at or after the end of the voting window (when the announcement
   states one);
2. every ``round.shares``: shape, a secret round, after the close and before the result, one
   per trustee, and every share proof against the trustee's recorded key and the recomputed
   aggregates (SPEC §3.8);
3. the ``round.result`` (at most one, after the close): ``close`` is the close's seq;
   ``shares`` lists exactly the ``round.shares`` entries before it and they suffice (n-of-n:
   all trustees; k-of-n: k); ``counts`` equal the combination of those shares (secret, bounded
   by the recomputed totals) or the plaintext sums (open), item by item, selection by
   selection, heads and area; ``tally`` (and ``deemed``, present exactly when deemed consent is
   on) equal the decisions recomputed under the rule set (``voting.count_result``);
   ``objection_until`` = the entry's time + the objection window;
4. the ``round.final`` (at most one): after the result, naming it, not before ``objection_until``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.entry import ParsedEntry
from voting import count_result as cr
from voting.crypto import trustee as trustees_
from voting.round_record import RoundEntries
from voting.rules import Amount


def _counts_problems(stated: list[dict], mine: list[cr.SelectionCounts], seq: int, out) -> None:
    for difference in cr.count_differences(stated, cr.counts_json(mine)):
        out.add(seq, f"计票结果与重算不符 / round.result counts: {difference}")


def _tally_problems(stated: dict | None, mine: dict | None, what: str, seq: int, out) -> None:
    if stated == mine:
        return
    if stated is None or mine is None:
        out.add(seq, f"计票结果与重算不符 / round.result {what}: is {'absent' if stated is None else 'present'}, "
                     f"recomputed {'absent' if mine is None else 'present'} (deemed consent "
                     f"{'on' if mine is not None else 'off'})")
        return
    for key in ("rules", "totals", "participation", "quorum"):
        if stated.get(key) != mine.get(key):
            out.add(seq, f"计票结果与重算不符 / round.result {what}: {key} is {stated.get(key)!r}, "
                         f"recomputed {mine.get(key)!r}")
    items = stated.get("items") if isinstance(stated.get("items"), dict) else {}
    if list(items) != list(mine["items"]):
        out.add(seq, f"计票结果与重算不符 / round.result {what}: items are not the agenda's")
    for item_id, want in mine["items"].items():
        got = items.get(item_id)
        if got != want:
            outcome = got.get("outcome") if isinstance(got, dict) else None
            out.add(seq, f"决定与重算不符 / round.result {what}: item {item_id!r} (outcome {outcome!r}) differs "
                         f"from the recomputed decision (outcome {want['outcome']!r})")
    extra = set(stated) - {"rules", "totals", "participation", "quorum", "items"}
    if extra:
        out.add(seq, f"round.result {what}: unexpected members {sorted(extra)}")


def check_count(entries: Sequence[ParsedEntry], rec: RoundEntries, out) -> None:
    """Append the problems of the round's count entries to ``out`` (a ``RoundAudit``)."""
    ann = rec.announcement
    secret = ann.secrecy == "secret"
    times = {e.seq: e.time for e in entries if e.type in (cr.SHARES, cr.RESULT, cr.FINAL, "round.close")}
    close_seq = rec.close[0] if rec.close is not None else None
    ext_times = {e.seq: e.time for e in entries if e.type == "round.extend"}
    settings = cr.settings_of(rec.body, [(ext_times.get(s), b) for s, b in rec.of("round.extend")
                                         if close_seq is None or s < close_seq])
    if (close_seq is not None and settings.closes is not None and close_seq in times
            and cr.parse_time(times[close_seq]) < settings.closes):
        out.add(close_seq, f"投票期结束前就结束了轮次 / round.close at {times[close_seq]}, before the voting "
                               f"window ends at {cr.format_time(settings.closes)}")
    results = rec.of(cr.RESULT)
    result_seq = results[0][0] if results else None

    verified: dict[int, tuple[int, trustees_.VerifiedShares]] = {}
    for seq, body in rec.of(cr.SHARES):
        try:
            cr.parse_shares(body)
        except cr.ResultShapeError as e:
            out.add(seq, str(e))
            continue
        if not secret:
            out.add(seq, "记名表决没有解密份额 / round.shares in an open (named-vote) round")
            continue
        if close_seq is None or seq < close_seq:
            out.add(seq, "结束之前的解密份额 / round.shares before the round's close")
            continue
        if result_seq is not None and seq > result_seq:
            out.add(seq, f"计票结果之后的解密份额 / round.shares after the result (entry {result_seq})")
            continue
        if out.aggregates is None or out.trustees is None:
            continue
        j = body["shares"].get("trustee")
        if j in verified:
            out.add(seq, f"同一监票人的第二组份额 / a second share set of trustee {j} (first: entry {verified[j][0]})")
            continue
        try:
            verified[j] = (seq, trustees_.verify_shares(body["shares"], aggregates=out.aggregates,
                                                        trustees=out.trustees))
        except trustees_.TrusteeError as e:
            out.add(seq, f"解密份额无效 / round.shares refused: {e}")

    for seq, _ in results[1:]:
        out.add(seq, f"第二个计票结果 / a second round.result (the first is entry {result_seq})")
    if results:
        _check_result(rec, results[0], verified, times, settings, out)

    finals = rec.of(cr.FINAL)
    for seq, _ in finals[1:]:
        out.add(seq, f"第二个最终公告 / a second round.final (the first is entry {finals[0][0]})")
    if finals:
        seq, body = finals[0]
        try:
            cr.parse_final(body)
        except cr.ResultShapeError as e:
            out.add(seq, str(e))
            return
        if result_seq is None or seq < result_seq:
            out.add(seq, "计票结果之前的最终公告 / round.final before the round's result")
            return
        if body["result"] != result_seq:
            out.add(seq, f"round.final: result is {body['result']}, the result is entry {result_seq}")
        until = results[0][1].get("objection_until")
        if isinstance(until, str) and cr.TIME_RE.match(until) and times.get(seq, "") < until:
            out.add(seq, f"异议期结束前的最终公告 / round.final at {times.get(seq)}, before the objection window "
                         f"ends at {until}")


def _check_result(rec: RoundEntries, result: tuple[int, dict], verified: dict, times: dict,
                  settings: cr.Settings, out) -> None:
    seq, body = result
    try:
        cr.parse_result(body)
    except cr.ResultShapeError as e:
        out.add(seq, str(e))
        return
    ann = rec.announcement
    close_seq = rec.close[0] if rec.close is not None else None
    if close_seq is None or seq < close_seq:
        out.add(seq, "结束之前的计票结果 / round.result before the round's close")
        return
    if body["close"] != close_seq:
        out.add(seq, f"round.result: close is {body['close']}, the close is entry {close_seq}")
    if ann.secrecy == "secret":
        before = [s for s, _ in rec.of(cr.SHARES) if s < seq]
        if body["shares"] != before:
            out.add(seq, f"round.result: shares {body['shares']} are not the share entries before it {before}")
        if out.aggregates is None or out.trustees is None:
            return
        try:
            combined = trustees_.combine(out.aggregates, [v for _, v in verified.values()], trustees=out.trustees)
        except trustees_.TrusteeError as e:
            out.add(seq, f"计票结果无法由解密份额重算 / round.result cannot be recomputed from the recorded shares: {e}")
            return
        mine = [cr.SelectionCounts(r.id, r.heads, r.area) for r in combined]
        participation = Amount(out.aggregates.ballots, out.aggregates.total_weight)
    else:
        if body["shares"] is not None:
            out.add(seq, "round.result: an open round's result lists no shares (null)")
        if out.counts is None:
            return
        mine = [cr.SelectionCounts(c.id, c.heads, c.area) for c in out.counts]
        participation = Amount(out.counted, out.weight)
    _counts_problems(body["counts"], mine, seq, out)
    try:
        decided = cr.decide_counts(ann.agenda, Amount(ann.heads, ann.area), participation, mine,
                                   deemed=settings.deemed_consent)
    except ValueError as e:
        out.add(seq, f"计数不一致，无法决定 / the recomputed counts cannot be decided: {e}")
        return
    _tally_problems(body["tally"], decided.tally(), "tally", seq, out)
    _tally_problems(body["deemed"], decided.deemed_tally(), "deemed", seq, out)
    if seq in times:
        want = cr.objection_until(times[seq], settings.objection_days)
        if body["objection_until"] != want:
            out.add(seq, f"round.result: objection_until is {body['objection_until']}, the entry's time plus "
                         f"{settings.objection_days} day(s) is {want}")
