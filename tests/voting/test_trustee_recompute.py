"""Trustees decrypt only what they recomputed (issue #7 part 2, SPEC §7.4–§7.5).

Each test builds a real estate ledger (both databases), exports it, and asks
``voting.trustee_check`` for something to decrypt: the honest round gives shares that combine to
the exact totals; every attack is refused with its reason.
"""

import json

import pytest

from tests.voting import round_scenario as rs
from tests.voting.round_scenario import ROUND_ID, TRUSTEE_SECRETS
from voting import trustee_check
from voting.trustee_check import DecryptRefused


def _refused(engine, tmp_path, **attack) -> str:
    rs.build(engine, tmp_path / "b", **attack)
    with pytest.raises(DecryptRefused) as exc:
        trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    return str(exc.value)


def test_honest_round_shares_combine_to_the_exact_totals(engine, tmp_path):
    sc = rs.build(engine, tmp_path / "b")
    target = trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    assert target.ballots == 3 and target.aggregates.ballots == 3
    assert target.aggregates.total_weight == 8850 + 12000 + 6543
    shares = [trustee_check.shares_for(target, j, s) for j, s in TRUSTEE_SECRETS.items()]
    result = rs.combine(sc, target.aggregates, shares)
    assert [(r.id, r.heads, r.area) for r in result] == [("m1", rs.HEADS, rs.AREA)]


def test_a_zipped_bundle_is_accepted(engine, tmp_path):
    import zipfile

    rs.build(engine, tmp_path / "b")
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as zf:
        for f in sorted((tmp_path / "b").rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tmp_path / "b").as_posix())
    assert trustee_check.decryptable(tmp_path / "bundle.zip", ROUND_ID).ballots == 3


def test_fabricated_one_ballot_aggregate_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, one_ballot_aggregate=True)
    assert "ballots is 1, the record holds 3 counted ballot(s)" in message
    assert "aggregates: ballots is 1, recomputed 3" in message
    assert "item 'm1' selection 0 heads" in message and "item 'm1' selection 2 area" in message


def test_weight_times_ten_in_the_snapshot_is_refused(engine, tmp_path):
    sc = rs.build(engine, tmp_path / "b", weight_times_ten=True)
    with pytest.raises(DecryptRefused) as exc:
        trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    assert (f"快照权重与名册不符 / voter {sc.pseudonym['A-01']}: the snapshot weighs 88500, the roll entry gives "
            "8850 (0.01 m²)") in str(exc.value)


def test_ballot_from_a_revoked_key_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, revoked_casts=True)
    assert "ballot signed with a credential key that is revoked" in message


def test_ballot_from_an_unregistered_key_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, unregistered_casts=True)
    assert "ballot signed with a credential key that is not registered" in message


def test_second_ballot_of_one_voter_is_reported_and_refused(engine, tmp_path):
    sc = rs.build(engine, tmp_path / "b", second_ballot=True)
    with pytest.raises(DecryptRefused) as exc:
        trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    a = sc.pseudonym["A-01"]
    assert f"a second ballot of voter {a}: the first, entry" in str(exc.value)
    assert "counts; this one does not" in str(exc.value)


def test_ballot_for_another_round_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, other_round_ballot=True)
    assert "cast for another round (fingerprint differs)" in message


def test_round_not_closed_is_refused_with_the_reason(engine, tmp_path):
    message = _refused(engine, tmp_path, close=False)
    assert f"round {ROUND_ID} is not closed" in message
    assert "differences between successive decryptions reveal individual votes" in message


def test_open_round_has_nothing_to_decrypt(engine, tmp_path):
    message = _refused(engine, tmp_path, secrecy="open")
    assert "open (named-vote) round: there is nothing to decrypt" in message


def test_unknown_round_is_refused(engine, tmp_path):
    rs.build(engine, tmp_path / "b")
    with pytest.raises(DecryptRefused, match="the record has no round 'r9'"):
        trustee_check.decryptable(tmp_path / "b", "r9")


def test_tampered_bundle_is_refused(engine, tmp_path):
    rs.build(engine, tmp_path / "b")
    path = tmp_path / "b" / "entries.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if b'"type":"ballot"' in line)
    lines[i] = lines[i].replace(b'"factor":"sms"', b'"factor":"pin"')
    path.write_bytes(b"".join(lines))
    with pytest.raises(DecryptRefused) as exc:
        trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    assert "the record does not verify" in str(exc.value)
    assert f"entry {i - 1}" in str(exc.value) or f"entry {i}" in str(exc.value)


def test_a_key_not_recorded_for_the_trustee_is_refused(engine, tmp_path):
    rs.build(engine, tmp_path / "b")
    target = trustee_check.decryptable(tmp_path / "b", ROUND_ID)
    with pytest.raises(DecryptRefused, match="this key is not the key recorded for trustee 1"):
        trustee_check.shares_for(target, 1, TRUSTEE_SECRETS[2])
    with pytest.raises(DecryptRefused, match="has no trustee 3"):
        trustee_check.shares_for(target, 3, TRUSTEE_SECRETS[1])
    json.dumps(trustee_check.shares_for(target, 2, TRUSTEE_SECRETS[2]))


def test_a_plaintext_ballot_in_a_secret_round_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, open_ballot_cast=True)
    assert "ballot refused: ballot: kind must be 'secret'" in message


def test_many_ballots_verify_the_same_in_worker_processes(sqlite_engine, tmp_path):
    """70 ballots: with jobs=2 the ballots are verified in two worker processes (big rounds)."""
    sc = rs.build(sqlite_engine, tmp_path / "b", extra_voters=67)
    one = trustee_check.decryptable(tmp_path / "b", ROUND_ID, jobs=1)
    two = trustee_check.decryptable(tmp_path / "b", ROUND_ID, jobs=2)
    assert one.aggregates == two.aggregates and two.ballots == 70
    shares = [trustee_check.shares_for(two, j, s) for j, s in TRUSTEE_SECRETS.items()]
    result = rs.combine(sc, two.aggregates, shares)
    assert [(r.heads, r.area) for r in result] == [((2, 67, 1), (15393, 67 * 5000, 12000))]


def _drop_voter(body):
    del body["voters"][-1]
    body["totals"] = {"heads": len(body["voters"]), "area": sum(v["area"] for v in body["voters"])}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.update(fingerprint="00" * 32), "轮次指纹不符 / fingerprint 0000000000000000… is not the fingerprint"),
    (lambda b: b["roll"].update(leaf_hash="ab" * 32), "名册快照哈希不符 / roll.leaf_hash abababababababab… is not"),
    (lambda b: b["roll"].update(seq=0), "the round snapshots entry 0, but the latest roll entry before it is 1"),
    (lambda b: b["trustees"]["keys"][1]["proof"].update(c="01" + "00" * 31), "监票人公钥无效 / trustees:"),
    (lambda b: b.update(joint_key=b["trustees"]["keys"][0]["key"]), "joint_key is not the sum the trustees' keys give"),
    (_drop_voter, "the whole-estate snapshot leaves out 1 voter(s) of the roll"),
])
def test_a_false_announcement_is_refused(engine, tmp_path, mutate, message):
    assert message in _refused(engine, tmp_path, mutate_round=mutate)


def test_a_round_on_an_outdated_roll_is_refused(engine, tmp_path):
    message = _refused(engine, tmp_path, second_roll=True)
    assert "快照不是此前最新的名册" in message and "but the latest roll entry before it is" in message
