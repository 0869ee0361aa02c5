"""ledger: the server's self-check of each log against its signed checkpoints (SPEC §2.9)

Revision ID: ledger_0002
Revises: ledger_0001

One row per log: when the last self-check ran, how many entries it re-hashed, and whether all
held — else the first bad entry and why.  Unlike the ledger itself this table is state, updated
by every run (it is not append-only and proves nothing: it is what the pages warn from).
"""
import sqlalchemy as sa
from alembic import op

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_selfcheck",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ledger_selfcheck")
