"""The credential authority's statements and the registry they make (SPEC §4.5, identity/authority.py).

Each attack of issue #7 part 1 that concerns the ledger is reproduced here and refused: a list
signed by another key, a key registered twice, a voter outside the roll, another estate's list,
a revoked key used again.
"""

from __future__ import annotations

import hashlib

import nacl.signing
import pytest
from sqlalchemy import select

from identity import authority as au
from identity import store
from identity.credential import generate_code, public_key_hex
from identity.roll import read_roll
from ledger.db import transaction
from ledger.entry import parse_entry
from ledger.models import Entry

SLUG = "maple-court"
ORIGIN = "gongjue.local/maple-court"
ROLL = "楼栋,单元,房号,面积,业主编号\n1,1,101,88.50,A\n1,1,102,90,A\n2,,201,100.05,B\n3,2,301,70,C\n".encode()


def seeded(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([n]) * 32)


AUTH = seeded(1)
AUTH_PK = AUTH.verify_key.encode().hex()
MALLORY = seeded(2)  # the operator's own key: not the recorded authority


def key(n: int) -> str:
    return seeded(100 + n).verify_key.encode().hex()


def import_roll(engine, data: bytes = ROLL) -> None:
    with transaction(engine) as s:
        store.import_roll(s, SLUG, read_roll(data, "r.csv"), filename="r.csv", data=data, name="枫林苑")


def latest_roll(engine) -> tuple[int, list[str]]:
    """(version, voters in roll order) of the estate's latest roll entry, from the ledger."""
    with transaction(engine) as s:
        rows = s.scalars(select(Entry.data).where(Entry.type == "roll").order_by(Entry.seq)).all()
    body = parse_entry(bytes(rows[-1])).body
    return body["version"], list(dict.fromkeys(au.roll_voters(body)))


def estate_with_authority(engine) -> tuple[int, list[str]]:
    import_roll(engine)
    with transaction(engine) as s:
        au.record_authority(s, SLUG, "枫林街道办事处", "服务中心 2 号窗口", AUTH_PK)
    return latest_roll(engine)


def register(engine, document) -> int:
    with transaction(engine) as s:
        return au.record_statement(s, SLUG, document)[0]


def current(engine) -> au.Registry:
    with transaction(engine) as s:
        return au.registry(s, SLUG)


def test_registered_list_is_the_registry(engine):
    version, voters = estate_with_authority(engine)
    assert len(voters) == 3
    doc = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version,
                                                     [(v, key(i)) for i, v in enumerate(voters)]), AUTH)
    register(engine, doc)
    reg = current(engine)
    assert [reg.key_of(v) for v in voters] == [key(0), key(1), key(2)]
    assert reg.voter_of(key(1)) == voters[1]
    assert reg.voter_of(key(9)) is None and not reg.revoked(key(1))
    assert reg.authority.name == "枫林街道办事处" and reg.authority.public_key == AUTH_PK
    # the ledger entry carries pseudonyms and public keys, never a code
    with transaction(engine) as s:
        data = s.scalar(select(Entry.data).where(Entry.type == "credentials"))
    assert parse_entry(bytes(data)).body == doc


def test_operator_cannot_sign_a_list(engine):
    """Attack: the operator registers keys it derived itself, signed with its own key."""
    version, voters = estate_with_authority(engine)
    forged = au.sign_statement(au.credentials_statement(ORIGIN, MALLORY.verify_key.encode().hex(), version,
                                                        [(voters[0], key(0))]), MALLORY)
    with pytest.raises(au.AuthorityError, match="not signed by the credential authority recorded"):
        register(engine, forged)
    # naming the authority's key but signing with another one fails the signature itself
    statement = au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))])
    bad = {"statement": statement, "signature": MALLORY.sign(au.signed_message(statement)).signature.hex()}
    with pytest.raises(au.AuthorityError, match="bad signature"):
        register(engine, bad)
    assert current(engine).key_of(voters[0]) is None  # nothing was written


def test_tampered_list_fails_signature(engine):
    version, voters = estate_with_authority(engine)
    doc = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]), AUTH)
    doc["statement"]["credentials"][0]["public_key"] = key(7)  # swap the key after signing
    with pytest.raises(au.AuthorityError, match="bad signature"):
        register(engine, doc)


