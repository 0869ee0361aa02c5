"""``gongjue staff add|assign|unassign|list|totp-off``: staff accounts and their roles per estate (SPEC §8).

``add`` reads the password from a hidden prompt, or from GONGJUE_STAFF_PASSWORD for scripts;
passwords are never echoed or logged.  ``assign``/``unassign`` are what the admin page does,
for the operator at the console (logged in the access log as given by ``cli:<OS user>``).
``totp-off`` turns an account's two-step sign-in off (SPEC §8.2a) for someone who lost their
phone, including the only admin.
"""

from __future__ import annotations

import getpass
import os
import sys

from identity import staff as staff_store
from ledger.db import migrated_engine, reading, transaction

PASSWORD_ENV = "GONGJUE_STAFF_PASSWORD"


def register(sub) -> None:  # noqa: ANN001
    """Add ``staff`` and its actions to the ``gongjue`` parser."""
    p = sub.add_parser("staff", help="工作人员账户与小区角色 / staff accounts and estate roles")
    staff_sub = p.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = staff_sub.add_parser("add", help="新建工作人员账户 / create a staff account",
                               description=f"Create a staff account. The password is asked for twice "
                                           f"without echo, or read from {PASSWORD_ENV}.")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=staff_store.ACCOUNT_ROLES, default="staff",
                     help="account kind: staff (roles given per estate with assign) or admin")
    add.set_defaults(handler=run_add)
    for name, handler, text in (("assign", run_assign, "分配小区角色 / give a role in an estate"),
                                ("unassign", run_unassign, "收回小区角色 / take a role in an estate back")):
        q = staff_sub.add_parser(name, help=text)
        q.add_argument("--username", required=True)
        q.add_argument("--estate", required=True, metavar="SLUG")
        q.add_argument("--role", required=True, choices=staff_store.ESTATE_ROLES)
        q.set_defaults(handler=handler)
    ls = staff_sub.add_parser("list", help="列出角色分配 / list role assignments")
    ls.add_argument("--estate", metavar="SLUG", help="only this estate")
    ls.set_defaults(handler=run_list)
    off = staff_sub.add_parser("totp-off", help="关闭两步登录（手机丢失时）/ turn two-step sign-in off")
    off.add_argument("--username", required=True)
    off.set_defaults(handler=run_totp_off)


def run_add(args) -> int:  # noqa: ANN001
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
            staff_store.create_staff(session, username, password, args.role, by=_operator())
    except staff_store.StaffError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"已创建{staff_store.ROLE_NAMES[args.role]}账户 {username} / created {args.role} account {username}")
    return 0


def run_assign(args) -> int:  # noqa: ANN001
    return _change(args, staff_store.assign, "已分配", "assigned", "已有此角色，未改变", "already held, unchanged")


def run_unassign(args) -> int:  # noqa: ANN001
    return _change(args, staff_store.unassign, "已收回", "unassigned", "本无此角色，未改变", "not held, unchanged")


def _change(args, change, done_zh: str, done_en: str, same_zh: str, same_en: str) -> int:  # noqa: ANN001, PLR0913
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            changed = change(session, args.username, args.estate, args.role, by=_operator())
    except staff_store.StaffError as exc:
        print(exc, file=sys.stderr)
        return 2
    what = f"{args.username} · {args.estate} · {staff_store.ROLE_NAMES[args.role]} ({args.role})"
    print(f"{done_zh if changed else same_zh}：{what} / {done_en if changed else same_en}")
    return 0


def run_list(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    with reading(engine) as session:
        rows = staff_store.assignments(session, slug=args.estate)
    for row in rows:
        print(f"{row.estate}\t{row.username}\t{row.role}\t{staff_store.ROLE_NAMES[row.role]}\tby {row.created_by}")
    if not rows:
        print("没有角色分配 / no assignments", file=sys.stderr)
    return 0


def run_totp_off(args) -> int:  # noqa: ANN001
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            was_on = staff_store.totp_disable(session, args.username, by=_operator())
    except staff_store.StaffError as exc:
        print(exc, file=sys.stderr)
        return 2
    if was_on:
        print(f"已关闭 {args.username} 的两步登录 / two-step sign-in turned off for {args.username}")
    else:
        print(f"{args.username} 未开启两步登录，未改变 / two-step sign-in was not on, unchanged")
    return 0


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


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
