"""PostgreSQL roles: the schema's owner migrates, the app's role can only append to the ledger.

Triggers already refuse UPDATE, DELETE and TRUNCATE on the ledger and roll tables (migrations
ledger_0001, identity_0003), but a table's owner can disable its triggers.  So in production the
tables belong to an *owner* role that runs the migrations (``gongjue migrate``) and nothing else,
and the app connects as a separate *app* role holding only the privileges it needs
(docs/DEPLOY.md):

- **append-only tables** (the core list below, and every table guarded by a ``*_no_change``,
  ``*_no_update`` or ``*_no_delete`` trigger, so a later migration's append-only table is covered
  without editing this file): ``SELECT``, ``INSERT``.  ``ledger_logs`` also gets ``UPDATE`` on its
  ``id`` column only: ``SELECT … FOR UPDATE`` (``ledger.log.lock_log``, which serializes appends)
  needs UPDATE on one column; an actual UPDATE is still refused by the trigger, and every other
  column is not writable at all.
- **alembic_version**: ``SELECT`` (the app checks it is at every head on start; it cannot migrate).
- **every other table** (sessions, rate counters, drafts, pending paper entries, staff …):
  ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``; never ``TRUNCATE``, ``REFERENCES``, ``TRIGGER``.
- sequences: ``USAGE``, ``SELECT``; the schema: ``USAGE`` only.

Erasing old roll openings (``gongjue roll erase``) deletes rows of roll tables: it runs with the
owner's URL, like the migrations.  ``grant`` is idempotent (it revokes everything first, so it also
repairs); ``check`` lists every way the app role exceeds or misses that plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

APPEND_ONLY = ("ledger_logs", "ledger_entries", "ledger_hashes", "ledger_checkpoints", "ledger_cosignatures",
               "identity_estates", "identity_roll_versions", "identity_roll_parts", "identity_roll_voters",
               "identity_owner_names", "identity_roll_phones", "identity_roll_erasures")
LOCK_COLUMN = {"ledger_logs": "id"}  # SELECT … FOR UPDATE needs UPDATE on one column (PostgreSQL)
READ_ONLY = ("alembic_version",)
MUTABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_PRIVILEGES = ("SELECT", "INSERT")
NEVER = ("TRUNCATE", "REFERENCES", "TRIGGER")

_GUARDED = text("""
    SELECT DISTINCT c.relname FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT t.tgisinternal AND n.nspname = current_schema()
       AND (t.tgtype & 24) <> 0
       AND (t.tgname LIKE '%\\_no\\_change' OR t.tgname LIKE '%\\_no\\_update' OR t.tgname LIKE '%\\_no\\_delete')
""")


class RoleError(Exception):
    """The roles cannot be set up as asked (wrong database, wrong role); nothing was changed."""


@dataclass(frozen=True)
class TablePlan:
    """What the app role may do on one table."""

    table: str
    kind: str  # "append-only", "read-only" or "mutable"
    privileges: tuple[str, ...]
    update_columns: tuple[str, ...] = ()


def plan(conn: Connection) -> list[TablePlan]:
    """The app role's privileges on every table of the current schema, as they should be."""
    tables = list(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                    "ORDER BY tablename")))
    guarded = set(conn.scalars(_GUARDED)) | set(APPEND_ONLY)
    out = []
    for table in tables:
        if table in READ_ONLY:
            out.append(TablePlan(table, "read-only", ("SELECT",)))
        elif table in guarded:
            column = LOCK_COLUMN.get(table)
            out.append(TablePlan(table, "append-only", APPEND_PRIVILEGES, (column,) if column else ()))
        else:
            out.append(TablePlan(table, "mutable", MUTABLE_PRIVILEGES))
    return out


