"""The app's start-up heap is frozen out of the garbage collector (web.app._freeze_startup_heap)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from ledger.db import make_engine, migrate
from web.app import create_app


def test_start_up_freezes_the_heap_once(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gc.db'}")
    migrate(engine)
    with TestClient(create_app(engine)) as client:
        assert client.get("/").status_code == 200
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # modules, tables, routes, templates
    with TestClient(create_app(engine)):
        assert gc.get_freeze_count() <= frozen  # once per process: later apps do not freeze theirs too
    engine.dispose()
