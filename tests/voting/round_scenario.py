"""A real estate ledger with a secret round, for the round-record and trustee tests (SPEC §7).

``build(engine, out, **attack)`` writes, through the real stores, an estate and its roll
(identity.store.import_roll), the credential authority and a signed credential list
(identity.authority), a round announcement with two n-of-n trustees, real encrypted ballots and
a close, then exports the bundle to ``out``.  Keyword arguments inject one attack each.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing

from identity import authority, store
from identity.roll import Part, Roll
from identity.store import get_estate
from ledger import bundle, checkpoint, keys, log
from ledger.db import transaction
from ledger.entry import parse_entry
from voting.agenda import parse_agenda
from voting.crypto import ballot, dkg, tally, trustee
from voting.round_audit import voter_weights
from voting.round_record import (
    BALLOT,
    CLOSE,
    ROUND,
    ballot_body,
    close_body,
    fingerprint,
    item_shapes,
    round_body,
    trustee_context,
)

SLUG = "maple-court"
ROUND_ID = "r1"
AREAS = {"A-01": 8850, "B-02": 12000, "C-03": 6543, "D-04": 10000}  # owner id → area (0.01 m²)
CHOICES = {"A-01": [1, 0, 0], "B-02": [0, 0, 1], "C-03": [1, 0, 0]}  # D-04 does not vote
HEADS, AREA = (2, 0, 1), (15393, 0, 12000)  # the honest result: agree 2 / 153.93 m², abstain 1 / 120.00 m²
AGENDA = parse_agenda({"rules": "civil-code-2021",
                       "items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]}, "agenda.json")
TRUSTEE_SECRETS = {1: 0x1234567890ABCDEF, 2: 0xFEDCBA0987654321}
DEALER_COEFFICIENTS = {1: (11, 12), 2: (21, 22), 3: (31, 32)}  # k-of-n: 3 trustees, threshold 2
AUTHORITY_KEY = nacl.signing.SigningKey(hashlib.sha256(b"authority").digest())


def credential_key(owner: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"credential " + owner.encode()).digest())


@dataclass
class Scenario:
    origin: str
    out: Path
    pseudonym: dict[str, str] = field(default_factory=dict)  # owner id → voter id in the ledger
    trustees: trustee.TrusteeSet | None = None
    secrets: dict[int, int] = field(default_factory=dict)  # trustee number → decryption secret


def _roll(areas: dict[str, int]) -> Roll:
    return Roll(tuple(Part("1", "1", str(101 + i), area, "registered", owner)
                      for i, (owner, area) in enumerate(areas.items())))


def _voter_of(session, i: int) -> str:
    """The ledger's voter id of the owner of room 101 + i (contract C2: a pseudonym)."""
    return store.voter_for_part(session, SLUG, "1", "1", str(101 + i))


def _append(session, log_id: int, type_: str, body: dict) -> int:
    return log.append(session, log_id, type_, body).seq


