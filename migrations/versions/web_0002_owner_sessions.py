"""web: owner sessions (placeholder)

Revision ID: web_0002
Revises: "web_0001"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "web_0002"
down_revision = "web_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
