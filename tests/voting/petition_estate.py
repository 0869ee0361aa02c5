"""An estate for the petition tests: ten owners (one holds two flats: one voter, SPC Art. 9) in two
buildings, the authority, and every owner's credential registered from a code the test knows."""

from __future__ import annotations

from dataclasses import dataclass

import nacl.signing

from identity import authority as au
from identity import store
from identity.credential import generate_code, public_key_hex, signing_key
from identity.roll import read_roll
from ledger.db import transaction

SLUG = "pine-garden"
ORIGIN = f"gongjue.local/{SLUG}"
AUTHORITY = nacl.signing.SigningKey(bytes([11]) * 32)
# Owners O01 … O10; O01 holds two flats (one voter); building 1 holds O01–O06, building 2 O07–O10.
ROWS = ["1,1,101,80.00,O01", "1,1,102,20.50,O01"] + [f"1,{1 + i % 2},{201 + i},90.00,O{i:02d}" for i in range(2, 7)] \
    + [f"2,1,{301 + i},100.25,O{i:02d}" for i in range(7, 11)]
ROLL = ("楼栋,单元,房号,面积,业主编号\n" + "\n".join(ROWS) + "\n").encode()
OWNERS = [f"O{i:02d}" for i in range(1, 11)]
AREA = {"O01": 10050, **{f"O{i:02d}": 9000 for i in range(2, 7)}, **{f"O{i:02d}": 10025 for i in range(7, 11)}}


@dataclass
class Estate:
    voters: dict[str, str]  # owner id → pseudonym
    codes: dict[str, str]

    def key(self, owner: str) -> nacl.signing.SigningKey:
        return signing_key(self.codes[owner], ORIGIN)

    def owner_of(self, pseudonym: str) -> str:
        return next(o for o, p in self.voters.items() if p == pseudonym)


def make(engine, *, unregistered: tuple[str, ...] = ()) -> Estate:
    with transaction(engine) as s:
        store.import_roll(s, SLUG, read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL, name="松园")
    with transaction(engine) as s:
        voters = {v["owner"]: v["voter"] for v in store.roll_openings(s, SLUG)["voters"]}
        au.record_authority(s, SLUG, "松园街道", "服务中心", AUTHORITY.verify_key.encode().hex())
    codes = {o: generate_code() for o in voters}
    pairs = [(voters[o], public_key_hex(codes[o], ORIGIN)) for o in voters if o not in unregistered]
    with transaction(engine) as s:
        au.record_statement(s, SLUG, au.sign_statement(au.credentials_statement(
            ORIGIN, AUTHORITY.verify_key.encode().hex(), 1, pairs), AUTHORITY))
    return Estate(voters, codes)
