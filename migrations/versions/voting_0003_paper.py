"""voting: paper ballot entries (placeholder)

Revision ID: voting_0003
Revises: "voting_0002"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "voting_0003"
down_revision = "voting_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
