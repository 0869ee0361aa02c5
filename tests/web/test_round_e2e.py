"""Voting rounds end to end over HTTP (issue #9, "Done means"), on both databases.

A full SECRET round (revotes on) and a full OPEN round (revotes off), each: the round drafted and
announced by a supervisor over the JSON API, owners signed in with the SMS code of the file
gateway (``web.cli.simulate.owner_sign_in``), a proxy granted and a ballot cast by the proxy, one
paper ballot entered by two agreeing scrutineers, a revote (counted when the policy is on,
``already_voted`` when off), a revoked credential refused, an extension with a reason, every
casting refusal with nothing written (the ledger's size unchanged), the staff's turnout and
non-voters, the close (``round_not_open`` after it), the trustees' shares over HTTP (secret), the
published per-selection counts equal to the plaintext sum cast (heads and areas in scope), the
published tally equal to ``gongjue tally`` of those plaintexts, and ``gongjue verify`` passing on
the exported bundle.  Then a small secret round cast through a real Uvicorn server.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from identity import authority, store
from identity.roll import read_roll
from ledger import bundle, checkpoint, keys, log
from ledger.db import reading, transaction
from ledger.receipt import verify_receipt
from tests.web.conftest import add_staff, sign_in
from tests.web.test_api_ballots_uvicorn import server  # noqa: F401  (fixture)
from voting import cast as casting
from voting import count_round, rounds, trustee_check
from voting import proxy as proxies
from voting.crypto import ballot as ballots_
from voting.crypto import trustee
from web.cli import main
from web.cli import simulate as sim

JSON = {"content-type": "application/json"}
SEED = 9
# (building, unit, room, area 0.01 m², owner); buildings 1 and 2 are the round's scope, 3 is not:
# O7 holds a flat in each of 2 and 3 (its area in scope is the first only), O8 only one in 3.
FLATS = [("1", "1", "101", 9012, "O1"), ("1", "1", "102", 7235, "O2"), ("1", "2", "101", 12670, "O3"),
         ("1", "2", "102", 6048, "O4"), ("2", "1", "101", 10815, "O5"), ("2", "1", "102", 14333, "O6"),
         ("2", "1", "201", 8947, "O7"), ("3", "1", "101", 9781, "O7"), ("3", "1", "102", 6051, "O8")]
OWNERS = ["O1", "O2", "O3", "O4", "O5", "O6", "O7", "O8"]
MOTION = {"agree": [1, 0, 0], "oppose": [0, 1, 0], "abstain": [0, 0, 1]}
OPTION = {"greenleaf": [1, 0, 0], "harbour": [0, 1, 0], "none": [0, 0, 1]}


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Election:
    """An estate with credentials, staff and one round announced over HTTP; owners' clients."""

    def __init__(self, engine, app, slug: str, sms_dir: Path, *, secrecy: str, revote: bool,
                 client_factory=None):
        self.engine, self.app, self.slug, self.sms_dir, self.secrecy = engine, app, slug, sms_dir, secrecy
        self.rid = "r1"
        self.base = f"/api/v1/estates/{slug}/rounds/{self.rid}"
        self.new_client = client_factory or (lambda address: TestClient(app, follow_redirects=False,
                                                                          client=(address, 50000)))
        flats = [sim.Flat(b, u, r, a, o) for b, u, r, a, o in FLATS]
        self.estate = sim.Estate(flats, {o: f"1390000{i:04d}" for i, o in enumerate(OWNERS, 1)}, [], owners=OWNERS)
        data = sim.roll_csv(self.estate, phones=True)
        store.import_roll_file(engine, slug, read_roll(data, "roll.csv"), filename="roll.csv", data=data,
                               name="端到端小区 / end-to-end estate")
        self.flat = {}
        for f in flats:
            self.flat.setdefault(f.owner, f)
        self.authority_key = sim._key(SEED, "authority")
        pk = self.authority_key.verify_key.encode().hex()
        with transaction(engine) as s:
            self.origin = store.get_estate(s, slug).origin
            self.log_id = store.get_estate(s, slug).log_id
            self.voter = {o: store.voter_for_part(s, slug, f.building, f.unit, f.room) for o, f in self.flat.items()}
            authority.record_authority(s, slug, "街道办 / street office", "", pk)
            pairs = [(self.voter[o], self.key(o).verify_key.encode().hex()) for o in OWNERS]
            authority.record_statement(s, slug, authority.sign_statement(
                authority.credentials_statement(self.origin, pk, 1, pairs), self.authority_key))
        self.area = {o: sum(f.area for f in flats if f.owner == o and f.building in ("1", "2")) for o in OWNERS}
        for name, role in (("alice", "supervisor"), ("zhao", "scrutineer"), ("qian", "scrutineer")):
            add_staff(engine, name, role, estates=(slug,))
        self.staff = {}
        for i, name in enumerate(("alice", "zhao", "qian")):
            c = self.new_client(f"192.168.9.{i + 1}")
            assert sign_in(c, name).status_code == 303
            self.staff[name] = c
        self.secrets = {1: 0x1234567 * 7919 + 11, 2: 0x7654321 * 104729 + 13} if secrecy == "secret" else {}
        self.announce(revote)
        self.owners = {}

    @staticmethod
    def key(owner: str):
        return sim._key(SEED, f"credential {owner}")

    def announce(self, revote: bool) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = now - timedelta(days=8)
        self.closes = now + timedelta(days=1)
        context = f"{self.origin}/{self.rid}"
        agenda = sim.make_agenda(["motion", "choice"])
        agenda["scope"] = {"buildings": ["1", "2"]}
        self.agenda = agenda
        spec = {"round": self.rid, "secrecy": self.secrecy, "agenda": agenda, "opens": _fmt(now - timedelta(hours=1)),
                "closes": _fmt(self.closes), "short_notice_reason": "端到端测试 / end-to-end test",
                "policies": {"duplicate": "first", "revote": revote, "proxy_cap": 1, "deemed_consent": False}}
        alice = self.staff["alice"]
        self.app.state.clock = lambda: t0  # drafted and announced eight days ago
        try:
            r = alice.post(f"/api/v1/estates/{self.slug}/rounds", json=spec)
            assert r.status_code == 201, r.text
            for j, secret in self.secrets.items():
                r = self.staff["zhao"].post(f"{self.base}/trustees",
                                            json=trustee.public_key_json(secret, j, context=context))
                assert r.status_code == 201, r.text
            r = alice.post(f"{self.base}/announce", json={})
            assert r.status_code == 201, r.text
        finally:
            self.app.state.clock = None
        assert alice.get(self.base).json()["state"] == "open"
        with reading(self.engine) as s:
            self.view = rounds.load(s, self.slug, self.rid)

    # --- owners -------------------------------------------------------------------------------

    def owner(self, name: str):
        if name not in self.owners:
            c = self.new_client(f"10.0.{OWNERS.index(name)}.{len(self.slug)}")
            sim.owner_sign_in(c, self.slug, self.flat[name], self.estate.phones[name], self.sms_dir)
            self.owners[name] = c
        return self.owners[name]

    def ballot(self, owner: str, motion: str, option: str, *, fingerprint: bytes | None = None) -> dict:
        sel = {"m1": MOTION[motion], "c2": OPTION[option]}
        fp = fingerprint or self.view.fingerprint
        if self.secrecy == "secret":
            signed, _ = ballots_.encrypt_ballot(fingerprint=fp, joint_key=self.view.joint_key, items=self.view.items,
                                                choices=sel, signing_key=self.key(owner))
        else:
            signed = ballots_.make_open_ballot(fingerprint=fp, items=self.view.items, choices=sel,
                                               signing_key=self.key(owner))
        return signed

    def cast(self, client, signed: dict, params: dict | None = None) -> httpx.Response:
        return client.post(f"{self.base}/ballots", content=casting.dumps(signed).encode(), headers=JSON, params=params)

    def close(self) -> None:
        for c in (*self.staff.values(), *self.owners.values()):
            c.close()

    def size(self) -> int:
        with reading(self.engine) as s:
            return log.size(s, self.log_id)

    def vkey(self):
        with reading(self.engine) as s:
            return checkpoint.latest(s, self.log_id).vkey

    def export(self, out: Path) -> Path:
        with transaction(self.engine) as s:
            checkpoint.sign(s, self.log_id, keys.log_key())
            bundle.write_dir(s, self.log_id, out)
        return out

    def close_and_count(self, work: Path) -> dict:
        r = self.staff["alice"].post(f"{self.base}/close", json={})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "window_open", r.text
        # the scheduler's close, at the end of the (extended) window
        closes = datetime.fromisoformat(self.staff["alice"].get(self.base).json()["closes"])
        assert count_round.close_round(self.engine, self.slug, self.rid, now=closes + timedelta(seconds=1)) is not None
        if self.secrets:
            target = trustee_check.decryptable(self.export(work / "for-trustees"), self.rid, jobs=2)
            for j, secret in self.secrets.items():
                r = self.staff["qian"].post(f"{self.base}/shares", content=json.dumps(
                    trustee_check.shares_for(target, j, secret)).encode(), headers=JSON)
                assert r.status_code == 201, r.text
                assert (r.json()["result_seq"] is not None) == (j == 2)
        published = self.staff["alice"].get(f"{self.base}/result")
        assert published.status_code == 200, published.text
        return published.json()


