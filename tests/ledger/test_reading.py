"""Reads never take the write lock (SPEC §2.9, issue #8.1): ``ledger.db.reading``.

A long import is simulated by a writer that holds an open write transaction (on SQLite
``BEGIN IMMEDIATE``, the database write lock) with entries appended but not committed. While
it holds it, the public audit pages still answer 200 with the last committed state.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import checkpoint, keys, log
from ledger.db import reading, transaction
from web.app import create_app

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


class HeldWriter:
    """A thread holding a write transaction open with ``count`` uncommitted appends."""

    def __init__(self, engine, log_id: int, count: int) -> None:  # noqa: ANN001
        self.holding, self.release = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(engine, log_id, count), daemon=True)

    def _run(self, engine, log_id: int, count: int) -> None:  # noqa: ANN001
        try:
            with transaction(engine) as s:
                for i in range(count):
                    log.append(s, log_id, "import", {"row": i})
                if engine.dialect.name == "sqlite":  # the write lock is really held
                    assert s.execute(text("PRAGMA query_only")).scalar() == 0
                self.holding.set()
                assert self.release.wait(60), "the test never released the writer"
        except BaseException as exc:  # noqa: BLE001
            self.errors.append(exc)
            self.holding.set()

    def __enter__(self) -> HeldWriter:
        self.thread.start()
        assert self.holding.wait(60) and not self.errors, self.errors
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.release.set()
        self.thread.join(60)
        assert not self.thread.is_alive() and not self.errors, self.errors


def test_audit_pages_answer_while_a_writer_holds_the_lock(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 4, key)
    client = TestClient(create_app(engine))
    base = f"/estates/{SLUG}/audit"
    with HeldWriter(engine, log_id, 25) as writer:
        page = client.get(base)
        assert page.status_code == 200 and "#3" in page.text and "#4" not in page.text
        assert client.get(f"{base}/checkpoint").text.startswith(f"{ORIGIN}\n4\n")
        assert client.get(f"{base}/checkpoints/4").status_code == 200
        assert client.get(f"{base}/log.vkey").text == key.vkey + "\n"
        assert json.loads(client.get(f"{base}/entries/3").content)["seq"] == 3
        assert client.get(f"{base}/entries/4").status_code == 404  # not committed yet
        assert client.get(f"{base}/entries/3/receipt.json").json()["tree_size"] == 4
        assert client.get(f"{base}/consistency.json", params={"size1": 4, "size2": 4}).status_code == 200
        z = client.get(f"{base}/bundle.zip")
        assert z.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(z.content)).read("entries.jsonl").count(b"\n") == 4
        assert writer.thread.is_alive() and not writer.release.is_set()  # answered while it held the lock
    page = client.get(base)
    assert "#28" in page.text and "另有 25 条尚未纳入签名检查点" in page.text


def test_reading_sees_one_snapshot_and_refuses_writes(engine):
    log_id = fill(engine, ORIGIN, 2)
    with reading(engine) as r:
        assert log.size(r, log_id) == 2
        with transaction(engine) as w:
            log.append(w, log_id, "late", {})
        assert log.size(r, log_id) == 2  # the snapshot of the read's first query
    with reading(engine) as r:
        assert log.size(r, log_id) == 3
    with pytest.raises(DBAPIError, match="read-only|readonly"):
        with reading(engine) as r:
            r.execute(text("INSERT INTO ledger_logs (origin, created_at) VALUES ('x/y', CURRENT_TIMESTAMP)"))
    with transaction(engine) as w:  # the connection went back to the pool writable
        log.create_log(w, "gongjue.local/other")
        assert checkpoint.latest(w, log_id) is None


def test_read_row_reads_one_select_without_a_transaction_block(engine):
    """ledger.db.read_row: the row, as reading would give it; nothing but a SELECT is accepted, and on
    SQLite it never takes the write lock (a writer holding it does not block it)."""
    from sqlalchemy import bindparam, insert, select

    from ledger.db import read_row
    from ledger.models import Log

    with transaction(engine) as s:
        log_id = log.create_log(s, "gongjue.local/read-row").id
    by_id = select(Log.origin).where(Log.id == bindparam("id"))
    assert read_row(engine, by_id, {"id": log_id}).origin == "gongjue.local/read-row"
    assert read_row(engine, by_id, {"id": log_id + 1000}) is None
    with pytest.raises(TypeError, match="read_row runs a SELECT only"):
        read_row(engine, insert(Log).values(origin="x"), {})
    with transaction(engine) as s:  # a writer holds the lock (SQLite: BEGIN IMMEDIATE) ...
        log.append(s, log_id, "test", {"i": 1})
        assert read_row(engine, by_id, {"id": log_id}).origin == "gongjue.local/read-row"  # ... the read goes on
