"""Shared fixtures: real databases.

``engine`` is parametrized over a fresh SQLite file and, when GONGJUE_TEST_POSTGRES_URL names a
server, a fresh PostgreSQL database on it.  When GONGJUE_REQUIRE_POSTGRES=1 (set by
scripts/test.sh) a missing server is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from ledger.db import make_engine, migrate

PG_URL = os.environ.get("GONGJUE_TEST_POSTGRES_URL", "")

# Property tests judge correctness, never speed: a busy 2-core CI machine must not fail them on a
# per-example deadline (speed lives in benchmarks/).
settings.register_profile("gongjue", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gongjue")


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory):
    """Keep tests off the developer's ./var: a throwaway log key, site name and default database."""
    base = tmp_path_factory.mktemp("gongjue-env")
    saved = {k: os.environ.get(k) for k in ("GONGJUE_LOG_KEY_FILE", "GONGJUE_SITE", "GONGJUE_DATABASE_URL")}
    os.environ["GONGJUE_LOG_KEY_FILE"] = str(base / "log.key")
    os.environ["GONGJUE_SITE"] = "gongjue.local"
    os.environ["GONGJUE_DATABASE_URL"] = f"sqlite:///{base / 'default.db'}"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _postgres_engine():
    if not PG_URL:
        if os.environ.get("GONGJUE_REQUIRE_POSTGRES") == "1":
            pytest.fail("GONGJUE_REQUIRE_POSTGRES=1 but GONGJUE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set GONGJUE_TEST_POSTGRES_URL)")
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_URL.rpartition("/")
    engine = make_engine(f"{base}/{name}")
    return engine, admin, name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    yield from _migrated_postgres()


@pytest.fixture
def postgres_engine():
    """A migrated, empty PostgreSQL database only (mark the test ``postgres``)."""
    yield from _migrated_postgres()


def _migrated_postgres():
    eng, admin, name = _postgres_engine()
    migrate(eng)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    """A migrated SQLite file database only (for file-level tamper tests)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'gongjue.db'}")
    migrate(eng)
    yield eng
    eng.dispose()
