"""web: staff sessions and sign-in limits (placeholder)

Revision ID: web_0001
Revises: None
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "web_0001"
down_revision = None
branch_labels = ("web",)
depends_on = "identity_0005"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
