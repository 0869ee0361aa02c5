"""``gongjue round`` at the console, on both databases: create, update, announce, extend,
nominate, vet, show and list; refusals exit 2 with the code and a bilingual message."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from identity.credential import generate_code, signing_key
from tests.voting.rounds_fixtures import SLUG, credential_key, make_estate
from web import cli

FMT = "%Y-%m-%dT%H:%M:%SZ"
CODES = {o: generate_code(random.Random(o).randbytes) for o in ("O-1", "O-2")}  # fixed codes for the test


def CODE_KEYS(owner: str, origin: str):  # noqa: N802
    """Credential keys derived from codes, as the authority's letters give them (SPEC §4.3)."""
    return signing_key(CODES[owner], origin) if owner in CODES else credential_key(owner)


@pytest.fixture
def env(engine, monkeypatch, tmp_path):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return tmp_path


def write(path, doc) -> str:
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return str(path)


def test_round_commands(engine, env, capsys, monkeypatch):
    est = make_estate(engine, keys=CODE_KEYS)
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    items = [{"id": "m1", "kind": "motion", "matter": "hire_manager"},
             {"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 1, "candidates": ["张三"]}]
    spec = {"round": "r1", "secrecy": "open", "cosigners": 2, "agenda": {"items": items}, "opens": opens.strftime(FMT),
            "closes": (opens + timedelta(days=7)).strftime(FMT)}
    path = write(env / "spec.json", spec)
    assert cli.main(["round", "create", "--estate", SLUG, "--spec", path]) == 0
    assert cli.main(["round", "create", "--estate", SLUG, "--spec", path]) == 2
    assert "round_exists" in capsys.readouterr().err
    bad = write(env / "bad.json", spec | {"form": "phone"})
    assert cli.main(["round", "update", "--estate", SLUG, "--round", "r1", "--spec", bad]) == 2
    assert "bad_spec" in capsys.readouterr().err
    (env / "float.json").write_text('{"round": "r1", "cosigners": 1.5}', "utf-8")
    assert cli.main(["round", "create", "--estate", SLUG, "--spec", str(env / "float.json")]) == 2
    assert "小数" in capsys.readouterr().err
    assert cli.main(["round", "announce", "--estate", SLUG, "--round", "r1"]) == 2
    assert "candidates_mismatch" in capsys.readouterr().err  # 张三 not nominated yet
    (env / "st.txt").write_text("服务业主", "utf-8")
    sigs = env / "sigs.json"
    for owner in ("O-1", "O-2"):  # owners co-sign with their credential codes
        monkeypatch.setenv("GONGJUE_CREDENTIAL_CODE", CODES[owner])
        assert cli.main(["round", "sign-nomination", "--origin", est.origin, "--round", "r1", "--item", "e1",
                         "--candidate", "张三", "--statement", str(env / "st.txt"), "--signatures", str(sigs)]) == 0
    assert cli.main(["round", "sign-nomination", "--origin", est.origin, "--round", "r1", "--item", "e1",
                     "--candidate", "张三", "--statement", str(env / "st.txt"), "--signatures", str(sigs)]) == 2
    assert "already" in capsys.readouterr().err
    monkeypatch.setenv("GONGJUE_CREDENTIAL_CODE", "not a code")
    assert cli.main(["round", "sign-nomination", "--origin", est.origin, "--round", "r1", "--item", "e1",
                     "--candidate", "张三", "--signatures", str(sigs)]) == 2
    assert cli.main(["round", "nominate", "--estate", SLUG, "--round", "r1", "--item", "e1", "--candidate", "张三",
                     "--by", "owners", "--statement", str(env / "st.txt"), "--signatures", str(sigs)]) == 0
    assert cli.main(["round", "announce", "--estate", SLUG, "--round", "r1"]) == 2
    assert "candidates_not_vetted" in capsys.readouterr().err
    assert cli.main(["round", "vet", "--estate", SLUG, "--round", "r1", "--item", "e1", "--candidate", "张三",
                     "--status", "approved", "--note", "ok"]) == 0
    assert cli.main(["round", "announce", "--estate", SLUG, "--round", "r1"]) == 0
    assert "announced round r1" in capsys.readouterr().out
    assert cli.main(["round", "update", "--estate", SLUG, "--round", "r1", "--spec", path]) == 2
    assert "agenda_locked" in capsys.readouterr().err
    assert cli.main(["round", "extend", "--estate", SLUG, "--round", "r1", "--closes",
                     opens.strftime(FMT), "--reason", "x"]) == 2
    assert "not_later" in capsys.readouterr().err
    later = (opens + timedelta(days=9)).strftime(FMT)
    assert cli.main(["round", "extend", "--estate", SLUG, "--round", "r1", "--closes", later,
                     "--reason", "业主外出 / owners away"]) == 0
    capsys.readouterr()
    assert cli.main(["round", "show", "--estate", SLUG, "--round", "r1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "announced" and shown["closes"] == later and shown["candidates"][0]["statement"] == "服务业主"
    assert cli.main(["round", "show", "--estate", SLUG, "--round", "r1"]) == 0
    text = capsys.readouterr().out
    assert "r1\tannounced" in text and "张三" in text and "owners away" in text
    assert cli.main(["round", "list", "--estate", SLUG]) == 0
    assert capsys.readouterr().out.startswith("r1\tannounced")
    assert cli.main(["round", "show", "--estate", SLUG, "--round", "r9"]) == 2
    assert "no_such_round" in capsys.readouterr().err


def test_secret_round_with_trustee_key_files(engine, env, capsys):
    est = make_estate(engine)
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(days=16)
    spec = {"round": "s1", "agenda": {"items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]},
            "opens": opens.strftime(FMT), "closes": (opens + timedelta(days=7)).strftime(FMT)}
    path = write(env / "spec.json", spec)
    keys = [write(env / f"t{j}.pub", k) for j, k in reversed(list(enumerate(est.trustees("s1")["keys"], 1)))]
    wrong = [write(env / f"w{j}.pub", k) for j, k in enumerate(est.trustees("s2")["keys"], 1)]
    args = ["round", "create", "--estate", SLUG, "--spec", path]
    assert cli.main([*args, "--trustee-key", wrong[0], "--trustee-key", wrong[1]]) == 2
    assert "maple-court/s1" in capsys.readouterr().err  # the ceremony context the keys must carry
    assert cli.main([*args, "--trustee-key", keys[0], "--dealer", keys[1]]) == 2
    assert cli.main([*args, "--trustee-key", keys[0], "--trustee-key", keys[1]]) == 0
    assert cli.main(["round", "announce", "--estate", SLUG, "--round", "s1"]) == 0
    capsys.readouterr()
    assert cli.main(["round", "show", "--estate", SLUG, "--round", "s1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["secrecy"] == "secret" and len(shown["joint_key"]) == 64
