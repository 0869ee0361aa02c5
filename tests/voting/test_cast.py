"""Casting (voting.cast, SPEC §7.2): receipts, every refusal with nothing written, duplicates and
revotes, revoked credentials, races between two casts of one voter — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest

from ledger.db import reading
from ledger.receipt import verify_receipt
from ledger.verify import verify_bundle
from tests.voting import cast_estate as ce
from tests.voting.cast_estate import DURING, ROUND_ID, SLUG
from voting import round_audit, round_record
from voting.cast import CastError, cast


def _vkey(engine) -> str:
    from identity import store

    with reading(engine) as s:
        from ledger import checkpoint

        return checkpoint.latest(s, store.get_estate(s, SLUG).log_id).vkey


def _cast(est, owner, choice=None, *, session_owner=None, for_owner=None, now=DURING, text=None, for_sig=None,
          **kw):
    """Cast ``owner``'s ballot (made by their browser) in ``session_owner``'s session; as a proxy for
    ``for_owner`` the ballot's signer also signs the binding to that voter (SPEC §7.8)."""
    voter = est.voters[session_owner or owner]
    if text is None:
        signed = est.ballot(owner, choice, **kw)
        text = json.dumps(signed, separators=(",", ":"))
        if for_owner and for_sig is None:
            for_sig = binding(est, signed, for_owner, kw.get("signing_key") or ce.key(kw.get("signer") or owner))
    return cast(est.engine, SLUG, ROUND_ID, text, voter=voter, factor="sms",
                for_voter=est.voters[for_owner] if for_owner else None, for_sig=for_sig, now=now)


def binding(est, signed, for_owner, signing_key):
    """The proxy's ``for_sig`` for ``signed`` cast for ``for_owner`` (what the proxy's browser signs)."""
    from voting import proxy as proxies
    from voting.crypto.ballot import tracking_code

    return proxies.sign_ballot_binding(est.fingerprint.hex(), est.voters[for_owner], tracking_code(signed)[0],
                                       signing_key)


def _refused(est, code, **kw):
    before = est.size()
    with pytest.raises(CastError) as e:
        _cast(est, **kw)
    assert e.value.code == code, e.value.message
    assert est.size() == before  # nothing written
    return e.value


def _audit(est):
    entries = est.entries()
    audits = {}
    problems = round_audit.check_log(entries, est.origin, audits=audits)
    return problems, audits[ROUND_ID]


@pytest.mark.parametrize("secrecy", ["secret", "open"])
def test_cast_returns_a_receipt_that_verifies(engine, secrecy):
    est = ce.make(engine, secrecy=secrecy)
    r = _cast(est, "A-01")
    entry = verify_receipt(r, _vkey(engine))  # inclusion proof against the signed checkpoint
    assert entry.seq == r["seq"] and entry.type == round_record.BALLOT
    assert entry.body["factor"] == "sms" and "for" not in entry.body
    from voting.crypto.ballot import tracking_code

    assert r["tracking"] == tracking_code(entry.body["ballot"])[0]
    assert r["short"] == "-".join([r["tracking"][:12].upper()[i:i + 4] for i in (0, 4, 8)])
    assert r["voter"] == est.voters["A-01"] and r["proxy"] is None
    from identity import store
    from ledger.receipt import build_receipt

    with reading(engine) as s:  # the cast's receipt is exactly the one the audit page serves
        served = build_receipt(s, store.get_estate(s, SLUG).log_id, r["seq"], r["tree_size"])
    assert {k: r[k] for k in served} == served
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 1


@pytest.mark.parametrize(("code", "kw"), [
    ("wrong_round", {"owner": "A-01", "fingerprint": bytes(32)}),
    ("wrong_voter", {"owner": "A-01", "session_owner": "B-02"}),
    ("bad_ballot", {"owner": "A-01", "text": '{"ballot": {}, "sig": "00", "sig": "00"}'}),
    ("bad_ballot", {"owner": "A-01", "text": "[1.0]"}),
    ("unknown_credential", {"owner": "A-01", "signing_key": ce.key("nobody")}),
    ("round_not_open", {"owner": "A-01", "now": ce.T0}),
    ("round_not_open", {"owner": "A-01", "now": ce.AFTER}),
    ("no_proxy_grant", {"owner": "B-02", "session_owner": "B-02", "for_owner": "A-01"}),
])
def test_refusals_write_nothing(engine, code, kw):
    est = ce.make(engine)
    _refused(est, code, **kw)


