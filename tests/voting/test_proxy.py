"""Proxies (SPEC §7.8): grants signed by the owner or recorded from paper, the proxy casting for the
owner, the cap (also under races), revocation until the owner's ballot is cast, the owner voting in
person, and the audit of each at its place in the log — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest

from tests.voting import cast_estate as ce
from tests.voting.cast_estate import DURING, ROUND_ID, SLUG
from tests.voting.test_cast import _audit, _cast, append_raw, binding, gongjue_verify
from voting import proxy as proxies
from voting import round_record
from voting.cast import CastError, record_proxy


def _auth(est, kind, owner, proxy, *, signer=None):
    return proxies.signed_authorisation(kind, est.fingerprint.hex(), est.voters[owner], est.voters[proxy],
                                        ce.key(signer or owner))


def grant(est, owner, proxy, *, written=False, signer=None, by=None, now=DURING):
    auth = proxies.written_authorisation(b"scan of the letter") if written else _auth(est, proxies.GRANT, owner,
                                                                                        proxy, signer=signer)
    by_voter = None if written else est.voters[by or owner]
    return record_proxy(est.engine, SLUG, ROUND_ID, proxies.GRANT, voter=est.voters[owner], proxy=est.voters[proxy],
                        authorisation=auth, by_voter=by_voter, now=now)


def revoke(est, owner, proxy, *, written=False):
    auth = proxies.written_authorisation(b"scan of the revocation") if written else _auth(est, proxies.REVOKE, owner,
                                                                                            proxy)
    return record_proxy(est.engine, SLUG, ROUND_ID, proxies.REVOKE, voter=est.voters[owner], proxy=est.voters[proxy],
                        authorisation=auth, by_voter=None if written else est.voters[owner], now=DURING)


def refused(est, code, fn, *args, **kw):
    before = est.size()
    with pytest.raises(CastError) as e:
        fn(est, *args, **kw)
    assert e.value.code == code, e.value.message
    assert est.size() == before
    return e.value


def proxy_cast(est, owner, proxy, choice=None, **kw):
    return _cast(est, proxy, choice, session_owner=proxy, for_owner=owner, **kw)


def test_a_proxy_ballot_needs_the_binding_signature(engine):
    est = ce.make(engine)
    grant(est, "A-01", "B-02")
    refused(est, "bad_signature", proxy_cast, "A-01", "B-02", for_sig="00" * 64)
    other = est.ballot("B-02")
    refused(est, "bad_signature", proxy_cast, "A-01", "B-02", for_sig=binding(est, other, "A-01", ce.key("B-02")))
    proxy_cast(est, "A-01", "B-02")


@pytest.mark.parametrize("written", [False, True])
def test_proxy_casts_for_the_owner(engine, written):
    est = ce.make(engine, secrecy="open")
    grant(est, "A-01", "B-02", written=written)
    r = proxy_cast(est, "A-01", "B-02", [0, 1, 0])
    assert r["voter"] == est.voters["A-01"] and r["proxy"] == est.voters["B-02"]
    _cast(est, "B-02", [1, 0, 0])  # the proxy's own ballot as well
    entries = est.entries()
    ballot = next(e for e in entries if e.seq == r["seq"])
    assert ballot.body["for"] == est.voters["A-01"]
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 2
    m1 = audit.counts[0]
    assert m1.heads == (1, 1, 0) and m1.area == (12000, 8850, 0)  # A's weight counts for A's ballot


def test_grant_refusals(engine):
    est = ce.make(engine, building_scope=True)
    refused(est, "bad_signature", grant, "A-01", "B-02", signer="B-02", by="A-01")  # not A's key
    refused(est, "wrong_voter", grant, "A-01", "B-02", by="B-02")  # B's session records A's grant
    refused(est, "bad_request", grant, "A-01", "A-01")
    refused(est, "not_eligible", grant, "E-05", "A-01")  # E is outside the round's scope
    refused(est, "round_not_open", grant, "A-01", "B-02", now=ce.AFTER)
    _cast(est, "C-03")
    refused(est, "already_voted", grant, "C-03", "B-02")
    grant(est, "A-01", "B-02")
    refused(est, "proxy_exists", grant, "A-01", "D-04")


def test_cap_per_proxy(engine):
    est = ce.make(engine, proxy_cap=1)
    grant(est, "A-01", "B-02")
    refused(est, "proxy_cap", grant, "C-03", "B-02")
    revoke(est, "A-01", "B-02")  # the revoked grant no longer counts against the cap
    grant(est, "C-03", "B-02", written=True)
    problems, _ = _audit(est)
    assert problems == []


def test_cap_under_a_race(engine):
    est = ce.make(engine, proxy_cap=1)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i, owner):
        barrier.wait()
        try:
            results[i] = grant(est, owner, "B-02")
        except CastError as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, o)) for i, o in enumerate(("A-01", "C-03"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["CastError", "dict"]
    assert next(r for r in results if isinstance(r, CastError)).code == "proxy_cap"
    assert len([e for e in est.entries() if e.type == proxies.GRANT]) == 1


def test_revoked_proxy_cannot_cast(engine):
    est = ce.make(engine)
    grant(est, "A-01", "B-02")
    revoke(est, "A-01", "B-02", written=True)
    refused(est, "no_proxy_grant", proxy_cast, "A-01", "B-02")
    problems, _ = _audit(est)
    assert problems == []


def test_revocation_works_until_the_owners_ballot_is_cast(engine):
    est = ce.make(engine)
    grant(est, "A-01", "B-02")
    proxy_cast(est, "A-01", "B-02")
    refused(est, "already_voted", revoke, "A-01", "B-02")
    refused(est, "already_voted", _cast, "A-01")  # the owner in person after the proxy cast: revotes off


@pytest.mark.parametrize("revote", [False, True])
def test_owner_voting_in_person_ends_the_grant(engine, revote):
    est = ce.make(engine, secrecy="open", revote=revote)
    grant(est, "A-01", "B-02")
    _cast(est, "A-01", [0, 0, 1])
    refused(est, "already_voted" if not revote else "no_proxy_grant", proxy_cast, "A-01", "B-02")
    refused(est, "no_proxy_grant", revoke, "A-01", "B-02")
    problems, audit = _audit(est)
    assert problems == [] and audit.counts[0].heads == (0, 0, 1)


def test_owner_in_person_after_the_proxy_with_revotes_on_counts_last(engine):
    est = ce.make(engine, secrecy="open", revote=True)
    grant(est, "A-01", "B-02")
    proxy_cast(est, "A-01", "B-02", [1, 0, 0])
    _cast(est, "A-01", [0, 1, 0])
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 1 and audit.counts[0].heads == (0, 1, 0)


def test_verify_names_a_proxy_ballot_without_a_grant(engine, tmp_path):
    est = ce.make(engine)
    grant(est, "C-03", "B-02")
    revoke(est, "C-03", "B-02")
    signed = est.ballot("B-02")  # the proxy signs ballot and binding (colluding with the operator)
    bad = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, signed, "sms", for_voter=est.voters["C-03"],
                                                             for_sig=binding(est, signed, "C-03", ce.key("B-02"))))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [bad], report.problems
    assert "without a valid grant" in report.problems[0].message


def test_verify_names_bad_proxy_entries(engine, tmp_path):
    """A grant over the cap, a grant signed by someone else and a revocation after the proxy cast,
    each appended by a dishonest operator: verify names each entry."""
    est = ce.make(engine, proxy_cap=1)
    grant(est, "A-01", "B-02")
    over = append_raw(est, proxies.GRANT, proxies.body(ROUND_ID, est.voters["C-03"], est.voters["B-02"],
                                                       proxies.written_authorisation(b"x")))
    forged = append_raw(est, proxies.GRANT, proxies.body(ROUND_ID, est.voters["D-04"], est.voters["C-03"],
                                                         _auth(est, proxies.GRANT, "D-04", "C-03", signer="C-03")))
    proxy_cast(est, "A-01", "B-02")
    late = append_raw(est, proxies.REVOKE, proxies.body(ROUND_ID, est.voters["A-01"], est.voters["B-02"],
                                                        proxies.written_authorisation(b"y")))
    report = gongjue_verify(est, tmp_path / "b")
    by_seq = {p.seq: p.message for p in report.problems}
    assert sorted(by_seq) == [over, forged, late], report.problems
    assert "proxy_cap" in by_seq[over] and "bad_signature" in by_seq[forged] and "already_voted" in by_seq[late]


@pytest.mark.parametrize("duplicate", ["first", "electronic"])
def test_a_paper_ballot_is_the_owner_in_person_and_ends_the_grant(engine, duplicate):
    """SPEC §7.8 rule 6 with §7.9: after the owner's paper ballot the proxy can no longer cast for
    them, whatever the duplicate policy; the audit agrees."""
    from ledger.db import transaction
    from voting import paper_entry

    est = ce.make(engine, secrecy="open", duplicate=duplicate)
    grant(est, "A-01", "B-02")
    for by in ("zhao", "qian"):
        with transaction(engine) as s:
            paper_entry.enter(s, SLUG, ROUND_ID, voter=est.voters["A-01"], marks={"m1": "agree"}, scan_sha256="cd" * 32,
                              by=by, now=DURING)
    refused(est, "already_voted", proxy_cast, "A-01", "B-02")
    refused(est, "no_proxy_grant", revoke, "A-01", "B-02")  # the grant ended with the paper ballot
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 1


def _by_ref(est, kind, owner, proxy, salt):
    """An authorisation the owner signed over proxy_ref (the salt added, as the server does)."""
    ref = proxies.proxy_ref(est.fingerprint.hex(), est.voters[proxy], salt)
    st = proxies.statement_by_ref(kind, est.fingerprint.hex(), est.voters[owner], ref)
    key = ce.key(owner)
    return {"kind": "signed", "key": bytes(key.verify_key).hex(), "sig": key.sign(proxies.signing_bytes(st)).signature.hex(),
            "salt": salt}


def test_a_grant_by_reference_is_checked_like_one_by_pseudonym(engine, tmp_path):
    """SPEC §7.8 by reference: the owner signed proxy_ref; the entry carries the proxy and the salt;
    the server and the verifier recompute the reference. A wrong salt, a salt over another proxy and
    a malformed salt are refused (nothing written) and named by verify when appended anyway."""
    from identity import store
    from ledger.db import transaction
    from voting import proxy_ref as proxy_refs

    est = ce.make(engine)
    with transaction(engine) as s:
        ref = proxy_refs.refer(s, store.get_estate(s, SLUG).log_id, ROUND_ID, est.fingerprint.hex(), est.voters["A-01"],
                               est.voters["B-02"], "1-1-101")
        ref, salt = ref.ref, ref.salt
    assert ref == proxies.proxy_ref(est.fingerprint.hex(), est.voters["B-02"], salt)
    unsalted = dict(_by_ref(est, proxies.GRANT, "A-01", "B-02", salt))
    unsalted.pop("salt")
    r = record_proxy(engine, SLUG, ROUND_ID, proxies.GRANT, voter=est.voters["A-01"], proxy_ref=ref,
                     authorisation=unsalted, by_voter=est.voters["A-01"], now=DURING)
    entry = next(e for e in est.entries() if e.seq == r["seq"])
    assert entry.body["proxy"] == est.voters["B-02"] and entry.body["authorisation"]["salt"] == salt
    assert set(entry.body["authorisation"]) == {"kind", "key", "sig", "salt"}
    proxy_cast(est, "A-01", "B-02")

    other = "cd" * 32
    bad_salt = {**_by_ref(est, proxies.GRANT, "C-03", "B-02", salt), "salt": other}
    refused(est, "bad_signature", lambda e: record_proxy(
        engine, SLUG, ROUND_ID, proxies.GRANT, voter=e.voters["C-03"], proxy=e.voters["B-02"], authorisation=bad_salt,
        by_voter=e.voters["C-03"], now=DURING))
    moved = _by_ref(est, proxies.GRANT, "C-03", "D-04", salt)  # signed for D-04, recorded for B-02
    refused(est, "bad_signature", lambda e: record_proxy(
        engine, SLUG, ROUND_ID, proxies.GRANT, voter=e.voters["C-03"], proxy=e.voters["B-02"], authorisation=moved,
        by_voter=e.voters["C-03"], now=DURING))
    for junk in ("CD" * 32, "cd" * 31, 7):
        with pytest.raises(proxies.ProxyError, match="salt: 64 hex"):
            proxies.parse_body({"v": 1, "round": ROUND_ID, "voter": "v1", "proxy": "v2",
                                "authorisation": {**moved, "salt": junk}})
    forged = append_raw(est, proxies.GRANT, proxies.body(ROUND_ID, est.voters["C-03"], est.voters["B-02"], moved))
    report = gongjue_verify(est, tmp_path / "b")
    assert [(p.seq, "bad_signature" in p.message) for p in report.problems] == [(forged, True)], report.problems


def test_the_references_are_deleted_when_the_round_closes(engine):
    from identity import store
    from ledger.db import reading, transaction
    from voting import count_round
    from voting import proxy_ref as proxy_refs

    est = ce.make(engine)
    with transaction(engine) as s:
        log_id = store.get_estate(s, SLUG).log_id
        proxy_refs.refer(s, log_id, ROUND_ID, est.fingerprint.hex(), est.voters["A-01"], est.voters["B-02"], "1-1-102")
    grant(est, "C-03", "B-02")  # a grant by pseudonym gets its reference too (the page revokes by it)
    with reading(engine) as s:
        assert proxy_refs.named(s, log_id, ROUND_ID, est.voters["A-01"]) == 1
        assert proxy_refs.of(s, log_id, ROUND_ID, est.voters["C-03"], est.voters["B-02"]).flat is None
    assert count_round.close_round(engine, SLUG, ROUND_ID, now=ce.AFTER) is not None
    with reading(engine) as s:
        assert [proxy_refs.named(s, log_id, ROUND_ID, est.voters[o]) for o in ("A-01", "C-03")] == [0, 0]


def test_an_open_ballot_names_the_voter_a_proxy_casts_it_for(engine, tmp_path):
    """SPEC §3.6 ``for``: in an open round the proxy's ballot for A and the proxy's own ballot with
    the same choices are two signed ballots, both counted; a ballot naming a voter counts only for
    that voter (refused at the cast, nothing written; named by verify when appended anyway)."""
    est = ce.make(engine, secrecy="open")
    grant(est, "A-01", "B-02")
    grant(est, "C-03", "B-02")
    same = [0, 1, 0]
    own = _cast(est, "B-02", same)
    # without for, the ballot for A is byte for byte the proxy's own: one signed ballot counts once
    refused(est, "duplicate_ballot", proxy_cast, "A-01", "B-02", same)
    for_a = proxy_cast(est, "A-01", "B-02", same, names="A-01")
    assert for_a["tracking"] != own["tracking"] and for_a["voter"] == est.voters["A-01"]
    signed_for_c = est.ballot("B-02", [1, 0, 0], names="C-03")
    as_own = json.dumps(signed_for_c, separators=(",", ":"))
    e = refused(est, "bad_request", lambda x: _cast(x, "B-02", text=as_own))
    assert est.voters["C-03"] in e.message
    e = refused(est, "bad_request", proxy_cast, "A-01", "B-02", [1, 0, 0], names="C-03")
    assert est.voters["C-03"] in e.message
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 2
    m1 = audit.counts[0]
    assert m1.heads == (0, 2, 0)
    moved = append_raw(est, "ballot", round_record.ballot_body(
        ROUND_ID, signed_for_c, "sms", for_voter=est.voters["D-04"],
        for_sig=binding(est, signed_for_c, "D-04", ce.key("B-02"))))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [moved], report.problems
    assert "names voter" in report.problems[0].message
