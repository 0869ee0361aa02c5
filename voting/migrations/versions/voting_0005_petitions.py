"""Proposals and petitions (reserved slot; filled by the work of issue #12)."""

revision = "voting_0005"
down_revision = "voting_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