def build(engine, out: Path, *, close: bool = True, one_ballot_aggregate: bool = False,
          weight_times_ten: bool = False, revoked_casts: bool = False, unregistered_casts: bool = False,
          second_ballot: bool = False, other_round_ballot: bool = False, secrecy: str = "secret",
          revoke_after_cast: bool = False, reissue_and_recast: bool = False, k_of_n: bool = False,
          open_ballot_cast: bool = False, extra_voters: int = 0, mutate_round=None,
          second_roll: bool = False) -> Scenario:
    """The honest round, or the round with one attack; exported to ``out``.

    ``extra_voters``: that many more owners of 50.00 m² each, every one voting "oppose".
    ``mutate_round(body)`` edits the announcement before it is appended; ``second_roll`` imports
    a new roll version after the announcement was prepared (so it snapshots an outdated roll).
    """
    extra = {f"E-{k:03d}": 5000 for k in range(extra_voters)}
    areas, choices_of = AREAS | extra, CHOICES | {o: [0, 1, 0] for o in extra}
    with transaction(engine) as session:
        store.import_roll(session, SLUG, _roll(areas), filename="roll.csv", data=b"roll", name="枫林苑")
        estate = get_estate(session, SLUG)
        lid, origin = estate.log_id, estate.origin
        sc = Scenario(origin, out)
        roll_row = [e for e in log.entries(session, lid) if e.type == "roll"][-1]
        roll_entry = parse_entry(bytes(roll_row.data))
        weights = voter_weights(roll_entry.body)
        sc.pseudonym = {owner: _voter_of(session, i) for i, owner in enumerate(areas)}
        assert set(sc.pseudonym.values()) == set(weights)
        authority.record_authority(session, SLUG, "街道办 / street office", "", AUTHORITY_KEY.verify_key.encode().hex())
        pk = AUTHORITY_KEY.verify_key.encode().hex()
        pairs = [(sc.pseudonym[o], credential_key(o).verify_key.encode().hex()) for o in areas]
        statement = authority.credentials_statement(origin, pk, roll_entry.body["version"], pairs)
        authority.record_statement(session, SLUG, authority.sign_statement(statement, AUTHORITY_KEY))
        if revoked_casts:
            c = sc.pseudonym["C-03"]
            revoke = authority.revoke_statement(origin, pk, c, credential_key("C-03").verify_key.encode().hex(), "lost")
            authority.record_statement(session, SLUG, authority.sign_statement(revoke, AUTHORITY_KEY))

        context = trustee_context(origin, ROUND_ID)
        if k_of_n:
            polys = {i: dkg.Polynomial(c) for i, c in DEALER_COEFFICIENTS.items()}
            dealers = [dkg.commitments_json(p, i, context=context, transport=bytes([i]) * 32,
                                            signing_key=nacl.signing.SigningKey(bytes([i]) * 32).verify_key)
                       for i, p in polys.items()]
            ts = dkg.trustee_set([dkg.verify_commitments(d, context=context, threshold=2, trustees=3)
                                  for d in dealers], trustees=3)
            sc.secrets = {j: sum(p.at(j) for p in polys.values()) for j in polys}
            recorded = {"threshold": 2, "dealers": dealers}
        else:
            publics = [trustee.public_key_json(s, j, context=context) for j, s in TRUSTEE_SECRETS.items()]
            ts = trustee.trustee_set([trustee.verify_public_key(p, context=context) for p in publics])
            sc.secrets = dict(TRUSTEE_SECRETS)
            recorded = {"threshold": None, "keys": publics}
        sc.trustees = ts
        secret = secrecy == "secret"
        voters = list(weights.items())
        if weight_times_ten:  # A-01 (who votes) weighs ten times its area
            voters = [(v, a * 10 if v == sc.pseudonym["A-01"] else a) for v, a in voters]
        joint = ts.joint_key if secret else None
        body = round_body(origin=origin, round_id=ROUND_ID, secrecy=secrecy, agenda=AGENDA, roll_seq=roll_row.seq,
                          roll_leaf_hash=bytes(roll_row.leaf_hash).hex(), voters=voters,
                          trustees=recorded if secret else None,
                          joint_key=joint.hex() if secret else None)
        fp = bytes.fromhex(body["fingerprint"])
        if mutate_round is not None:
            mutate_round(body)
        if second_roll:
            store.import_roll(session, SLUG, _roll(areas), filename="roll2.csv", data=b"roll2")
        _append(session, lid, ROUND, body)
        items = item_shapes(AGENDA)
        snapshot = dict(voters)

        def cast(owner: str, choices: list[int], key: nacl.signing.SigningKey | None = None,
                 fingerprint: bytes = fp) -> dict:
            key = key or credential_key(owner)
            if secret:
                signed, _ = ballot.encrypt_ballot(fingerprint=fingerprint, joint_key=ts.joint_key, items=items,
                                                  choices={"m1": choices}, signing_key=key)
            else:
                signed = ballot.make_open_ballot(fingerprint=fingerprint, items=items, choices={"m1": choices},
                                                 signing_key=key)
            _append(session, lid, BALLOT, ballot_body(ROUND_ID, signed, "sms"))
            return signed

        counted = []
        for owner, choices in choices_of.items():
            signed = cast(owner, choices)
            if not (revoked_casts and owner == "C-03"):
                counted.append((signed, snapshot[sc.pseudonym[owner]]))
        if revoke_after_cast:  # C's ballot was cast while the key was current: it still counts
            c_key = credential_key("C-03").verify_key.encode().hex()
            revoke = authority.revoke_statement(origin, pk, sc.pseudonym["C-03"], c_key, "lost")
            authority.record_statement(session, SLUG, authority.sign_statement(revoke, AUTHORITY_KEY))
        if reissue_and_recast:  # A's key is reissued; A casts again with the new key: still one voter
            new_key = nacl.signing.SigningKey(hashlib.sha256(b"reissued A-01").digest())
            reissue = authority.reissue_statement(origin, pk, sc.pseudonym["A-01"], new_key.verify_key.encode().hex(),
                                                  credential_key("A-01").verify_key.encode().hex(), "lost")
            authority.record_statement(session, SLUG, authority.sign_statement(reissue, AUTHORITY_KEY))
            cast("A-01", [0, 1, 0], key=new_key)
        if open_ballot_cast:  # D-04 sends a plaintext (named) ballot into the secret round
            open_signed = ballot.make_open_ballot(fingerprint=fp, items=items, choices={"m1": [0, 1, 0]},
                                                  signing_key=credential_key("D-04"))
            _append(session, lid, BALLOT, ballot_body(ROUND_ID, open_signed, "pin"))
        if unregistered_casts:
            cast("X-99", [0, 1, 0], key=nacl.signing.SigningKey(hashlib.sha256(b"intruder").digest()))
        if second_ballot:
            cast("A-01", [0, 1, 0])
        if other_round_ballot:
            other = fingerprint(origin=origin, round_id="r2", secrecy=secrecy, agenda=AGENDA.as_json(),
                                roll_leaf_hash=bytes(roll_row.leaf_hash).hex(), joint_key=body["joint_key"])
            cast("D-04", [0, 1, 0], fingerprint=other)
        if close:
            if one_ballot_aggregate:
                counted = counted[:1]
            _append(session, lid, CLOSE, _close(counted, fp, items, secret, ts))
        checkpoint.sign(session, lid, keys.log_key())
        bundle.write_dir(session, lid, out)
    return sc


def _close(counted: list, fp: bytes, items: list, secret: bool, ts: trustee.TrusteeSet) -> dict:
    if secret:
        verified = [(ballot.verify_ballot(s, fingerprint=fp, joint_key=ts.joint_key, items=items), w)
                    for s, w in counted]
        agg = tally.tally_secret(verified, fingerprint=fp, items=items)
        return close_body(ROUND_ID, ballots=len(counted), aggregates=agg.to_json())
    verified = [(ballot.verify_open_ballot(s, fingerprint=fp, items=items), w) for s, w in counted]
    counts = tally.tally_open(verified, fingerprint=fp, items=items)
    return close_body(ROUND_ID, ballots=len(counted),
                      counts=[{"id": c.id, "heads": list(c.heads), "area": list(c.area)} for c in counts])


def combine(sc: Scenario, agg: tally.Aggregates, share_jsons: list[dict]) -> tuple:
    """Verify each trustee's shares and combine them: the round's decrypted totals."""
    shares = [trustee.verify_shares(s, aggregates=agg, trustees=sc.trustees) for s in share_jsons]
    return trustee.combine(agg, shares, trustees=sc.trustees)
