"""voting: paper ballot entries waiting for their second scrutineer (SPEC §7.9)

The first of the two independent entries of a paper ballot waits here (private: the marks and
the scrutineer's username) until a second scrutineer's entry agrees; then the ``paper.ballot``
ledger entry is appended and the row is deleted.

Revision ID: voting_0003
Revises: "voting_0002"
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0003"
down_revision = "voting_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_paper_pending",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("log_id", sa.Integer, nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("scrutineer", sa.String(200), nullable=False),
        sa.Column("marks", sa.Text, nullable=False),
        sa.Column("scan_sha256", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disputed", sa.Text, nullable=True),
        sa.UniqueConstraint("log_id", "round_id", "voter", name="uq_voting_paper_pending_voter"),
    )


def downgrade() -> None:
    op.drop_table("voting_paper_pending")