def test_bad_signature_and_bad_proof(engine):
    est = ce.make(engine)
    signed = est.ballot("A-01")
    forged = json.loads(json.dumps(signed))
    forged["sig"] = ("00" if forged["sig"][:2] != "00" else "11") + forged["sig"][2:]
    _refused(est, "bad_signature", owner="A-01", text=json.dumps(forged))
    # a proof altered and the ballot re-signed by its owner: the signature holds, the proof does not
    body = json.loads(json.dumps(signed["ballot"]))
    c = body["items"][0]["selections"][0]["proof"]["c"]
    c[0], c[1] = c[1], c[0]
    from voting.crypto import ballot as b

    resigned = {"ballot": body, "sig": ce.key("A-01").sign(b.signing_bytes(body)).signature.hex()}
    _refused(est, "bad_proof", owner="A-01", text=json.dumps(resigned))


def test_kind_is_the_rounds(engine):
    est = ce.make(engine, secrecy="secret")
    from voting.crypto import ballot as b

    open_ballot = b.make_open_ballot(fingerprint=est.fingerprint, items=est.items, choices={"m1": [1, 0, 0]},
                                     signing_key=ce.key("A-01"))
    _refused(est, "bad_ballot", owner="A-01", text=json.dumps(open_ballot))


def test_not_eligible_outside_the_scope(engine):
    est = ce.make(engine, building_scope=True)
    _refused(est, "not_eligible", owner="E-05")


def test_no_session(engine):
    est = ce.make(engine)
    with pytest.raises(CastError) as e:
        cast(engine, SLUG, ROUND_ID, est.text("A-01"), voter=None, factor=None, now=DURING)
    assert e.value.code == "no_session"


def test_revoked_credential(engine):
    est = ce.make(engine)
    ce.add_revocation(est, "C-03")
    _refused(est, "revoked_credential", owner="C-03")


def test_revote_off_second_ballot_is_already_voted(engine):
    est = ce.make(engine)
    _cast(est, "A-01", [1, 0, 0])
    _refused(est, "already_voted", owner="A-01", choice=[0, 1, 0])


def test_revote_on_last_ballot_counts_in_the_audit(engine):
    est = ce.make(engine, secrecy="open", revote=True)
    first = _cast(est, "A-01", [1, 0, 0])
    last = _cast(est, "A-01", [0, 1, 0])
    _cast(est, "B-02", [0, 0, 1])
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 2
    assert (first["seq"], est.voters["A-01"]) in audit.later
    counts = {c.id: c.heads for c in audit.counts}
    assert counts["m1"] == (0, 1, 1) and last["seq"] > first["seq"]


@pytest.mark.parametrize("revote", [False, True])
def test_two_simultaneous_casts_for_one_voter(engine, revote):
    est = ce.make(engine, revote=revote)
    texts = [est.text("A-01", [1, 0, 0]), est.text("A-01", [0, 1, 0])]
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def run(i):
        barrier.wait()
        try:
            results[i] = cast(engine, SLUG, ROUND_ID, texts[i], voter=est.voters["A-01"], factor="pin", now=DURING)
        except CastError as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, CastError)]
    if revote:
        assert len(ok) == 2
    else:
        assert len(ok) == 1 and [r.code for r in refused] == ["already_voted"]
    ballots = [e for e in est.entries() if e.type == "ballot"]
    assert len(ballots) == len(ok)
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 1


def append_raw(est, type_, body):
    """What a dishonest operator can do: append an entry the API would refuse (and sign a checkpoint)."""
    from identity import store
    from ledger import checkpoint, keys, log
    from ledger.db import transaction

    with transaction(est.engine) as s:
        lid = store.get_estate(s, SLUG).log_id
        seq = log.append(s, lid, type_, body, time=DURING).seq
        checkpoint.sign(s, lid, keys.log_key())
    return seq


def gongjue_verify(est, out):
    """``gongjue verify`` as a library call (every content check), on the exported bundle."""
    from web.cli.ledger import content_checks

    est.export(out)
    return verify_bundle(out, [], checks=content_checks())


def test_verify_names_a_ballot_moved_to_another_voter(engine, tmp_path):
    """Tamper: A's signed ballot is recorded as counting for D (no grant from D to A): verify names it."""
    est = ce.make(engine)
    _cast(est, "B-02")
    moved = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, est.ballot("A-01"), "sms",
                                                               for_voter=est.voters["D-04"], for_sig="00" * 64))
    report = gongjue_verify(est, tmp_path / "b")
    assert not report.ok
    assert [p.seq for p in report.problems] == [moved], report.problems
    assert "not bound to the voter it counts for" in report.problems[0].message


