"""Proposals and petitions over HTTP (SPEC §9): an owner drafts one with an attachment; owners
co-sign through the JSON API with signatures made as the browser makes them; the line of 20% by
heads is reached exactly (one owner short is not enough); a signature is withdrawn before it; the
committee's response is recorded by a supervisor; every step is a notice on the estate home and
prints as A4 with a QR code; ``gongjue verify`` accepts the record and names each tampered entry."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import pytest

from identity import store
from ledger import bundle, checkpoint, keys, log
from ledger.db import reading, transaction
from tests.voting import petition_estate as pe
from tests.web.conftest import csrf_of
from voting import petition as pt
from web.cli import main
from web.owner import OWNER_COOKIE, OwnerSessionRow, _hash

API = f"/api/v1/estates/{pe.SLUG}/petitions"
JSON = {"content-type": "application/json"}


def owner_token(engine, est, owner: str) -> str:
    token = secrets.token_urlsafe(32)
    at = int(time.time())
    with transaction(engine) as s:
        s.add(OwnerSessionRow(token_hash=_hash(token), estate=pe.SLUG, voter=est.voters[owner], factor="pin",
                              verified=True, created_at=at, expires_at=at + 3600))
    return token


def as_owner(client, engine, est, owner):
    client.cookies.clear()
    client.cookies.set(OWNER_COOKIE, owner_token(engine, est, owner))
    return client


def sign_body(est, owner, petition_hash, kind=pt.SIGN, key_owner=None):
    voter = est.voters[owner]
    key, sig = pt.sign(kind, petition_hash, voter, est.key(key_owner or owner))
    return {"type": kind, "voter": voter, "key": key, "sig": sig}


def cosign(client, engine, est, owner, petition, kind=pt.SIGN):
    as_owner(client, engine, est, owner)
    return client.post(f"{API}/{petition['petition']}/signatures", json=sign_body(est, owner, petition["hash"], kind))


def draft(client, engine, est, owner="O01", **fields):
    as_owner(client, engine, est, owner)
    page = client.get(f"/estates/{pe.SLUG}/petitions/new")
    assert page.status_code == 200
    data = {"csrf": csrf_of(page.text), "title": "更换电梯维保单位", "text": "维保响应慢。\n提议召开临时会议。",
            "matter": "hire_manager", "buildings": "", "units": "", **fields}
    files = [("attachments", ("报价单.pdf", b"%PDF-1.4 quote", "application/pdf"))]
    return client.post(f"/estates/{pe.SLUG}/petitions", data=data, files=files)


def verify_json(engine, tmp_path, capsys) -> dict:
    with reading(engine) as s:
        bundle.write_dir(s, store.get_estate(s, pe.SLUG).log_id, tmp_path / "b")
    capsys.readouterr()
    status = main(["verify", str(tmp_path / "b"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (status == 0) == report["ok"]
    return report


@pytest.fixture
def est(engine):
    return pe.make(engine)


def test_petition_reaches_exactly_20_percent_and_the_committee_responds(engine, est, client, supervisor, tmp_path,
                                                                       capsys):
    r = draft(client, engine, est)
    assert r.status_code == 303 and r.headers["location"] == f"/estates/{pe.SLUG}/petitions/p1?published=4"
    assert "您的提议已发布（账本条目第 4 号）" in client.get(r.headers["location"]).text
    p = client.get(f"{API}/p1").json()
    digest = hashlib.sha256(b"%PDF-1.4 quote").hexdigest()
    assert p["attachments"] == [{"name": "报价单.pdf", "sha256": digest}]
    assert p["totals"] == {"heads": 10, "area": sum(pe.AREA.values())} and p["needed"] == 2
    got = client.get(f"/estates/{pe.SLUG}/petitions/p1/files/{digest}")
    assert got.status_code == 200 and got.content == b"%PDF-1.4 quote"

    # one owner signs, withdraws, another signs: one of ten — one owner short of the line
    assert cosign(client, engine, est, "O03", p).status_code == 201
    assert cosign(client, engine, est, "O03", p, pt.WITHDRAW).status_code == 201
    r = cosign(client, engine, est, "O05", p)
    assert r.status_code == 201 and r.json()["line"] is None
    now = client.get(f"{API}/p1").json()
    assert now["state"] == "collecting" and now["support"] == {"heads": 1, "area": 9000}
    assert len(now["withdrawals"]) == 1 and len(now["signatures"]) == 1
    as_owner(client, engine, est, "O06")
    assert est.voters["O05"] not in client.get(f"/estates/{pe.SLUG}/petitions/p1").text  # pseudonyms: record only
    page = client.get(f"/estates/{pe.SLUG}/petitions/p1").text
    assert "已联名业主：10 人中 1 人（法定比例：2 人）" in page

    # a duplicate signer and an owner signing for someone else are refused, nothing written
    assert cosign(client, engine, est, "O05", p).json()["detail"]["code"] == "already_signed"
    as_owner(client, engine, est, "O06")
    r = client.post(f"{API}/p1/signatures", json=sign_body(est, "O07", p["hash"]))
    assert r.status_code == 403 and r.json()["detail"]["code"] == "wrong_voter"

    # the second signer: 5·2 ≥ 10, the line is reached, the deadline starts
    r = cosign(client, engine, est, "O07", p)
    assert r.status_code == 201
    line = r.json()["line"]
    assert line["support"] == {"heads": 2, "area": 9000 + 10025} and line["at"] == r.json()["seq"]
    now = client.get(f"{API}/p1").json()
    assert now["state"] == "line_reached" and now["line"]["deadline"] > now["line"]["date"]
    r = cosign(client, engine, est, "O05", p, pt.WITHDRAW)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "line_reached"

    # the committee's response: a refusal needs its reasons; then recorded once
    page = supervisor.get(f"/estates/{pe.SLUG}/petitions/p1")
    token = csrf_of(page.text)
    r = supervisor.post(f"/estates/{pe.SLUG}/petitions/p1/response", data={"csrf": token, "kind": "refusal",
                                                                           "reason": ""})
    assert r.status_code == 422
    r = supervisor.post(f"/estates/{pe.SLUG}/petitions/p1/response",
                        data={"csrf": token, "kind": "refusal", "reason": "该事项已于上次业主大会表决。"})
    assert r.status_code == 303
    now = client.get(f"{API}/p1").json()
    assert now["state"] == "answered" and now["response"]["reason"] == "该事项已于上次业主大会表决。"
    assert "该事项已于上次业主大会表决。" in supervisor.get(f"/estates/{pe.SLUG}/petitions/p1").text

    # the notices, newest first, on the estate home; each prints with a QR code of its page
    client.cookies.clear()
    home = client.get(f"/estates/{pe.SLUG}").text
    seqs = [int(s) for s in __import__("re").findall(r'data-seq="(\d+)" data-type="petition', home)]
    assert len(seqs) == 3 and seqs == sorted(seqs, reverse=True)
    printed = client.get(f"/estates/{pe.SLUG}/notices/{seqs[1]}")
    assert printed.status_code == 200 and "qr-code" in printed.text and "20%" in printed.text
    assert client.get(f"/estates/{pe.SLUG}/notices/1").status_code == 404  # the roll entry is no notice

    report = verify_json(engine, tmp_path, capsys)
    assert report["ok"], report["problems"]


def test_draft_refusals_say_why_and_write_nothing(engine, est, client):
    r = draft(client, engine, est, title="")
    assert r.status_code == 422
    r = draft(client, engine, est, buildings="9")
    assert r.status_code == 422 and "9" in r.text
    r = draft(client, engine, est, units="2")
    assert r.status_code == 422
    client.cookies.clear()
    assert client.get(f"/estates/{pe.SLUG}/petitions/new").status_code == 303
    assert client.get(f"{API}").json() == []
    r = client.post(API, json={"title": "t", "text": "x", "matter": "hire_manager"})
    assert r.status_code == 401


def test_json_publish_and_building_scope(engine, est, client):
    as_owner(client, engine, est, "O08")
    r = client.post(API, json={"title": "2栋加装电梯", "text": "2栋业主提议加装电梯。", "matter": "rebuild",
                               "scope": {"buildings": ["2"]}})
    assert r.status_code == 201
    p = r.json()
    assert p["totals"]["heads"] == 4 and p["needed"] == 1
    r = cosign(client, engine, est, "O01", p)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "not_eligible"
    assert cosign(client, engine, est, "O09", p).json()["line"]["support"]["heads"] == 1
    assert "/api/v1/estates/{slug}/petitions/{petition_id}/signatures" in client.get("/api/v1/openapi.json").json()[
        "paths"]


def _append(engine, type_, body):
    """What an operator with the database could write: an entry that skips every rule."""
    with transaction(engine) as s:
        log_id = store.get_estate(s, pe.SLUG).log_id
        e = log.append(s, log_id, type_, body)
        checkpoint.sign(s, log_id, keys.log_key())
        return e.seq


@pytest.mark.parametrize("tamper", ["forged", "outside_scope", "duplicate"])
def test_tampered_signatures_are_named_by_verify(engine, est, client, tmp_path, capsys, tamper):
    as_owner(client, engine, est, "O08")
    p = client.post(API, json={"title": "2栋加装电梯", "text": "提议。", "matter": "rebuild",
                               "scope": {"buildings": ["2"]}}).json()
    assert p["needed"] == 1
    assert client.post(API, json={"title": "全小区", "text": "提议。", "matter": "other_major"}).status_code == 201
    whole = client.get(f"{API}/p2").json()
    assert cosign(client, engine, est, "O02", whole).status_code == 201  # 1 of 10: below the line
    if tamper == "forged":  # O03's voter and key, signed by somebody else's key
        body = sign_body(est, "O03", whole["hash"], key_owner="O04")
        body["key"] = sign_body(est, "O03", whole["hash"])["key"]
        seq = _append(engine, pt.SIGN, {"v": 1, "petition": "p2", **{k: body[k] for k in ("voter", "key", "sig")}})
        words = "does not verify"
    elif tamper == "outside_scope":  # O01 (building 1) signs the building-2 proposal
        body = sign_body(est, "O01", p["hash"])
        seq = _append(engine, pt.SIGN, {"v": 1, "petition": "p1", **{k: body[k] for k in ("voter", "key", "sig")}})
        words = "not an owner in the proposal's scope"
    else:  # O02 signs twice
        body = sign_body(est, "O02", whole["hash"])
        seq = _append(engine, pt.SIGN, {"v": 1, "petition": "p2", **{k: body[k] for k in ("voter", "key", "sig")}})
        words = "already signed"
    report = verify_json(engine, tmp_path, capsys)
    assert not report["ok"]
    named = [pr for pr in report["problems"] if pr["seq"] == seq]
    assert named and words in named[0]["message"], report["problems"]


def test_a_missing_or_false_line_entry_is_named(engine, est, client, tmp_path, capsys):
    as_owner(client, engine, est, "O08")
    p = client.post(API, json={"title": "2栋", "text": "提议。", "matter": "rebuild",
                               "scope": {"buildings": ["2"]}}).json()
    body = sign_body(est, "O09", p["hash"])
    seq = _append(engine, pt.SIGN, {"v": 1, "petition": "p1", **{k: body[k] for k in ("voter", "key", "sig")}})
    report = verify_json(engine, tmp_path, capsys)
    assert [pr["seq"] for pr in report["problems"]] == [seq]
    assert "no petition.line entry follows" in report["problems"][0]["message"]


def test_a_line_past_its_deadline_without_response_is_shown_overdue(engine, est, client):
    from datetime import UTC, datetime

    from voting import petition_store as ps

    then = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    with transaction(engine) as s:
        p, _ = ps.publish(s, pe.SLUG, author=est.voters["O08"], title="2栋门禁", text="提议。", matter="other_major",
                          scope={"buildings": ["2"]}, attachments=[], now=then)
    voter = est.voters["O09"]
    key, sig = pt.sign(pt.SIGN, p.hash, voter, est.key("O09"))
    with transaction(engine) as s:
        line = ps.record_signed(s, pe.SLUG, pt.SIGN, p.id, voter=voter, key=key, sig=sig, by_voter=voter,
                                now=then)["line"]
    assert (line["date"], line["deadline"]) == ("2026-10-01", "2026-10-16")
    page = client.get(f"/estates/{pe.SLUG}/petitions/{p.id}").text
    assert "已过答复期限：业主委员会尚未答复" in page
    assert "已过答复期限" in client.get(f"/estates/{pe.SLUG}/petitions").text
