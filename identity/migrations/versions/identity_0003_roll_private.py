"""identity: roll openings beside the ledger (SPEC §6.3), phones, erasures; roll tables refuse change

New tables: ``identity_estate_secrets`` (the per-estate pseudonym secret), ``identity_roll_voters``
(pseudonym, owner id and salt per voter and version), ``identity_roll_phones`` (private phones,
never exported), ``identity_roll_erasures`` (versions whose openings were erased).  Parts gain
their pseudonym and salt.  Triggers (SQLite and PostgreSQL) refuse UPDATE and DELETE on every
roll table (and TRUNCATE on PostgreSQL), except DELETE of the private rows of a version listed in
``identity_roll_erasures`` (SPEC §6.4); an erasure of the latest version of an estate is refused.

Revision ID: identity_0003
Revises: "identity_0002"
"""
import sqlalchemy as sa
from alembic import op

revision = "identity_0003"
down_revision = "identity_0002"
branch_labels = None
depends_on = None

FROZEN = ("identity_estates", "identity_roll_versions", "identity_estate_secrets", "identity_roll_erasures")
ERASABLE = ("identity_roll_parts", "identity_roll_voters", "identity_owner_names", "identity_roll_phones")
ERASED = "EXISTS (SELECT 1 FROM identity_roll_erasures e WHERE e.roll_version_id = OLD.roll_version_id)"
LATEST = ("NEW.roll_version_id IN (SELECT v.id FROM identity_roll_versions v WHERE v.version = "
          "(SELECT MAX(w.version) FROM identity_roll_versions w WHERE w.estate_id = v.estate_id))")


def upgrade() -> None:
    op.create_table(
        "identity_estate_secrets",
        sa.Column("estate_id", sa.Integer, sa.ForeignKey("identity_estates.id"), primary_key=True),
        sa.Column("secret", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "identity_roll_voters",
        sa.Column("roll_version_id", sa.Integer, sa.ForeignKey("identity_roll_versions.id"), primary_key=True),
        sa.Column("voter", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
    )
    op.create_table(
        "identity_roll_phones",
        sa.Column("roll_version_id", sa.Integer, sa.ForeignKey("identity_roll_versions.id"), primary_key=True),
        sa.Column("voter", sa.String(32), primary_key=True),
        sa.Column("phone", sa.String(11), nullable=False),
    )
    op.create_table(
        "identity_roll_erasures",
        sa.Column("roll_version_id", sa.Integer, sa.ForeignKey("identity_roll_versions.id"), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(200), nullable=False),
    )
    op.add_column("identity_roll_parts", sa.Column("voter", sa.String(32), nullable=True))
    op.add_column("identity_roll_parts", sa.Column("salt", sa.String(64), nullable=True))
    # the estate page compares the parts' count and area sum with the ledger on every view: index-only
    op.create_index("ix_identity_roll_parts_version_area", "identity_roll_parts", ["roll_version_id", "area"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table in FROZEN + ERASABLE:
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END")
    for table in FROZEN:
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END")
    for table in ERASABLE:
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} WHEN NOT {ERASED} "
                   f"BEGIN SELECT RAISE(ABORT, '{table}: DELETE refused unless the version was erased'); END")
    op.execute(f"CREATE TRIGGER identity_roll_erasures_not_latest BEFORE INSERT ON identity_roll_erasures "
               f"WHEN {LATEST} BEGIN SELECT RAISE(ABORT, 'the latest roll version cannot be erased'); END")


def _postgres_triggers() -> None:
    op.execute("CREATE FUNCTION identity_roll_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$")
    op.execute("CREATE FUNCTION identity_roll_erasable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"IF TG_OP = 'DELETE' AND {ERASED} THEN RETURN OLD; END IF; "
               "RAISE EXCEPTION '%: % refused unless the version was erased', TG_TABLE_NAME, TG_OP; END $$")
    op.execute("CREATE FUNCTION identity_roll_erasure_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"IF {LATEST} THEN RAISE EXCEPTION 'the latest roll version cannot be erased'; END IF; "
               "RETURN NEW; END $$")
    for table in FROZEN:
        op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION identity_roll_refuse()")
    for table in ERASABLE:
        op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION identity_roll_erasable()")
    for table in FROZEN + ERASABLE:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION identity_roll_refuse()")
    op.execute("CREATE TRIGGER identity_roll_erasures_not_latest BEFORE INSERT ON identity_roll_erasures "
               "FOR EACH ROW EXECUTE FUNCTION identity_roll_erasure_check()")


def downgrade() -> None:
    raise NotImplementedError("roll tables are append-only projections of the ledger; never downgraded")
