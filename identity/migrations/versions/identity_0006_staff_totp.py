"""identity: optional TOTP second factor for staff accounts (RFC 6238)

Four nullable columns on ``identity_staff``: the enrolled secret (base32) and since when, the
last time step accepted (a code is never accepted twice), and a secret being enrolled (shown
as a QR code, not yet confirmed with a code).  No account has one after the upgrade.

Revision ID: identity_0006
Revises: "identity_0005"
"""
import sqlalchemy as sa
from alembic import op

revision = "identity_0006"
down_revision = "identity_0005"
branch_labels = None
depends_on = None

COLUMNS = ("totp_secret", "totp_since", "totp_last_step", "totp_pending")


def upgrade() -> None:
    op.add_column("identity_staff", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("identity_staff", sa.Column("totp_since", sa.BigInteger, nullable=True))
    op.add_column("identity_staff", sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    op.add_column("identity_staff", sa.Column("totp_pending", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_staff") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