def test_duplicates_unknown_voters_and_other_estate_refused(engine):
    version, voters = estate_with_authority(engine)
    register(engine, au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]),
                                       AUTH))
    cases = [
        ([(voters[0], key(1))], ORIGIN, version, "already has a credential"),  # a second key for a voter
        ([(voters[1], key(0))], ORIGIN, version, "public key already registered"),  # one key for two voters
        ([(voters[1], key(1)), (voters[1], key(2))], ORIGIN, version, "already has a credential"),
        ([(voters[1], key(1)), (voters[2], key(1))], ORIGIN, version, "public key already registered"),
        ([("ghost", key(3))], ORIGIN, version, "voter ghost is not in roll version 1"),
        ([(voters[1], key(1))], "gongjue.local/other-estate", version, "for another estate"),
        ([(voters[1], key(1))], ORIGIN, 2, "roll version 2 is not in the ledger"),
    ]
    for pairs, origin, roll, message in cases:
        doc = au.sign_statement(au.credentials_statement(origin, AUTH_PK, roll, pairs), AUTH)
        with pytest.raises(au.AuthorityError, match=message):
            register(engine, doc)
    reg = current(engine)
    assert reg.current == {voters[0]: key(0)}


def test_no_authority_recorded(engine):
    import_roll(engine)
    version, voters = latest_roll(engine)
    doc = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]), AUTH)
    with pytest.raises(au.AuthorityError, match="no credential authority key is recorded"):
        register(engine, doc)


def test_revoke_and_reissue(engine):
    version, voters = estate_with_authority(engine)
    register(engine, au.sign_statement(au.credentials_statement(
        ORIGIN, AUTH_PK, version, [(v, key(i)) for i, v in enumerate(voters)]), AUTH))
    a = voters[0]
    register(engine, au.sign_statement(au.revoke_statement(ORIGIN, AUTH_PK, a, key(0), "lost"), AUTH))
    reg = current(engine)
    assert reg.key_of(a) is None and reg.voter_of(key(0)) is None and reg.revoked(key(0))
    # a revoked key cannot be revoked again, nor reissued "from"
    again = au.sign_statement(au.revoke_statement(ORIGIN, AUTH_PK, a, key(0), "lost"), AUTH)
    with pytest.raises(au.AuthorityError, match="not the voter's current key"):
        register(engine, again)
    wrong = au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, a, key(5), key(0), "lost"), AUTH)
    with pytest.raises(au.AuthorityError, match="replaces must be the voter's current key"):
        register(engine, wrong)
    # the revoked key comes back neither through a reissue nor a new list
    back = au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, a, key(0), None, "lost"), AUTH)
    with pytest.raises(au.AuthorityError, match="registered before"):
        register(engine, back)
    seq = register(engine, au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, a, key(5), None, "lost"), AUTH))
    assert current(engine).registered_at(a) == seq
    # reissue over a current key revokes it
    register(engine, au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, a, key(6), key(5), "exposed"), AUTH))
    reg = current(engine)
    assert reg.key_of(a) == key(6) and reg.revoked(key(5)) and reg.voter_of(key(5)) is None
    assert reg.key_of(voters[1]) == key(1)
    # replaying an earlier reissue is refused (its "replaces" is no longer current)
    replay = au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, a, key(6), key(5), "exposed"), AUTH)
    with pytest.raises(au.AuthorityError):
        register(engine, replay)


def test_reissue_needs_an_earlier_credential(engine):
    _, voters = estate_with_authority(engine)
    doc = au.sign_statement(au.reissue_statement(ORIGIN, AUTH_PK, voters[0], key(0), None, "lost"), AUTH)
    with pytest.raises(au.AuthorityError, match="never had a credential"):
        register(engine, doc)


def test_statement_shapes_refused():
    good = au.credentials_statement(ORIGIN, AUTH_PK, 1, [("v1", key(0))])
    au.check_statement_shape(good)
    bad_cases = [
        ({**good, "extra": 1}, "exactly"),
        ({**good, "v": 2}, "v must be 1"),
        ({**good, "credentials": []}, "non-empty"),
        ({**good, "credentials": [{"voter": "v1", "public_key": key(0).upper()}]}, "lowercase hex"),
        ({**good, "credentials": [{"voter": "v1", "public_key": "00" * 32}]}, "not a valid Ed25519"),
        ({**good, "credentials": [{"voter": "v1", "public_key": key(0), "code": "X"}]}, "exactly"),
        ({**good, "roll": True}, "roll version"),
        ({**good, "type": "credential.burn"}, "unknown statement type"),
        (au.revoke_statement(ORIGIN, AUTH_PK, "v1", key(0), "because"), "reason must be one of"),
    ]
    for statement, message in bad_cases:
        with pytest.raises(au.AuthorityError, match=message):
            au.check_statement_shape(statement)
    # a small-order point (order 8) is refused as a key
    small = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"
    with pytest.raises(au.AuthorityError, match="not a valid Ed25519"):
        au.check_public_key(small)


