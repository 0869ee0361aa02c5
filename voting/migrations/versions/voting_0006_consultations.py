"""Consultations and follow-through (reserved slot; filled by the work of issue #12)."""

revision = "voting_0006"
down_revision = "voting_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
