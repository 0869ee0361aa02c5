"""Fixtures of the load tests (issue #11): a database URL of each kind, for servers run as
separate processes (``benchmarks.harness.Server``).

``db_url`` is a fresh SQLite file, or a fresh PostgreSQL database on GONGJUE_TEST_POSTGRES_URL
(dropped after the test, WITH (FORCE): a killed server may leave connections behind).  The log
key, site name and default database come from the session fixture of tests/conftest.py, which the
server processes inherit through the environment.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("GONGJUE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A URL of an empty database of each kind (``harness.prepare`` migrates it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gongjue.db'}"
        return
    if not PG_URL:
        if os.environ.get("GONGJUE_REQUIRE_POSTGRES") == "1":
            pytest.fail("GONGJUE_REQUIRE_POSTGRES=1 but GONGJUE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set GONGJUE_TEST_POSTGRES_URL)")
    name = "t_load_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
