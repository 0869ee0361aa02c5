"""web: staff sessions, sign-in counters and the signing key move to web/

Data-preserving: signed-in sessions are copied from ``identity_staff_sessions`` into
``web_sessions`` (anonymous rows are dropped: anonymous visitors no longer have one), and the
failed sign-ins of ``identity_signin_failures`` become counters (per account, per source, per
account and source) so a limit in force stays in force.  ``web_keys`` gets a random signing key.

Revision ID: web_0001
Revises: None
"""
import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = None
branch_labels = ("web",)
depends_on = "identity_0005"

WINDOW = 15 * 60


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("flash", sa.String(500), nullable=True),
    )
    op.create_index("ix_web_sessions_staff_id", "web_sessions", ["staff_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "web_signin_counters",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", sa.BigInteger, nullable=False),
        sa.Column("next_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_web_signin_counters_expires_at", "web_signin_counters", ["expires_at"])
    op.create_table(
        "web_keys",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    conn = op.get_bind()
    conn.execute(sa.text("INSERT INTO web_keys (name, value) VALUES ('signing', :v)"), {"v": secrets.token_hex(32)})
    conn.execute(sa.text("INSERT INTO web_sessions (token_hash, staff_id, created_at, expires_at, flash) "
                         "SELECT token_hash, staff_id, created_at, expires_at, flash FROM identity_staff_sessions "
                         "WHERE staff_id IS NOT NULL"))
    since = int(time.time()) - WINDOW
    for prefix, key, group in (("a:", "username", "username"), ("s:", "client", "client"),
                               ("as:", "username || '|' || client", "username, client")):
        conn.execute(sa.text(
            f"INSERT INTO web_signin_counters (key, failures, last_at, next_at, expires_at) "  # noqa: S608
            f"SELECT '{prefix}' || {key}, COUNT(*), MAX(at), MAX(at), MAX(at) + {WINDOW} "
            f"FROM identity_signin_failures WHERE at > :since GROUP BY {group}"), {"since": since})
    op.drop_table("identity_signin_failures")
    op.drop_table("identity_staff_sessions")


def downgrade() -> None:
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
    op.execute("INSERT INTO identity_staff_sessions (token_hash, staff_id, created_at, expires_at, flash) "
               "SELECT token_hash, staff_id, created_at, expires_at, flash FROM web_sessions")
    op.drop_table("web_keys")
    op.drop_table("web_signin_counters")
    op.drop_table("web_sessions")
