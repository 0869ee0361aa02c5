"""Fixtures for the web tests: the app over a real database, staff accounts, signed-in clients."""

from __future__ import annotations

import re
import warnings
from collections import Counter

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette: "install httpx2"
    from fastapi.testclient import TestClient

from identity import staff as staff_store
from ledger.db import transaction
from web.app import create_app

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered form."""
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


# The estates the web tests upload to or open; the ``supervisor`` fixture holds that role in each.
TEST_ESTATES = ("maple-court", "pine-garden", "a-estate", "b-estate", "big-estate", "evil", "forged",
                "new-estate", "x-y", "taken", "nope", "nowhere")


def add_staff(engine, username: str = "alice", role: str = "supervisor", password: str = PASSWORD,
              estates: tuple[str, ...] = TEST_ESTATES) -> None:
    """Create an account; an estate role (supervisor, auditor, …) is assigned in each of ``estates``,
    an account role (``staff``, ``admin``) is the account's kind with no estate role."""
    with transaction(engine) as session:
        if role in staff_store.ACCOUNT_ROLES:
            staff_store.create_staff(session, username, password, role)
            return
        staff_store.create_staff(session, username, password, "staff")
        for slug in estates:
            staff_store.assign(session, username, slug, role, by="tests")


def assign(engine, username: str, slug: str, role: str) -> None:
    """Give ``username`` the estate ``role`` in ``slug``."""
    with transaction(engine) as session:
        staff_store.assign(session, username, slug, role, by="tests")


def sign_in(client: TestClient, username: str = "alice", password: str = PASSWORD):
    """Sign in through the form; returns the POST response (303 on success)."""
    token = csrf_of(client.get("/signin").text)
    return client.post("/signin", data={"csrf": token, "username": username, "password": password},
                       follow_redirects=False)


@pytest.fixture
def checks(monkeypatch):
    """Counts the argon2 password checks of sign-ins (``checks["checked"]``)."""
    seen = Counter()
    real = staff_store.password_matches

    def counting(password_hash, password):
        seen["checked"] += 1
        return real(password_hash, password)

    monkeypatch.setattr(staff_store, "password_matches", counting)
    return seen


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def supervisor(engine, app):
    """A client signed in as 'alice', supervisor of every estate in TEST_ESTATES."""
    add_staff(engine)
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c).status_code == 303
        yield c
