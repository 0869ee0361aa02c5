"""``gongjue serve`` and ``gongjue migrate`` (``gongjue staff`` is in web/cli/staff.py).

``serve`` brings the database (GONGJUE_DATABASE_URL, default ./var/gongjue.db) to every head
revision first, optionally creates the demo estate and its supervisor when the database has no
estate yet, checks every estate's ledger against its signed checkpoints (ledger.selfcheck; the
app repeats it every GONGJUE_SELFCHECK_SECONDS), then runs the app under Uvicorn — in ``--workers N``
processes when asked (each builds the app over GONGJUE_DATABASE_URL; the log lock serializes
their appends, SPEC §2.9).
"""

from __future__ import annotations

import sys

from identity import store
from ledger import selfcheck
from ledger.db import migrated_engine, transaction


def register(sub) -> None:  # noqa: ANN001
    """Add ``serve`` and ``migrate`` to the ``gongjue`` parser."""
    p = sub.add_parser("serve", help="运行网站 / run the web service",
                       description="Migrate the database, then serve the web app with Uvicorn.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1; e.g. 2 on 2 cores: casting verifies ballots in Python)")
    p.add_argument("--demo", action="store_true",
                   help="if the database has no estate, create the demo estate 枫林苑 and a demo supervisor")
    p.set_defaults(handler=run_serve)

    p = sub.add_parser("migrate", help="升级数据库 / bring the database to the latest schema")
    p.set_defaults(handler=run_migrate)


def run_migrate(args) -> int:  # noqa: ANN001, ARG001
    migrated_engine()
    print("数据库已是最新 / database is up to date")
    return 0


def run_serve(args) -> int:  # noqa: ANN001
    import uvicorn

    from web.app import create_app

    engine = migrated_engine()
    if args.demo:
        _ensure_demo(engine, f"http://{args.host}:{args.port}")
    try:
        selfcheck.interval()  # a bad GONGJUE_SELFCHECK_SECONDS is refused before serving
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    _selfcheck_on_start(engine)
    print(f"共决 Gongjue: http://{args.host}:{args.port}/", flush=True)
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:  # each worker process builds its app over GONGJUE_DATABASE_URL (migrated above)
        engine.dispose()
        uvicorn.run("web.app:create_app", factory=True, workers=args.workers, host=args.host, port=args.port,
                    proxy_headers=True, server_header=False, log_level="info", http=HTTP_PARSER,
                    timeout_worker_healthcheck=30)  # a worker importing on a busy machine is not dead
        return 0
    uvicorn.run(create_app(engine), host=args.host, port=args.port, proxy_headers=True,
                server_header=False, log_level="info", http=HTTP_PARSER)
    return 0


HTTP_PARSER = "h11"
"""The request parser: h11 refuses a request head it cannot complete within its buffer (400, tested in
tests/fuzz/test_limits.py); httptools, uvicorn's other choice, kept reading a 4 MB head.  The event
loop is uvloop when it is installed (a dependency: ≈ 1.2–1.3× the casts per second, issue #11)."""


def _selfcheck_on_start(engine) -> None:  # noqa: ANN001
    """Re-hash every estate's log against its signed checkpoints before serving (SPEC §2.9)."""
    outcomes = selfcheck.run(engine)
    bad = [o for o in outcomes if not o.ok]
    print(f"账本自检 / ledger self-check: {len(outcomes) - len(bad)} 个账本正常 / logs ok, "
          f"{len(bad)} 个有问题 / with problems", flush=True)
    for o in bad:
        print(f"警告 / WARNING: {o.origin}: {o.finding.message}", file=sys.stderr, flush=True)


def _ensure_demo(engine, base_url: str = "http://127.0.0.1:8000") -> None:
    from web.demo import (
        DEMO_NAME,
        DEMO_SLUG,
        create_demo,
        demo_sms_gateway,
        newcomer_text,
        open_demo_round,
    )

    with transaction(engine) as session:
        empty = not store.list_estates(session)
        if store.get_estate(session, DEMO_SLUG) is not None:
            demo_sms_gateway(engine)  # the demo owners' one-time codes: the file gateway unless one is set
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
    print(newcomer_text(open_demo_round(engine, base_url=base_url), base_url), flush=True)
