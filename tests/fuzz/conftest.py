"""The fuzz tests' world: the real app over an estate with a roll, registered credentials, an
open secret round ``r1`` and a draft ``r2``, and the cookies of a supervisor and an owner."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest

from ledger.db import transaction
from tests.voting import cast_estate as ce
from tests.voting.rounds_fixtures import spec
from tests.web.conftest import add_staff, sign_in
from tests.web.test_api_ballots import owner_cookie
from voting import rounds
from web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def world(engine):
    """The app over an estate with an open round r1 and a draft r2; cookies of each identity."""
    est = ce.make(engine, t0=datetime.now(UTC) - timedelta(hours=2))
    with transaction(engine) as s:
        rounds.create_draft(s, ce.SLUG, spec("r2", opens=datetime.now(UTC) + timedelta(days=20)), by="tests")
    add_staff(engine)
    app = create_app(engine)
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c).status_code == 303
        staff = c.cookies.get("gongjue_session")
    cookies = {"visitor": {}, "staff": {"gongjue_session": staff},
               "owner": {"gongjue_owner": owner_cookie(engine, est, "A-01")}}
    known = {"slug": ce.SLUG, "round_id": ce.ROUND_ID, "voter": est.voters["B-02"]}
    return app, cookies, known
