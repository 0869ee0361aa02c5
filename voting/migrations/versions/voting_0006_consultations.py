"""voting: consultations and follow-through (SPEC §10, §11) — the files beside the ledger.

- ``voting_consult_texts``: a consultation response's free text and salt, by the response's
  seq; erasable (text and salt set to null); the ledger keeps only the commitment.
- ``voting_follow_documents``: the documents of follow-through entries, by SHA-256.

Everything else (the consultations, responses, moderation, counts, records, updates, spending)
is ledger entries, replayed under the log lock (voting.consultation_store, voting.follow_store).

Revision ID: voting_0006
Revises: "voting_0005"
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0006"
down_revision = "voting_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voting_consult_texts",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("consult", sa.String(63), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("erased_at", sa.Integer, nullable=True),
    )
    op.create_table(
        "voting_follow_documents",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.Column("added_at", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voting_follow_documents")
    op.drop_table("voting_consult_texts")
