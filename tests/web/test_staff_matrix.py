"""Each estate role against each staff action that exists (SPEC §8.1 table, contract C5).

Allowed: the action is judged on its input (success, or 4xx for the deliberately empty input),
never 401/403.  Refused: 403 with the bilingual message naming the role needed, nothing written.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from identity import store
from identity.models import RollVersion
from identity.roll import read_roll
from ledger.db import transaction
from tests.web.conftest import TestClient, add_staff, csrf_of, sign_in
from tests.web.roll_upload import upload_roll

ROLL = b"building,unit,room,area,owner\n1,1,101,88.50,A\n1,1,102,90,B\n"
SLUG = "maple-court"


def _upload(c: TestClient):
    return upload_roll(c, f"/estates/{SLUG}/roll", ROLL + b"1,1,103,70,C\n", "r.csv", csrf=csrf_of(c.get("/").text))


ACTIONS = {  # action → (request, roles allowed)
    "download openings": (lambda c: c.get(f"/estates/{SLUG}/audit/openings.zip"), {"auditor", "supervisor"}),
    "record the authority key": (lambda c: c.post(f"/api/v1/estates/{SLUG}/authority", json={}), {"admin"}),
    "register a credential statement": (lambda c: c.post(f"/api/v1/estates/{SLUG}/credentials", json={}),
                                        {"authority", "supervisor"}),
    "assign roles": (lambda c: c.get("/admin/staff"), {"admin"}),
    "upload roll": (_upload, {"supervisor"}),
}
WHO = ["supervisor", "scrutineer", "auditor", "authority", "admin", "no role", "supervisor elsewhere"]


@pytest.mark.parametrize("who", WHO)
def test_each_role_against_each_action(engine, app, who):
    with transaction(engine) as session:
        store.import_roll(session, SLUG, read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL, name="枫林苑")
    if who == "admin":
        add_staff(engine, "carol", "admin")
    elif who == "no role":
        add_staff(engine, "carol", "staff")
    elif who == "supervisor elsewhere":
        add_staff(engine, "carol", "supervisor", estates=("pine-garden",))
    else:
        add_staff(engine, "carol", who, estates=(SLUG,))
    role = who if who in ("supervisor", "scrutineer", "auditor", "authority", "admin") else None
    outcome = {}
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c, "carol").status_code == 303
        for action, (call, allowed) in ACTIONS.items():
            r = call(c)
            outcome[action] = r.status_code
            if role in allowed:
                assert r.status_code not in (401, 403), (who, action, r.text[:300])
            else:
                assert r.status_code == 403, (who, action, r.status_code)
                assert "没有权限" in r.text, (who, action)
    with transaction(engine) as session:
        versions = session.scalar(select(func.count()).select_from(RollVersion))
    assert versions == (2 if role == "supervisor" else 1)
    expected_ok = {action for action, (_, allowed) in ACTIONS.items() if role in allowed}
    assert {a for a, status in outcome.items() if status not in (401, 403)} == expected_ok
