"""voting: close, shares and results — no tables

The count keeps no state of its own: the close, every trustee's shares, the result and the
final announcement are ledger entries (SPEC §7.3, §7.10), read back under the log lock
(voting.count_round).  The revision stays so that the voting branch keeps its numbering.

Revision ID: voting_0004
Revises: "voting_0003"
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "voting_0004"
down_revision = "voting_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
