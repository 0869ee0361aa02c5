"""What ``gongjue verify`` checks of follow-through records (SPEC §11.5): ``check_log`` replays
every ``follow*`` entry with the published results it rests on (``voting.follow.Book``) and
reports each entry that breaks a rule, by seq."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ledger.entry import ParsedEntry
from voting import follow


def check_log(entries: Iterable[ParsedEntry], ctx) -> Iterator[tuple[int | None, str]]:
    book = follow.replay(entries)
    for name, n in book.checked.items():
        if hasattr(ctx, "count"):
            ctx.count(name, n)
    yield from book.problems
