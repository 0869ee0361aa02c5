"""The close forgets paper entries still waiting for their second scrutineer (SPEC §7.9): an
unmatched first entry can no longer count, and its marks must not outlive the round."""

from __future__ import annotations

from ledger.db import transaction
from tests.voting.test_paper_entry import ROUND_ID, SLUG, build, paper_entries, pending_rows
from voting import count_round


def test_the_close_forgets_waiting_first_entries(engine):
    b = build(engine)
    b.enter("A-01", "zhao")
    assert b.enter("A-01", "qian").status == "recorded"
    b.enter("B-02", "zhao")  # no second entry before the close
    assert pending_rows(b) == [b.pseudonym["B-02"]]
    with transaction(engine) as session:
        assert count_round.close(session, SLUG, ROUND_ID) is not None
    assert pending_rows(b) == []
    assert len(paper_entries(b)) == 1  # the recorded paper ballot stays; only the waiting marks go
