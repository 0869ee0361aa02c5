"""Rounds in the estate's ledger: the entries a trustee and an auditor recompute from (SPEC §7).

Entry types (bodies in SPEC §7.1–§7.3):

- ``round``: the announcement — round id, secrecy, the normalised agenda (rules and scope
  inside), the roll entry it snapshots (seq and leaf hash), the voters in scope with their
  weights, the totals, the trustees' public keys with proofs and the joint key (secret rounds),
  and the round fingerprint (``voting.crypto.ballot.round_fingerprint``, contract C1).
- ``ballot``: one signed ballot for a round and the second factor its owner session came with
  (``"sms"`` or ``"pin"``; never the factor's value).
- ``round.close``: the number of counted ballots and the aggregates (secret rounds) or the
  plaintext counts (open rounds).

Builders (``round_body``, ``ballot_body``, ``close_body``) make bodies; ``parse_round`` and
``extract_round`` read them back from ``ledger.entry.ParsedEntry`` lists, refusing any shape
SPEC §7 does not allow.  What the bodies must agree with (the roll, the credentials, the
ballots' proofs, the recomputed aggregates) is checked by ``voting.round_audit``; ``CHECKS`` is
the whole-log content check for ``ledger.verify.verify_bundle`` (contract C4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ledger.entry import HEX64_RE, ParsedEntry
from ledger.verify import ContentChecks
from voting.agenda import Agenda, AgendaError, parse_agenda
from voting.crypto.ballot import ItemShape, round_fingerprint
from voting.lifecycle import LIFECYCLE_KEYS, LifecycleError, check_lifecycle

ROUND = "round"
BALLOT = "ballot"
CLOSE = "round.close"
TYPES = (ROUND, "round.extend", "candidate.nominate", "candidate.vet", BALLOT, "proxy.grant", "proxy.revoke",
         "paper.ballot", CLOSE, "round.shares", "round.result", "round.final")
"""Every entry type of a round (SPEC §7): each carries ``"round": <id>`` and ``collect_rounds``
groups it with its round.  Any ``candidate.*`` type is a round type too (``is_round_type``)."""


def is_round_type(entry_type: str) -> bool:
    """True for the entry types that belong to a round (grouped by ``collect_rounds``)."""
    return entry_type in TYPES or entry_type.startswith("candidate.")
SECRECY = ("secret", "open")
FACTORS = ("sms", "pin")
ROUND_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
VOTER_RE = re.compile(r"\S{1,64}\Z")
HEX128_RE = re.compile(r"[0-9a-f]{128}\Z")  # a proxy ballot's for_sig (SPEC §7.2, §7.8)

ROUND_KEYS = frozenset({"v", "round", "secrecy", "agenda", "roll", "voters", "totals", "trustees",
                        "joint_key", "fingerprint"})
BALLOT_KEYS = frozenset({"v", "round", "ballot", "factor"})
CLOSE_KEYS = frozenset({"v", "round", "ballots", "aggregates", "counts"})


class RoundRecordError(ValueError):
    """A round entry (or a round's entries) that breaks SPEC §7; the message names the entry."""


# --- builders --------------------------------------------------------------------------------


def trustee_context(origin: str, round_id: str) -> str:
    """The trustees' key ceremony id of a round: ``<origin>/<round id>`` (SPEC §3.7, §7.1)."""
    return f"{origin}/{round_id}"


def item_shapes(agenda: Agenda) -> list[ItemShape]:
    """The ballot shape of each agenda item (SPEC §3.5): motion 3 of which exactly 1; choice one
    of its options; election 0 … seats of its candidates."""
    shapes = []
    for item in agenda.items:
        if item.kind == "motion":
            shapes.append(ItemShape(item.id, 3, 1, 1))
        elif item.kind == "choice":
            shapes.append(ItemShape(item.id, len(item.choices), 1, 1))
        else:
            shapes.append(ItemShape(item.id, len(item.choices), 0, min(item.seats, len(item.choices))))
    return shapes


def fingerprint(*, origin: str, round_id: str, secrecy: str, agenda: dict, roll_leaf_hash: str,
                joint_key: str | None) -> bytes:
    """The round fingerprint (SPEC §3.6, contract C1) of the values a ``round`` entry records:
    ``rules`` = ``agenda["rules"]``, ``roll`` = the snapshot's leaf hash (SPEC §7.1)."""
    return round_fingerprint(origin=origin, round_id=round_id, secrecy=secrecy, agenda=agenda, rules=agenda["rules"],
                             roll=roll_leaf_hash, joint_key=bytes.fromhex(joint_key) if joint_key else None)


def round_body(*, origin: str, round_id: str, secrecy: str, agenda: Agenda, roll_seq: int, roll_leaf_hash: str,
               voters: Sequence[tuple[str, int]], trustees: dict | None, joint_key: str | None,
               lifecycle: dict | None = None) -> dict:
    """Body of a ``round`` entry in the log of ``origin`` (SPEC §7.1), its fingerprint computed.

    ``voters``: (voter pseudonym, area in scope in 0.01 m²) in roll order; ``trustees``:
    ``{"threshold": None, "keys": [public key JSON …]}`` (n-of-n, §3.7) or ``{"threshold": k,
    "dealers": [commitments JSON …]}`` (k-of-n, §3.10) for a secret round, None for an open one;
    ``joint_key``: K in hex (secret) or None (open).  Only the shape is checked here; what the
    values must agree with is ``voting.round_audit``'s.
    """
    agenda_json = agenda.as_json()
    fp = fingerprint(origin=origin, round_id=round_id, secrecy=secrecy, agenda=agenda_json,
                     roll_leaf_hash=roll_leaf_hash, joint_key=joint_key)
    body = {"v": 1, "round": round_id, "secrecy": secrecy, "agenda": agenda_json,
            "roll": {"seq": roll_seq, "leaf_hash": roll_leaf_hash},
            "voters": [{"voter": v, "area": a} for v, a in voters],
            "totals": {"heads": len(voters), "area": sum(a for _, a in voters)},
            "trustees": trustees, "joint_key": joint_key, "fingerprint": fp.hex()} | (lifecycle or {})
    parse_round(body)  # lifecycle: the members of voting.lifecycle (SPEC §7.1), written by voting.rounds
    return body


def ballot_body(round_id: str, signed: dict, factor: str, *, for_voter: str | None = None,
                for_sig: str | None = None) -> dict:
    """Body of a ``ballot`` entry (SPEC §7.2): the signed ballot and the second factor's kind;
    ``for_voter``: the represented voter of a ballot cast by a proxy (SPEC §7.8), member ``for``,
    with ``for_sig``: the proxy's signature binding the ballot to that voter (``voting.proxy``)."""
    body = {"v": 1, "round": round_id, "ballot": signed, "factor": factor}
    if for_voter is not None:
        body["for"] = for_voter
        body["for_sig"] = for_sig
    parse_ballot(body)
    return body


def close_body(round_id: str, *, ballots: int, aggregates: dict | None = None,
               counts: list[dict] | None = None) -> dict:
    """Body of a ``round.close`` entry (SPEC §7.3): aggregates JSON (secret) or counts (open)."""
    body = {"v": 1, "round": round_id, "ballots": ballots, "aggregates": aggregates, "counts": counts}
    parse_close(body)
    return body


# --- parsed bodies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """A well-formed ``round`` body (not yet checked against the roll or the trustees' proofs)."""

    round_id: str
    secrecy: str
    agenda: Agenda
    agenda_json: dict
    roll_seq: int
    roll_leaf_hash: str
    voters: dict[str, int]  # pseudonym → area in scope, roll order
    heads: int
    area: int
    trustees: dict | None
    joint_key: str | None
    fingerprint: str
    lifecycle: dict | None = None  # form, notice, window, … (voting.lifecycle, SPEC §7.1); None: a bare announcement

    @property
    def items(self) -> list[ItemShape]:
        return item_shapes(self.agenda)


def _int(value: object) -> bool:
    return type(value) is int


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise RoundRecordError(message)


def parse_round(body: object) -> Announcement:
    """Check the shape of a ``round`` body (SPEC §7.1) and return it parsed."""
    _need(isinstance(body, dict) and set(body) in (ROUND_KEYS, ROUND_KEYS | LIFECYCLE_KEYS),
          f"轮次公告字段不符 / round: expected exactly the members {', '.join(sorted(ROUND_KEYS))} "
          f"(and all or none of {', '.join(sorted(LIFECYCLE_KEYS))})")
    _need(body["v"] == 1 and _int(body["v"]), "round: v must be 1")
    _need(isinstance(body["round"], str) and ROUND_ID_RE.match(body["round"]) is not None,
          f"round: id {body['round']!r} must match [a-z0-9][a-z0-9-]{{0,62}}")
    _need(body["secrecy"] in SECRECY, "round: secrecy must be \"secret\" or \"open\"")
    try:
        agenda = parse_agenda(body["agenda"], "round.agenda")
    except AgendaError as e:
        raise RoundRecordError(f"round: agenda refused: {'; '.join(e.problems)}") from None
    _need(agenda.as_json() == body["agenda"], "round: agenda is not in its normalised form (SPEC §7.1)")
    roll = body["roll"]
    _need(isinstance(roll, dict) and set(roll) == {"seq", "leaf_hash"} and _int(roll["seq"]) and roll["seq"] >= 0
          and isinstance(roll["leaf_hash"], str) and HEX64_RE.match(roll["leaf_hash"]) is not None,
          "round: roll must be {\"seq\": entry number, \"leaf_hash\": 64 hex digits}")
    voters: dict[str, int] = {}
    _need(isinstance(body["voters"], list) and body["voters"], "round: voters must be a non-empty list")
    for i, v in enumerate(body["voters"]):
        _need(isinstance(v, dict) and set(v) == {"voter", "area"} and isinstance(v["voter"], str)
              and VOTER_RE.match(v["voter"]) is not None and _int(v["area"]) and v["area"] >= 0,
              f"round: voters[{i}] must be {{\"voter\": id, \"area\": integer ≥ 0}}")
        _need(v["voter"] not in voters, f"round: voters[{i}]: voter {v['voter']} listed twice")
        voters[v["voter"]] = v["area"]
    totals = body["totals"]
    _need(isinstance(totals, dict) and set(totals) == {"heads", "area"}, "round: totals must be {heads, area}")
    _need(totals["heads"] == len(voters) and _int(totals["heads"]),
          f"round: totals.heads {totals['heads']!r} is not the number of voters ({len(voters)})")
    _need(totals["area"] == sum(voters.values()) and _int(totals["area"]),
          f"round: totals.area {totals['area']!r} is not the voters' sum ({sum(voters.values())})")
    secret = body["secrecy"] == "secret"
    if secret:
        t = body["trustees"]
        _need(isinstance(t, dict) and (set(t) == {"threshold", "keys"} and t["threshold"] is None
                                       and isinstance(t["keys"], list) and t["keys"]
                                       or set(t) == {"threshold", "dealers"} and _int(t["threshold"])
                                       and isinstance(t["dealers"], list) and 1 <= t["threshold"] <= len(t["dealers"])),
              "round: trustees must be {\"threshold\": null, \"keys\": [...]} or "
              "{\"threshold\": k, \"dealers\": [...]} with 1 ≤ k ≤ dealers")
        _need(isinstance(body["joint_key"], str) and HEX64_RE.match(body["joint_key"]) is not None,
              "round: a secret round needs a joint_key (64 hex digits)")
    else:
        _need(body["trustees"] is None and body["joint_key"] is None,
              "round: an open round has trustees null and joint_key null")
    _need(isinstance(body["fingerprint"], str) and HEX64_RE.match(body["fingerprint"]) is not None,
          "round: fingerprint must be 64 hex digits")
    return Announcement(body["round"], body["secrecy"], agenda, body["agenda"], roll["seq"], roll["leaf_hash"],
                        voters, totals["heads"], totals["area"], body["trustees"], body["joint_key"],
                        body["fingerprint"], _lifecycle(body, agenda))


def _lifecycle(body: dict, agenda: Agenda) -> dict | None:
    if not LIFECYCLE_KEYS <= set(body):
        return None
    try:
        check_lifecycle(body, election_items={i.id: i.candidates for i in agenda.items if i.kind == "election"})
    except LifecycleError as e:
        raise RoundRecordError(str(e)) from None
    return {k: body[k] for k in sorted(LIFECYCLE_KEYS)}


def parse_ballot(body: object) -> dict:
    """Check the envelope of a ``ballot`` body (SPEC §7.2); the signed ballot is checked by the audit."""
    _need(isinstance(body, dict) and set(body) in (BALLOT_KEYS, BALLOT_KEYS | {"for", "for_sig"}),
          f"选票条目字段不符 / ballot: expected exactly the members {', '.join(sorted(BALLOT_KEYS))} (and \"for\", "
          "\"for_sig\" for a proxy's ballot)")
    _need("for" not in body or isinstance(body["for"], str) and VOTER_RE.match(body["for"]) is not None
          and isinstance(body["for_sig"], str) and HEX128_RE.match(body["for_sig"]) is not None,
          "ballot: for must be a voter pseudonym and for_sig 128 hex digits")
    _need(body["v"] == 1 and _int(body["v"]), "ballot: v must be 1")
    _need(isinstance(body["round"], str) and ROUND_ID_RE.match(body["round"]) is not None, "ballot: bad round id")
    _need(body["factor"] in FACTORS, "ballot: factor must be \"sms\" or \"pin\"")
    _need(isinstance(body["ballot"], dict), "ballot: the signed ballot must be an object")
    return body


def parse_close(body: object) -> dict:
    """Check the shape of a ``round.close`` body (SPEC §7.3)."""
    _need(isinstance(body, dict) and set(body) == CLOSE_KEYS,
          f"计票结束条目字段不符 / round.close: expected exactly the members {', '.join(sorted(CLOSE_KEYS))}")
    _need(body["v"] == 1 and _int(body["v"]), "round.close: v must be 1")
    _need(isinstance(body["round"], str) and ROUND_ID_RE.match(body["round"]) is not None, "round.close: bad round id")
    _need(_int(body["ballots"]) and body["ballots"] >= 0, "round.close: ballots must be an integer ≥ 0")
    _need((body["aggregates"] is None) != (body["counts"] is None),
          "round.close: exactly one of aggregates (secret round) and counts (open round) is set")
    _need(body["aggregates"] is None or isinstance(body["aggregates"], dict), "round.close: aggregates must be an object")
    if body["counts"] is not None:
        _need(isinstance(body["counts"], list) and all(
            isinstance(c, dict) and set(c) == {"id", "heads", "area"} and isinstance(c["heads"], list)
            and isinstance(c["area"], list) and all(_int(x) and x >= 0 for x in c["heads"] + c["area"])
            for c in body["counts"]), "round.close: counts must be [{\"id\", \"heads\": [int], \"area\": [int]}]")
    return body


# --- one round out of a log ------------------------------------------------------------------


@dataclass
class RoundEntries:
    """The entries of one round, in log order: its announcement, ballots and close."""

    round_id: str
    announce_seq: int
    announcement: Announcement
    ballots: list[tuple[int, dict]] = field(default_factory=list)  # (seq, ballot body)
    close: tuple[int, dict] | None = None  # (seq, close body)
    body: dict | None = None  # the ``round`` entry's body as recorded
    others: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # type → [(seq, body)], log order
    """Every other round entry (``round.extend``, ``candidate.*``, ``proxy.*``, ``paper.ballot``,
    ``round.shares``, ``round.result``, ``round.final``), shape unchecked: their checks are the
    owning modules' (plugged into ``voting.round_audit.audit_round``)."""

    @property
    def closed(self) -> bool:
        return self.close is not None

    def of(self, entry_type: str) -> list[tuple[int, dict]]:
        """(seq, body) of this round's entries of ``entry_type``, in log order."""
        if entry_type == ROUND:
            return [(self.announce_seq, self.body)] if self.body is not None else []
        if entry_type == BALLOT:
            return list(self.ballots)
        if entry_type == CLOSE:
            return [self.close] if self.close is not None else []
        return list(self.others.get(entry_type, ()))


def collect_rounds(entries: Iterable[ParsedEntry]) -> tuple[dict[str, RoundEntries], list[tuple[int, str]]]:
    """Every round of a log (in order) and the problems of round entries that fit no round.

    Every round entry type (``is_round_type``) is grouped with the round its ``round`` member
    names.  A round entry naming a round not announced before it (or no round), a second
    announcement of one id, a second close, a ballot after the close and a malformed ``round``,
    ``ballot`` or ``round.close`` body are problems (seq, message); the well-formed rest is
    kept.  The other types are grouped unchecked (``RoundEntries.others``).
    """
    rounds: dict[str, RoundEntries] = {}
    problems: list[tuple[int, str]] = []
    for e in entries:
        if not is_round_type(e.type):
            continue
        try:
            if e.type == ROUND:
                ann = parse_round(e.body)
                if ann.round_id in rounds:
                    raise RoundRecordError(f"轮次 {ann.round_id} 重复公告 / round {ann.round_id} was already "
                                           f"announced at entry {rounds[ann.round_id].announce_seq}")
                rounds[ann.round_id] = RoundEntries(ann.round_id, e.seq, ann, body=e.body)
                continue
            if e.type not in (BALLOT, CLOSE):
                rid = e.body.get("round") if isinstance(e.body, dict) else None
                _need(isinstance(rid, str) and ROUND_ID_RE.match(rid) is not None,
                      f"{e.type}: the round member must be a round id")
                rec = rounds.get(rid)
                if rec is None:
                    raise RoundRecordError(f"轮次 {rid} 未在此前公告 / round {rid} was not announced before "
                                           "this entry")
                rec.others.setdefault(e.type, []).append((e.seq, e.body))
                continue
            body = parse_ballot(e.body) if e.type == BALLOT else parse_close(e.body)
            rec = rounds.get(body["round"])
            if rec is None:
                raise RoundRecordError(f"轮次 {body['round']} 未在此前公告 / round {body['round']} was not "
                                       "announced before this entry")
            if rec.close is not None:
                what = "选票 / a ballot" if e.type == BALLOT else "第二次结束 / a second close"
                raise RoundRecordError(f"{what} after round {rec.round_id} closed at entry {rec.close[0]}")
            if e.type == BALLOT:
                rec.ballots.append((e.seq, body))
            else:
                rec.close = (e.seq, body)
        except RoundRecordError as exc:
            problems.append((e.seq, str(exc)))
    return rounds, problems


def extract_round(entries: Iterable[ParsedEntry], round_id: str) -> RoundEntries:
    """The entries of round ``round_id``; RoundRecordError if it was never (validly) announced
    or if one of its entries is malformed."""
    rounds, _ = collect_rounds(entries)
    if round_id not in rounds:
        raise RoundRecordError(f"账本中没有轮次 {round_id} / the record has no round {round_id!r}")
    return rounds[round_id]


def check_rounds(entries: Iterable[ParsedEntry], ctx) -> Iterable[tuple[int | None, str]]:
    """Whole-log content check (contract C4 ``LogCheck``): every round audited (voting.round_audit)."""
    from voting.round_audit import check_log

    entries = list(entries)
    audits: dict = {}
    collected = collect_rounds(entries)  # once: the audit and the counts share it
    problems = check_log(entries, ctx.origin, jobs=max(1, getattr(ctx, "jobs", 1)), audits=audits,
                         collected=collected)
    count = getattr(ctx, "count", None)
    if count is not None:
        rounds, _ = collected
        for name, n in round_counts(rounds, audits).items():
            count(name, n)
    return problems


COUNTS = ("rounds", "ballots verified", "proxies", "paper ballots", "aggregates", "decryption shares", "decisions")
"""What ``check_rounds`` reports it checked (``gongjue verify --json`` ``counts``)."""


def round_counts(rounds: dict[str, RoundEntries], audits: dict) -> dict[str, int]:
    """How many of each thing the round audit checked: rounds, ballot entries whose signature,
    proofs and eligibility were checked (every ballot of a round whose announcement holds),
    proxy entries, paper ballots, aggregate ciphertexts (or open counts) of the closes,
    decryption shares (one per trustee and aggregate ciphertext) and item decisions of the
    results (actual and deemed)."""
    out = dict.fromkeys(COUNTS, 0)
    for rid, rec in rounds.items():
        audit = audits.get(rid)
        out["rounds"] += 1
        announced_ok = audit is not None and not any(s == rec.announce_seq for s, _ in audit.problems)
        if announced_ok:
            out["ballots verified"] += len(rec.ballots)
        out["proxies"] += len(rec.of("proxy.grant")) + len(rec.of("proxy.revoke"))
        out["paper ballots"] += len(rec.of("paper.ballot"))
        if rec.close is not None and announced_ok:
            body = rec.close[1]
            items = (body.get("aggregates") or {}).get("items") or body.get("counts") or []
            for it in items if isinstance(items, list) else ():
                if isinstance(it, dict):
                    out["aggregates"] += sum(len(it.get(m) or ()) for m in ("heads", "area"))
        for _, body in rec.of("round.shares"):
            shares = body.get("shares") if isinstance(body, dict) else None
            for it in (shares or {}).get("items") or () if isinstance(shares, dict) else ():
                if isinstance(it, dict):
                    out["decryption shares"] += sum(len(it.get(m) or ()) for m in ("heads", "area"))
        for _, body in rec.of("round.result"):
            if isinstance(body, dict):
                out["decisions"] += len(body.get("counts") or ()) * (2 if body.get("deemed") else 1)
    return out


CHECKS = ContentChecks(whole_log=(check_rounds,))
"""What ``gongjue verify`` runs for rounds (``ledger.verify.ContentChecks``, contract C4)."""
