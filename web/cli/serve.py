"""``gongjue serve``, ``gongjue migrate`` and ``gongjue staff add``.

``serve`` brings the database (GONGJUE_DATABASE_URL, default ./var/gongjue.db) to every head
revision first, optionally creates the demo estate and its supervisor when the database has no
estate yet, then runs the app under Uvicorn.  ``staff add`` reads the password from a hidden
prompt, or from GONGJUE_STAFF_PASSWORD for scripts; passwords are never echoed or logged.
"""

from __future__ import annotations

import getpass
import os
import sys

from identity import staff as staff_store
from identity import store
from ledger.db import migrated_engine, transaction

PASSWORD_ENV = "GONGJUE_STAFF_PASSWORD"


def register(sub) -> None:  # noqa: ANN001
    """Add ``serve``, ``migrate`` and ``staff`` to the ``gongjue`` parser."""
    p = sub.add_parser("serve", help="运行网站 / run the web service",
                       description="Migrate the database, then serve the web app with Uvicorn.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--demo", action="store_true",
                   help="if the database has no estate, create the demo estate 枫林苑 and a demo supervisor")
    p.set_defaults(handler=run_serve)

    p = sub.add_parser("migrate", help="升级数据库 / bring the database to the latest schema")
    p.set_defaults(handler=run_migrate)

    p = sub.add_parser("staff", help="工作人员账户 / staff accounts")
    staff_sub = p.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = staff_sub.add_parser("add", help="新建工作人员账户 / create a staff account",
                               description=f"Create a staff account. The password is asked for twice "
                                           f"without echo, or read from {PASSWORD_ENV}.")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=staff_store.ROLES, default="supervisor")
    add.set_defaults(handler=run_staff_add)


def run_migrate(args) -> int:  # noqa: ANN001, ARG001
    migrated_engine()
    print("数据库已是最新 / database is up to date")
    return 0


def run_staff_add(args) -> int:  # noqa: ANN001
    try:
        username = staff_store.check_username(args.username)
        password = _read_password()
        staff_store.check_password(password)
    except staff_store.StaffError as exc:
        print(exc, file=sys.stderr)
        return 2
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            staff_store.create_staff(session, username, password, args.role)
    except staff_store.StaffError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"已创建{staff_store.ROLE_NAMES[args.role]}账户 {username} / created {args.role} account {username}")
    return 0


def _read_password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise staff_store.StaffError(f"没有终端可输入密码，请设置 {PASSWORD_ENV} / no terminal for the "
                                     f"password prompt; set {PASSWORD_ENV}")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再次输入 / again: ") != first:
        raise staff_store.StaffError("两次输入的密码不同 / the passwords differ")
    return first


def run_serve(args) -> int:  # noqa: ANN001
    import uvicorn

    from web.app import create_app

    engine = migrated_engine()
    if args.demo:
        _ensure_demo(engine)
    print(f"共决 Gongjue: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(create_app(engine), host=args.host, port=args.port, proxy_headers=True,
                server_header=False, log_level="info")
    return 0


def _ensure_demo(engine) -> None:  # noqa: ANN001
    from web.demo import DEMO_NAME, DEMO_SLUG, create_demo

    with transaction(engine) as session:
        empty = not store.list_estates(session)
    if not empty:
        print("数据库中已有小区，未创建演示数据；新建账户用 gongjue staff add / the database has estates; "
              "demo not created (create an account with: gongjue staff add --username NAME)", flush=True)
        return
    demo = create_demo(engine)
    print(f"已创建演示小区 {DEMO_NAME}（{DEMO_SLUG}）第 {demo.version} 版名册 / demo estate created", flush=True)
    if demo.username:
        print("演示监督员账户（密码只显示这一次）/ demo supervisor (password shown once):", flush=True)
        print(f"  用户名 username: {demo.username}", flush=True)
        print(f"  密码   password: {demo.password}", flush=True)
