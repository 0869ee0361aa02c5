"""Issue #10's "Done means" in real Chromium, and the demo estate's owner path.

See ``test_the_whole_story_in_chromium`` for the story and which steps go through which page.
"""

from __future__ import annotations

import json
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from identity import factor, store
from identity.credential import signing_key
from ledger.db import reading
from voting import cast as casting
from voting import rounds
from voting.crypto import ballot as ballots_
from web.app import create_app
from web.cli import simulate as sim
from web.demo import (
    DEMO_OWNERS,
    DEMO_ROUND,
    DEMO_SLUG,
    create_demo,
    newcomer_text,
    open_demo_round,
)


def test_the_demo_round_is_open_and_a_demo_owner_can_vote(engine, tmp_path, monkeypatch):
    """``gongjue serve --demo``: the round is open, the printed owner signs in with the SMS code of the
    file gateway and casts with the code of the printed link; a second call changes nothing."""
    sms = tmp_path / "sms"
    monkeypatch.setenv(factor.GATEWAY_ENV, f"file:{sms}")
    create_demo(engine)
    made = open_demo_round(engine, base_url="http://demo.test:8000", directory=tmp_path / "demo")
    assert [o.owner for o in made.owners] == list(DEMO_OWNERS) and made.sms == f"file:{sms}"
    text = newcomer_text(made, "http://demo.test:8000")
    first = made.owners[0]
    assert f"http://demo.test:8000/estates/{DEMO_SLUG}/vote#c={first.code}" in text
    assert str(sms) in text and "owners.txt" in text
    listed = (tmp_path / "demo" / "owners.txt").read_text("utf-8")
    assert all(o.code in listed for o in made.owners)
    assert (tmp_path / "demo" / "owners.txt").stat().st_mode & 0o077 == 0
    again = open_demo_round(engine, directory=tmp_path / "demo")
    assert again.owners == [] and newcomer_text(again) == ""
    with reading(engine) as s:
        view = rounds.load(s, DEMO_SLUG, DEMO_ROUND)
        origin = store.get_estate(s, DEMO_SLUG).origin
    assert view.state() == "open"
    app = create_app(engine)
    with TestClient(app, follow_redirects=False) as client:
        flat = sim.Flat(*first.flat, 0, first.owner)
        sim.owner_sign_in(client, DEMO_SLUG, flat, first.phone, sms)
        choices = {"m1": [1, 0, 0], "c2": [0, 1, 0]}
        signed, _ = ballots_.encrypt_ballot(fingerprint=view.fingerprint, joint_key=view.joint_key, items=view.items,
                                            choices=choices, signing_key=signing_key(first.code, origin))
        r = client.post(f"/api/v1/estates/{DEMO_SLUG}/rounds/{DEMO_ROUND}/ballots",
                        content=casting.dumps(signed).encode(), headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        assert json.loads(r.text)["seq"] > 0
