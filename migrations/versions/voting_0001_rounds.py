"""voting: rounds and their lifecycle (placeholder)

Revision ID: voting_0001
Revises: None
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "voting_0001"
down_revision = None
branch_labels = ("voting",)
depends_on = "identity_0005"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
