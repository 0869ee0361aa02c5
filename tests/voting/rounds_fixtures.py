"""An estate with a roll of two buildings and registered credentials, for the lifecycle tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nacl.signing

from identity import authority, store
from identity.roll import Part, Roll
from ledger.db import transaction
from voting.crypto import trustee

SLUG = "maple-court"
AUTHORITY_KEY = nacl.signing.SigningKey(hashlib.sha256(b"authority").digest())
# owner id → (building, unit, area): building 1 has two stairwells; O-5 owns flats in buildings 1 and 2
PARTS = [("O-1", "1", "1", 8850), ("O-2", "1", "1", 12000), ("O-3", "1", "2", 6543), ("O-4", "2", "1", 10000),
         ("O-5", "2", "1", 7000), ("O-5", "1", "2", 5000), ("O-6", "2", "1", 9100)]
TRUSTEE_SECRETS = {1: 0x1234567890ABCDEF, 2: 0xFEDCBA0987654321}
T0 = datetime(2026, 12, 1, 2, 0, 0, tzinfo=UTC)  # 10:00 CST on 1 December


def credential_key(owner: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"credential " + owner.encode()).digest())


def roll() -> Roll:
    return Roll(tuple(Part(b, u, str(101 + i), area, "registered", owner) for i, (owner, b, u, area) in enumerate(PARTS)))


@dataclass
class Estate:
    origin: str
    pseudonym: dict[str, str] = field(default_factory=dict)  # owner → voter id

    def trustees(self, round_id: str) -> dict:
        context = f"{self.origin}/{round_id}"
        return {"threshold": None, "keys": [trustee.public_key_json(s, j, context=context)
                                            for j, s in TRUSTEE_SECRETS.items()]}


def make_estate(engine, *, credentials: bool = True, slug: str = SLUG, keys=None) -> Estate:
    """The estate with its roll and (``credentials``) every owner's key registered; ``keys(owner,
    origin)`` gives an owner's signing key (default ``credential_key``)."""
    with transaction(engine) as session:
        store.import_roll(session, slug, roll(), filename="roll.csv", data=b"roll", name="枫林苑")
        est = store.get_estate(session, slug)
        out = Estate(est.origin)
        owners = list(dict.fromkeys(p[0] for p in PARTS))
        for i, (owner, b, u, _) in enumerate(PARTS):
            out.pseudonym.setdefault(owner, store.voter_for_part(session, slug, b, u, str(101 + i)))
        if credentials:
            pk = AUTHORITY_KEY.verify_key.encode().hex()
            authority.record_authority(session, slug, "街道办 / street office", "", pk)
            body = [e for e in __import__("ledger").log.entries(session, est.log_id) if e.type == "roll"][-1]
            version = __import__("json").loads(bytes(body.data))["body"]["version"]
            key = keys or (lambda o, _origin: credential_key(o))
            pairs = [(out.pseudonym[o], key(o, out.origin).verify_key.encode().hex()) for o in owners]
            st = authority.credentials_statement(out.origin, pk, version, pairs)
            authority.record_statement(session, slug, authority.sign_statement(st, AUTHORITY_KEY))
    return out


def revoke(engine, est: Estate, owner: str, slug: str = SLUG) -> None:
    pk = AUTHORITY_KEY.verify_key.encode().hex()
    with transaction(engine) as session:
        st = authority.revoke_statement(est.origin, pk, est.pseudonym[owner],
                                        credential_key(owner).verify_key.encode().hex(), "lost")
        authority.record_statement(session, slug, authority.sign_statement(st, AUTHORITY_KEY))


def spec(round_id: str = "r1", *, opens: datetime | None = None, days: int = 7, secrecy: str = "open",
         items: list | None = None, **extra) -> dict:
    """A valid draft spec: opens 16 days after T0 (CST dates) unless given."""
    opens = opens or T0 + timedelta(days=16)
    out = {"round": round_id, "secrecy": secrecy,
           "agenda": {"rules": "civil-code-2021",
                      "items": items or [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]},
           "opens": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "closes": (opens + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return out | extra
