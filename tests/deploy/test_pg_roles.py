"""PostgreSQL: the tables belong to an owner role that migrates; the app connects as a role that
cannot UPDATE, DELETE or TRUNCATE the ledger, the roll or the estates (permission denied before
any trigger runs, and it cannot disable the triggers either), and everything the app does still
works as that role: a roll import, the authority and credentials, a round announced, a ballot cast
over the API with a receipt that verifies, staff sign-in, the close of the round (which locks the
log row), checkpoints, the self-check and an export that verifies.  ``gongjue db grant`` sets it
up and repairs it, ``gongjue db check`` finds any extra privilege."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from ledger import selfcheck
from ledger.db import make_engine, migrate, transaction
from tests.deploy.pg import PG_URL, fresh_database, make_url

pytestmark = pytest.mark.postgres

PROTECTED = ("ledger_entries", "ledger_checkpoints", "ledger_hashes", "ledger_logs", "ledger_cosignatures",
             "ledger_timestamps", "identity_estates", "identity_estate_secrets", "identity_roll_versions",
             "identity_roll_parts", "identity_roll_voters", "identity_owner_names", "identity_roll_phones",
             "identity_roll_erasures")


def gongjue(url: str, *args: str) -> subprocess.CompletedProcess:
    """``gongjue`` in a child process with GONGJUE_DATABASE_URL=url."""
    import os

    env = {**os.environ, "GONGJUE_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "web.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.fixture
def roled():
    with fresh_database(roles=True) as db:
        done = gongjue(db.owner_url, "db", "grant", "--app", db.app)
        assert done.returncode == 0, done.stderr
        yield db


def test_grant_refuses_the_owner_itself_a_superuser_and_sqlite(roled, tmp_path):
    done = gongjue(roled.owner_url, "db", "grant", "--app", roled.owner)
    assert done.returncode == 2 and "owner" in done.stderr
    done = gongjue(roled.owner_url, "db", "grant", "--app", "no_such_role_x")
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = gongjue(roled.owner_url, "db", "grant", "--app", make_url(PG_URL).username)
    assert done.returncode == 2 and "superuser" in done.stderr
    done = gongjue(f"sqlite:///{tmp_path / 'x.db'}", "db", "grant", "--app", "anyone")
    assert done.returncode == 2 and "PostgreSQL only" in done.stderr


def test_check_finds_an_extra_privilege_and_grant_repairs_it(roled):
    assert gongjue(roled.owner_url, "db", "check", "--app", roled.app).returncode == 0
    owner = make_engine(roled.owner_url)
    with owner.begin() as conn:
        conn.exec_driver_sql(f'GRANT UPDATE ON ledger_entries TO "{roled.app}"')
        conn.exec_driver_sql(f'GRANT UPDATE (origin) ON ledger_logs TO "{roled.app}"')
        conn.exec_driver_sql(f'GRANT TRUNCATE ON web_sessions TO "{roled.app}"')
    owner.dispose()
    done = gongjue(roled.owner_url, "db", "check", "--app", roled.app)
    assert done.returncode == 1
    lines = sorted(done.stdout.splitlines())
    assert len(lines) == 3, done.stdout
    assert "ledger_entries (append-only)" in lines[0] and "UPDATE" in lines[0]
    assert "ledger_logs (append-only)" in lines[1] and "origin" in lines[1]
    assert "web_sessions (mutable)" in lines[2] and "TRUNCATE" in lines[2]
    assert gongjue(roled.owner_url, "db", "grant", "--app", roled.app).returncode == 0
    assert gongjue(roled.owner_url, "db", "check", "--app", roled.app).returncode == 0


def _denied(engine, statement: str) -> None:
    with pytest.raises(ProgrammingError) as caught, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert isinstance(caught.value.orig, psycopg.errors.InsufficientPrivilege), statement
    assert "permission denied" in str(caught.value.orig) or "must be owner" in str(caught.value.orig), statement


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in PROTECTED}


def test_the_app_role_appends_and_cannot_change_what_is_written(roled, tmp_path):
    from fastapi.testclient import TestClient

    from ledger.receipt import verify_receipt
    from tests.voting import cast_estate as ce
    from tests.web.conftest import add_staff, sign_in
    from tests.web.test_api_ballots import _vkey, owner_cookie, post
    from voting import count_round
    from web.app import create_app

    app_engine = make_engine(roled.app_url)
    try:
        migrate(app_engine)  # at every head already: the app only reads alembic_version
        with app_engine.connect() as conn:
            assert conn.scalar(text("SELECT current_user")) == roled.app
        t0 = datetime.now(UTC) - timedelta(hours=2)
        est = ce.make(app_engine, t0=t0, secrecy="open")  # roll, authority, credentials, round: all as the app
        with TestClient(create_app(app_engine), follow_redirects=False) as client:
            r = post(client, owner_cookie(app_engine, est, "A-01"), est.text("A-01"))
            assert r.status_code == 201, r.text
            assert verify_receipt(r.json(), _vkey(app_engine)).type == "ballot"
            r = post(client, owner_cookie(app_engine, est, "B-02"), est.text("B-02", [0, 1, 0]))
            assert r.status_code == 201, r.text
            add_staff(app_engine)
            client.cookies.clear()
            assert sign_in(client).status_code == 303  # sessions and sign-in counters: update and delete
            assert client.get("/estates/maple-court/staff/voters").status_code == 200
        after = t0 + (ce.CLOSES - ce.T0) + timedelta(minutes=1)
        closed = count_round.close_round(app_engine, ce.SLUG, ce.ROUND_ID, now=after)  # SELECT … FOR UPDATE
        assert closed is not None and closed.type == "round.close"
        assert all(o.ok for o in selfcheck.run(app_engine))
        est.export(tmp_path / "bundle")
        verified = subprocess.run([sys.executable, "-m", "web.cli", "verify", str(tmp_path / "bundle"), "--json"],
                                  capture_output=True, text=True, timeout=300, check=False)
        assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True, verified.stdout

        before = _counts(app_engine)
        assert before["ledger_entries"] > 5 and before["ledger_checkpoints"] >= 3 and before["identity_roll_parts"] == 5
        for table in PROTECTED:
            column = {"ledger_entries": "type", "ledger_checkpoints": "note", "ledger_logs": "origin",
                      "ledger_hashes": "hash", "ledger_cosignatures": "line", "ledger_timestamps": "tsa",
                      "identity_estates": "name", "identity_estate_secrets": "secret",
                      "identity_roll_versions": "filename", "identity_roll_parts": "room",
                      "identity_roll_voters": "owner", "identity_owner_names": "name", "identity_roll_phones": "phone",
                      "identity_roll_erasures": "erased_by"}[table]
            _denied(app_engine, f"UPDATE {table} SET {column} = {column}")
            _denied(app_engine, f"DELETE FROM {table}")
            _denied(app_engine, f"TRUNCATE {table}")
            _denied(app_engine, f"ALTER TABLE {table} DISABLE TRIGGER USER")
        _denied(app_engine, "DROP TABLE ledger_entries")
        _denied(app_engine, "CREATE TABLE ledger_entries_copy (x int)")
        _denied(app_engine, "UPDATE alembic_version SET version_num = version_num")
        assert _counts(app_engine) == before
        with transaction(app_engine) as s:  # the log row lock still works; an update through it does not
            s.execute(text("SELECT id FROM ledger_logs FOR UPDATE"))
        with pytest.raises(ProgrammingError, match="append-only: UPDATE refused"), app_engine.begin() as conn:
            conn.exec_driver_sql("UPDATE ledger_logs SET id = id")  # the one writable column: the trigger refuses
        assert _counts(app_engine) == before
    finally:
        app_engine.dispose()


def test_the_app_role_behind_the_schema_is_told_what_to_run(tmp_path):
    """After an upgrade of the code, before the owner ran ``gongjue migrate``: a command run as the
    app role cannot create the new tables and says so (exit 2, which command, which section), and
    nothing changed; the owner's migrate then lets it start."""
    from alembic.script import ScriptDirectory

    from ledger.db import alembic_config

    with fresh_database(roles=True) as db:
        owner = make_engine(db.owner_url)
        head = ScriptDirectory.from_config(alembic_config()).get_revision("voting@head")
        migrate(owner, head.down_revision)  # the code is one revision ahead of this database
        with owner.begin() as conn:
            from ledger import roles
            roles.grant(conn, db.app)
            before = sorted(conn.scalars(text("SELECT version_num FROM alembic_version")))
        done = gongjue(db.app_url, "migrate")
        assert done.returncode == 2, done.stderr
        assert "gongjue migrate" in done.stderr and "owner's database URL" in done.stderr and db.app in done.stderr
        assert "Traceback" not in done.stderr
        with owner.connect() as conn:
            assert sorted(conn.scalars(text("SELECT version_num FROM alembic_version"))) == before
        assert gongjue(db.owner_url, "migrate").returncode == 0
        assert gongjue(db.owner_url, "db", "grant", "--app", db.app).returncode == 0
        assert gongjue(db.app_url, "migrate").returncode == 0
        owner.dispose()
