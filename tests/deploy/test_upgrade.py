"""Upgrade with data in the database, both databases: from an empty database, every revision is
applied one at a time (``ledger.db.migrate(engine, "<rev>")``, the branches interleaved in the
order they were written), and at early revisions the data of that time goes in: staff accounts
before the estate roles existed (identity_0002), an estate with two roll versions and signed
checkpoints handed out (identity_0003, ledger_0001), then the authority, credentials, an announced
round and ballots with receipts (voting_0002).  At every head: every entry and checkpoint is
byte for byte what it was, the former supervisor holds the supervisor role in the estate
(identity_0004's data migration), staff sign in, one more ballot is cast over the API, the round
closes, and the exported bundle verifies against every checkpoint handed out on the way.
A revision added later is applied after the listed ones (its data then only checked at the end)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ledger.db import alembic_config, make_engine, migrate
from tests.deploy.pg import fresh_database

HISTORY = ("ledger_0001", "identity_0001", "identity_0002", "identity_0003", "identity_0004", "ledger_0002",
           "identity_0005", "web_0001", "voting_0001", "web_0002", "voting_0002", "identity_0006", "voting_0003",
           "voting_0004", "ledger_0003", "voting_0005", "voting_0006", "voting_0007", "ledger_0004", "voting_0008", "ledger_0005", "ledger_0006")
T0 = datetime.now(UTC) - timedelta(hours=2)


def revisions() -> list[str]:
    """Every revision: HISTORY first, then any newer one in dependency order."""
    script = ScriptDirectory.from_config(alembic_config())
    every = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    return [r for r in HISTORY if r in every] + [r for r in every if r not in HISTORY]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank(request, tmp_path):
    """An empty, unmigrated database of each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database() as db:
        engine = make_engine(db.admin_url)
        yield engine
        engine.dispose()


def _snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {"entries": [tuple(r) for r in conn.execute(text(
                    "SELECT log_id, seq, type, data, leaf_hash FROM ledger_entries ORDER BY log_id, seq"))],
                "checkpoints": [tuple(r) for r in conn.execute(text(
                    "SELECT log_id, size, root, note FROM ledger_checkpoints ORDER BY id"))],
                "parts": [tuple(r) for r in conn.execute(text(
                    "SELECT roll_version_id, position, building, unit, room, area FROM identity_roll_parts "
                    "ORDER BY roll_version_id, position"))]}


