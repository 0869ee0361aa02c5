"""An estate for the owner tests: a roll with phones for two owners, the authority's key and a
registered credential list whose codes the test knows (what the authority's letters would hold)."""

from __future__ import annotations

from dataclasses import dataclass

import nacl.signing

from identity import authority as au
from identity import store
from identity.credential import generate_code, public_key_hex
from identity.roll import read_roll
from ledger.db import transaction

SLUG = "maple-court"
ORIGIN = "gongjue.local/maple-court"
AUTHORITY = nacl.signing.SigningKey(bytes([9]) * 32)
AUTHORITY_NAME = "枫林街道办事处"
AUTHORITY_CONTACT = "服务中心 2 号窗口"
ROLL = ("楼栋,单元,房号,面积,业主编号,手机号\n"
        "1,1,101,88.50,A,13812345678\n1,1,102,90,A,13812345678\n"
        "2,,201,100.05,B,13987654321\n3,2,301,70,C,\n").encode()


@dataclass
class Estate:
    voters: dict[str, str]  # owner id → pseudonym
    codes: dict[str, str]  # owner id → code (held by the owner only)
    keys: dict[str, str]  # owner id → registered public key


def make_estate(engine, *, register_credentials: bool = True, swapped: tuple[str, ...] = ()) -> Estate:
    """The estate; for the owners in ``swapped`` the registered key is NOT the one their code gives
    (what a key swapped between printing and registration looks like to the owner)."""
    with transaction(engine) as s:
        store.import_roll(s, SLUG, read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL, name="枫林苑")
    with transaction(engine) as s:
        pseudonyms = store.roll_openings(s, SLUG)["voters"]
        au.record_authority(s, SLUG, AUTHORITY_NAME, AUTHORITY_CONTACT, AUTHORITY.verify_key.encode().hex())
    voters = {v["owner"]: v["voter"] for v in pseudonyms}
    codes = {owner: generate_code() for owner in voters}
    keys = {owner: public_key_hex(code, ORIGIN) for owner, code in codes.items()}
    if register_credentials:
        registered = {o: public_key_hex(generate_code(), ORIGIN) if o in swapped else keys[o] for o in voters}
        statement = au.credentials_statement(ORIGIN, AUTHORITY.verify_key.encode().hex(), 1,
                                             [(voters[o], registered[o]) for o in voters])
        with transaction(engine) as s:
            au.record_statement(s, SLUG, au.sign_statement(statement, AUTHORITY))
    return Estate(voters, codes, keys)
