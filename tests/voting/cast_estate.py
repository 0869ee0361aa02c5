"""An estate with registered credentials and one announced round, for the casting and proxy tests.

Owners A-01 … D-04 hold flats in building 1, E-05 in building 2 (out of scope when the agenda is
scoped to building 1).  Credential keys are derived from the owner id (the test plays each
owner's browser); the round is announced through ``voting.rounds`` with a short notice reason,
opening at ``OPENS`` and closing at ``CLOSES``; ``DURING`` lies inside the window.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nacl.signing

from identity import authority, store
from identity.roll import Part, Roll
from ledger import bundle
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from ledger.models import Entry
from voting import rounds
from voting.crypto import ballot, trustee

SLUG = "maple-court"
ROUND_ID = "r1"
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
OPENS = T0 + timedelta(hours=1)
DURING = T0 + timedelta(hours=2)
CLOSES = T0 + timedelta(days=10)
AFTER = CLOSES + timedelta(hours=1)
OWNERS = {"A-01": ("1", 8850), "B-02": ("1", 12000), "C-03": ("1", 6543), "D-04": ("1", 10000), "E-05": ("2", 5000)}
AUTHORITY_KEY = nacl.signing.SigningKey(hashlib.sha256(b"cast authority").digest())
TRUSTEE_SECRETS = {1: 0x1234567890ABCDEF, 2: 0xFEDCBA0987654321}


def key(owner: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"cast credential " + owner.encode()).digest())


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CastEstate:
    engine: object
    origin: str
    voters: dict[str, str]  # owner id → pseudonym
    secrecy: str
    fingerprint: bytes
    joint_key: bytes | None
    items: list
    choices: dict[str, list[int]] = field(default_factory=dict)

    def ballot(self, owner: str, choice: list[int] | None = None, *, signer: str | None = None,
               fingerprint: bytes | None = None, signing_key=None, names: str | None = None) -> dict:
        """A signed ballot made by ``signer``'s browser (default: the owner's); an open ballot names
        the owner ``names`` when given (SPEC §3.6 ``for``: what the booth signs when a proxy casts)."""
        sk = signing_key or key(signer or owner)
        fp = fingerprint or self.fingerprint
        choice = choice or [1, 0, 0]
        if self.secrecy == "secret":
            signed, _ = ballot.encrypt_ballot(fingerprint=fp, joint_key=self.joint_key, items=self.items,
                                              choices={"m1": choice}, signing_key=sk)
        else:
            signed = ballot.make_open_ballot(fingerprint=fp, items=self.items, choices={"m1": choice}, signing_key=sk,
                                             for_voter=self.voters[names] if names else None)
        return signed

    def text(self, owner: str, choice: list[int] | None = None, **kw) -> str:
        return json.dumps(self.ballot(owner, choice, **kw), separators=(",", ":"))

    def entries(self) -> list:
        with reading(self.engine) as s:
            lid = store.get_estate(s, SLUG).log_id
            return [parse_entry(bytes(d)) for d in s.scalars(
                Entry.__table__.select().with_only_columns(Entry.data).where(Entry.log_id == lid)
                .order_by(Entry.seq))]

    def size(self) -> int:
        return len(self.entries())

    def export(self, out) -> None:
        from ledger import checkpoint, keys

        with transaction(self.engine) as s:
            lid = store.get_estate(s, SLUG).log_id
            checkpoint.sign(s, lid, keys.log_key())
            bundle.write_dir(s, lid, out)


def make(engine, *, secrecy: str = "secret", revote: bool = False, proxy_cap: int | None = None,
         duplicate: str = "first", building_scope: bool = False, t0: datetime = T0) -> CastEstate:
    """The estate and its round announced at ``t0``, open from ``t0`` + 1 h to ``t0`` + 10 days
    (``t0`` = now − 2 h gives a round open now, for the HTTP tests)."""
    roll = Roll(tuple(Part(b, "1", str(101 + i), area, "registered", owner)
                      for i, (owner, (b, area)) in enumerate(OWNERS.items())))
    with transaction(engine) as s:
        store.import_roll(s, SLUG, roll, filename="roll.csv", data=b"roll", name="枫林苑")
        estate = store.get_estate(s, SLUG)
        origin = estate.origin
        voters = {owner: store.voter_for_part(s, SLUG, b, "1", str(101 + i))
                  for i, (owner, (b, _)) in enumerate(OWNERS.items())}
        pk = AUTHORITY_KEY.verify_key.encode().hex()
        authority.record_authority(s, SLUG, "街道办 / street office", "", pk)
        pairs = [(voters[o], key(o).verify_key.encode().hex()) for o in OWNERS]
        statement = authority.credentials_statement(origin, pk, 1, pairs)
        authority.record_statement(s, SLUG, authority.sign_statement(statement, AUTHORITY_KEY))
    context = f"{origin}/{ROUND_ID}"
    publics = [trustee.public_key_json(sec, j, context=context) for j, sec in TRUSTEE_SECRETS.items()]
    agenda = {"rules": "civil-code-2021", "items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]}
    if building_scope:
        agenda["scope"] = {"buildings": ["1"]}
    spec = {"round": ROUND_ID, "agenda": agenda, "secrecy": secrecy, "opens": _fmt(t0 + (OPENS - T0)),
            "closes": _fmt(t0 + (CLOSES - T0)),
            "short_notice_reason": "测试 / test", "trustees": {"threshold": None, "keys": publics}
            if secrecy == "secret" else None,
            "policies": {"duplicate": duplicate, "revote": revote, "proxy_cap": proxy_cap, "deemed_consent": False}}
    with transaction(engine) as s:
        rounds.create_draft(s, SLUG, spec, by="tests", now=t0)
        rounds.announce(s, SLUG, ROUND_ID, by="tests", now=t0)
    with reading(engine) as s:
        view = rounds.load(s, SLUG, ROUND_ID)
    return CastEstate(engine, origin, voters, secrecy, view.fingerprint, view.joint_key, view.items)


def add_revocation(est: CastEstate, owner: str) -> None:
    pk = AUTHORITY_KEY.verify_key.encode().hex()
    st = authority.revoke_statement(est.origin, pk, est.voters[owner], key(owner).verify_key.encode().hex(), "lost")
    with transaction(est.engine) as s:
        authority.record_statement(s, SLUG, authority.sign_statement(st, AUTHORITY_KEY))
