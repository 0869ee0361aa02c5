"""``gongjue import-roll`` and ``gongjue roll erase``: roll versions of an estate (SPEC §6).

``import-roll`` parses and hashes the file before its one short write transaction
(identity.store.import_roll_file).  ``roll erase`` deletes the openings (owner ids, part rows,
salts, names, phones) of versions older than the one given, after the retention period
(identity.store.RETENTION; SPEC §6.3).  Every refusal is a clear message and exit status 2 with
nothing written, including a database that stays locked or refuses the write (no traceback).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError

from identity import store
from identity.area import format_area_grouped
from identity.csvfile import CsvError
from identity.roll import read_roll
from ledger.checkpoint import CheckpointError
from ledger.db import migrated_engine, transaction


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("import-roll", help="导入业主名册 / import an estate roll CSV",
                       description="Import ROLL.csv as a new roll version of the estate (created if new). "
                                   "All or nothing: any bad row refuses the whole file.")
    p.add_argument("--estate", required=True, metavar="SLUG", help="estate slug, e.g. maple-court")
    p.add_argument("--name", help="estate name (used when the estate is created)")
    p.add_argument("roll", metavar="ROLL.csv", type=Path)
    p.set_defaults(handler=run)

    p = sub.add_parser("roll", help="名册版本 / roll versions")
    actions = p.add_subparsers(dest="roll_command", required=True, metavar="ACTION")
    erase = actions.add_parser("erase", help="删除旧版名册明细 / erase the openings of old roll versions",
                               description=f"Erase the openings (owner ids, parts, salts, names, phones) of every "
                                           f"roll version before --before, never the current one. Retention: "
                                           f"{store.RETENTION}. The ledger entries stay.")
    erase.add_argument("--estate", required=True, metavar="SLUG")
    erase.add_argument("--before", required=True, type=int, metavar="VERSION",
                       help="erase versions older than this one")
    erase.set_defaults(handler=run_erase)


def run(args) -> int:  # noqa: ANN001
    try:
        data = args.roll.read_bytes()
    except OSError as exc:
        print(f"{args.roll}: 无法读取 / cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        store.check_slug(args.estate)
        if args.name is not None:
            args.name = store.check_name(args.name)
        roll = read_roll(data, str(args.roll))
    except CsvError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"名册未导入：{len(exc.problems)} 处错误 / roll refused: {len(exc.problems)} problem(s); "
              f"nothing was written", file=sys.stderr)
        return 2
    except store.EstateError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        engine = migrated_engine()
        number = store.import_roll_file(engine, args.estate, roll, filename=args.roll.name, data=data,
                                        name=args.name)
    except store.EstateError as exc:  # includes a lost race for a new estate: try again
        print(f"名册未导入 / roll not imported: {exc}", file=sys.stderr)
        return 2
    except CheckpointError as exc:  # e.g. GONGJUE_LOG_KEY_FILE names another key than the log's
        print(f"名册未导入，账本拒绝签署 / roll not imported, the ledger refused to sign: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, IntegrityError) as exc:
        return _database_refused(exc)
    heads = len({p.owner for p in roll.parts})
    print(f"已导入 {args.estate} 第 {number} 版名册 / imported roll version {number} of {args.estate}: "
          f"{len(roll.parts)} 套房屋 parts, {heads} 表决权人 voters, "
          f"{format_area_grouped(sum(p.area for p in roll.parts))} m²")
    return 0


def run_erase(args) -> int:  # noqa: ANN001
    try:
        engine = migrated_engine()
        with transaction(engine) as session:
            erased = store.erase_openings(session, args.estate, args.before, by=f"cli:{getpass.getuser()}")
    except store.EstateError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OperationalError, IntegrityError) as exc:
        return _database_refused(exc)
    if not erased:
        print(f"没有需要删除的版本 / nothing to erase before version {args.before}")
    else:
        print(f"已删除第 {', '.join(map(str, erased))} 版名册明细；账本条目保留 / erased the openings of "
              f"version(s) {', '.join(map(str, erased))}; the ledger entries stay")
    return 0


def _database_refused(exc: Exception) -> int:
    """A locked or refusing database: one clear line, nothing written, no traceback."""
    reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    if isinstance(exc, OperationalError) and "locked" in reason:
        print(f"数据库忙（被锁定），未写入任何内容，请稍后重试 / the database is locked by another process; nothing "
              f"was written, try again later ({reason})", file=sys.stderr)
    else:
        print(f"数据库拒绝写入，未写入任何内容 / the database refused the write; nothing was written ({reason})",
              file=sys.stderr)
    return 2
