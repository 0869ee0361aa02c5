"""identity: roll privacy (placeholder, filled by the roll work)

Revision ID: identity_0003
Revises: "identity_0002"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "identity_0003"
down_revision = "identity_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
