"""gongjue simulate (issue #9 part 9): a small scripted election over HTTP, on both databases.

The recount of DIR/truth with ``gongjue tally`` equals DIR/result.json (the published result),
and ``gongjue verify DIR`` passes with every check counted."""

from __future__ import annotations

import json

import pytest

from ledger.db import make_engine
from web.cli import main
from web.cli import simulate as sim


@pytest.fixture
def database_url(engine, monkeypatch):
    """GONGJUE_DATABASE_URL naming the test database (each kind)."""
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", url)
    monkeypatch.delenv("GONGJUE_SMS_GATEWAY", raising=False)
    return url


@pytest.mark.parametrize("secrecy,items", [("--secret", "motion,choice,election"), ("--open", "motion")])
def test_simulate_recount_equals_the_published_result_and_verify_passes(database_url, tmp_path, capsys,
                                                                         secrecy, items):
    out = tmp_path / "sim"
    assert main(["simulate", "--voters", "12", secrecy, "--items", items, "--seed", "3", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["tally", "--roll", str(out / "truth" / "roll.csv"), "--agenda", str(out / "truth" / "agenda.json"),
                 "--ballots", str(out / "truth" / "ballots.csv"), "--json"]) == 0
    recount = json.loads(capsys.readouterr().out)
    assert recount == json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert main(["verify", str(out), "--json", "--jobs", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    counts = {row["check"]: row["count"] for row in report["checks"]}
    assert report["ok"] and counts["ballots verified"] == 12 and counts["rounds"] == 1
    assert counts["decisions"] == len(items.split(","))
    if secrecy == "--secret":
        assert counts["decryption shares"] == 2 * counts["aggregates"] > 0
    ballots = (out / "truth" / "ballots.csv").read_text(encoding="utf-8").splitlines()
    assert len(ballots) == 13 and ballots[0].startswith("owner,")
    roll = (out / "truth" / "roll.csv").read_text(encoding="utf-8")
    assert "phone" not in roll.splitlines()[0] and ",DEV,yes" in roll


def test_simulated_estate_is_realistic():
    import random

    est = sim.make_estate(200, random.Random(5))
    owners = {f.owner for f in est.flats}
    assert "DEV" in owners and len(owners) == len(est.owners) + 1 and len(est.voters) == 200
    per_owner = {o: sum(f.owner == o for f in est.flats) for o in est.owners}
    assert any(n > 1 for n in per_owner.values()) and all(1 <= n <= 3 for n in per_owner.values())
    assert all(5000 <= f.area <= 15000 for f in est.flats) and len({f.building for f in est.flats}) >= 1
    assert len({(f.building, f.unit, f.room) for f in est.flats}) == len(est.flats)
    assert "DEV" not in est.phones and len(set(est.phones.values())) == len(est.phones)


def test_simulate_refuses_a_full_directory_and_an_unknown_item_kind(database_url, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["simulate", "--voters", "2", "--out", str(tmp_path / "full"), "--estate", "sim-full"]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["simulate", "--voters", "2", "--items", "bogus", "--out", str(tmp_path / "a")]) == 2
    assert "unknown kind 'bogus'" in capsys.readouterr().err
    make_engine(database_url).dispose()
