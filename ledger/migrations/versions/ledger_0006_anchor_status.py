"""ledger: the anchor loop's last pass (SPEC §2.10), for staff pages

Revision ID: ledger_0006
Revises: ledger_0005

``ledger_anchor_status`` holds one row: when the last pass of timestamps and witness cosignatures
ran, what it stored and what failed. Failures used to reach only the server log; staff pages now
warn while the last pass had any (``ledger.anchor.failing``).
"""
import sqlalchemy as sa
from alembic import op

revision = "ledger_0006"
down_revision = "ledger_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_anchor_status",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stamped", sa.Integer, nullable=False),
        sa.Column("cosigned", sa.Integer, nullable=False),
        sa.Column("failures", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_anchor_status")
