"""identity: estates, roll versions, parts, owner names

Revision ID: identity_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "identity_0001"
down_revision = None
branch_labels = ("identity",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_estates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(300), nullable=False, unique=True),
        sa.Column("log_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "identity_roll_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("estate_id", sa.Integer, sa.ForeignKey("identity_estates.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("parts", sa.Integer, nullable=False),
        sa.Column("heads", sa.Integer, nullable=False),
        sa.Column("area", sa.BigInteger, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("estate_id", "version"),
    )
    op.create_table(
        "identity_roll_parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("roll_version_id", sa.Integer, sa.ForeignKey("identity_roll_versions.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("building", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("area", sa.BigInteger, nullable=False),
        sa.Column("area_source", sa.String(16), nullable=False),
        sa.Column("voter_id", sa.String(64), nullable=False),
        sa.Column("developer_held", sa.Boolean, nullable=False),
        sa.UniqueConstraint("roll_version_id", "building", "unit", "room"),
    )
    op.create_index("ix_identity_roll_parts_roll_version_id", "identity_roll_parts", ["roll_version_id"])
    op.create_table(
        "identity_owner_names",
        sa.Column("roll_version_id", sa.Integer, sa.ForeignKey("identity_roll_versions.id"), primary_key=True),
        sa.Column("voter_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    for table in ("identity_owner_names", "identity_roll_parts", "identity_roll_versions", "identity_estates"):
        op.drop_table(table)
