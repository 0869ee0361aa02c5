"""Shared helpers of the ledger tests: a log key, a log filled with synthetic entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger import checkpoint, keys, log
from ledger.db import transaction

T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


def make_key(tmp_path: Path, name: str = "gongjue.local") -> keys.LogKey:
    return keys.create_key_file(tmp_path / "log.key", name)


def fill(engine, origin: str, count: int, key=None, sign_each: bool = False) -> int:  # noqa: ANN001
    """Create log ``origin`` with ``count`` synthetic entries; sign after each one if asked."""
    with transaction(engine) as s:
        log_id = log.create_log(s, origin).id
    for i in range(count):
        with transaction(engine) as s:
            log.append(s, log_id, "test", {"i": i, "name": f"条目 {i}", "ok": i % 2 == 0},
                       T0 + timedelta(seconds=i))
            if sign_each and key is not None:
                checkpoint.sign(s, log_id, key)
    if key is not None and not sign_each:
        with transaction(engine) as s:
            checkpoint.sign(s, log_id, key)
    return log_id


LEDGER_TABLES = ("ledger_logs", "ledger_entries", "ledger_hashes", "ledger_checkpoints", "ledger_cosignatures")


def tamper(engine, *statements: tuple[str, dict]) -> None:  # noqa: ANN001
    """An intruder with database access: drop the append-only refusal triggers, run raw SQL."""
    from sqlalchemy import text

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                             "AND name LIKE 'ledger_%'").scalars().all():
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            for table in LEDGER_TABLES:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        for statement, params in statements:
            conn.execute(text(statement), params)
