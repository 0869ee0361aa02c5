"""ledger: self-check state (placeholder)

Revision ID: ledger_0002
Revises: "ledger_0001"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