def test_verify_names_a_proxy_ballot_moved_to_another_represented_voter(engine, tmp_path):
    """Two owners granted the same proxy; the operator swaps the voter of the proxy's ballot for A
    to C (both grants in force): the proxy's binding signature names A, so verify names the entry."""
    from tests.voting.test_proxy import grant

    est = ce.make(engine)
    grant(est, "A-01", "B-02")
    grant(est, "C-03", "B-02")
    signed = est.ballot("B-02")
    sig_for_a = binding(est, signed, "A-01", ce.key("B-02"))
    moved = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, signed, "sms", for_voter=est.voters["C-03"],
                                                               for_sig=sig_for_a))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [moved], report.problems
    assert "not bound to the voter it counts for" in report.problems[0].message


def test_verify_names_a_ballot_cast_with_a_revoked_key(engine, tmp_path):
    """Tamper: the operator records C's ballot after C's key was revoked: verify names that entry."""
    est = ce.make(engine)
    _cast(est, "A-01")
    ce.add_revocation(est, "C-03")
    _refused(est, "revoked_credential", owner="C-03")
    bad = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, est.ballot("C-03"), "sms"))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [bad], report.problems
    assert "revoked" in report.problems[0].message


def test_revote_off_a_second_ballot_appended_anyway_is_named(engine, tmp_path):
    est = ce.make(engine)
    _cast(est, "A-01")
    bad = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, est.ballot("A-01", [0, 1, 0]), "sms"))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [bad] and "second ballot" in report.problems[0].message


def test_a_replayed_ballot_is_refused_and_named(engine, tmp_path):
    """With revotes on, A's first ballot recorded again after A's revote would become A's last:
    cast refuses the same signed ballot twice, and verify names such a replay appended anyway."""
    est = ce.make(engine, secrecy="open", revote=True)
    first = est.text("A-01", [1, 0, 0])
    _cast(est, "A-01", text=first)
    _cast(est, "A-01", [0, 1, 0])
    _refused(est, "duplicate_ballot", owner="A-01", text=first)
    replay = append_raw(est, "ballot", round_record.ballot_body(ROUND_ID, json.loads(first), "sms"))
    report = gongjue_verify(est, tmp_path / "b")
    assert [p.seq for p in report.problems] == [replay] and "replay" in report.problems[0].message
    _, audit = _audit(est)
    assert audit.counts[0].heads == (0, 1, 0)  # A's revote still counts


def test_the_projection_holds_one_row_per_voter_and_round(engine):
    """Defence in depth under the log lock: migration voting_0002's primary key refuses a second
    ``voting_voted`` row for one voter of a round (what a cast racing past the lock would hit)."""
    from sqlalchemy.exc import IntegrityError

    from identity import store
    from ledger.db import transaction
    from voting.cast import Voted

    est = ce.make(engine)
    r = _cast(est, "A-01")
    with pytest.raises(IntegrityError):
        with transaction(engine) as s:
            lid = store.get_estate(s, SLUG).log_id
            s.add(Voted(log_id=lid, round_id=ROUND_ID, voter=est.voters["A-01"], channel="electronic",
                        first_seq=r["seq"] + 1, last_seq=r["seq"] + 1, ballots=1))
            s.flush()


def test_what_casting_remembers_is_checked_under_the_lock(engine):
    """Casting keeps the round and the credential registry between casts (``voting.cast._Known``);
    a revocation, an extension and a close appended since are seen by the next cast all the same."""
    from datetime import timedelta

    from ledger.db import transaction
    from voting import count_round, rounds

    est = ce.make(engine)
    _cast(est, "A-01")  # what casting remembers is read here
    ce.add_revocation(est, "C-03")
    _refused(est, "revoked_credential", owner="C-03")
    _cast(est, "B-02")
    later = ce.CLOSES + timedelta(days=1)
    with transaction(engine) as s:
        rounds.extend(s, SLUG, ROUND_ID, closes=later, reason="停电 / power cut", by="tests", now=DURING)
    r = _cast(est, "D-04", now=ce.CLOSES + timedelta(hours=1))  # open only thanks to the extension
    assert r["seq"] == est.size() - 1 and r["tree_size"] == est.size()
    assert count_round.close_round(engine, SLUG, ROUND_ID, now=later + timedelta(hours=1)) is not None
    _refused(est, "round_not_open", owner="E-05", now=ce.CLOSES)  # before the window's end, but closed


def _cast_together(engine, est, texts: list[tuple[str, str]]) -> dict:  # noqa: ANN001
    """Cast ``texts`` ((owner, ballot text)) so that they wait for the log together, in this order, and
    are written as one group (``voting.cast._commit``); {index: receipt or CastError}."""
    import time

    from voting import cast as casting

    q = casting._queue(engine, SLUG, ROUND_ID)
    with q.cond:
        q.busy = True  # as if a cast were being written: the next ones wait
    out: dict[int, object] = {}

    def run(i, owner, text, kw):
        try:
            out[i] = _cast(est, owner, text=text, **kw)
        except CastError as e:
            out[i] = e

    threads = []
    for i, (owner, text, *kw) in enumerate(texts):  # in this order: the second A-01 ballot comes after the first
        threads.append(threading.Thread(target=run, args=(i, owner, text, kw[0] if kw else {})))
        threads[-1].start()
        for _ in range(500):
            if len(q.waiting) == i + 1:
                break
            time.sleep(0.01)
    assert len(q.waiting) == len(texts)
    with q.cond:
        q.busy = False
        q.cond.notify_all()
    for t in threads:
        t.join()
    return out


