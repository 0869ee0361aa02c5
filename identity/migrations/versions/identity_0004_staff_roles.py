"""identity: staff roles per estate and the access log

Accounts become ``staff`` or ``admin``; what a staff member may do is given per estate by an
assignment (supervisor, scrutineer, auditor, authority).  Data-preserving: every former
``supervisor`` account (who could act on every estate) becomes ``staff`` with the supervisor
role in each existing estate, each such assignment logged as given by "migration".

Revision ID: identity_0004
Revises: "identity_0003"
"""
import time

import sqlalchemy as sa
from alembic import op

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_staff_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), nullable=False),
        sa.Column("estate", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("staff_id", "estate", "role", name="uq_identity_staff_assignment"),
    )
    op.create_index("ix_identity_staff_assignments_staff_id", "identity_staff_assignments", ["staff_id"])
    op.create_index("ix_identity_staff_assignments_estate", "identity_staff_assignments", ["estate"])
    op.create_table(
        "identity_access_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("estate", sa.String(63), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
    )
    op.create_index("ix_identity_access_log_at", "identity_access_log", ["at"])
    op.create_index("ix_identity_access_log_username", "identity_access_log", ["username"])

    conn = op.get_bind()
    at = int(time.time())
    supervisors = conn.execute(sa.text("SELECT id, username FROM identity_staff WHERE role = 'supervisor'")).all()
    estates = [row[0] for row in conn.execute(sa.text("SELECT slug FROM identity_estates ORDER BY slug"))]
    for staff_id, username in supervisors:
        for slug in estates:
            conn.execute(sa.text("INSERT INTO identity_staff_assignments (staff_id, estate, role, created_at, "
                                 "created_by) VALUES (:s, :e, 'supervisor', :at, 'migration')"),
                         {"s": staff_id, "e": slug, "at": at})
            conn.execute(sa.text("INSERT INTO identity_access_log (at, action, actor, username, estate, role) "
                                 "VALUES (:at, 'assign', 'migration', :u, :e, 'supervisor')"),
                         {"at": at, "u": username, "e": slug})
    conn.execute(sa.text("UPDATE identity_staff SET role = 'staff' WHERE role = 'supervisor'"))


def downgrade() -> None:
    op.execute("UPDATE identity_staff SET role = 'supervisor' WHERE role = 'staff'")
    op.drop_table("identity_access_log")
    op.drop_table("identity_staff_assignments")
