"""Recompute a round from the ledger alone (SPEC §7.4): snapshot, credentials, ballots, aggregates.

``audit_round(entries, rec, origin)`` checks, for one round (``round_record.RoundEntries``):

1. the announcement: the roll entry it names is the latest ``roll`` entry before it, with that
   leaf hash; its voters and weights are the roll's (estate scope: exactly
   ``identity.record.voter_weights``, contract C2; other scopes: a subset, each area at most
   the voter's estate area); the trustees' keys and proofs give the joint key; the fingerprint
   is ``round_fingerprint`` of the recorded values (contract C1);
2. every ballot: signature and proofs through the safe API (``VerifiedBallot`` /
   ``VerifiedOpenBallot``), its credential key registered and unrevoked for a voter of the
   snapshot at the ballot's place in the log (``identity.authority.registry_from_entries``,
   contract C3), one ballot per voter — the first counts, every later one is reported;
3. the close: the number of ballots and the aggregates (or open counts) equal the ones
   recomputed with ``voting.crypto.tally`` from the counted ballots and the snapshot's weights;
   a difference names the item, the selection and the measure.

The result carries the problems (seq, message) and, when everything holds, the recomputed
aggregates and trustee set — what a trustee may decrypt (``voting.trustee_check``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from identity import record
from identity.authority import registry_from_entries, valid_points
from ledger.entry import ParsedEntry
from voting.count_result import count_differences
from voting.crypto import ballot as ballots_
from voting.crypto import dkg, ed25519, tally
from voting.crypto import trustee as trustees_
from voting.crypto.group import GroupError
from voting.round_record import (
    Announcement,
    RoundEntries,
    collect_rounds,
    fingerprint,
    is_round_type,
    trustee_context,
)

RegistryFactory = Callable[[list[ParsedEntry]], object]


@dataclass
class RoundAudit:
    """What the recomputation of one round found."""

    round_id: str
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    trustees: trustees_.TrusteeSet | None = None
    aggregates: tally.Aggregates | None = None  # recomputed (secret rounds)
    counts: tuple[tally.ItemCount, ...] | None = None  # recomputed (open rounds)
    counted: int = 0
    closed: bool = False
    later: list[tuple[int, str]] = field(default_factory=list)  # (seq, voter) of ballots not counted
    weight: int = 0  # Σ weights of the counted ballots (participation area, count checks)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, seq: int | None, message: str) -> None:
        self.problems.append((seq, message))


# --- contracts of other packages --------------------------------------------------------------


def voter_weights(roll_body: dict) -> dict[str, int]:
    """Pseudonym → estate area of a public ``roll`` entry (contract C2)."""
    return record.voter_weights(roll_body)


def default_registry(entries: list[ParsedEntry]) -> object:
    """The credential registry stated by the identity entries (contract C3)."""
    return registry_from_entries(entries)


# --- 1. the announcement ----------------------------------------------------------------------


def _check_announcement(entries: Sequence[ParsedEntry], rec: RoundEntries, origin: str, out: RoundAudit) -> None:
    ann, seq = rec.announcement, rec.announce_seq
    rolls = [e for e in entries if e.type == record.ROLL and e.seq < seq]
    if not rolls or rolls[-1].seq != ann.roll_seq:
        latest = rolls[-1].seq if rolls else None
        out.add(seq, f"名册快照不是此前最新的名册 / the round snapshots entry {ann.roll_seq}, but the latest roll "
                     f"entry before it is {latest}")
        return
    roll_entry = rolls[-1]
    after = next((e for e in entries if e.seq == roll_entry.seq + 1), None)
    leaf = after.prev if after is not None else None  # the chain (checked structurally) holds each leaf hash
    if leaf != ann.roll_leaf_hash:
        out.add(seq, f"名册快照哈希不符 / roll.leaf_hash {ann.roll_leaf_hash[:16]}… is not the leaf hash "
                     f"{(leaf or '?')[:16]}… of roll entry {roll_entry.seq}")
    try:
        estate = voter_weights(roll_entry.body)
    except (KeyError, TypeError, ValueError) as e:
        out.add(seq, f"名册条目无法读取 / roll entry {roll_entry.seq} cannot be read: {e}")
        return
    _check_weights(ann, estate, seq, out)
    _check_trustees(ann, origin, seq, out)
    want = fingerprint(origin=origin, round_id=ann.round_id, secrecy=ann.secrecy, agenda=ann.agenda_json,
                       roll_leaf_hash=ann.roll_leaf_hash, joint_key=ann.joint_key)
    if want.hex() != ann.fingerprint:
        out.add(seq, f"轮次指纹不符 / fingerprint {ann.fingerprint[:16]}… is not the fingerprint {want.hex()[:16]}… "
                     "of the recorded origin, round, secrecy, agenda, roll and joint key")


def _check_weights(ann: Announcement, estate: dict[str, int], seq: int, out: RoundAudit) -> None:
    """Snapshot weights = the roll's (estate scope), or bounded by them (other scopes)."""
    whole = ann.agenda.scope.is_estate
    for voter, area in ann.voters.items():
        if voter not in estate:
            out.add(seq, f"快照中的投票人不在名册中 / voter {voter} of the snapshot is not in the roll")
        elif whole and area != estate[voter]:
            out.add(seq, f"快照权重与名册不符 / voter {voter}: the snapshot weighs {area}, the roll entry gives "
                         f"{estate[voter]} (0.01 m²)")
        elif not whole and not 0 < area <= estate[voter]:
            out.add(seq, f"快照权重超出名册 / voter {voter}: area in scope {area} is not in 1…{estate[voter]}")
    if whole:
        missing = [v for v in estate if v not in ann.voters]
        if missing:
            out.add(seq, f"快照缺少投票人 / the whole-estate snapshot leaves out {len(missing)} voter(s) of the roll, "
                         f"first {missing[0]}")
        elif list(ann.voters) != list(estate):
            out.add(seq, "快照顺序与名册不符 / the snapshot's voters are not in roll order")


