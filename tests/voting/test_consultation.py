"""Consultations (SPEC §10): exact distributions by heads and area, moderated text, every refusal
writing nothing, and the verifier naming each tampered entry (issue #12 part 2)."""

from __future__ import annotations

from datetime import timedelta

import nacl.signing
import pytest

from ledger import log
from ledger.db import reading, transaction
from ledger.verify import verify_bundle
from tests.voting import loop_fixtures as lf
from tests.web import e2e_fixtures as e2e
from voting import consultation as cs
from voting import consultation_store as store
from voting.consultation import ConsultError
from web.cli.ledger import content_checks

A, B, C = (e2e.area_of(o) for o in "ABC")


def _verify(sc, tmp_path, name="bundle"):
    return verify_bundle(lf.export(sc, tmp_path / name), [], checks=content_checks())


def _respond(sc, owner, answers, text=None, **kw):
    c = lf.consult_of(sc, kw.pop("consult", "survey"))
    return store.respond(sc.engine, sc.slug, c.id, lf.response(sc, owner, c, answers, text, **kw),
                         voter=sc.voter[kw.get("signer") or owner], factor="sms")


@pytest.fixture
def sc(engine, tmp_path):
    sc = e2e.build(engine, tmp_path / "work", upto=e2e.CREDENTIALS)
    store.announce(engine, sc.slug, lf.spec())
    return sc


def _size(sc) -> int:
    with reading(sc.engine) as s:
        return log.size(s, sc.log_id)


def test_distributions_are_exact_by_heads_and_area(sc, tmp_path):
    _respond(sc, "A", [5, 0], "保洁比去年好，电梯维修慢")
    _respond(sc, "B", [2, 1])
    _respond(sc, "C", [5, None], "请公开维修资金账目")
    store.close(sc.engine, sc.slug, "survey", now=lf.now() + timedelta(days=2))
    c = lf.consult_of(sc, "survey")
    assert c.close["participation"] == {"heads": 3, "area": A + B + C}
    assert c.close["counts"] == [
        {"id": "overall", "heads": [0, 1, 0, 0, 2], "area": [0, B, 0, 0, A + C]},
        {"id": "renew", "heads": [1, 1, 0], "area": [A, B, 0]}]
    assert A + C == 17850 + 7230
    report = _verify(sc, tmp_path)
    assert report.ok, [p.message for p in report.problems]
    assert report.counts["consultation responses"] == 3


def test_refusals_write_nothing(sc):
    c = lf.consult_of(sc, "survey")
    _respond(sc, "A", [3, 0])
    before = _size(sc)
    cases = [
        ("already_answered", lambda: _respond(sc, "A", [4, 0])),
        ("bad_response", lambda: _respond(sc, "B", [6, 0])),  # a rating of 6
        ("bad_response", lambda: _respond(sc, "B", [0, 0])),  # a rating of 0
        ("bad_response", lambda: _respond(sc, "B", [3, 3])),  # no option 3
        ("bad_request", lambda: _respond(sc, "B", [3])),  # one answer short
        ("wrong_voter", lambda: store.respond(sc.engine, sc.slug, "survey", lf.response(sc, "B", c, [3, 0]),
                                              voter=sc.voter["C"], factor="sms")),
        ("window_open", lambda: store.close(sc.engine, sc.slug, "survey")),
        ("not_found", lambda: store.respond(sc.engine, sc.slug, "nope", lf.response(sc, "B", c, [3, 0]),
                                            voter=sc.voter["B"], factor="sms")),
    ]
    for code, call in cases:
        with pytest.raises(ConsultError) as info:
            call()
        assert info.value.code == code, (code, info.value.message)
    bad = lf.response(sc, "B", c, [3, 0], "原文")
    bad["text"] = "改过的原文"
    with pytest.raises(ConsultError) as info:
        store.respond(sc.engine, sc.slug, "survey", bad, voter=sc.voter["B"], factor="sms")
    assert info.value.code == "bad_text"
    forged = lf.response(sc, "B", c, [3, 0])
    forged["statement"]["answers"] = [1, 0]
    with pytest.raises(ConsultError) as info:
        store.respond(sc.engine, sc.slug, "survey", forged, voter=sc.voter["B"], factor="sms")
    assert info.value.code == "bad_signature"
    assert _size(sc) == before


