"""The ballot API over HTTP (TestClient, both databases): a full cast with a receipt that verifies,
every refusal as a stable code with nothing written, a proxy's grant and cast, and the OpenAPI
description."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest

from ledger.db import transaction
from ledger.receipt import verify_receipt
from tests.voting import cast_estate as ce
from tests.voting.cast_estate import ROUND_ID, SLUG
from tests.web.conftest import add_staff, sign_in
from voting import proxy as proxies
from web.owner import OWNER_COOKIE, OwnerSessionRow, _hash

URL = f"/api/v1/estates/{SLUG}/rounds/{ROUND_ID}/ballots"
PROXIES = f"/api/v1/estates/{SLUG}/rounds/{ROUND_ID}/proxies"
JSON = {"content-type": "application/json"}


def _est(engine, **kw):
    return ce.make(engine, t0=datetime.now(UTC) - timedelta(hours=2), **kw)


def owner_cookie(engine, est, owner: str, *, estate: str = SLUG, verified: bool = True) -> str:
    """An owner session as the second factor leaves it (SPEC §4.6)."""
    token = secrets.token_urlsafe(32)
    at = int(time.time())
    with transaction(engine) as s:
        s.add(OwnerSessionRow(token_hash=_hash(token), estate=estate, voter=est.voters[owner], factor="pin",
                              verified=verified, created_at=at, expires_at=at + 3600))
    return token


def post(client, token, text, *, url=URL, params=None, headers=JSON):
    client.cookies.clear()
    if token:
        client.cookies.set(OWNER_COOKIE, token)
    return client.post(url, content=text.encode() if isinstance(text, str) else text, headers=headers,
                       params=params)


def _vkey(engine):
    from identity import store
    from ledger import checkpoint
    from ledger.db import reading

    with reading(engine) as s:
        return checkpoint.latest(s, store.get_estate(s, SLUG).log_id).vkey


def test_cast_over_http_returns_a_receipt_that_verifies(engine, client):
    est = _est(engine)
    r = post(client, owner_cookie(engine, est, "A-01"), est.text("A-01"))
    assert r.status_code == 201, r.text
    receipt = r.json()
    entry = verify_receipt(receipt, _vkey(engine))
    assert entry.type == "ballot" and entry.body["factor"] == "pin" and receipt["seq"] == entry.seq
    assert receipt["voter"] == est.voters["A-01"] and receipt["proxy"] is None and len(receipt["short"]) == 14
    again = post(client, owner_cookie(engine, est, "A-01"), est.text("A-01", [0, 1, 0]))
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_voted"


def _cases(est, engine):
    forged = est.ballot("A-01")
    forged["sig"] = ("00" if forged["sig"][:2] != "00" else "11") + forged["sig"][2:]
    from voting.crypto import ballot as b

    body = json.loads(json.dumps(est.ballot("A-01")["ballot"]))
    c = body["items"][0]["selections"][0]["proof"]["c"]
    c[0], c[1] = c[1], c[0]
    bad_proof = {"ballot": body, "sig": ce.key("A-01").sign(b.signing_bytes(body)).signature.hex()}
    a = owner_cookie(engine, est, "A-01")
    from tests.voting.test_cast import binding

    b_ballot = est.ballot("B-02")
    return {
        "no_session": (None, est.text("A-01"), {}),
        "no_session/pending": (owner_cookie(engine, est, "A-01", verified=False), est.text("A-01"), {}),
        "no_session/other-estate": (owner_cookie(engine, est, "A-01", estate="pine-garden"), est.text("A-01"), {}),
        "wrong_round": (a, est.text("A-01", fingerprint=bytes(32)), {}),
        "bad_signature": (a, json.dumps(forged), {}),
        "bad_proof": (a, json.dumps(bad_proof), {}),
        "bad_ballot": (a, '{"ballot": 1, "ballot": 2}', {}),
        "wrong_voter": (owner_cookie(engine, est, "B-02"), est.text("A-01"), {}),
        "not_eligible": (owner_cookie(engine, est, "E-05"), est.text("E-05"), {}),
        "revoked_credential": (owner_cookie(engine, est, "C-03"), est.text("C-03"), {}),
        "no_proxy_grant": (owner_cookie(engine, est, "B-02"), json.dumps(b_ballot),
                           {"for": est.voters["D-04"], "for_sig": binding(est, b_ballot, "D-04", ce.key("B-02"))}),
        "bad_signature/binding": (owner_cookie(engine, est, "B-02"), json.dumps(b_ballot), {"for": est.voters["D-04"]}),
    }


def test_every_refusal_is_a_stable_code_and_writes_nothing(engine, client):
    est = _est(engine, building_scope=True)
    ce.add_revocation(est, "C-03")
    before = est.size()
    for name, (token, text, params) in _cases(est, engine).items():
        r = post(client, token, text, params=params)
        code = name.split("/")[0]
        assert r.json()["detail"]["code"] == code, (name, r.text)
        assert r.status_code == {"no_session": 401, "wrong_voter": 403, "not_eligible": 403, "no_proxy_grant": 403,
                                 "revoked_credential": 403}.get(code, 422), name
        assert r.json()["detail"]["message"]
    assert est.size() == before


def test_round_not_open_and_not_json(engine, client):
    est = ce.make(engine)  # announced for December 2026: not open yet
    token = owner_cookie(engine, est, "A-01")
    r = post(client, token, est.text("A-01"))
    assert r.status_code == 409 and r.json()["detail"]["code"] == "round_not_open"
    r = post(client, token, est.text("A-01"), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = client.post(f"/api/v1/estates/{SLUG}/rounds/nope/ballots", content=est.text("A-01").encode(), headers=JSON)
    assert r.status_code == 404 and r.json()["detail"]["code"] == "no_round"


def test_proxy_over_http(engine, app, client):
    est = _est(engine, proxy_cap=1)
    a = owner_cookie(engine, est, "A-01")
    auth = proxies.signed_authorisation(proxies.GRANT, est.fingerprint.hex(), est.voters["A-01"], est.voters["B-02"],
                                        ce.key("A-01"))
    grant = {"type": "proxy.grant", "voter": est.voters["A-01"], "proxy": est.voters["B-02"], "authorisation": auth}
    r = post(client, owner_cookie(engine, est, "B-02"), json.dumps(grant), url=PROXIES)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "wrong_voter"  # only A records A's grant
    r = post(client, a, json.dumps(grant), url=PROXIES)
    assert r.status_code == 201, r.text
    verify_receipt(r.json(), _vkey(engine))
    # a written authorisation needs a supervisor; the cap refuses C → B
    written = {"type": "proxy.grant", "voter": est.voters["C-03"], "proxy": est.voters["B-02"],
               "authorisation": {"kind": "written", "scan_sha256": "ab" * 32}}
    client.cookies.clear()
    r = client.post(PROXIES, json=written)
    assert r.status_code == 401
    add_staff(engine)
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as staff:
        assert sign_in(staff).status_code == 303
        r = staff.post(PROXIES, json=written)
        assert r.status_code == 409 and r.json()["detail"]["code"] == "proxy_cap"
    from tests.voting.test_cast import binding

    signed = est.ballot("B-02")
    r = post(client, owner_cookie(engine, est, "B-02"), json.dumps(signed),
             params={"for": est.voters["A-01"], "for_sig": binding(est, signed, "A-01", ce.key("B-02"))})
    assert r.status_code == 201, r.text
    assert r.json()["voter"] == est.voters["A-01"] and r.json()["proxy"] == est.voters["B-02"]
    r = post(client, a, est.text("A-01"))
    assert r.status_code == 409 and r.json()["detail"]["code"] == "already_voted"


def test_openapi_describes_the_ballot_endpoint(client):
    doc = client.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/estates/{slug}/rounds/{round_id}/ballots"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["ballot", "sig"]
    assert op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Receipt")
    for status in ("401", "403", "404", "409", "422"):
        assert "RefusalBody" in json.dumps(op["responses"][status]), status
    assert "ProxyRequest" in json.dumps(doc["paths"]["/api/v1/estates/{slug}/rounds/{round_id}/proxies"]["post"])


@pytest.mark.parametrize("secrecy", ["open"])
def test_open_round_cast_over_http(engine, client, secrecy):
    est = _est(engine, secrecy=secrecy)
    r = post(client, owner_cookie(engine, est, "D-04"), est.text("D-04", [0, 0, 1]))
    assert r.status_code == 201, r.text


def test_verifying_a_ballot_in_a_request_never_forks(engine, client, monkeypatch):
    import multiprocessing
    import os

    def no_fork(*a, **k):
        raise AssertionError("a request must not fork")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    monkeypatch.setattr(multiprocessing, "Pool", no_fork)
    est = _est(engine)
    r = post(client, owner_cookie(engine, est, "B-02"), est.text("B-02"))
    assert r.status_code == 201, r.text
