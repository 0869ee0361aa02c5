"""identity: staff accounts, staff sessions, sign-in failures

Revision ID: identity_0002
Revises: identity_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_staff",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "identity_staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("flash", sa.String(500), nullable=True),
    )
    op.create_index("ix_identity_staff_sessions_staff_id", "identity_staff_sessions", ["staff_id"])
    op.create_index("ix_identity_staff_sessions_expires_at", "identity_staff_sessions", ["expires_at"])
    op.create_table(
        "identity_signin_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
    )
    for column in ("at", "username", "client"):
        op.create_index(f"ix_identity_signin_failures_{column}", "identity_signin_failures", [column])


def downgrade() -> None:
    for table in ("identity_signin_failures", "identity_staff_sessions", "identity_staff"):
        op.drop_table(table)
