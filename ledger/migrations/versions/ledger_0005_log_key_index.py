"""ledger: a partial index on the log.key entries (SPEC §2.4)

Revision ID: ledger_0005
Revises: ledger_0004

The key chain of a log (entry 0's key, then each ``log.key`` entry) is read by the public "check
my ballot" page (``/audit/log-keys.json``) and when signing after a rotation. Without an index on
the entry type that read walked every entry of the log; this index holds the rotations only, so it
costs nothing on the append path. ``ledger.rotation.db_rotations`` names the type as a literal,
which both SQLite and PostgreSQL need to use a partial index.
"""
from alembic import op
from sqlalchemy import text

revision = "ledger_0005"
down_revision = "ledger_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_entries_log_key", "ledger_entries", ["log_id", "seq"], unique=True,
                    sqlite_where=text("type = 'log.key'"), postgresql_where=text("type = 'log.key'"))


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_log_key", "ledger_entries")
