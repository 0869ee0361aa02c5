"""voting: the proxies page's references to a proxy (voting.proxy_ref, SPEC §7.8 "by reference").

- ``voting_proxy_refs``: one row per (log, round, owner, proxy) the owner named by a flat: the
  salt and the ``proxy_ref`` handed to the owner's browser instead of the proxy's pseudonym, and
  the flat as typed. Private and erasable; the ledger entry that uses a reference publishes its
  salt.

Revision ID: voting_0008
Revises: "voting_0007"
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0008"
down_revision = "voting_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_proxy_refs",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("round_id", sa.String(63), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("proxy", sa.String(64), primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("flat", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_voting_proxy_refs_ref", "voting_proxy_refs", ["log_id", "round_id", "voter", "ref"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_voting_proxy_refs_ref", "voting_proxy_refs")
    op.drop_table("voting_proxy_refs")
