"""PostgreSQL helpers for the deployment tests: a fresh database owned by a fresh owner role, a
separate app role, URLs for each, everything dropped afterwards (roles are cluster-wide, so the
names are random)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, make_url, text

PG_URL = os.environ.get("GONGJUE_TEST_POSTGRES_URL", "")


def require_postgres() -> None:
    if not PG_URL:
        if os.environ.get("GONGJUE_REQUIRE_POSTGRES") == "1":
            pytest.fail("GONGJUE_REQUIRE_POSTGRES=1 but GONGJUE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set GONGJUE_TEST_POSTGRES_URL)")


def admin_engine():
    return create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def url_for(database: str, user: str | None = None) -> str:
    """``postgresql://`` URL of ``database`` on the test server, as ``user`` (default: the admin)."""
    url = make_url(PG_URL).set(database=database)
    if user:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


@dataclass
class RoledDatabase:
    name: str
    owner: str
    app: str

    @property
    def owner_url(self) -> str:
        return url_for(self.name, self.owner)

    @property
    def app_url(self) -> str:
        return url_for(self.name, self.app)

    @property
    def admin_url(self) -> str:
        return url_for(self.name)


@contextmanager
def fresh_database(*, roles: bool = False) -> Iterator[RoledDatabase]:
    """A new empty database (owned by a new owner role when ``roles``, with a new app role)."""
    require_postgres()
    tag = uuid.uuid4().hex[:10]
    db = RoledDatabase(f"d_{tag}", f"gj_owner_{tag}" if roles else make_url(PG_URL).username, f"gj_app_{tag}")
    admin = admin_engine()
    with admin.connect() as conn:
        if roles:
            conn.execute(text(f'CREATE ROLE "{db.owner}" LOGIN'))
            conn.execute(text(f'CREATE ROLE "{db.app}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{db.name}" OWNER "{db.owner}"'))
    try:
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)'))
            if roles:
                conn.execute(text(f'DROP ROLE IF EXISTS "{db.app}"'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{db.owner}"'))
        admin.dispose()