def test_window_bounds(engine, tmp_path):
    sc = e2e.build(engine, tmp_path / "work", upto=e2e.CREDENTIALS)
    t = lf.now()
    store.announce(engine, sc.slug, lf.spec("later", opens=t + timedelta(hours=2), closes=t + timedelta(days=1)))
    c = lf.consult_of(sc, "later")
    with pytest.raises(ConsultError) as info:
        store.respond(engine, sc.slug, "later", lf.response(sc, "A", c, [1, 0]), voter=sc.voter["A"], factor="sms")
    assert info.value.code == "not_open"
    store.respond(engine, sc.slug, "later", lf.response(sc, "A", c, [1, 0]), voter=sc.voter["A"], factor="pin",
                  now=t + timedelta(hours=2))
    with pytest.raises(ConsultError) as info:
        store.respond(engine, sc.slug, "later", lf.response(sc, "B", c, [1, 0]), voter=sc.voter["B"], factor="sms",
                      now=t + timedelta(days=1))
    assert info.value.code == "not_open"
    with pytest.raises(ConsultError):
        store.announce(engine, sc.slug, lf.spec("later"))  # the id is taken
    with pytest.raises(ConsultError):
        store.announce(engine, sc.slug, lf.spec("phone", questions=[
            {"id": "q", "kind": "rating", "text": "联系电话 13800138000"}]))


def test_moderation_publishes_only_approved_text(sc, tmp_path):
    a = _respond(sc, "A", [4, 0], "物业费应当公开")
    b = _respond(sc, "B", [1, 1], "某某住 1-2-201，电话见群")
    n = _respond(sc, "C", [3, 2])
    with pytest.raises(ConsultError) as info:
        store.moderate(sc.engine, sc.slug, "survey", n["seq"], "publish", None)  # no text to publish
    assert info.value.code == "not_found"
    with pytest.raises(ConsultError):
        store.moderate(sc.engine, sc.slug, "survey", b["seq"], "withhold", "")  # a reason is required
    store.moderate(sc.engine, sc.slug, "survey", a["seq"], "publish", None)
    store.moderate(sc.engine, sc.slug, "survey", b["seq"], "withhold", "含个人信息")
    with pytest.raises(ConsultError):
        store.moderate(sc.engine, sc.slug, "survey", a["seq"], "withhold", "改主意")  # once only
    assert store.erase_text(sc.engine, sc.slug, b["seq"])
    c = lf.consult_of(sc, "survey")
    assert c.published() == [a["seq"]]
    rows = store.texts(sc.engine, sc.log_id, [a["seq"], b["seq"]])
    assert rows[a["seq"]].text == "物业费应当公开" and rows[b["seq"]].text is None
    assert cs.text_commitment(rows[a["seq"]].salt, rows[a["seq"]].text) == c.texts[a["seq"]]
    with reading(sc.engine) as s:  # the ledger holds the commitment, never the text
        raw = b"".join(bytes(e.data) for e in log.entries(s, sc.log_id))
    assert "物业费应当公开".encode() not in raw and b"1-2-201" not in raw
    assert _verify(sc, tmp_path).ok


# --- tampering: entries written past the server's checks, each named by gongjue verify ---------


def _forge(sc, entry_type, body, now=None):
    with transaction(sc.engine) as s:
        return log.append(s, sc.log_id, entry_type, body, time=now).seq


def _named(report, seq, words):
    found = [p for p in report.problems if p.seq == seq]
    assert found and words in found[0].message, [(p.seq, p.message) for p in report.problems]


