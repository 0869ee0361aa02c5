"""ledger: logs, entries, stored hashes, checkpoints, cosignatures — append-only by trigger

Revision ID: ledger_0001
Revises:

Triggers (both dialects) refuse UPDATE and DELETE on every ledger table (and TRUNCATE on
PostgreSQL), and refuse an entry / stored hash / checkpoint that is not the next one of its log,
so SQLite's INSERT OR REPLACE cannot overwrite anything.
"""
import sqlalchemy as sa
from alembic import op

revision = "ledger_0001"
down_revision = None
branch_labels = ("ledger",)
depends_on = None

TABLES = ("ledger_logs", "ledger_entries", "ledger_hashes", "ledger_checkpoints", "ledger_cosignatures")

# (table, column that must be the next one per log, how "next" is computed)
NEXT = (
    ("ledger_entries", "seq", "COALESCE((SELECT MAX(seq) + 1 FROM ledger_entries WHERE log_id = NEW.log_id), 0)"),
    ("ledger_hashes", "idx", "COALESCE((SELECT MAX(idx) + 1 FROM ledger_hashes WHERE log_id = NEW.log_id), 0)"),
)


def upgrade() -> None:
    op.create_table(
        "ledger_logs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.String(300), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("time", sa.String(20), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_hashes",
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("log_id", sa.Integer, sa.ForeignKey("ledger_logs.id"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("vkey", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("log_id", "size"),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checkpoint_id", sa.Integer, sa.ForeignKey("ledger_checkpoints.id"), nullable=False),
        sa.Column("witness", sa.String(300), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("checkpoint_id", "witness"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table in TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )
    for table, column, expected in NEXT:
        op.execute(
            f"CREATE TRIGGER {table}_next BEFORE INSERT ON {table} WHEN NEW.{column} IS NOT {expected} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {column} must be the next one'); END"
        )
    op.execute(
        "CREATE TRIGGER ledger_checkpoints_next BEFORE INSERT ON ledger_checkpoints "
        "WHEN NEW.size <= COALESCE((SELECT MAX(size) FROM ledger_checkpoints WHERE log_id = NEW.log_id), -1) "
        "BEGIN SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: size must grow'); END"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
    )
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_refuse()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse()")
    for table, column, expected in NEXT:
        op.execute(
            f"CREATE FUNCTION {table}_next() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.{column} IS DISTINCT FROM {expected} THEN "
            f"RAISE EXCEPTION '{table} is append-only: {column} must be the next one'; END IF; "
            "RETURN NEW; END $$"
        )
        op.execute(f"CREATE TRIGGER {table}_next BEFORE INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_next()")
    op.execute(
        "CREATE FUNCTION ledger_checkpoints_next() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.size <= COALESCE((SELECT MAX(size) FROM ledger_checkpoints WHERE log_id = NEW.log_id), -1) THEN "
        "RAISE EXCEPTION 'ledger_checkpoints is append-only: size must grow'; END IF; RETURN NEW; END $$"
    )
    op.execute("CREATE TRIGGER ledger_checkpoints_next BEFORE INSERT ON ledger_checkpoints "
               "FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_next()")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; it is never downgraded")
