"""voting: proposals and petitions — the attachment files (SPEC §9.1)

Everything a petition is (publication, signatures, withdrawals, the line, the committee's
response) lives in ledger entries only, replayed under the log lock (voting.petition_store).
The only table keeps the attachment files beside the ledger: the ``petition`` entry holds
each file's name and SHA-256, this table its bytes (public documents of the proposal), so that
anyone can download a file and compare its hash with the ledger.

Revision ID: voting_0005
Revises: "voting_0004"
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0005"
down_revision = "voting_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_petition_files",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voting_petition_files")