def _check_trustees(ann: Announcement, origin: str, seq: int, out: RoundAudit) -> None:
    if ann.secrecy != "secret":
        return
    context = trustee_context(origin, ann.round_id)
    t = ann.trustees
    try:
        if t["threshold"] is None:
            ts = trustees_.trustee_set([trustees_.verify_public_key(k, context=context) for k in t["keys"]])
        else:
            n = len(t["dealers"])
            ts = dkg.trustee_set([dkg.verify_commitments(d, context=context, threshold=t["threshold"], trustees=n)
                                  for d in t["dealers"]], trustees=n)
    except (trustees_.TrusteeError, dkg.DKGError) as e:
        out.add(seq, f"监票人公钥无效 / trustees: {e}")
        return
    if ts.joint_key.hex() != ann.joint_key:
        out.add(seq, "联合公钥不符 / joint_key is not the sum the trustees' keys give")
        return
    out.trustees = ts


# --- 2. the ballots ---------------------------------------------------------------------------


def _verify_all(rec: RoundEntries, jobs: int) -> list:
    """VerifiedBallot / VerifiedOpenBallot or BallotError per ballot entry, in order."""
    ann = rec.announcement
    fp = bytes.fromhex(ann.fingerprint)
    signed = [body["ballot"] for _, body in rec.ballots]
    # the registered keys passed libsodium's point check in the credentials replay: the workers
    # (forked below) then check a ballot's key by a set lookup (voting.crypto.ed25519._VALID)
    ed25519.remember_valid(bytes.fromhex(k) for k in valid_points())
    if ann.secrecy == "secret":
        return ballots_.verify_ballots(signed, fingerprint=fp, joint_key=bytes.fromhex(ann.joint_key),
                                       items=ann.items, workers=max(1, jobs))
    out = []
    for s in signed:
        try:
            out.append(ballots_.verify_open_ballot(s, fingerprint=fp, items=ann.items))
        except ballots_.BallotError as e:
            out.append(e)
    return out


