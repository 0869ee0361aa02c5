"""identity: the owner's second factor — PIN hashes, SMS code challenges, send and failure events

Credential keys, the authority and revocations live in the ledger only (SPEC §4.5); these
tables hold the second factor of SPEC §4.6 (never a code or PIN in clear).

Revision ID: identity_0005
Revises: "identity_0004"
"""
import sqlalchemy as sa
from alembic import op

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_owner_pins",
        sa.Column("estate", sa.String(63), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "identity_otp_challenges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("estate", sa.String(63), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("used", sa.Boolean, nullable=False),
    )
    op.create_index("ix_identity_otp_challenges_voter", "identity_otp_challenges", ["voter"])
    op.create_table(
        "identity_factor_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("estate", sa.String(63), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
    )
    for column in ("at", "voter", "client"):
        op.create_index(f"ix_identity_factor_events_{column}", "identity_factor_events", [column])


def downgrade() -> None:
    for table in ("identity_factor_events", "identity_otp_challenges", "identity_owner_pins"):
        op.drop_table(table)
