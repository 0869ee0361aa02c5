"""The audit's fast paths check everything the plain ones do (issue #9 "Speed", SPEC §2.8, §7.4).

A real round of 70 ballots (``round_scenario``) is audited with two jobs and the parallel
thresholds lowered, so that the credential keys are point-checked by worker processes, the
ballots are verified by workers, the tally columns are summed by workers and the older
checkpoints are opened by workers; a bad proof or a bad signature in the LAST ballot, a voter key
that is not a point and a checkpoint with a bad signature are each still found and named."""

from __future__ import annotations

import json

import pytest

from identity import authority
from ledger import verify
from ledger.entry import canonical, parse_entry
from tests.voting import round_scenario as rs
from voting import round_audit
from voting.crypto import ballot, ed25519
from web.cli.ledger import content_checks

LAST = 69  # the 70th ballot


@pytest.fixture
def bundle(sqlite_engine, tmp_path, monkeypatch):
    monkeypatch.setattr(authority, "PARALLEL_POINTS", 4)
    monkeypatch.setattr(authority, "_POINTS", {})
    rs.build(sqlite_engine, tmp_path / "b", extra_voters=67)
    return tmp_path / "b"


def _entries(path):
    return [parse_entry(line) for line in (path / "entries.jsonl").read_bytes().splitlines()]


def _ballot_seqs(entries):
    return [e.seq for e in entries if e.type == "ballot"]


def _with_body(entries, seq, change):
    body = json.loads(canonical(entries[seq].body))
    change(body)
    e = entries[seq]
    return entries[:seq] + [e._replace(body=body)] + entries[seq + 1:]


def _resigned(change):
    """``change`` the signed ballot's body, then sign it again with the voter's own credential key
    (so only the proofs can catch the change)."""
    owners = [*rs.AREAS, *(f"E-{k:03d}" for k in range(67))]
    keys = {rs.credential_key(o).verify_key.encode().hex(): rs.credential_key(o) for o in owners}

    def apply(body):  # noqa: ANN001, ANN202
        change(body)
        signed = body["ballot"]
        signed["sig"] = keys[signed["ballot"]["voter"]].sign(ballot.signing_bytes(signed["ballot"])).signature.hex()

    return apply


def _audit(entries, origin, jobs):
    return round_audit.check_log(entries, origin, jobs=jobs)


def test_the_honest_round_passes_with_workers(bundle):
    report = verify.verify_bundle(bundle, checks=content_checks(), jobs=2)
    assert report.ok, report.first
    assert report.counts["ballots verified"] == 70 and report.counts["aggregates"] == 6  # 3 selections × (heads, area)


@pytest.mark.parametrize(("change", "message"), [
    (_resigned(lambda b: b["ballot"]["ballot"]["items"][0]["selections"][2]["proof"]["c"].reverse()),
     "item 'm1' selection 2: selection proof does not verify"),
    (lambda b: b["ballot"].update(sig=b["ballot"]["sig"][:-2] + ("00" if b["ballot"]["sig"][-2:] != "00" else "01")),
     "signature does not verify"),
    (_resigned(lambda b: b["ballot"]["ballot"]["items"][0]["count_proof"]["z"].append("00" * 32)),
     "item 'm1': count proof"),
    (_resigned(lambda b: b["ballot"]["ballot"]["items"][0]["count_proof"].update(z=["00" * 32])),
     "count proof does not verify"),
])
def test_a_bad_last_ballot_is_named_with_workers(bundle, change, message):
    entries = _entries(bundle)
    origin = entries[0].body["origin"]
    seq = _ballot_seqs(entries)[LAST]
    bad = _with_body(entries, seq, change)
    one, two = _audit(bad, origin, 1), _audit(bad, origin, 2)
    assert one == two
    assert [s for s, _ in two if s == seq], two
    first = next(m for s, m in two if s == seq)
    assert "选票验证失败 / ballot refused" in first
    assert message in first
    assert not [s for s, m in two if s is not None and s < seq and "ballot refused" in m]


def test_a_registered_key_that_is_not_a_point_is_found_by_the_workers(bundle):
    entries = _entries(bundle)
    origin = entries[0].body["origin"]
    seq = next(e.seq for e in entries if e.type == "credentials")
    small_order = "00" * 32  # (0, 1)·… a small-order encoding: never a valid key
    bad = _with_body(entries, seq, lambda b: b["statement"]["credentials"][40].update(public_key=small_order))
    problems = list(authority.check_log(iter(bad), verify.VerifyContext(origin, "", 2)))
    assert problems and problems[0][0] == seq
    assert "credentials[40].public_key" in problems[0][1] and "not a valid Ed25519 public key" in problems[0][1]
    assert authority._POINTS[small_order] is False
    assert bytes(32) not in ed25519._VALID


def test_checkpoints_opened_by_workers_report_what_the_main_process_does(tmp_path, monkeypatch):
    from ledger import keys
    from ledger.db import make_engine, migrate
    from tests.ledger.helpers import fill
    from web.cli import main

    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(engine)
    fill(engine, "gongjue.local/maple-court", 60, key=keys.log_key(), sign_each=True)  # a checkpoint per entry
    engine.dispose()
    bundle = tmp_path / "b"
    assert main(["export", "--estate", "maple-court", "--out", str(bundle)]) == 0
    monkeypatch.setattr(verify, "PARALLEL_CHECKPOINTS", 4)
    started = []
    real = verify._PendingCheckpoints

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "_PendingCheckpoints", spy)
    names = sorted((bundle / "checkpoints").iterdir(), key=lambda p: int(p.name))
    assert len(names) >= 58
    good = verify.verify_bundle(bundle, checks=verify.NO_CONTENT_CHECKS, jobs=2)
    assert started and good.ok and good.checkpoints == sorted(int(p.name) for p in names)
    # a checkpoint carrying another checkpoint's signature: refused, named, the others still used
    victim, donor = names[-7], names[-6]
    text, other = victim.read_text(), donor.read_text()
    victim.write_text(text[:text.rindex("\n\n") + 2] + other[other.rindex("\n\n") + 2:])
    one = verify.verify_bundle(bundle, checks=verify.NO_CONTENT_CHECKS, jobs=1)
    two = verify.verify_bundle(bundle, checks=verify.NO_CONTENT_CHECKS, jobs=2)
    assert one.to_json() == two.to_json()
    assert [(p.check, p.seq) for p in two.problems] == [("signature", None)]
    assert f"checkpoint checkpoints/{victim.name}: signature by" in two.problems[0].message
    assert int(victim.name) not in two.checkpoints and int(donor.name) in two.checkpoints
