"""voting: close, shares and results (placeholder)

Revision ID: voting_0004
Revises: "voting_0003"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "voting_0004"
down_revision = "voting_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
