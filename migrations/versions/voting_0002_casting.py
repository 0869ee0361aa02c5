"""voting: cast ballots and proxies (placeholder)

Revision ID: voting_0002
Revises: "voting_0001"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "voting_0002"
down_revision = "voting_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