def test_casts_waiting_for_the_log_share_one_transaction_and_checkpoint(engine):
    """Group commit (``voting.cast._commit``): the casts waiting while the log is being written are
    written together — each checked on its own (a second ballot of one voter is refused, the others
    are not), one checkpoint covers all of them and every receipt verifies against it."""
    est = ce.make(engine)
    _cast(est, "E-05")
    before = est.size()
    texts = [("A-01", est.text("A-01", [1, 0, 0])), ("B-02", est.text("B-02")), ("A-01", est.text("A-01", [0, 1, 0])),
             ("C-03", est.text("C-03"))]
    out = _cast_together(engine, est, texts)
    assert isinstance(out[2], CastError) and out[2].code == "already_voted"
    receipts = [out[i] for i in (0, 1, 3)]
    assert [r["seq"] for r in receipts] == [before, before + 1, before + 2]
    assert {(r["tree_size"], r["checkpoint"]) for r in receipts} == {(before + 3, receipts[0]["checkpoint"])}
    for r in receipts:
        verify_receipt(r, _vkey(engine))
    assert est.size() == before + 3
    problems, _ = _audit(est)
    assert problems == []


def test_a_group_sees_its_own_rows_a_revote_and_a_replay(engine):
    """In one group (new rows inserted together at its end): a revote of a voter cast earlier in the
    group counts as a revote, and the same signed ballot sent twice is refused as duplicate_ballot."""
    from sqlalchemy import select

    from ledger.db import reading
    from voting.cast import Voted

    est = ce.make(engine, revote=True)
    before = est.size()
    first, again = est.text("A-01", [1, 0, 0]), est.text("A-01", [0, 1, 0])
    b02 = est.text("B-02")
    out = _cast_together(engine, est, [("A-01", first), ("B-02", b02), ("A-01", again), ("B-02", b02)])
    assert isinstance(out[3], CastError) and out[3].code == "duplicate_ballot"
    assert [out[i]["seq"] for i in (0, 1, 2)] == [before, before + 1, before + 2]
    with reading(engine) as s:
        row = s.scalars(select(Voted).where(Voted.voter == est.voters["A-01"])).one()
    assert (row.first_seq, row.last_seq, row.ballots, row.channel) == (before, before + 2, 2, "electronic")
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 2


def test_a_group_checks_what_was_stored_before_it(engine):
    """The group's checks read the rows stored before it in one query (``voting.cast._seen``), and a
    cast whose voter an earlier cast of the group changed reads them again: a revote of a ballot cast
    before the group counts as a revote, a ballot cast before is refused as a replay naming its
    entry, and the owner's own ballot ends the grant that a proxy's cast later in the group needs."""
    from sqlalchemy import select

    from ledger.db import reading
    from tests.voting.test_proxy import grant
    from voting.cast import Voted

    est = ce.make(engine, revote=True)
    b1 = est.text("B-02")
    first = _cast(est, "A-01", [1, 0, 0])
    replayed = _cast(est, "B-02", text=b1)
    grant(est, "C-03", "D-04")
    signed = est.ballot("D-04")
    by_proxy = json.dumps(signed, separators=(",", ":"))
    bind = binding(est, signed, "C-03", ce.key("D-04"))
    before = est.size()
    out = _cast_together(engine, est, [
        ("E-05", est.text("E-05")), ("A-01", est.text("A-01", [0, 1, 0])), ("B-02", b1),
        ("C-03", est.text("C-03")), ("D-04", by_proxy, {"for_owner": "C-03", "for_sig": bind})])
    assert isinstance(out[2], CastError) and out[2].code == "duplicate_ballot"
    assert f"entry {replayed['seq']}" in out[2].message
    assert isinstance(out[4], CastError) and out[4].code == "no_proxy_grant"
    assert [out[i]["seq"] for i in (0, 1, 3)] == [before, before + 1, before + 2]
    assert est.size() == before + 3
    with reading(engine) as s:
        row = s.scalars(select(Voted).where(Voted.voter == est.voters["A-01"])).one()
    assert (row.first_seq, row.last_seq, row.ballots) == (first["seq"], before + 1, 2)
    problems, audit = _audit(est)
    assert problems == [] and audit.counted == 4  # A, B, C, E
