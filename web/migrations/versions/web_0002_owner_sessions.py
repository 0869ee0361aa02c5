"""web: owner sessions (SPEC §4.6), separate from staff sessions

An owner session is opened after the owner named a part (pending, ``verified`` false) and is
replaced by a new token once the second factor holds. The database keeps SHA-256 of the token.

Revision ID: web_0002
Revises: "web_0001"
"""
import sqlalchemy as sa
from alembic import op

revision = "web_0002"
down_revision = "web_0001"
branch_labels = None
depends_on = "identity_0005"


def upgrade() -> None:
    op.create_table(
        "web_owner_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("estate", sa.String(63), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("factor", sa.String(8), nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_web_owner_sessions_expires_at", "web_owner_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("web_owner_sessions")
