"""A scenario builder for the browser tests: an estate brought, through the real stores and CLI
functions, to any step of a round, with everything a test needs to carry on from there.

    sc = build(engine, tmp_path / "work", upto=ANNOUNCED)
    sc.codes["B"]          # B's credential code (what B's letter holds; nobody else has it)
    sc.sms_code("B")       # the one-time code the file SMS gateway delivered to B's phone
    sc.staff["supervisor"] # a username (password tests.web.conftest.PASSWORD) of each estate role

The steps, in order (``STEPS``); ``build(upto=X)`` stops once X is done:

- ``ROLL``: ``prepare()`` — staff accounts with every estate role and one admin (roles given
  before the estate exists, so a supervisor may create it on the roll page), the owners' codes,
  the authority's key files (``authority.key``, ``authority.key.pub``), the roll file — then the
  roll of ``FLATS`` imported (``identity.store.import_roll_file``, as the roll page and ``gongjue
  import-roll`` do) and ``adopt()`` (origin, log, voters).  A browser test that imports the roll
  on the page calls ``prepare()``, drives the page, then ``adopt()``.
- ``AUTHORITY``: the credential authority's key recorded (``identity.authority.record_authority``).
- ``CREDENTIALS``: the authority's signed ``credentials`` statement (written to
  ``sc.credentials_file``, what ``gongjue credentials generate`` hands the operator) recorded.
- ``DRAFT``: trustees' key files made (``sc.trustee_files[j]``, encrypted under ``PASSPHRASE``
  as ``gongjue trustee keygen`` writes them; public halves in ``sc.trustee_public_files``) and a
  secret round ``sc.rid`` drafted eight days ago with both trustees' keys: a motion ``m1`` and
  a choice ``c2`` over the whole estate, opening an hour ago, closing in a day.
- ``ANNOUNCED``: announced eight days ago (a short-notice reason), so it is open now.
- ``VOTED``: the ballots of ``votes`` cast (``voting.cast.cast`` with an SMS session, as the
  booth does; B's vote for A through a recorded proxy when ``"A"`` is in ``proxied``).
- ``CLOSED``: closed at the end of the window, as the scheduler does (``close_round(now=…)``).
- ``COUNTED``: the bundle exported, each trustee's shares computed by ``gongjue trustee decrypt``
  (files ``sc.share_files[j]``) and submitted; the result is published.

The owners' SMS codes: set ``GONGJUE_SMS_GATEWAY=file:<sc.sms_dir>`` (``sms_env``) before the
server sends any; ``sc.sms_code(owner)`` reads and removes the newest one for that owner.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing

from identity import authority as au
from identity import staff as staff_store
from identity import store
from identity.credential import generate_code, public_key_hex, signing_key
from identity.roll import read_roll
from ledger import bundle, checkpoint, keys
from ledger.db import reading, transaction
from tests.web.conftest import PASSWORD
from voting import cast as casting
from voting import count_round, proxy, rounds
from voting.crypto import ballot as ballots_
from voting.crypto import trustee
from web.cli.keyfiles import key_file, write_json

ROLL, AUTHORITY, CREDENTIALS, DRAFT, ANNOUNCED, VOTED, CLOSED, COUNTED = (
    "roll", "authority", "credentials", "draft", "announced", "voted", "closed", "counted")
STEPS = (ROLL, AUTHORITY, CREDENTIALS, DRAFT, ANNOUNCED, VOTED, CLOSED, COUNTED)

SLUG = "lotus-garden"
NAME = "荷塘小区"
AUTHORITY_NAME = "荷塘街道办事处"
AUTHORITY_CONTACT = "服务中心 3 号窗口"
PASSPHRASE = "trustee passphrase for tests"
ROUND = "r1"
# (building, unit, room, area in 0.01 m², owner); A holds two flats (one voter, both areas)
FLATS = [("1", "1", "101", 8850, "A"), ("1", "1", "102", 9000, "A"), ("1", "2", "201", 10005, "B"),
         ("1", "2", "202", 7230, "C"), ("2", "1", "101", 9510, "D"), ("2", "1", "102", 11000, "E"),
         ("2", "1", "201", 6666, "F"), ("2", "1", "202", 12045, "G")]
OWNERS = ("A", "B", "C", "D", "E", "F", "G")
PHONES = {o: f"1370000{i:04d}" for i, o in enumerate(OWNERS, 1)}
STAFF = {"supervisor": "alice", "scrutineer": "zhao", "scrutineer2": "qian", "auditor": "sun", "authority": "li",
         "admin": "root"}
MOTION = {"agree": [1, 0, 0], "oppose": [0, 1, 0], "abstain": [0, 0, 1]}
OPTIONS = ["greenleaf", "harbour", "none"]
OPTION = {o: [int(o == k) for k in OPTIONS] for o in OPTIONS}
# the ballots ``build(upto=VOTED)`` casts by default: owner → (m1, c2)
VOTES = {"A": ("agree", "greenleaf"), "B": ("oppose", "harbour"), "C": ("agree", "greenleaf"),
         "D": ("abstain", "none")}


def roll_csv(flats=FLATS) -> bytes:
    """The roll as a supervisor would upload it: Chinese headers, areas in m² with two decimals."""
    lines = ["楼栋,单元,房号,面积,业主编号,手机号"]
    lines += [f"{b},{u},{r},{a // 100}.{a % 100:02d},{o},{PHONES[o]}" for b, u, r, a, o in flats]
    return ("\n".join(lines) + "\n").encode()


def area_of(owner: str) -> int:
    return sum(a for *_, a, o in FLATS if o == owner)


def expected(votes: dict[str, tuple[str, str]]) -> dict[str, dict[str, list[int]]]:
    """Per item, the heads and areas (0.01 m²) per selection of ``votes``."""
    out = {"m1": {"heads": [0, 0, 0], "area": [0, 0, 0]}, "c2": {"heads": [0, 0, 0], "area": [0, 0, 0]}}
    for owner, (motion, option) in votes.items():
        for item, sel in (("m1", MOTION[motion]), ("c2", OPTION[option])):
            for k, mark in enumerate(sel):
                out[item]["heads"][k] += mark
                out[item]["area"][k] += mark * area_of(owner)
    return out


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scenario:
    engine: object
    work: Path
    slug: str
    seed: int
    origin: str = ""
    log_id: int = 0
    rid: str = ROUND
    done: list[str] = field(default_factory=list)
    voter: dict[str, str] = field(default_factory=dict)  # owner → pseudonym
    codes: dict[str, str] = field(default_factory=dict)  # owner → credential code
    authority_key: nacl.signing.SigningKey | None = None
    credentials_file: Path | None = None
    trustee_secrets: dict[int, int] = field(default_factory=dict)
    trustee_files: dict[int, Path] = field(default_factory=dict)
    trustee_public_files: dict[int, Path] = field(default_factory=dict)
    share_files: dict[int, Path] = field(default_factory=dict)
    receipts: dict[str, dict] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    t0: datetime | None = None
    closes: datetime | None = None
    staff: dict[str, str] = field(default_factory=lambda: dict(STAFF))

    # --- what the tests read ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def sms_dir(self) -> Path:
        return self.work / "sms"

    @property
    def sms_env(self) -> str:
        return f"file:{self.sms_dir}"

    @property
    def roll_file(self) -> Path:
        return self.work / "roll.csv"

    @property
    def authority_public(self) -> str:
        return self.authority_key.verify_key.encode().hex()

    def flat(self, owner: str) -> tuple[str, str, str]:
        """The first flat (building, unit, room) ``owner`` holds: what they type to sign in."""
        return next((b, u, r) for b, u, r, _, o in FLATS if o == owner)

    def key(self, owner: str) -> nacl.signing.SigningKey:
        return signing_key(self.codes[owner], self.origin)

    def sms_code(self, owner: str) -> str:
        """The newest one-time code the file gateway delivered to ``owner``'s phone (removed)."""
        found = []
        for path in self.sms_dir.glob("*.json"):
            try:
                msg = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if msg.get("to") == PHONES[owner]:
                found.append((path.stat().st_mtime_ns, path.name, path, msg))
        assert found, f"no SMS for {owner} in {self.sms_dir}"
        *_, path, msg = max(found)
        for *_, p, _ in found:
            p.unlink()
        return re.search(r"(\d{6})", msg["text"]).group(1)

    def view(self) -> rounds.RoundView:
        with reading(self.engine) as s:
            return rounds.load(s, self.slug, self.rid)

    def size(self) -> int:
        from ledger import log

        with reading(self.engine) as s:
            return log.size(s, self.log_id)

    # --- the steps ----------------------------------------------------------------------------

    def step(self, name: str) -> None:
        getattr(self, f"_step_{name}")()
        self.done.append(name)

    def prepare(self) -> None:
        """Before the roll: the work directory, the staff accounts and roles (assigned before the
        estate exists, so a supervisor can create it from the roll page), the owners' codes and the
        authority's key (files ``authority.key`` and ``authority.key.pub``, as ``authority keygen``)."""
        from web.cli.credentials import KEY_KIND, VKEY_KIND

        self.work.mkdir(parents=True, exist_ok=True)
        self.sms_dir.mkdir(exist_ok=True)
        self.roll_file.write_bytes(roll_csv())
        with transaction(self.engine) as s:
            for role, username in self.staff.items():
                if staff_store.find_staff(s, username) is None:
                    staff_store.create_staff(s, username, PASSWORD, "admin" if role == "admin" else "staff")
                if role != "admin":
                    staff_store.assign(s, username, self.slug, role.rstrip("2"), by="tests")
        rng = random.Random(self.seed)
        self.codes = {o: generate_code(rng.randbytes) for o in OWNERS}
        self.authority_key = nacl.signing.SigningKey(rng.randbytes(32))
        public = {"v": 1, "kind": VKEY_KIND, "name": AUTHORITY_NAME, "contact": AUTHORITY_CONTACT,
                  "public_key": self.authority_public}
        (self.work / "authority.key").write_text(json.dumps({**public, "kind": KEY_KIND,
                                                             "seed": bytes(self.authority_key).hex()}), "utf-8")
        self.authority_public_file.write_text(json.dumps(public, ensure_ascii=False), "utf-8")

    @property
    def authority_public_file(self) -> Path:
        return self.work / "authority.key.pub"

    def adopt(self) -> None:
        """After the roll is in (by this builder or by the roll page): the estate's origin, log and
        the owners' voter pseudonyms."""
        with reading(self.engine) as s:
            estate = store.get_estate(s, self.slug)
            self.origin, self.log_id = estate.origin, estate.log_id
            self.voter = {o: store.voter_for_part(s, self.slug, *self.flat(o)) for o in OWNERS}

    def _step_roll(self) -> None:
        self.prepare()
        data = self.roll_file.read_bytes()
        store.import_roll_file(self.engine, self.slug, read_roll(data, "roll.csv"), filename="roll.csv", data=data,
                               name=NAME)
        self.adopt()

    def _step_authority(self) -> None:
        with transaction(self.engine) as s:
            au.record_authority(s, self.slug, AUTHORITY_NAME, AUTHORITY_CONTACT, self.authority_public)

    def write_credentials_file(self) -> Path:
        """The signed ``credentials`` statement for every owner (as ``credentials generate`` writes it)."""
        with reading(self.engine) as s:
            version = store.overview(s, self.slug).version
        pairs = [(self.voter[o], public_key_hex(self.codes[o], self.origin)) for o in OWNERS]
        doc = au.sign_statement(au.credentials_statement(self.origin, self.authority_public, version, pairs),
                                self.authority_key)
        self.credentials_file = self.work / "credentials.json"
        self.credentials_file.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        return self.credentials_file

    def _step_credentials(self) -> None:
        doc = json.loads(self.write_credentials_file().read_text(encoding="utf-8"))
        with transaction(self.engine) as s:
            au.record_statement(s, self.slug, doc)

    def write_trustee_files(self) -> None:
        """Both trustees' key files (passphrase ``PASSPHRASE``) and public key files."""
        rng = random.Random(self.seed + 1)
        context = f"{self.origin}/{self.rid}"
        for j in (1, 2):
            secret = rng.randrange(1, 2**250)
            self.trustee_secrets[j] = secret
            self.trustee_files[j] = self.work / f"trustee-{j}.key"
            self.trustee_public_files[j] = self.work / f"trustee-{j}.pub.json"
            if not self.trustee_files[j].exists():
                write_json(str(self.trustee_files[j]), key_file(j, context, secret, None, PASSPHRASE.encode()),
                           private=True)
            self.trustee_public_files[j].write_text(json.dumps(trustee.public_key_json(secret, j, context=context)),
                                                    encoding="utf-8")

    def round_spec(self) -> dict:
        from web.cli import simulate as sim

        now = datetime.now(UTC).replace(microsecond=0)
        self.t0 = now - timedelta(days=8)
        self.closes = now + timedelta(days=1)
        agenda = sim.make_agenda(["motion", "choice"])
        trustees = {"threshold": None, "keys": [json.loads(self.trustee_public_files[j].read_text("utf-8"))
                                                for j in (1, 2)]}
        return {"round": self.rid, "secrecy": "secret", "agenda": agenda, "opens": _fmt(now - timedelta(hours=1)),
                "closes": _fmt(self.closes), "short_notice_reason": "端到端测试",
                "trustees": trustees,
                "policies": {"duplicate": "first", "revote": False, "proxy_cap": 1, "deemed_consent": False}}

    def _step_draft(self) -> None:
        self.write_trustee_files()
        self.spec = self.round_spec()
        with transaction(self.engine) as s:
            rounds.create_draft(s, self.slug, self.spec, by=self.staff["supervisor"], now=self.t0)

    def _step_announced(self) -> None:
        with transaction(self.engine) as s:
            rounds.announce(s, self.slug, self.rid, by=self.staff["supervisor"], now=self.t0)

    def ballot(self, owner: str, motion: str, option: str, *, signer: str | None = None) -> dict:
        view = self.view()
        signed, _ = ballots_.encrypt_ballot(fingerprint=view.fingerprint, joint_key=view.joint_key, items=view.items,
                                            choices={"m1": MOTION[motion], "c2": OPTION[option]},
                                            signing_key=self.key(signer or owner))
        return signed

    def grant_proxy(self, voter: str, to: str) -> None:
        """``voter`` authorises ``to`` (signed with ``voter``'s credential, as the proxies page does)."""
        view = self.view()
        auth = proxy.signed_authorisation(proxy.GRANT, view.fingerprint.hex(), self.voter[voter], self.voter[to],
                                          self.key(voter))
        casting.record_proxy(self.engine, self.slug, self.rid, proxy.GRANT, voter=self.voter[voter],
                             proxy=self.voter[to], authorisation=auth, by_voter=self.voter[voter])

    def cast(self, owner: str, motion: str, option: str, *, by: str | None = None) -> dict:
        """``owner``'s ballot cast (by the proxy ``by`` when given); the receipt."""
        caster = by or owner
        signed = self.ballot(owner, motion, option, signer=caster)
        extra = {}
        if by:
            tracking = ballots_.tracking_code(signed)[0]
            extra = {"for_voter": self.voter[owner], "for_sig": proxy.sign_ballot_binding(
                self.view().fingerprint.hex(), self.voter[owner], tracking, self.key(by))}
        receipt = casting.cast(self.engine, self.slug, self.rid, casting.dumps(signed), voter=self.voter[caster],
                               factor="sms", **extra)
        self.receipts[owner] = receipt
        return receipt

    votes: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(VOTES))
    proxied: dict[str, str] = field(default_factory=dict)  # voter → proxy who casts for them

    def _step_voted(self) -> None:
        for voter, by in self.proxied.items():
            self.grant_proxy(voter, by)
        for owner, (motion, option) in self.votes.items():
            self.cast(owner, motion, option, by=self.proxied.get(owner))

    def close_time(self) -> datetime:
        """Just after the (possibly extended) end of the window: when the scheduler closes."""
        return self.view().closes + timedelta(seconds=1)

    def _step_closed(self) -> None:
        assert count_round.close_round(self.engine, self.slug, self.rid, now=self.close_time()) is not None

    def export(self, out: Path) -> Path:
        with transaction(self.engine) as s:
            checkpoint.sign(s, self.log_id, keys.log_key())
            bundle.write_dir(s, self.log_id, out)
        return out

    def write_share_files(self) -> dict[int, Path]:
        """Each trustee's shares, by ``gongjue trustee decrypt`` on a fresh bundle (the files a
        trustee uploads)."""
        from web.cli import main

        target = self.export(self.work / "bundle-for-trustees")
        saved = os.environ.get("GONGJUE_TRUSTEE_PASSPHRASE")
        os.environ["GONGJUE_TRUSTEE_PASSPHRASE"] = PASSPHRASE
        try:
            for j, key in self.trustee_files.items():
                out = self.work / f"shares-{j}.json"
                if not out.exists():
                    assert main(["trustee", "decrypt", "--bundle", str(target), "--round", self.rid, "--key", str(key),
                                 "--out", str(out)]) == 0
                self.share_files[j] = out
        finally:
            if saved is None:
                os.environ.pop("GONGJUE_TRUSTEE_PASSPHRASE", None)
            else:
                os.environ["GONGJUE_TRUSTEE_PASSPHRASE"] = saved
        return self.share_files

    def _step_counted(self) -> None:
        for j, path in sorted(self.write_share_files().items()):
            with transaction(self.engine) as s:
                count_round.submit_shares(s, self.slug, self.rid, json.loads(path.read_text("utf-8")),
                                          now=self.close_time() + timedelta(seconds=j))

    def published(self) -> dict:
        with reading(self.engine) as s:
            return count_round.published(s, self.slug, self.rid)


def build(engine, work: Path, *, upto: str = COUNTED, slug: str = SLUG, seed: int = 10,
          votes: dict[str, tuple[str, str]] | None = None, proxied: dict[str, str] | None = None) -> Scenario:
    """An estate brought through the steps up to and including ``upto`` (see the module docstring)."""
    sc = Scenario(engine, work, slug, seed)
    if votes is not None:
        sc.votes = dict(votes)
    if proxied is not None:
        sc.proxied = dict(proxied)
    for name in STEPS[:STEPS.index(upto) + 1]:
        sc.step(name)
    return sc


def resume(sc: Scenario, upto: str) -> Scenario:
    """Carry ``sc`` on through the steps after the last one done, up to ``upto``."""
    start = STEPS.index(sc.done[-1]) + 1 if sc.done else 0
    for name in STEPS[start:STEPS.index(upto) + 1]:
        sc.step(name)
    return sc
