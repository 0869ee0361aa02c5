"""ledger: the append-only triggers find the log's last row by one index step (PostgreSQL)

Revision ID: ledger_0004
Revises: ledger_0003

The "must be the next one" triggers of ledger_0001 computed ``MAX(seq) + 1`` (``MAX(idx)``,
``MAX(size)``) per log. PL/pgSQL keeps a plan per connection; one made while a table was new
and had no statistics aggregated over every row of the log through the index instead of reading
its last entry, so each append read the whole log again (2,500 index tuples for the 2,500th
entry; the cast path slowed by milliseconds per ballot within one round). The same rule is now
written ``ORDER BY … DESC LIMIT 1``, which any plan answers from the end of the primary key.
SQLite's triggers are unchanged: its ``MAX`` over an indexed column is always one index step.
"""
from alembic import op

revision = "ledger_0004"
down_revision = "ledger_0003"
branch_labels = None
depends_on = None

# (table, column that must be the next one per log, how "next" is computed)
NEXT = (
    ("ledger_entries", "seq", ("COALESCE((SELECT seq + 1 FROM ledger_entries WHERE log_id = NEW.log_id "
                               "ORDER BY seq DESC LIMIT 1), 0)")),
    ("ledger_hashes", "idx", ("COALESCE((SELECT idx + 1 FROM ledger_hashes WHERE log_id = NEW.log_id "
                              "ORDER BY idx DESC LIMIT 1), 0)")),
)
LAST_SIZE = ("COALESCE((SELECT size FROM ledger_checkpoints WHERE log_id = NEW.log_id ORDER BY size DESC LIMIT 1), "
             "-1)")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, expected in NEXT:  # the bodies of ledger_0001's functions, each lookup rewritten
        op.execute(
            f"CREATE OR REPLACE FUNCTION {table}_next() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.{column} IS DISTINCT FROM {expected} THEN "
            f"RAISE EXCEPTION '{table} is append-only: {column} must be the next one'; END IF; "
            "RETURN NEW; END $$"
        )
    op.execute(
        "CREATE OR REPLACE FUNCTION ledger_checkpoints_next() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.size <= {LAST_SIZE} THEN "
        "RAISE EXCEPTION 'ledger_checkpoints is append-only: size must grow'; END IF; RETURN NEW; END $$"
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; it is never downgraded")
