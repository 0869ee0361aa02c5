"""voting: round drafts and candidate nominations (before the announcement; SPEC §7.1, §7.7)

Drafts and nominations live in the database until the ``round`` entry fixes them in the ledger;
after that these rows are only the statement texts beside the ledger (their hashes are in it).

Revision ID: voting_0001
Revises: None
"""
import sqlalchemy as sa
from alembic import op

revision = "voting_0001"
down_revision = None
branch_labels = ("voting",)
depends_on = "identity_0005"


def upgrade() -> None:
    op.create_table(
        "voting_round_drafts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("estate_slug", sa.String(64), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("estate_slug", "round_id"),
    )
    op.create_table(
        "voting_candidates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("estate_slug", sa.String(64), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("candidate", sa.String(64), nullable=False),
        sa.Column("nominated_by", sa.String(16), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("statement_sha256", sa.String(64), nullable=False),
        sa.Column("signatures", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vetted_by", sa.String(200), nullable=True),
        sa.Column("vetted_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("estate_slug", "round_id", "item", "candidate"),
    )


def downgrade() -> None:
    op.drop_table("voting_candidates")
    op.drop_table("voting_round_drafts")
