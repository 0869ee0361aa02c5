"""ledger: RFC 3161 timestamp tokens of signed checkpoints (SPEC §2.10) — append-only by trigger

Revision ID: ledger_0003
Revises: ledger_0002

One row per (checkpoint, TSA URL): the TSA's DER TimeStampResp and its genTime.  Like the other
ledger tables, UPDATE and DELETE (and TRUNCATE on PostgreSQL) are refused by triggers.  Witness
cosignatures keep using ``ledger_cosignatures`` (ledger_0001).
"""
import sqlalchemy as sa
from alembic import op

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

TABLE = "ledger_timestamps"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checkpoint_id", sa.Integer, sa.ForeignKey("ledger_checkpoints.id"), nullable=False),
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("tsa", sa.String(500), nullable=False),
        sa.Column("token", sa.LargeBinary, nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("checkpoint_id", "tsa"),
    )
    op.create_index("ledger_timestamps_log_size", TABLE, ["log_id", "size"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_refuse()")
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {action} refused'); END")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; it is never downgraded")