def _registry_at(entries: Sequence[ParsedEntry], factory: RegistryFactory):
    """registry_at(seq) -> (registry, error): the registry the identity entries before ``seq``
    state; built once per prefix of identity entries (an audit asks for the same few prefixes
    for every ballot, proxy and paper entry, and each build re-verifies the authority's signed
    statements)."""
    identity = [e for e in entries if not is_round_type(e.type)]
    seqs = [e.seq for e in identity]
    built: dict[int, tuple] = {}

    def at(seq: int):
        n = bisect.bisect_left(seqs, seq)
        if n not in built:
            try:
                built[n] = (factory(identity[:n]), None)
            except (KeyError, TypeError, ValueError) as e:  # the credential check names the entry too
                built[n] = (None, str(e))
        return built[n]

    return at


def _policies(ann: Announcement) -> tuple[bool, int | None]:
    """(revote, proxy_cap) of the announcement (SPEC §7.1 ``policies``; a bare announcement: off, none)."""
    life = getattr(ann, "lifecycle", None) or {}
    pol = life.get("policies") or {}
    return bool(pol.get("revote", False)), pol.get("proxy_cap")


def _count_ballots(entries: Sequence[ParsedEntry], rec: RoundEntries, out: RoundAudit, jobs: int,
                   registry_at) -> list:
    """(verified ballot, weight) of the ballot that counts for each voter, problems for the rest.

    Ballots and proxy entries (SPEC §7.8) are replayed together in log order: each proxy entry is
    checked (signature by the represented voter's current key, both voters, one grant in force,
    the cap, revocation only before a ballot was cast for the voter) and applied; a ballot counts
    for its key's voter, or for ``for`` when a grant from that voter to the key's voter is in
    force at its place.  One ballot per voter: revotes off — the first counts, every later one is
    reported; revotes on — the last counts (the earlier ones are listed in ``later``).  A signed
    ballot (its tracking code) appears once per round: a replay — e.g. a voter's earlier ballot
    recorded again after a revote — is reported and not counted.
    """
    from voting import proxy as proxies

    ann = rec.announcement
    weights = ann.voters
    revote, cap = _policies(ann)
    verified = {seq: v for (seq, _), v in zip(rec.ballots, _verify_all(rec, jobs))}
    events = [(seq, "ballot", body) for seq, body in rec.ballots]
    for kind in (*proxies.TYPES, "paper.ballot"):
        events += [(seq, kind, body) for seq, body in getattr(rec, "others", {}).get(kind, ())]
    events.sort(key=lambda e: e[0])
    close_seq = rec.close[0] if rec.close is not None else None
    book = proxies.Book(weights, cap)
    counted: dict[str, tuple[int, object]] = {}
    tracked: dict[str, int] = {}  # tracking code → the entry that carried it first: a signed ballot counts once
    for seq, kind, body in events:
        registry, error = registry_at(seq)
        if kind == "paper.ballot":  # the owner's vote in person ends a grant (§7.8 rule 6); judged by _count_paper
            if isinstance(body, dict) and isinstance(body.get("voter"), str):
                book.in_force.pop(body["voter"], None)
                book.voted.add(body["voter"])
            continue
        if kind != "ballot":
            if close_seq is not None and seq > close_seq:
                out.add(seq, f"委托条目在投票结束之后 / {kind} after the round closed at entry {close_seq}")
                continue
            if registry is None:
                out.add(seq, f"凭证登记无法核验 / the credential registry cannot be built: {error}")
                continue
            try:
                proxies.apply_entry(book, kind, seq, body, ann.fingerprint, registry.key_of)
            except proxies.ProxyError as e:
                out.add(seq, f"委托条目无效 / {kind} refused ({e.code}): {e.message}")
            continue
        v = verified[seq]
        if isinstance(v, ballots_.BallotError):
            out.add(seq, f"选票验证失败 / ballot refused: {v}")
            continue
        key = v.voter.hex()
        if v.tracking in tracked:
            out.add(seq, f"同一张选票再次出现（重放）/ the same signed ballot again (a replay of entry "
                         f"{tracked[v.tracking]}): not counted")
            continue
        tracked[v.tracking] = seq
        if registry is None:
            out.add(seq, f"凭证登记无法核验 / the credential registry cannot be built: {error}")
            continue
        caster = registry.voter_of(key)
        if caster is None:
            zh, en = ("已被吊销", "revoked") if registry.revoked(key) else ("未登记", "not registered")
            out.add(seq, f"选票的凭证公钥{zh} / ballot signed with a credential key that is {en} ({key[:16]}…)")
            continue
        voter = body.get("for", caster)
        named = body["ballot"]["ballot"].get("for")
        if named is not None and named != body.get("for"):
            out.add(seq, f"选票写明代 {named} 投票，条目却计给 {voter} / the ballot names voter {named} as the one it is "
                         f"cast for, the entry counts it for {voter}: not counted")
            continue
        if voter not in weights:
            out.add(seq, f"投票人不在本轮范围内 / voter {voter} is not in the round's snapshot (not eligible)")
            continue
        if voter != caster:
            try:
                proxies.check_ballot_binding(ann.fingerprint, voter, v.tracking, key, body.get("for_sig"))
            except proxies.ProxyError as e:
                out.add(seq, f"代投选票未绑定被代理人 / a proxy ballot not bound to the voter it counts for: {e.message}")
                continue
            try:
                book.check_ballot(voter, caster)
            except proxies.ProxyError as e:
                out.add(seq, f"代投选票没有有效委托 / a proxy ballot without a valid grant: {e.message}")
                continue
        if voter in counted and not revote:
            out.later.append((seq, voter))
            out.add(seq, f"同一投票人的第二张选票 / a second ballot of voter {voter}: the first, entry "
                         f"{counted[voter][0]}, counts; this one does not")
            continue
        if voter in counted:
            out.later.append((counted[voter][0], voter))  # revote: the last ballot counts
        book.ballot(voter, caster)
        counted[voter] = (seq, v)
    out.counted = len(counted)
    return [(v, weights[voter]) for voter, (_, v) in counted.items()]


