"""The count over HTTP (SPEC §7.3, §7.10): close (supervisor, only after the window), shares
(scrutineer, each checked), the public result; on both databases."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting import count_estate as ce
from tests.voting.test_count import EXPECTED, VOTES
from tests.web.conftest import add_staff, sign_in

BASE = "/api/v1/estates/maple-court/rounds/r1"
JSON = {"content-type": "application/json"}


def _past_round(engine):
    """A round whose window ended ten days ago (by the real clock), with four ballots."""
    rnd = ce.make(engine, t0=datetime.now(UTC).replace(microsecond=0) - timedelta(days=20))
    for owner, choice in VOTES.items():
        rnd.cast(owner, choice)
    return rnd


def _client(app, username: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, username).status_code == 303
    return c


def test_close_shares_and_result_over_http(engine, app, tmp_path):
    add_staff(engine, "alice", "supervisor")
    add_staff(engine, "sam", "scrutineer")
    rnd = _past_round(engine)
    with TestClient(app, follow_redirects=False) as anon:
        assert anon.post(f"{BASE}/close", content=b"{}", headers=JSON).status_code == 401
        sam, alice = _client(app, "sam"), _client(app, "alice")
        assert sam.post(f"{BASE}/close", content=b"{}", headers=JSON).status_code == 403
        assert alice.post(f"{BASE}/close", content=b"{}").status_code == 415
        r = alice.post(f"{BASE}/close", content=b"{}", headers=JSON)
        assert r.status_code == 201, r.text
        assert r.json()["ballots"] == 4 and r.json()["result_seq"] is None
        again = alice.post(f"{BASE}/close", content=b"{}", headers=JSON)
        assert again.status_code == 409 and again.json()["detail"]["code"] == "already_closed"

        shares = rnd.shares(tmp_path / "b1")
        assert alice.post(f"{BASE}/shares", content=json.dumps(shares[1]), headers=JSON).status_code == 403
        forged = json.loads(json.dumps(shares[1]))
        forged["items"][0]["area"][2]["proof"]["z"] = forged["items"][0]["area"][1]["proof"]["z"]
        bad = sam.post(f"{BASE}/shares", content=json.dumps(forged), headers=JSON)
        assert bad.status_code == 422 and bad.json()["detail"]["code"] == "bad_shares"
        assert "item 'm1' area 2" in bad.json()["detail"]["message"]
        one = sam.post(f"{BASE}/shares", content=json.dumps(shares[1]), headers=JSON)
        assert one.status_code == 201 and one.json()["present"] == [1] and one.json()["result_seq"] is None
        dup = sam.post(f"{BASE}/shares", content=json.dumps(shares[1]), headers=JSON)
        assert dup.status_code == 409 and dup.json()["detail"]["code"] == "duplicate_shares"
        two = sam.post(f"{BASE}/shares", content=json.dumps(shares[2]), headers=JSON)
        assert two.status_code == 201 and two.json()["needed"] == 2 and two.json()["result_seq"] is not None

        pub = anon.get(f"{BASE}/result")
        assert pub.status_code == 200
        body = pub.json()
        assert body["result"]["tally"] == EXPECTED and body["final"] is None
        assert [s["trustee"] for s in body["shares"]] == [1, 2]
        assert "A-01" not in pub.text and not any(v in pub.text for v in rnd.voters.values())  # no personal data
        assert anon.get("/api/v1/estates/maple-court/rounds/r9/result").json()["detail"]["code"] == "no_round"
        sam.close()
        alice.close()


def test_close_is_refused_before_the_end_of_the_window(engine, app):
    add_staff(engine, "alice", "supervisor")
    ce.make(engine, t0=datetime.now(UTC).replace(microsecond=0) + timedelta(days=1))
    with TestClient(app, follow_redirects=False) as c:
        assert sign_in(c).status_code == 303
        r = c.post(f"{BASE}/close", content=b"{}", headers=JSON)
        assert r.status_code == 409 and r.json()["detail"]["code"] == "window_open"
        assert "voting window is still open" in r.json()["detail"]["message"]
        assert c.get(f"{BASE}/result").json()["close"] is None


def test_openapi_describes_the_count_endpoints(app):
    with TestClient(app) as c:
        doc = c.get("/api/v1/openapi.json").json()
    for path, method in ((f"{BASE.replace('maple-court', '{slug}').replace('r1', '{round_id}')}/close", "post"),
                         ("/api/v1/estates/{slug}/rounds/{round_id}/shares", "post"),
                         ("/api/v1/estates/{slug}/rounds/{round_id}/result", "get")):
        op = doc["paths"][path][method]
        assert "200" in op["responses"] or "201" in op["responses"]
        assert "404" in op["responses"]
    assert {"Closed", "SharesRecorded", "Published", "CountRefusalBody"} <= set(doc["components"]["schemas"])