def _require_postgresql(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        raise RoleError("数据库角色只适用于 PostgreSQL；SQLite 请用文件权限保护数据库文件 / database roles are "
                        "PostgreSQL only; protect a SQLite file with file permissions")


def _role_facts(conn: Connection, app: str) -> dict:
    row = conn.execute(text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                            "WHERE rolname = :r"), {"r": app}).one_or_none()
    if row is None:
        raise RoleError(f"角色 {app} 不存在（请先 CREATE ROLE {app} LOGIN PASSWORD …）/ role {app} does not exist "
                        f"(CREATE ROLE {app} LOGIN PASSWORD … first)")
    return dict(row._mapping)


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def grant(conn: Connection, app: str) -> list[str]:
    """Give the app role exactly the plan's privileges (revoking everything else first); run as the
    tables' owner, after ``migrate``.  Returns the statements executed."""
    _require_postgresql(conn)
    me = conn.scalar(text("SELECT current_user"))
    if app == me:
        raise RoleError(f"应用角色不能是表的所有者 {me} / the app role cannot be the tables' owner {me}")
    facts = _role_facts(conn, app)
    if facts["rolsuper"]:
        raise RoleError(f"角色 {app} 是超级用户，权限限制对它无效 / role {app} is a superuser: no privilege binds it")
    if conn.scalar(text("SELECT pg_has_role(:a, :o, 'MEMBER')"), {"a": app, "o": me}):
        raise RoleError(f"角色 {app} 是所有者 {me} 的成员，会继承其全部权限 / role {app} is a member of the owner {me} "
                        f"and inherits every privilege")
    schema = _q(conn, conn.scalar(text("SELECT current_schema()")))
    role = _q(conn, app)
    done = [f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
            f"GRANT USAGE ON SCHEMA {schema} TO {role}"]
    for p in plan(conn):
        done.append(f"GRANT {', '.join(p.privileges)} ON {_q(conn, p.table)} TO {role}")
        if p.update_columns:
            done.append(f"GRANT UPDATE ({', '.join(_q(conn, c) for c in p.update_columns)}) ON {_q(conn, p.table)} "
                        f"TO {role}")
    done.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    for statement in done:
        conn.exec_driver_sql(statement)
    return done


def check(conn: Connection, app: str) -> list[str]:
    """Every way the app role's privileges differ from the plan (empty: as planned)."""
    _require_postgresql(conn)
    facts = _role_facts(conn, app)
    problems = []
    if facts["rolsuper"]:
        problems.append(f"{app}: 超级用户 / is a superuser")
    owners = set(conn.scalars(text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema()")))
    for owner in sorted(owners):
        if owner == app:
            problems.append(f"{app}: 拥有表（可停用触发器）/ owns tables (and could disable their triggers)")
        elif conn.scalar(text("SELECT pg_has_role(:a, :o, 'MEMBER')"), {"a": app, "o": owner}):
            problems.append(f"{app}: 是表所有者 {owner} 的成员 / is a member of the tables' owner {owner}")
    if conn.scalar(text("SELECT has_schema_privilege(:a, current_schema(), 'CREATE')"), {"a": app}):
        problems.append(f"{app}: 可在模式中建表 / may create objects in the schema")
    for p in plan(conn):
        args = {"a": app, "t": p.table}
        held = set()
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", *NEVER):
            if conn.scalar(text("SELECT has_table_privilege(:a, :t, :p)"), {**args, "p": privilege}):
                held.add(privilege)
            wanted = privilege in p.privileges
            if privilege in held and not wanted:
                problems.append(f"{p.table} ({p.kind}): {app} 有多余的 {privilege} 权限 / has {privilege}")
            elif wanted and privilege not in held:
                problems.append(f"{p.table} ({p.kind}): {app} 缺少 {privilege} 权限 / lacks {privilege}")
        if "UPDATE" not in p.privileges and "UPDATE" not in held:
            columns = set(conn.scalars(text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = :t AND has_column_privilege(:a, :t, column_name, 'UPDATE')"), args))
            extra = sorted(columns - set(p.update_columns))
            if extra:
                problems.append(f"{p.table} ({p.kind}): {app} 可修改列 / may update columns {', '.join(extra)}")
            missing = sorted(set(p.update_columns) - columns)
            if missing:
                problems.append(f"{p.table} ({p.kind}): {app} 缺少列的 UPDATE（行锁需要）/ lacks UPDATE on "
                                f"{', '.join(missing)} (needed by SELECT … FOR UPDATE)")
    return problems
