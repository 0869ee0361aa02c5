"""identity: credential authority, registered keys, second factors (placeholder)

Revision ID: identity_0005
Revises: "identity_0004"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
