"""Staff act only on their estates (issue #7.4, SPEC §8): assignments, the access log, and each
estate role against each staff action that exists (roll upload)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from identity import staff as staff_store
from identity import store
from identity.models import Estate, RollVersion
from identity.roll import read_roll
from ledger.db import transaction
from tests.web.conftest import PASSWORD, TestClient, add_staff, assign, sign_in
from tests.web.roll_upload import upload_roll

ROLL = b"building,unit,room,area,owner\n1,1,101,88.50,A\n1,1,102,90,B\n"


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _import(engine, slug="maple-court"):
    with transaction(engine) as session:
        store.import_roll(session, slug, read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL, name="枫林苑")


def _signed_in(app, username: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, username).status_code == 303
    return c


def _upload(c: TestClient, path: str, slug: str = "maple-court"):
    return upload_roll(c, path, ROLL + b"1,1,103,70,C\n", "r.csv", slug=slug, name="枫林苑")  # the file, its preview, the confirm


# --- assignments and the access log ----------------------------------------------------------


def test_assign_unassign_and_roles_in(engine):
    add_staff(engine, "carol", "staff")
    with transaction(engine) as session:
        carol = staff_store.find_staff(session, "carol").id
        assert staff_store.assign(session, "Carol", "maple-court", "auditor", by="root")
        assert not staff_store.assign(session, "carol", "maple-court", "auditor", by="root")  # already held
        assert staff_store.assign(session, "carol", "maple-court", "scrutineer", by="root")
        assert staff_store.assign(session, "carol", "pine-garden", "supervisor", by="root")
    with transaction(engine) as session:
        assert staff_store.roles_in(session, carol, "maple-court") == {"auditor", "scrutineer"}
        assert staff_store.roles_in(session, carol, "pine-garden") == {"supervisor"}
        assert staff_store.roles_in(session, carol, "oak-yard") == frozenset()
        assert staff_store.unassign(session, "carol", "maple-court", "auditor", by="root")
        assert not staff_store.unassign(session, "carol", "maple-court", "auditor", by="root")
    with transaction(engine) as session:
        assert staff_store.roles_in(session, carol, "maple-court") == {"scrutineer"}
        assert [(r.username, r.estate, r.role, r.created_by) for r in staff_store.assignments(session)] == [
            ("carol", "maple-court", "scrutineer", "root"), ("carol", "pine-garden", "supervisor", "root")]
        log = [(e.action, e.actor, e.username, e.estate, e.role) for e in reversed(staff_store.access_log(session))]
    assert log == [("staff.add", None, "carol", None, "staff"),
                   ("assign", "root", "carol", "maple-court", "auditor"),
                   ("assign", "root", "carol", "maple-court", "scrutineer"),
                   ("assign", "root", "carol", "pine-garden", "supervisor"),
                   ("unassign", "root", "carol", "maple-court", "auditor")]


@pytest.mark.parametrize(("username", "slug", "role", "message"), [
    ("nobody", "maple-court", "auditor", "没有工作人员账户 'nobody'"),
    ("carol", "Maple", "auditor", "小区代号 'Maple' 无效"),
    ("carol", "maple-court", "admin", "小区角色 'admin' 无效"),
    ("carol", "maple-court", "owner", "小区角色 'owner' 无效"),
])
def test_assign_refusals_write_nothing(engine, username, slug, role, message):
    add_staff(engine, "carol", "staff")
    with pytest.raises(staff_store.StaffError, match=re.escape(message)), transaction(engine) as session:
        staff_store.assign(session, username, slug, role, by="root")
    assert _count(engine, staff_store.Assignment) == 0
    assert _count(engine, staff_store.AccessLog) == 1  # the account's creation only


def test_removing_an_account_removes_its_assignments(engine):
    add_staff(engine, "carol", "auditor", estates=("maple-court",))
    with transaction(engine) as session:
        session.delete(staff_store.find_staff(session, "carol"))
    assert _count(engine, staff_store.Assignment) == 0


# --- the permission matrix: roll upload --------------------------------------------------------


@pytest.mark.parametrize(("role", "allowed"), [
    ("supervisor", True), ("scrutineer", False), ("auditor", False), ("authority", False),
    ("admin", False), ("staff", False)])
def test_roll_upload_needs_the_supervisor_role_in_that_estate(engine, app, role, allowed):
    _import(engine)
    add_staff(engine, "carol", role, estates=("maple-court", "oak-yard"))
    c = _signed_in(app, "carol")
    existing = _upload(c, "/estates/maple-court/roll")
    new = _upload(c, "/roll/new", slug="oak-yard")
    form = c.get("/estates/maple-court/roll")
    if allowed:
        assert (existing.status_code, new.status_code, form.status_code) == (303, 303, 200)
        assert _count(engine, RollVersion) == 3
        return
    for response in (existing, new, form):
        assert response.status_code == 403
        assert "没有权限：需要在小区" in response.text and "担任监督员" in response.text
    assert _count(engine, Estate) == 1 and _count(engine, RollVersion) == 1


def test_a_supervisor_of_one_estate_cannot_upload_for_another(engine, app):
    _import(engine)
    _import(engine, "pine-garden")
    add_staff(engine, "carol", "supervisor", estates=("pine-garden",))
    c = _signed_in(app, "carol")
    r = _upload(c, "/estates/maple-court/roll")
    assert r.status_code == 403
    assert "没有权限：需要在小区 &#39;maple-court&#39; 担任监督员，请联系管理员分配角色" in r.text
    assert _upload(c, "/roll/new", slug="oak-yard").status_code == 403
    assert _count(engine, RollVersion) == 2
    assert _upload(c, "/estates/pine-garden/roll", slug="pine-garden").status_code == 303
    assert _count(engine, RollVersion) == 3


def test_unassigning_takes_effect_on_the_next_request(engine, app):
    _import(engine)
    add_staff(engine, "carol", "supervisor", estates=("maple-court",))
    c = _signed_in(app, "carol")
    assert c.get("/estates/maple-court/roll").status_code == 200
    with transaction(engine) as session:
        staff_store.unassign(session, "carol", "maple-court", "supervisor", by="root")
    assert c.get("/estates/maple-court/roll").status_code == 403
    assign(engine, "carol", "maple-court", "supervisor")
    assert c.get("/estates/maple-court/roll").status_code == 200


def test_the_supervisor_fixture_holds_the_test_estates(engine, supervisor):
    with transaction(engine) as session:
        alice = staff_store.find_staff(session, "alice")
        assert alice.role == "staff"
        assert staff_store.roles_in(session, alice.id, "maple-court") == {"supervisor"}
    assert PASSWORD
