"""What a trustee may decrypt: the aggregates it recomputed itself from a verified bundle (SPEC §7.5).

``decryptable(bundle, round_id)`` verifies the bundle (structure, signed checkpoints, every
content check of ``identity`` and of the rounds), requires the round to be closed and secret,
and returns the aggregates recomputed from the recorded ballots and the snapshot's weights —
equal, by then, to the close entry's.  Every other case raises ``DecryptRefused`` with the
reason, in Chinese then English.  A trustee never decrypts aggregates handed to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from identity import authority, record
from ledger.verify import CHECK_NAMES, ContentChecks, VerifyContext, verify_bundle
from voting.crypto import tally
from voting.crypto import trustee as trustees_
from voting.round_audit import RoundAudit, check_log
from voting.round_record import check_rounds

MAX_SHOWN = 20


class DecryptRefused(ValueError):
    """The trustee's tool refuses to produce shares; the message says why."""


@dataclass(frozen=True)
class Decryptable:
    """A closed secret round whose aggregates the trustee recomputed from the verified record."""

    origin: str
    round_id: str
    aggregates: tally.Aggregates
    trustees: trustees_.TrusteeSet
    ballots: int
    root: str
    size: int


class _Rounds:
    """A whole-log content check (contract C4) that keeps each round's audit for the caller."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.audits: dict[str, RoundAudit] = {}

    def __call__(self, entries, ctx: VerifyContext):
        return check_log(entries, ctx.origin, jobs=self.jobs, audits=self.audits)


def identity_checks() -> ContentChecks:
    """The content checks of ``identity``: estate and roll (SPEC §6), credentials (§4.5)."""
    return ContentChecks.merge(record.CHECKS, authority.CHECKS)


def decryptable(bundle: Path, round_id: str, old_checkpoints: list[tuple[str, str]] | None = None, *,
                checks: ContentChecks | None = None, jobs: int = 1) -> Decryptable:
    """Verify ``bundle`` and recompute round ``round_id``; DecryptRefused unless all of it holds.

    ``checks``: the content checks of the packages below (what ``gongjue verify`` runs; default
    ``identity_checks()``); the round check of ``voting.round_record.CHECKS`` is replaced by one
    that keeps each round's audit, so the ballots are verified once.
    """
    rounds = _Rounds(jobs)
    others = checks if checks is not None else identity_checks()
    others = ContentChecks(others.per_entry, [f for f in others.whole_log if f is not check_rounds])
    report = verify_bundle(Path(bundle), old_checkpoints, checks=ContentChecks.merge(others, ContentChecks(
        whole_log=(rounds,))), jobs=jobs)
    if not report.ok:
        lines = [f"[{CHECK_NAMES.get(p.check, p.check)}] {p.message}" for p in report.problems[:MAX_SHOWN]]
        more = len(report.problems) - MAX_SHOWN
        if more > 0:
            lines.append(f"… 另有 {more} 个问题 / {more} more problem(s)")
        raise DecryptRefused("账本核验未通过，拒绝解密 / the record does not verify; nothing is decrypted:\n  "
                             + "\n  ".join(lines))
    audit = rounds.audits.get(round_id)
    if audit is None:
        raise DecryptRefused(f"账本中没有轮次 {round_id} / the record has no round {round_id!r}")
    if audit.trustees is None or audit.aggregates is None:
        raise DecryptRefused(f"轮次 {round_id} 是记名表决，没有需要解密的内容 / round {round_id} is an open "
                             "(named-vote) round: there is nothing to decrypt")
    if not audit.closed:
        raise DecryptRefused(f"轮次 {round_id} 尚未结束，拒绝解密 / round {round_id} is not closed: decrypting "
                             "an open round would let the differences between successive decryptions reveal "
                             "individual votes")
    assert audit.ok  # every problem of the audit is a problem of the report
    return Decryptable(report.origin, round_id, audit.aggregates, audit.trustees, audit.counted,
                       report.root, report.size)


def shares_for(target: Decryptable, trustee: int, secret: int) -> dict:
    """The trustee's decryption shares (SPEC §3.8) of the recomputed aggregates, after checking that
    its key is the one the round records for trustee number ``trustee``."""
    from voting.crypto import group

    recorded = target.trustees.keys.get(trustee)
    if recorded is None:
        raise DecryptRefused(f"轮次 {target.round_id} 没有第 {trustee} 号监票人 / round {target.round_id} has no "
                             f"trustee {trustee} (trustees {sorted(target.trustees.keys)})")
    if group.base_mul(secret) != recorded:
        raise DecryptRefused(f"密钥不是本轮登记的第 {trustee} 号监票人公钥 / this key is not the key recorded for "
                             f"trustee {trustee} in round {target.round_id}")
    return trustees_.compute_shares(secret, trustee, target.aggregates)
