"""What ``gongjue verify`` checks of consultations and follow-through (SPEC §10.5, §11.5).

``check_log`` replays every ``consult*`` entry with the rolls, the credential registry and the
follow-through records (``voting.consultation.Book``) and reports each entry that breaks a rule,
by seq: a response from a key that is not a current key of one of the consultation's voters, a
second response of one voter, a response outside the window or after the close, a moderation of
a response without that text, a close whose counts differ from the recomputed ones (naming the
question and the measure).  ``CHECKS`` adds these and ``voting.follow_audit.check_log`` to
``web.cli.ledger.content_checks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.entry import ParsedEntry
from ledger.verify import ContentChecks
from voting import consultation, follow_audit


def check_log(entries: Iterable[ParsedEntry], ctx) -> Iterator[tuple[int | None, str]]:
    book = consultation.replay(entries)
    for name, n in book.checked.items():
        if hasattr(ctx, "count"):
            ctx.count(name, n)
    yield from book.problems


CHECKS = ContentChecks(whole_log=(check_log, follow_audit.check_log))
"""Consultations (SPEC §10) and follow-through (SPEC §11): merged into ``gongjue verify``'s checks."""
