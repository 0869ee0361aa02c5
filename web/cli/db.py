"""``gongjue db grant|check --app ROLE``: the app's PostgreSQL role may only append to the ledger.

Run with GONGJUE_DATABASE_URL naming the tables' *owner* role (the one that runs ``gongjue
migrate``).  ``grant`` brings the database to every head first, then gives ROLE exactly the
privileges of ``ledger.roles.plan`` (everything else revoked, so it also repairs); run it again
after every upgrade.  ``check`` prints every difference from the plan and exits 1 if there is
one.  The app then runs with GONGJUE_DATABASE_URL naming ROLE (docs/DEPLOY.md).
Exit status: 0 done / as planned, 1 differences found or database failure, 2 refused.
"""

from __future__ import annotations

import sys

from sqlalchemy.exc import SQLAlchemyError

from ledger import roles
from ledger.db import make_engine, migrate


def register(sub) -> None:  # noqa: ANN001
    """Add ``db grant`` and ``db check`` to the ``gongjue`` parser."""
    p = sub.add_parser("db", help="数据库角色（PostgreSQL）/ database roles (PostgreSQL)")
    actions = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    g = actions.add_parser("grant", help="迁移并为应用角色设置权限 / migrate, then set the app role's privileges",
                           description="As the tables' owner: migrate to every head, then grant ROLE SELECT and "
                                       "INSERT on the append-only tables, read on alembic_version, read and write "
                                       "on the others; never UPDATE, DELETE or TRUNCATE on the ledger.")
    g.add_argument("--app", required=True, metavar="ROLE", help="the role the app connects as")
    g.add_argument("--show", action="store_true", help="print each statement executed")
    g.set_defaults(handler=run_grant)
    c = actions.add_parser("check", help="核对应用角色的权限 / check the app role's privileges",
                           description="Print every difference between ROLE's privileges and the plan; exit 1 if any.")
    c.add_argument("--app", required=True, metavar="ROLE", help="the role the app connects as")
    c.set_defaults(handler=run_check)


def run_grant(args) -> int:  # noqa: ANN001
    engine = make_engine()
    try:
        if engine.dialect.name != "postgresql":
            raise roles.RoleError("数据库角色只适用于 PostgreSQL / database roles are PostgreSQL only")
        migrate(engine)
        with engine.begin() as conn:
            done = roles.grant(conn, args.app)
            problems = roles.check(conn, args.app)
    except roles.RoleError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"数据库拒绝 / the database refused: {getattr(exc, 'orig', exc)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.show:
        print("\n".join(s + ";" for s in done))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"已为角色 {args.app} 设置权限 / privileges set for role {args.app}: {len(done)} statements")
    return 1 if problems else 0


def run_check(args) -> int:  # noqa: ANN001
    engine = make_engine()
    try:
        with engine.connect() as conn:
            problems = roles.check(conn, args.app)
    except roles.RoleError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"数据库拒绝 / the database refused: {getattr(exc, 'orig', exc)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"角色 {args.app} 的权限符合要求 / role {args.app} has the planned privileges")
    return 0
