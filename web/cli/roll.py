"""``gongjue import-roll``: import an estate roll CSV as the estate's next roll version."""

from __future__ import annotations

import sys
from pathlib import Path

from identity import store
from identity.area import format_area_grouped
from identity.csvfile import CsvError
from identity.roll import read_roll
from identity.scope import totals
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


def run(args) -> int:  # noqa: ANN001
    try:
        data = args.roll.read_bytes()
    except OSError as exc:
        print(f"{args.roll}: 无法读取 / cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        store.check_slug(args.estate)
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
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            version = store.import_roll(session, args.estate, roll, filename=args.roll.name, data=data,
                                        name=args.name)
            number = version.version
    except CheckpointError as exc:  # e.g. GONGJUE_LOG_KEY_FILE names another key than the log's
        print(f"名册未导入，账本拒绝签署 / roll not imported, the ledger refused to sign: {exc}", file=sys.stderr)
        return 1
    whole = totals(roll)
    print(f"已导入 {args.estate} 第 {number} 版名册 / imported roll version {number} of {args.estate}: "
          f"{len(roll.parts)} 套房屋 parts, {whole.heads} 表决权人 voters, "
          f"{format_area_grouped(whole.area)} m²")
    return 0