def _expected(el: Election, votes: dict[str, tuple[str, str]]) -> dict[str, dict[str, list[int]]]:
    """Per item, heads and area per selection of the plaintexts that count."""
    out = {"m1": {"heads": [0, 0, 0], "area": [0, 0, 0]}, "c2": {"heads": [0, 0, 0], "area": [0, 0, 0]}}
    for owner, (motion, option) in votes.items():
        for item, sel in (("m1", MOTION[motion]), ("c2", OPTION[option])):
            for k, mark in enumerate(sel):
                out[item]["heads"][k] += mark
                out[item]["area"][k] += mark * el.area[owner]
    return out


def _recount(el: Election, votes: dict[str, tuple[str, str]], truth: Path, capsys) -> dict:
    """``gongjue tally --json`` of the roll, the agenda and the plaintexts cast (docs/formats.md)."""
    from identity.csvfile import write_csv

    truth.mkdir()
    capsys.readouterr()
    (truth / "roll.csv").write_bytes(sim.roll_csv(el.estate, phones=False))
    (truth / "agenda.json").write_text(json.dumps(el.agenda, ensure_ascii=False), encoding="utf-8")
    (truth / "ballots.csv").write_bytes(write_csv(["owner", "m1", "c2"], [[o, *c] for o, c in votes.items()]))
    assert main(["tally", "--roll", str(truth / "roll.csv"), "--agenda", str(truth / "agenda.json"),
                 "--ballots", str(truth / "ballots.csv"), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _counts(published: dict) -> dict:
    """{item: {heads: [...], area: [...]}} of the published per-selection counts."""
    out = {}
    for row in published["result"]["counts"]:
        out[row["id"]] = {"heads": list(row["heads"]), "area": list(row["area"])}
    return out


def _refusals(el: Election, *, revote: bool) -> None:
    """Every casting refusal, each with nothing written."""
    before = el.size()
    o6 = el.owner("O6")
    signed = el.ballot("O6", "agree", "greenleaf")
    forged = json.loads(json.dumps(signed))
    forged["sig"] = ("00" if forged["sig"][:2] != "00" else "11") + forged["sig"][2:]
    cases = [
        ("no_session", el.new_client("10.9.9.9"), signed, 401),
        ("not_eligible", el.owner("O8"), el.ballot("O8", "agree", "none"), 403),
        ("revoked_credential", el.owner("O4"), el.ballot("O4", "agree", "none"), 403),
        ("wrong_round", o6, el.ballot("O6", "agree", "none", fingerprint=bytes(32)), 422),
        ("bad_signature", o6, forged, 422),
        ("already_voted", el.owner("O5"), el.ballot("O5", "oppose", "none"), 409),  # voted on paper
    ]
    if el.secrecy == "secret":
        body = json.loads(json.dumps(signed["ballot"]))
        c = body["items"][0]["selections"][0]["proof"]["c"]
        c[0], c[1] = c[1], c[0]
        bad_proof = {"ballot": body, "sig": el.key("O6").sign(ballots_.signing_bytes(body)).signature.hex()}
        cases.append(("bad_proof", o6, bad_proof, 422))
    if not revote:
        cases.append(("already_voted", el.owner("O3"), el.ballot("O3", "abstain", "none"), 409))
    for code, client, ballot, status in cases:
        r = el.cast(client, ballot)
        assert (r.status_code, r.json()["detail"]["code"]) == (status, code), (code, r.text)
        assert el.size() == before, code


def _run_round(engine, app, tmp_path, monkeypatch, capsys, *, secrecy: str, revote: bool) -> None:
    sms = tmp_path / "sms"
    sms.mkdir()
    monkeypatch.setenv("GONGJUE_SMS_GATEWAY", f"file:{sms}")
    el = Election(engine, app, f"e2e-{secrecy}", sms, secrecy=secrecy, revote=revote)
    votes: dict[str, tuple[str, str]] = {}
    vkey = el.vkey
    # a proxy: O1 grants O2 (signed with O1's credential), O2 casts for O1 and for itself
    auth = proxies.signed_authorisation(proxies.GRANT, el.view.fingerprint.hex(), el.voter["O1"], el.voter["O2"],
                                        el.key("O1"))
    grant = {"type": "proxy.grant", "voter": el.voter["O1"], "proxy": el.voter["O2"], "authorisation": auth}
    r = el.owner("O1").post(f"{el.base}/proxies", json=grant)
    assert r.status_code == 201, r.text
    verify_receipt(r.json(), vkey())
    for_o1 = el.ballot("O2", "agree", "greenleaf")
    binding = proxies.sign_ballot_binding(el.view.fingerprint.hex(), el.voter["O1"],
                                          ballots_.tracking_code(for_o1)[0], el.key("O2"))
    r = el.cast(el.owner("O2"), for_o1, params={"for": el.voter["O1"], "for_sig": binding})
    assert r.status_code == 201, r.text
    assert r.json()["voter"] == el.voter["O1"] and r.json()["proxy"] == el.voter["O2"]
    assert verify_receipt(r.json(), vkey()).type == "ballot"
    votes["O1"] = ("agree", "greenleaf")
    for owner, choice in (("O2", ("oppose", "harbour")), ("O3", ("agree", "greenleaf")), ("O6", ("agree", "none")),
                          ("O7", ("oppose", "harbour"))):
        r = el.cast(el.owner(owner), el.ballot(owner, *choice))
        assert r.status_code == 201, (owner, r.text)
        assert verify_receipt(r.json(), vkey()).seq == r.json()["seq"]
        votes[owner] = choice
    # a revote: the last ballot counts when the policy is on (refused with it off: _refusals)
    if revote:
        r = el.cast(el.owner("O3"), el.ballot("O3", "abstain", "none"))
        assert r.status_code == 201, r.text
        votes["O3"] = ("abstain", "none")
    # a paper ballot of O5, entered by two scrutineers who agree (the second names the flat)
    paper = {"voter": el.voter["O5"], "marks": {"m1": "同意", "c2": "harbour"}, "scan_sha256": "5c" * 32}
    first = el.staff["zhao"].post(f"{el.base}/paper", json=paper)
    assert first.status_code == 202 and first.json()["status"] == "pending", first.text
    second = el.staff["qian"].post(f"{el.base}/paper", json={
        "flat": {"building": "2", "unit": "1", "room": "101"}, "marks": {"m1": "agree", "c2": "harbour"},
        "scan_sha256": "5c" * 32})
    assert second.status_code == 201 and second.json()["status"] == "recorded", second.text
    votes["O5"] = ("agree", "harbour")
    # O4's credential is revoked by the authority during the round
    pk = el.authority_key.verify_key.encode().hex()
    with transaction(engine) as s:
        authority.record_statement(s, el.slug, authority.sign_statement(authority.revoke_statement(
            el.origin, pk, el.voter["O4"], el.key("O4").verify_key.encode().hex(), "lost"),
            el.authority_key))
    _refusals(el, revote=revote)
    # turnout (staff): heads and area of the voters who took part
    turnout = el.staff["alice"].get(f"{el.base}/turnout")
    assert turnout.status_code == 200, turnout.text
    t = turnout.json()
    area = sum(el.area[o] for o in votes)
    assert (t["electronic"], t["paper"]) == (len(votes) - 1, 1)
    assert (t["figures"]["heads"]["total"], t["figures"]["heads"]["participating"]) == (7, len(votes))
    assert t["figures"]["area"]["participating"] == f"{area // 100}.{area % 100:02d}"
    missing = el.staff["alice"].get(f"{el.base}/non-voters").json()["flats"]
    assert sorted(f["voter"] for f in missing) == sorted(el.voter[o] for o in OWNERS if o not in votes and o != "O8")
    # an extension with a reason, before the close
    new_close = el.closes + timedelta(days=2)
    r = el.staff["alice"].post(f"{el.base}/extend", json={"closes": _fmt(new_close), "reason": "停电 / power cut"})
    assert r.status_code == 201, r.text
    view = el.staff["alice"].get(el.base).json()
    assert view["closes"] == _fmt(new_close) and view["extensions"][-1]["reason"] == "停电 / power cut"
    published = el.close_and_count(tmp_path)
    # after the close: round_not_open, nothing written
    before = el.size()
    r = el.cast(el.owner("O7"), el.ballot("O7", "agree", "greenleaf"))
    assert (r.status_code, r.json()["detail"]["code"]) == (409, "round_not_open"), r.text
    assert el.size() == before
    # the published tally is the plaintext sum cast, heads and areas
    assert published["close"]["ballots"] == len(votes)
    assert _counts(published) == _expected(el, votes)
    assert published["result"]["tally"] == _recount(el, votes, tmp_path / "truth", capsys)
    # and the whole record verifies from the bundle alone
    out = el.export(tmp_path / "bundle")
    capsys.readouterr()
    assert main(["verify", str(out), "--json", "--jobs", "2"]) == 0
    el.close()


def test_secret_round_end_to_end(engine, app, tmp_path, monkeypatch, capsys):
    _run_round(engine, app, tmp_path, monkeypatch, capsys, secrecy="secret", revote=True)
    report = json.loads(capsys.readouterr().out)
    counts = {row["check"]: row["count"] for row in report["checks"]}
    assert report["ok"] and counts["decryption shares"] == 2 * counts["aggregates"] > 0


def test_open_round_end_to_end(engine, app, tmp_path, monkeypatch, capsys):
    _run_round(engine, app, tmp_path, monkeypatch, capsys, secrecy="open", revote=False)
    report = json.loads(capsys.readouterr().out)
    assert report["ok"]


def test_small_secret_round_through_a_real_uvicorn_server(engine, app, server, tmp_path, monkeypatch,  # noqa: F811
                                                          capsys):
    sms = tmp_path / "sms"
    sms.mkdir()
    monkeypatch.setenv("GONGJUE_SMS_GATEWAY", f"file:{sms}")
    el = Election(engine, app, "e2e-uvicorn", sms, secrecy="secret", revote=False,
                  client_factory=lambda address: httpx.Client(base_url=server, timeout=120))
    votes = {"O1": ("agree", "harbour"), "O2": ("oppose", "greenleaf"), "O3": ("agree", "none"),
             "O6": ("abstain", "harbour"), "O7": ("agree", "greenleaf")}
    for owner, choice in votes.items():
        r = el.cast(el.owner(owner), el.ballot(owner, *choice))
        assert r.status_code == 201, (owner, r.text)
        assert verify_receipt(r.json(), el.vkey()).type == "ballot"
    published = el.close_and_count(tmp_path)
    assert published["close"]["ballots"] == len(votes)
    assert _counts(published) == _expected(el, votes)
    assert published["result"]["tally"] == _recount(el, votes, tmp_path / "truth", capsys)
    assert main(["verify", str(el.export(tmp_path / "bundle")), "--json", "--jobs", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    el.close()
