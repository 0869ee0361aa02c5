"""Timestamps and witness cosignatures (reserved slot; filled by the work of issue #13)."""

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