def _count_paper(entries: Sequence[ParsedEntry], rec: RoundEntries, out: RoundAudit, counted: list,
                 registry_at) -> list:
    """Paper ballots (SPEC §7.9): ``voting.paper_entry.count_paper`` judges each ``paper.ballot``
    and merges the counted ones with the electronic ballots under the round's duplicate policy."""
    from voting import paper_entry

    merged = paper_entry.count_paper(entries, rec, out.add, counted, registry_at, out.later)
    out.counted = len(merged)
    return merged


# --- 3. the close -----------------------------------------------------------------------------


def _compare_aggregates(stated: dict, mine: tally.Aggregates, seq: int, out: RoundAudit) -> None:
    try:
        theirs = tally.Aggregates.from_json(stated)
    except tally.TallyError as e:
        out.add(seq, f"计票结束条目的聚合密文无效 / round.close aggregates: {e}")
        return
    for name in ("fingerprint", "ballots", "total_weight"):
        a, b = getattr(theirs, name), getattr(mine, name)
        if a != b:
            shown = (a.hex()[:16], b.hex()[:16]) if isinstance(a, bytes) else (a, b)
            out.add(seq, f"聚合与重算不符 / round.close aggregates: {name} is {shown[0]}, recomputed {shown[1]}")
    if [i.id for i in theirs.items] != [i.id for i in mine.items]:
        out.add(seq, "聚合与重算不符 / round.close aggregates: items are not the agenda's")
        return
    for a, b in zip(theirs.items, mine.items):
        for measure in ("heads", "area"):
            xs, ys = getattr(a, measure), getattr(b, measure)
            if len(xs) != len(ys):
                out.add(seq, f"聚合与重算不符 / item {a.id!r} {measure}: {len(xs)} selections, expected {len(ys)}")
                continue
            for index, (x, y) in enumerate(zip(xs, ys)):
                if x != y:
                    out.add(seq, f"聚合与重算不符 / round.close aggregates differ from the recomputed ones: "
                                 f"item {a.id!r} selection {index} {measure}")


def _compare_counts(stated: list, mine: tuple[tally.ItemCount, ...], seq: int, out: RoundAudit) -> None:
    want = [{"id": c.id, "heads": list(c.heads), "area": list(c.area)} for c in mine]
    for difference in count_differences(stated, want):
        out.add(seq, f"计数与重算不符 / round.close counts: {difference}")