def test_a_response_from_a_non_voter_is_named(sc, tmp_path):
    c = lf.consult_of(sc, "survey")
    stranger = nacl.signing.SigningKey(b"\x07" * 32)
    st = cs.statement(c.hash, [5, 0], None)
    seq = _forge(sc, cs.RESPONSE, {"v": 1, "consult": "survey", "statement": st,
                                   "key": bytes(stranger.verify_key).hex(),
                                   "sig": stranger.sign(cs.signing_bytes(st)).signature.hex(), "factor": "sms"})
    _named(_verify(sc, tmp_path), seq, "not registered")


def test_two_responses_by_one_voter_are_named(sc, tmp_path):
    c = lf.consult_of(sc, "survey")
    _respond(sc, "A", [5, 0])
    p = lf.response(sc, "A", c, [1, 1])
    seq = _forge(sc, cs.RESPONSE, {"v": 1, "consult": "survey", **{k: p[k] for k in ("statement", "key", "sig")},
                                   "factor": "sms"})
    _named(_verify(sc, tmp_path), seq, "already answered")


def test_altered_counts_are_named(sc, tmp_path):
    _respond(sc, "A", [5, 0])
    _respond(sc, "B", [4, 0])
    area = [0, 0, 0, B, A + 1]
    seq = _forge(sc, cs.CLOSE, {"v": 1, "consult": "survey", "responses": 2,
                                "participation": {"heads": 2, "area": A + B},
                                "counts": [{"id": "overall", "heads": [0, 0, 0, 1, 1], "area": area},
                                           {"id": "renew", "heads": [2, 0, 0], "area": [A + B, 0, 0]}]},
                 now=lf.now() + timedelta(days=2))
    _named(_verify(sc, tmp_path), seq, "question overall, area")


def test_a_response_for_another_consultation_is_named(sc, tmp_path):
    store.announce(sc.engine, sc.slug, lf.spec("other"))
    other = lf.consult_of(sc, "other")
    p = lf.response(sc, "A", other, [5, 0])  # signed for "other", recorded under "survey"
    seq = _forge(sc, cs.RESPONSE, {"v": 1, "consult": "survey", **{k: p[k] for k in ("statement", "key", "sig")},
                                   "factor": "sms"})
    _named(_verify(sc, tmp_path), seq, "announcement leaf hash")


def test_gongjue_verify_names_the_entry(sc, tmp_path, capsys):
    """The command itself (web.cli main): a response recorded twice for one voter fails the bundle,
    naming that entry; the untouched record passes."""
    import json

    from web.cli import main

    c = lf.consult_of(sc, "survey")
    _respond(sc, "A", [5, 0])
    good = lf.export(sc, tmp_path / "good")
    capsys.readouterr()
    assert main(["verify", str(good), "--json"]) == 0
    p = lf.response(sc, "A", c, [1, 1])
    seq = _forge(sc, cs.RESPONSE, {"v": 1, "consult": "survey", **{k: p[k] for k in ("statement", "key", "sig")},
                                   "factor": "sms"})
    bad = lf.export(sc, tmp_path / "bad")
    capsys.readouterr()
    assert main(["verify", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert any(p["seq"] == seq and "already answered" in p["message"] for p in report["problems"]), report["problems"]


def test_simultaneous_responses_of_one_voter_end_with_one(sc):
    """Under the log lock (SQLite BEGIN IMMEDIATE, PostgreSQL FOR UPDATE): four answers of one owner sent
    at once give exactly one response; the others are refused already_answered."""
    from concurrent.futures import ThreadPoolExecutor

    c = lf.consult_of(sc, "survey")
    payloads = [lf.response(sc, "A", c, [r, 0]) for r in (1, 2, 3, 4)]

    def send(p):
        try:
            return store.respond(sc.engine, sc.slug, "survey", p, voter=sc.voter["A"], factor="sms")["seq"]
        except ConsultError as e:
            return e.code

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(send, payloads))
    assert sorted(map(str, outcomes)).count("already_answered") == 3, outcomes
    assert len(lf.consult_of(sc, "survey").responses) == 1
