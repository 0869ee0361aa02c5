"""voting: cast ballots and proxies — projections of the ``ballot``, ``proxy.grant`` and
``proxy.revoke`` entries (SPEC §7.2, §7.8), written in the same transaction as the entry.

- ``voting_voted``: one row per (log, round, voter) who has a ballot in the round; its primary
  key is what makes two simultaneous casts for one voter end with exactly one ballot when the
  round does not allow revotes (the second insert fails inside the append transaction).
- ``voting_ballots``: one row per ``ballot`` entry (seq, the voter it counts for, the key, the
  proxy if any, the tracking code) — for receipts, turnout and staff lists.
- ``voting_proxy_grants``: the grant in force for a represented voter of a round (deleted when
  it is revoked or ends), so the cap per proxy is a count under the log lock.

Revision ID: voting_0002
Revises: "voting_0001"
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0002"
down_revision = "voting_0001"
branch_labels = None
depends_on = "ledger_0001"


def upgrade() -> None:
    op.create_table(
        "voting_voted",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("round_id", sa.String(63), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),  # electronic | paper
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("ballots", sa.Integer, nullable=False),
    )
    op.create_table(
        "voting_ballots",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("round_id", sa.String(63), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("proxy", sa.String(64), nullable=True),
        sa.Column("tracking", sa.String(64), nullable=False),
    )
    op.create_index("ix_voting_ballots_round", "voting_ballots", ["log_id", "round_id", "voter"])
    op.create_index("ix_voting_ballots_tracking", "voting_ballots", ["tracking"])
    op.create_table(
        "voting_proxy_grants",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("round_id", sa.String(63), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("proxy", sa.String(64), nullable=False),
        sa.Column("grant_seq", sa.BigInteger, nullable=False),
        sa.Column("used", sa.Boolean, nullable=False),
    )
    op.create_index("ix_voting_proxy_grants_proxy", "voting_proxy_grants", ["log_id", "round_id", "proxy"])


def downgrade() -> None:
    op.drop_table("voting_proxy_grants")
    op.drop_index("ix_voting_ballots_tracking", "voting_ballots")
    op.drop_index("ix_voting_ballots_round", "voting_ballots")
    op.drop_table("voting_ballots")
    op.drop_table("voting_voted")
