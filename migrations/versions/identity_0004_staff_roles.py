"""identity: staff roles per estate and access log (placeholder)

Revision ID: identity_0004
Revises: "identity_0003"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