class Story:
    """The data put in at each revision, and what was handed out."""

    def __init__(self, engine, tmp: Path):
        self.engine, self.tmp, self.kept, self.est = engine, tmp, [], None
        (tmp / "kept").mkdir()

    def keep(self, note: str) -> None:
        path = self.tmp / "kept" / f"{len(self.kept)}.checkpoint"
        path.write_text(note, encoding="utf-8")
        self.kept.append(path)

    def at_identity_0002(self) -> None:
        """Staff accounts as they were before estate roles: an all-estates supervisor and an admin."""
        from identity.staff import _hasher
        from tests.web.conftest import PASSWORD

        with self.engine.begin() as conn:
            for username, role in (("alice", "supervisor"), ("root", "admin")):
                conn.execute(text("INSERT INTO identity_staff (username, password_hash, role, created_at) "
                                  "VALUES (:u, :h, :r, :at)"),
                             {"u": username, "h": _hasher.hash(PASSWORD), "r": role, "at": int(time.time())})

    def at_identity_0003(self) -> None:
        """The estate and two roll versions, each with a checkpoint handed out."""
        from identity import store
        from identity.roll import Part, Roll
        from ledger import checkpoint, keys
        from ledger.db import transaction
        from tests.voting.cast_estate import OWNERS, SLUG

        for version, bump in ((1, 0), (2, 150)):
            roll = Roll(tuple(Part(b, "1", str(101 + i), area + (bump if i == 0 else 0), "registered", owner)
                              for i, (owner, (b, area)) in enumerate(OWNERS.items())))
            with transaction(self.engine) as s:
                store.import_roll(s, SLUG, roll, filename=f"roll-v{version}.csv", data=f"roll {version}".encode(),
                                  name="枫林苑")
                self.keep(checkpoint.sign(s, store.get_estate(s, SLUG).log_id, keys.log_key()))

    def at_identity_0004(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT s.username, s.role, a.estate, a.role, a.created_by FROM identity_staff s "
                                     "LEFT JOIN identity_staff_assignments a ON a.staff_id = s.id "
                                     "ORDER BY s.username")).all()
        assert [tuple(r) for r in rows] == [("alice", "staff", "maple-court", "supervisor", "migration"),
                                            ("root", "admin", None, None, None)]

    def at_voting_0002(self) -> None:
        """Authority, credentials, a round announced and open, two ballots cast with receipts."""
        from identity import authority, store
        from ledger.db import reading, transaction
        from tests.voting import cast_estate as ce
        from voting import cast, rounds
        from voting.crypto import trustee

        with transaction(self.engine) as s:
            origin = store.get_estate(s, ce.SLUG).origin
            voters = {o: store.voter_for_part(s, ce.SLUG, b, "1", str(101 + i))
                      for i, (o, (b, _)) in enumerate(ce.OWNERS.items())}
            pk = ce.AUTHORITY_KEY.verify_key.encode().hex()
            authority.record_authority(s, ce.SLUG, "街道办 / street office", "", pk)
            pairs = [(voters[o], ce.key(o).verify_key.encode().hex()) for o in ce.OWNERS]
            authority.record_statement(s, ce.SLUG, authority.sign_statement(
                authority.credentials_statement(origin, pk, 1, pairs), ce.AUTHORITY_KEY))
        context = f"{origin}/{ce.ROUND_ID}"
        spec = {"round": ce.ROUND_ID, "secrecy": "secret", "short_notice_reason": "测试 / test",
                "agenda": {"rules": "civil-code-2021", "items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]},
                "opens": ce._fmt(T0 + timedelta(hours=1)), "closes": ce._fmt(T0 + timedelta(days=10)),
                "trustees": {"threshold": None, "keys": [trustee.public_key_json(sec, j, context=context)
                                                         for j, sec in ce.TRUSTEE_SECRETS.items()]},
                "policies": {"duplicate": "first", "revote": False, "proxy_cap": None, "deemed_consent": False}}
        with transaction(self.engine) as s:
            rounds.create_draft(s, ce.SLUG, spec, by="tests", now=T0)
            rounds.announce(s, ce.SLUG, ce.ROUND_ID, by="tests", now=T0)
        with reading(self.engine) as s:
            view = rounds.load(s, ce.SLUG, ce.ROUND_ID)
        self.est = ce.CastEstate(self.engine, origin, voters, "secret", view.fingerprint, view.joint_key, view.items)
        for owner, choice in (("A-01", [1, 0, 0]), ("B-02", [0, 1, 0])):
            receipt = cast.cast(self.engine, ce.SLUG, ce.ROUND_ID, self.est.text(owner, choice),
                                voter=voters[owner], factor="pin")
            self.keep(receipt["checkpoint"])


def test_upgrade_from_the_first_revision_with_data_in_it(blank, tmp_path):
    engine = blank
    story = Story(engine, tmp_path)
    order = revisions()
    assert order[:len(HISTORY)] == list(HISTORY)
    snapshots = []
    for revision in order:
        if snapshots or story.kept:
            snapshots.append((revision, _snapshot(engine)))
        migrate(engine, revision)
        hook = getattr(story, f"at_{revision}", None)
        if hook:
            hook()
    migrate(engine)  # nothing left
    assert len(story.kept) == 4 and story.est is not None
    final = _snapshot(engine)
    for revision, before in snapshots:  # no upgrade step changed or lost anything written before it
        for key, rows in before.items():
            assert final[key][:len(rows)] == rows, (revision, key)
    assert len(final["parts"]) == 10 and final["parts"][0][5] != final["parts"][5][5]

    from fastapi.testclient import TestClient

    from ledger.receipt import verify_receipt
    from tests.voting import cast_estate as ce
    from tests.web.conftest import sign_in
    from tests.web.test_api_ballots import _vkey, owner_cookie, post
    from voting import count_round
    from web.app import create_app

    est = story.est
    with TestClient(create_app(engine), follow_redirects=False) as client:
        assert sign_in(client).status_code == 303  # the hash of an account made at identity_0002
        assert client.get("/estates/maple-court/staff/voters").status_code == 200  # the migrated role
        client.cookies.clear()
        r = post(client, owner_cookie(engine, est, "D-04"), est.text("D-04", [0, 0, 1]))
        assert r.status_code == 201, r.text
        verify_receipt(r.json(), _vkey(engine))
        story.keep(r.json()["checkpoint"])
        again = post(client, owner_cookie(engine, est, "A-01"), est.text("A-01"))
        assert again.status_code == 409 and again.json()["detail"]["code"] == "already_voted"  # cast before
    closes = T0 + timedelta(days=10, minutes=1)
    assert count_round.close_round(engine, ce.SLUG, ce.ROUND_ID, now=closes).type == "round.close"
    est.export(tmp_path / "bundle")
    cmd = [sys.executable, "-m", "web.cli", "verify", str(tmp_path / "bundle"), "--json", "--no-progress"]
    for path in story.kept:
        cmd += ["--checkpoint", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["types"]["ballot"] == 3 and report["types"]["roll"] == 2
