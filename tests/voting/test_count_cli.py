"""``gongjue trustee decrypt`` then ``gongjue trustee submit``: the trustees' own tool recomputes
and writes the shares, the operator records them on the server, the result is published
(SPEC §7.5, §7.10); both databases."""

from __future__ import annotations

import json

import pytest

from ledger.db import reading
from tests.voting import count_estate as ce
from tests.voting.cast_estate import SLUG
from tests.voting.test_count import EXPECTED, VOTES
from voting import count_round, scheduler
from web.cli import main
from web.cli.keyfiles import key_file, write_json

PASSPHRASE = "correct horse battery"


@pytest.fixture
def cli_env(engine, monkeypatch):
    monkeypatch.setenv("GONGJUE_TRUSTEE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))


def test_decrypt_then_submit_publishes_the_result(engine, tmp_path, cli_env, capsys):
    rnd = ce.make(engine)
    for owner, choice in VOTES.items():
        rnd.cast(owner, choice)
    scheduler.run_once(engine, rnd.after)
    rnd.export(tmp_path / "bundle")
    for j, secret in ce.TRUSTEE_SECRETS.items():
        write_json(str(tmp_path / f"k{j}.json"), key_file(j, f"{rnd.origin}/r1", secret, None, PASSPHRASE.encode()),
                   private=True)
        assert main(["trustee", "decrypt", "--bundle", str(tmp_path / "bundle"), "--round", "r1",
                     "--key", str(tmp_path / f"k{j}.json"), "--out", str(tmp_path / f"s{j}.json")]) == 0
    assert main(["trustee", "submit", "--estate", SLUG, "--round", "r1", str(tmp_path / "s1.json")]) == 0
    assert main(["trustee", "submit", "--estate", SLUG, "--round", "r1", str(tmp_path / "s1.json")]) == 2
    assert "[duplicate_shares]" in capsys.readouterr().err
    assert main(["trustee", "submit", "--estate", SLUG, "--round", "r1", str(tmp_path / "s2.json")]) == 0
    assert "the result is published" in capsys.readouterr().err
    with reading(engine) as s:
        assert count_round.published(s, SLUG, "r1")["result"]["tally"] == EXPECTED
    bad = json.loads((tmp_path / "s1.json").read_text())
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["trustee", "submit", "--estate", SLUG, "--round", "r1", str(tmp_path / "bad.json")]) == 2
    assert bad["trustee"] == 1


def test_gongjue_verify_names_a_forged_share_entry(engine, tmp_path, capsys):
    from identity import store
    from ledger import log
    from ledger.db import transaction

    rnd = ce.make(engine)
    for owner, choice in VOTES.items():
        rnd.cast(owner, choice)
    scheduler.run_once(engine, rnd.after)
    shares = rnd.shares(tmp_path / "b1")
    forged = json.loads(json.dumps(shares[2]))
    forged["items"][0]["area"][1]["d"] = shares[1]["items"][0]["area"][1]["d"]
    with transaction(engine) as s:
        seq = log.append(s, store.get_estate(s, SLUG).log_id, "round.shares",
                         {"v": 1, "round": "r1", "shares": forged}, time=rnd.after).seq
    rnd.export(tmp_path / "b2")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "b2"), "--json"]) != 0
    report = json.loads(capsys.readouterr().out)
    assert any(p["seq"] == seq and "item 'm1' area 1" in p["message"] for p in report["problems"]), report["problems"]
