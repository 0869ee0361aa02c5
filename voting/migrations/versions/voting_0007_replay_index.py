"""voting: an index for the replay check of every cast (SPEC §7.4).

``voting.cast._check`` looks a signed ballot up by (log, round, tracking code) under the log lock.
With only ``ix_voting_ballots_round`` (log, round, voter) and ``ix_voting_ballots_tracking``
(tracking), SQLite's planner took the round index and walked every ballot of the round for each
cast: the check grew with the turnout. This index answers it with one search.

Revision ID: voting_0007
Revises: "voting_0006"
"""
from alembic import op

revision = "voting_0007"
down_revision = "voting_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_voting_ballots_replay", "voting_ballots", ["log_id", "round_id", "tracking"])


def downgrade() -> None:
    op.drop_index("ix_voting_ballots_replay", "voting_ballots")
