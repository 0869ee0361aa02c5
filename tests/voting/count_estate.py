"""A real announced round (voting.rounds) with real casts (voting.cast), for the count tests.

Owners A-01 … D-04 (building 1) and E-05 (building 2); credentials from ``cast_estate``.
``make(engine, …)`` announces round ``r1`` with a short-notice reason: n-of-n trustees 1 and 2
(``TRUSTEE_SECRETS``) or k-of-n 2-of-3 (``DEALERS``), an open round, deemed consent on or off,
at any base time ``t0`` (the window opens at t0 + 1 h — t0 + 8 days with an election, whose
candidates the organiser nominates and vets first — and closes at t0 + 10 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import nacl.signing

from identity import authority, store
from identity.roll import Part, Roll
from ledger import bundle, checkpoint, keys
from ledger.db import reading, transaction
from tests.voting.cast_estate import AUTHORITY_KEY, OWNERS, SLUG, T0, key
from voting import candidates, cast, rounds, trustee_check
from voting.crypto import ballot, dkg, trustee

ROUND_ID = "r1"
TRUSTEE_SECRETS = {1: 0x1234567890ABCDEF, 2: 0xFEDCBA0987654321}
DEALERS = {1: (11, 12), 2: (21, 22), 3: (31, 32)}  # k-of-n: 3 trustees, threshold 2


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Round:
    engine: object
    origin: str
    voters: dict[str, str]
    secrecy: str
    fingerprint: bytes
    joint_key: bytes | None
    items: list
    secrets: dict[int, int]
    t0: datetime
    opens: datetime

    @property
    def during(self) -> datetime:
        return self.opens + timedelta(hours=1)

    @property
    def closes(self) -> datetime:
        return self.t0 + timedelta(days=10)

    @property
    def after(self) -> datetime:
        return self.closes + timedelta(hours=1)

    def text(self, owner: str, choice: list[int] | dict[str, list[int]]) -> str:
        """The owner's signed ballot: ``choice`` for item m1, or a selection list per item id."""
        sk = key(owner)
        choices = choice if isinstance(choice, dict) else {"m1": choice}
        if self.secrecy == "secret":
            signed, _ = ballot.encrypt_ballot(fingerprint=self.fingerprint, joint_key=self.joint_key,
                                              items=self.items, choices=choices, signing_key=sk)
        else:
            signed = ballot.make_open_ballot(fingerprint=self.fingerprint, items=self.items, choices=choices,
                                             signing_key=sk)
        return cast.dumps(signed)

    def cast(self, owner: str, choice, now: datetime | None = None) -> dict:
        return cast.cast(self.engine, SLUG, ROUND_ID, self.text(owner, choice), voter=self.voters[owner],
                         factor="sms", now=now or self.during)

    def export(self, out) -> None:
        with transaction(self.engine) as s:
            lid = store.get_estate(s, SLUG).log_id
            checkpoint.sign(s, lid, keys.log_key())
            bundle.write_dir(s, lid, out)

    def shares(self, out, trustees=None) -> dict[int, dict]:
        """Each trustee's shares as ``gongjue trustee decrypt`` makes them: from the verified bundle."""
        self.export(out)
        target = trustee_check.decryptable(out, ROUND_ID)
        return {j: trustee_check.shares_for(target, j, self.secrets[j]) for j in (trustees or self.secrets)}


def make(engine, *, secrecy: str = "secret", k_of_n: bool = False, deemed: bool = False, t0: datetime = T0,
         objection_days: int = 7, items: list[dict] | None = None) -> Round:
    roll = Roll(tuple(Part(b, "1", str(101 + i), area, "registered", owner)
                      for i, (owner, (b, area)) in enumerate(OWNERS.items())))
    with transaction(engine) as s:
        store.import_roll(s, SLUG, roll, filename="roll.csv", data=b"roll", name="枫林苑")
        origin = store.get_estate(s, SLUG).origin
        voters = {owner: store.voter_for_part(s, SLUG, b, "1", str(101 + i))
                  for i, (owner, (b, _)) in enumerate(OWNERS.items())}
        pk = AUTHORITY_KEY.verify_key.encode().hex()
        authority.record_authority(s, SLUG, "街道办 / street office", "", pk)
        pairs = [(voters[o], key(o).verify_key.encode().hex()) for o in OWNERS]
        authority.record_statement(s, SLUG, authority.sign_statement(
            authority.credentials_statement(origin, pk, 1, pairs), AUTHORITY_KEY))
    context = f"{origin}/{ROUND_ID}"
    secrets: dict[int, int] = {}
    trustees = None
    if secrecy == "secret" and k_of_n:
        polys = {i: dkg.Polynomial(c) for i, c in DEALERS.items()}
        trustees = {"threshold": 2, "dealers": [
            dkg.commitments_json(p, i, context=context, transport=bytes([i]) * 32,
                                 signing_key=nacl.signing.SigningKey(bytes([i]) * 32).verify_key)
            for i, p in polys.items()]}
        secrets = {j: sum(p.at(j) for p in polys.values()) for j in polys}
    elif secrecy == "secret":
        trustees = {"threshold": None, "keys": [trustee.public_key_json(sec, j, context=context)
                                                for j, sec in TRUSTEE_SECRETS.items()]}
        secrets = dict(TRUSTEE_SECRETS)
    elections = [i for i in items or () if i["kind"] == "election"]
    opens = t0 + (timedelta(days=8) if elections else timedelta(hours=1))  # candidates: published 7 days before
    spec = {"round": ROUND_ID, "secrecy": secrecy,
            "agenda": {"rules": "civil-code-2021",
                       "items": items or [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]},
            "opens": _fmt(opens), "closes": _fmt(t0 + timedelta(days=10)),
            "short_notice_reason": "测试 / test", "trustees": trustees,
            "policies": {"duplicate": "first", "revote": False, "proxy_cap": None, "deemed_consent": deemed,
                         "objection_days": objection_days}}
    with transaction(engine) as s:
        rounds.create_draft(s, SLUG, spec, by="tests", now=t0)
        for item in elections:
            for c in item["candidates"]:
                candidates.nominate(s, SLUG, ROUND_ID, item=item["id"], candidate=c, nominated_by="organiser",
                                    statement="", by="tests", now=t0)
                candidates.vet(s, SLUG, ROUND_ID, item=item["id"], candidate=c, status="approved", by="tests", now=t0)
        rounds.announce(s, SLUG, ROUND_ID, by="tests", now=t0)
    with reading(engine) as s:
        view = rounds.load(s, SLUG, ROUND_ID)
    return Round(engine, origin, voters, secrecy, view.fingerprint, view.joint_key, view.items, secrets, t0, opens)