def test_fingerprint_format():
    pk = public_key_hex(generate_code(), ORIGIN)
    fp = au.fingerprint(pk)
    assert len(fp) == 19 and fp.count(" ") == 3
    assert fp.replace(" ", "") == hashlib.sha256(bytes.fromhex(pk)).hexdigest()[:16]
    assert au.fingerprint("00" * 32) == "6668 7aad f862 bd77"  # SHA-256 of 32 zero bytes: 66687aad…


def test_registry_from_entries_names_the_entry(engine):
    version, voters = estate_with_authority(engine)
    register(engine, au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]),
                                       AUTH))
    with transaction(engine) as s:
        entries = [parse_entry(bytes(d)) for d in s.scalars(select(Entry.data).order_by(Entry.seq))]
    assert au.registry_from_entries(entries).key_of(voters[0]) == key(0)
    # an entry whose statement was edited after recording (bytes edited in a copy of the log)
    last = entries[-1]
    body = {**last.body, "statement": {**last.body["statement"], "roll": version}}
    body["statement"]["credentials"] = [{"voter": voters[0], "public_key": key(4)}]
    edited = last._replace(body=body)
    with pytest.raises(ValueError, match=f"条目 {last.seq}（credentials）.*bad signature"):
        au.registry_from_entries([*entries[:-1], edited])
    problems = list(au.check_log([*entries[:-1], edited], type("Ctx", (), {"origin": ORIGIN})()))
    assert len(problems) == 1 and problems[0][0] == last.seq and "bad signature" in problems[0][1]


def test_verify_reports_every_statement_a_dishonest_server_forced_in(engine):
    """Entries appended straight to the log (bypassing record_statement) are each reported by check_log."""
    from ledger import log

    version, voters = estate_with_authority(engine)
    good = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]), AUTH)
    forced = [
        good,
        au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[1], key(0))]), AUTH),
        au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [("f" * 32, key(2))]), AUTH),
        au.sign_statement(au.revoke_statement(ORIGIN, AUTH_PK, voters[1], key(1), "lost"), AUTH),
        au.sign_statement(au.credentials_statement(ORIGIN, MALLORY.verify_key.encode().hex(), version,
                                                   [(voters[2], key(3))]), MALLORY),
        au.sign_statement(au.credentials_statement("gongjue.local/elsewhere", AUTH_PK, version,
                                                   [(voters[2], key(4))]), AUTH),
    ]
    with transaction(engine) as s:
        log_id = store.get_estate(s, SLUG).log_id
        seqs = [log.append(s, log_id, doc["statement"]["type"], doc).seq for doc in forced]
        entries = [parse_entry(bytes(d)) for d in s.scalars(select(Entry.data).where(Entry.log_id == log_id)
                                                           .order_by(Entry.seq))]
    problems = dict(au.check_log(entries, type("Ctx", (), {"origin": ORIGIN})()))
    assert sorted(problems) == seqs[1:]
    assert "public key already registered" in problems[seqs[1]]
    assert f"voter {'f' * 32} is not in roll version 1" in problems[seqs[2]]
    assert "not the voter's current key" in problems[seqs[3]]
    assert "not signed by the credential authority recorded" in problems[seqs[4]]
    assert "for another estate" in problems[seqs[5]]
    # the registry of the good prefix is what the ledger states; the first bad entry stops a replay
    with pytest.raises(ValueError, match=f"条目 {seqs[1]}"):
        au.registry_from_entries(entries)


def test_a_list_for_a_voter_who_left_the_roll_is_refused(engine):
    """A list made from roll 1 cannot give a key to an owner who sold their only flat by roll 2."""
    version, voters = estate_with_authority(engine)
    import_roll(engine, ROLL.replace(b"3,2,301,70,C", b"3,2,301,70,D"))  # C sold 3-2-301 to D
    v2, voters2 = latest_roll(engine)
    gone = next(v for v in voters if v not in voters2)
    stale = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(gone, key(0))]), AUTH)
    with pytest.raises(au.AuthorityError, match=f"voter {gone} is no longer in the latest roll \\(version {v2}\\)"):
        register(engine, stale)
    kept = next(v for v in voters if v in voters2)  # A or B: the same pseudonym in both versions
    register(engine, au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(kept, key(0))]), AUTH))
    assert current(engine).key_of(kept) == key(0)
