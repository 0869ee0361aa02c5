"""Assigning roles: the admin page, ``gongjue staff assign|unassign|list``, and the migrations that
move existing data (identity_0004: supervisors keep their estates; web_0001: sessions survive)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, text

from identity import staff as staff_store
from ledger.db import make_engine, migrate, transaction
from tests.conftest import _postgres_engine
from tests.web.conftest import PASSWORD, TestClient, add_staff, csrf_of, sign_in
from web import cli, limits, sessions


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(engine, app):
    add_staff(engine, "root", "admin")
    add_staff(engine, "carol", "staff")
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, "root").status_code == 303
        yield c


def _post(c: TestClient, **fields):
    token = csrf_of(c.get("/admin/staff").text)
    return c.post("/admin/staff", data={"csrf": token, **fields})


def test_admin_assigns_and_removes_roles_on_the_page(engine, admin):
    r = _post(admin, action="assign", username="carol", estate="maple-court", role="auditor")
    assert r.status_code == 303 and r.headers["location"] == "/admin/staff"
    page = admin.get("/admin/staff").text
    assert "已分配：carol · maple-court · 审计员" in page
    assert '<a href="/estates/maple-court/staff/roles">maple-court</a> · carol · 审计员' in page
    with transaction(engine) as session:
        carol = staff_store.find_staff(session, "carol").id
        assert staff_store.roles_in(session, carol, "maple-court") == {"auditor"}
        last = staff_store.access_log(session, limit=1)[0]
    assert (last.action, last.actor, last.username, last.estate, last.role) == \
        ("assign", "root", "carol", "maple-court", "auditor")
    assert _post(admin, action="unassign", username="carol", estate="maple-court", role="auditor").status_code == 303
    assert "已收回：carol · maple-court · 审计员" in admin.get("/admin/staff").text
    with transaction(engine) as session:
        assert staff_store.roles_in(session, carol, "maple-court") == frozenset()


@pytest.mark.parametrize(("fields", "message"), [
    ({"username": "nobody", "estate": "maple-court", "role": "auditor"}, "没有工作人员账户“nobody”"),
    ({"username": "carol", "estate": "Maple Court", "role": "auditor"}, "“Maple Court”不是有效的小区代号"),
    ({"username": "carol", "estate": "maple-court", "role": "admin"}, "“admin”不是小区角色"),
])
def test_admin_page_refusals_write_nothing(engine, admin, fields, message):
    r = _post(admin, action="assign", **fields)
    assert r.status_code == 422 and message in r.text
    assert _count(engine, staff_store.Assignment) == 0


def test_only_an_admin_may_open_or_post_the_page(engine, app, admin):
    add_staff(engine, "dave", "supervisor", estates=("maple-court",))
    with TestClient(app, follow_redirects=False) as c:
        assert c.get("/admin/staff").headers["location"] == "/signin?next=/admin/staff"
        assert sign_in(c, "dave").status_code == 303
        assert c.get("/admin/staff").status_code == 403
        token = csrf_of(c.get("/").text)
        r = c.post("/admin/staff", data={"csrf": token, "action": "assign", "username": "dave",
                                         "estate": "pine-garden", "role": "supervisor"})
        assert r.status_code == 403 and "没有权限" in r.text
    r = admin.post("/admin/staff", data={"action": "assign", "username": "carol", "estate": "maple-court",
                                         "role": "auditor"})  # no CSRF token
    assert r.status_code == 403
    with transaction(engine) as session:
        assert [(a.username, a.estate) for a in staff_store.assignments(session)] == [("dave", "maple-court")]


# --- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GONGJUE_DATABASE_URL", url)
    monkeypatch.setenv("GONGJUE_STAFF_PASSWORD", PASSWORD)
    return url


def test_cli_assign_unassign_list(database, capsys):
    assert cli.main(["staff", "add", "--username", "carol"]) == 0
    assert capsys.readouterr().out == "已创建工作人员账户 carol / created staff account carol\n"
    assert cli.main(["staff", "assign", "--username", "carol", "--estate", "maple-court", "--role", "supervisor"]) == 0
    assert capsys.readouterr().out == "已分配：carol · maple-court · 监督员 (supervisor) / assigned\n"
    assert cli.main(["staff", "assign", "--username", "carol", "--estate", "maple-court", "--role", "supervisor"]) == 0
    assert "已有此角色，未改变" in capsys.readouterr().out
    assert cli.main(["staff", "assign", "--username", "carol", "--estate", "oak-yard", "--role", "auditor"]) == 0
    capsys.readouterr()
    assert cli.main(["staff", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [["maple-court", "carol", "supervisor"],
                                                         ["oak-yard", "carol", "auditor"]]
    assert lines[0].split("\t")[4].startswith("by cli")
    assert cli.main(["staff", "unassign", "--username", "carol", "--estate", "oak-yard", "--role", "auditor"]) == 0
    assert capsys.readouterr().out == "已收回：carol · oak-yard · 审计员 (auditor) / unassigned\n"
    assert cli.main(["staff", "list", "--estate", "oak-yard"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "没有角色分配" in err


def test_cli_refusals_exit_2(database, capsys):
    assert cli.main(["staff", "assign", "--username", "nobody", "--estate", "maple-court", "--role", "auditor"]) == 2
    assert "没有工作人员账户 'nobody'" in capsys.readouterr().err
    assert cli.main(["staff", "add", "--username", "carol"]) == 0
    assert cli.main(["staff", "assign", "--username", "carol", "--estate", "Maple", "--role", "auditor"]) == 2
    assert "小区代号 'Maple' 无效" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["staff", "assign", "--username", "carol", "--estate", "maple-court", "--role", "admin"])


def test_cli_totp_off_for_a_lost_phone(database, capsys):
    from ledger.db import migrated_engine, reading, transaction
    assert cli.main(["staff", "add", "--username", "root", "--role", "admin"]) == 0
    engine = migrated_engine()
    with transaction(engine) as session:
        staff_id = staff_store.password_record(session, "root").staff_id
        secret = staff_store.totp_start(session, staff_id)
        assert staff_store.totp_confirm(session, staff_id, staff_store.totp_code(secret))
    capsys.readouterr()
    assert cli.main(["staff", "totp-off", "--username", "root"]) == 0
    assert capsys.readouterr().out == "已关闭 root 的两步登录 / two-step sign-in turned off for root\n"
    with reading(engine) as session:
        assert not staff_store.totp_enabled(session, staff_id)
    assert cli.main(["staff", "totp-off", "--username", "root"]) == 0
    assert "未开启两步登录，未改变" in capsys.readouterr().out
    assert cli.main(["staff", "totp-off", "--username", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err


# --- migrations keep what was there ----------------------------------------------------------------


def _alembic(engine, target: str) -> None:
    migrate(engine, target)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank(request, tmp_path):
    """An empty, unmigrated database of each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    engine, admin, name = _postgres_engine()
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_keeps_supervisors_estates_sessions_and_limits(blank):
    engine = blank
    _alembic(engine, "identity_0003")
    now = int(time.time())
    with engine.begin() as conn:
        for n, (name, role) in enumerate((("alice", "supervisor"), ("root", "admin")), start=1):
            conn.execute(text("INSERT INTO identity_staff (id, username, password_hash, role, created_at) "
                              "VALUES (:i, :n, 'x', :r, 0)"), {"i": n, "n": name, "r": role})
        for slug in ("maple-court", "pine-garden"):
            conn.execute(text("INSERT INTO identity_estates (slug, name, origin, created_at) "
                              "VALUES (:s, :s, :s, CURRENT_TIMESTAMP)"), {"s": slug})
        conn.execute(text("INSERT INTO identity_staff_sessions VALUES ('h-alice', 1, 0, :e, 'hello')"), {"e": now + 99})
        conn.execute(text("INSERT INTO identity_staff_sessions VALUES ('h-anon', NULL, 0, :e, NULL)"), {"e": now + 99})
        for _ in range(3):
            conn.execute(text("INSERT INTO identity_signin_failures (at, username, client) "
                              "VALUES (:t, 'alice', '1.2.3.4')"), {"t": now - 10})
    _alembic(engine, "heads")
    with transaction(engine) as session:
        alice = staff_store.find_staff(session, "alice")
        assert alice.role == "staff" and staff_store.find_staff(session, "root").role == "admin"
        assert [(a.username, a.estate, a.role, a.created_by) for a in staff_store.assignments(session)] == [
            ("alice", "maple-court", "supervisor", "migration"), ("alice", "pine-garden", "supervisor", "migration")]
        assert [(s.token_hash, s.staff_id, s.flash) for s in session.scalars(select(sessions.WebSession))] == [
            ("h-alice", alice.id, "hello")]
        assert {k: limits.counter(session, k).failures for k in ("a:alice", "s:1.2.3.4", "as:alice|1.2.3.4")} == \
            {"a:alice": 3, "s:1.2.3.4": 3, "as:alice|1.2.3.4": 3}
        assert len(sessions.server_key(engine)) == 32