def _check_close(rec: RoundEntries, counted: list, out: RoundAudit, jobs: int = 1) -> None:
    ann = rec.announcement
    fp = bytes.fromhex(ann.fingerprint)
    if ann.secrecy == "secret":  # the columns (item, selection, α or β) summed over ``jobs`` processes
        out.aggregates = tally.tally_secret(counted, fingerprint=fp, items=ann.items, workers=max(1, jobs))
    else:
        out.counts = tally.tally_open(counted, fingerprint=fp, items=ann.items)
    out.weight = sum(w for _, w in counted)
    if rec.close is None:
        return
    seq, body = rec.close
    if body["ballots"] != len(counted):
        out.add(seq, f"选票数与重算不符 / round.close: ballots is {body['ballots']}, the record holds "
                     f"{len(counted)} counted ballot(s)")
    if ann.secrecy == "secret":
        if body["aggregates"] is None:
            out.add(seq, "round.close: a secret round closes with aggregates")
        else:
            _compare_aggregates(body["aggregates"], out.aggregates, seq, out)
    elif body["counts"] is None:
        out.add(seq, "round.close: an open round closes with counts")
    else:
        _compare_counts(body["counts"], out.counts, seq, out)


def _check_count(entries: Sequence[ParsedEntry], rec: RoundEntries, out: RoundAudit) -> None:
    """The close's time, every decryption share, the result and the final (SPEC §7.10; voting.count_audit)."""
    from voting.count_audit import check_count

    check_count(entries, rec, out)


def _check_lifecycle(entries: Sequence[ParsedEntry], rec: RoundEntries, out: RoundAudit, origin: str) -> None:
    """Notice, credentials, candidates, extensions and the window (SPEC §7.1, §7.6, §7.7; voting.lifecycle_audit)."""
    from voting.lifecycle_audit import check_lifecycle

    check_lifecycle(entries, rec, out, origin)


# --- entry points -----------------------------------------------------------------------------


def audit_round(entries: Sequence[ParsedEntry], rec: RoundEntries, origin: str, *, jobs: int = 1,
                registry_factory: RegistryFactory | None = None, registry_at=None) -> RoundAudit:
    """Recompute round ``rec`` from ``entries`` (the whole log, in order; SPEC §7.4).

    ``registry_at``: a ``_registry_at`` of these entries to share between rounds (made here if None)."""
    out = RoundAudit(rec.round_id, closed=rec.closed)
    _check_announcement(entries, rec, origin, out)
    if out.problems:
        _check_lifecycle(entries, rec, out, origin)
        return out  # ballots cannot be judged against a snapshot or key that does not hold
    try:
        if registry_at is None:
            registry_at = _registry_at(entries, registry_factory or default_registry)
        with ballots_.remembering_tracking():  # paper ballots ask for the codes the verifier computed
            counted = _count_ballots(entries, rec, out, jobs, registry_at)
            counted = _count_paper(entries, rec, out, counted, registry_at)
        _check_close(rec, counted, out, jobs)
        _check_count(entries, rec, out)
    except (tally.TallyError, GroupError) as e:  # defensive: verified ballots always tally
        out.add(rec.announce_seq, f"round {rec.round_id}: {e}")
    _check_lifecycle(entries, rec, out, origin)
    return out


def check_log(entries: Iterable[ParsedEntry], origin: str, *, jobs: int = 1,
              registry_factory: RegistryFactory | None = None,
              audits: dict[str, RoundAudit] | None = None,
              collected: tuple[dict[str, RoundEntries], list[tuple[int, str]]] | None = None,
              ) -> list[tuple[int | None, str]]:
    """Every round of the log audited; problems in log order.  ``audits`` receives each round's result;
    ``collected``: ``collect_rounds(entries)`` when the caller has it already (it is not changed)."""
    entries = list(entries)
    rounds, problems = collected if collected is not None else collect_rounds(entries)
    problems = list(problems)
    registry_at = _registry_at(entries, registry_factory or default_registry)
    for rec in rounds.values():
        audit = audit_round(entries, rec, origin, jobs=jobs, registry_factory=registry_factory,
                            registry_at=registry_at)
        if audits is not None:
            audits[rec.round_id] = audit
        problems += [(s, f"轮次 {rec.round_id} / round {rec.round_id}: {m}") for s, m in audit.problems]
    return sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
