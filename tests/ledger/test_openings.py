"""Roll openings for auditors (SPEC §2.7, §2.8, §6.3; issue #7.5): never in the public bundle.

``gongjue export --openings ODIR`` writes ``ODIR/roll-<v>.json`` (0600) beside the bundle;
``gongjue verify BUNDLE --openings ODIR`` opens each roll entry with them; the audit page offers
``openings.zip`` only to staff holding the role auditor or supervisor in that estate.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.cli import main

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/roll.csv"


@pytest.fixture
def estate(engine, monkeypatch, capsys):
    """The example roll imported twice (versions 1 and 2) through the CLI."""
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    for _ in range(2):
        assert main(["import-roll", "--estate", SLUG, "--name", "枫林苑", str(EXAMPLE)]) == 0
    capsys.readouterr()
    return engine


def test_export_writes_openings_beside_the_bundle_and_verify_opens_them(estate, tmp_path, capsys):
    bundle, odir = tmp_path / "bundle", tmp_path / "openings"
    assert main(["export", "--estate", SLUG, "--out", str(bundle), "--openings", str(odir)]) == 0
    assert "wrote 2 openings file(s)" in capsys.readouterr().out
    assert sorted(p.name for p in odir.iterdir()) == ["roll-1.json", "roll-2.json"]
    assert stat.S_IMODE(os.stat(odir / "roll-1.json").st_mode) == 0o600
    opened = json.loads((odir / "roll-2.json").read_text())
    assert opened["origin"] == ORIGIN and opened["version"] == 2 and opened["seq"] == 2
    public = (bundle / "entries.jsonl").read_text()
    owners = {v["owner"] for v in opened["voters"]}
    # no owner id in the public bundle: as a word of its own (ids such as "O1" also turn up inside the
    # base64 of a signature, by chance: that is not a leak, and a plain substring test failed on it)
    leaked = [o for o in owners if re.search(rf"(?<![A-Za-z0-9_+/=-]){re.escape(o)}(?![A-Za-z0-9_+/=-])", public)]
    assert owners and leaked == []
    assert not list(bundle.rglob("roll-*.json"))
    assert main(["verify", str(bundle), "--openings", str(odir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["openings"] == [1, 2]


def test_verify_names_a_roll_entry_its_openings_do_not_open(estate, tmp_path, capsys):
    bundle, odir = tmp_path / "bundle", tmp_path / "openings"
    assert main(["export", "--estate", SLUG, "--out", str(bundle), "--openings", str(odir)]) == 0
    opened = json.loads((odir / "roll-1.json").read_text())
    opened["parts"][0]["area"] += 100  # one flat 1 m² larger
    (odir / "roll-1.json").write_text(json.dumps(opened, ensure_ascii=False))
    (odir / "roll-7.json").write_text("{}")
    capsys.readouterr()
    assert main(["verify", str(bundle), "--openings", str(odir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["openings"] == [2]
    problems = [(p["check"], p["seq"], p["message"]) for p in report["problems"]]
    assert ("content", 1, "entry 1: 名册公开值 / openings roll-1.json: parts: the opened parts do not give the "
                          "entry's commitments (a part added, removed or changed)") in problems
    assert ("content", None, "名册公开值 / openings roll-7.json: 账本中没有这一版名册 / the bundle has no roll entry "
                             "of that version") in problems
    assert report["first"]["seq"] == 1


def test_openings_never_go_inside_the_bundle_or_overwrite(estate, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    assert main(["export", "--estate", SLUG, "--out", str(bundle), "--openings", str(bundle / "openings")]) == 2
    assert "must not go inside the public bundle" in capsys.readouterr().err
    assert not bundle.exists()  # nothing written
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "roll-1.json").write_text("kept")
    assert main(["export", "--estate", SLUG, "--out", str(bundle), "--openings", str(tmp_path / "o")]) == 2
    assert "already holds roll-1.json; not overwritten" in capsys.readouterr().err
    assert (tmp_path / "o" / "roll-1.json").read_text() == "kept" and not bundle.exists()


def test_openings_download_only_for_the_estates_auditor_or_supervisor(estate):
    from tests.web.conftest import add_staff, sign_in

    add_staff(estate, "audrey", "auditor", estates=(SLUG,))
    add_staff(estate, "otto", "auditor", estates=("other-estate",))
    add_staff(estate, "scott", "scrutineer", estates=(SLUG,))
    add_staff(estate, "sam", "supervisor", estates=(SLUG,))
    url = f"/estates/{SLUG}/audit/openings.zip"
    app = create_app(estate)
    with TestClient(app, follow_redirects=False) as anonymous:
        assert anonymous.get(url).status_code == 401
        assert "openings.zip" not in anonymous.get(f"/estates/{SLUG}/audit").text
    for username, status in (("otto", 403), ("scott", 403), ("audrey", 200), ("sam", 200)):
        with TestClient(app, follow_redirects=False) as client:
            assert sign_in(client, username).status_code == 303
            r = client.get(url)
            assert r.status_code == status, (username, r.text[:200])
            page = client.get(f"/estates/{SLUG}/audit").text
            assert ("openings.zip" in page) == (status == 200)
            if status == 200:
                assert r.headers["content-disposition"] == f'attachment; filename="{SLUG}-openings.zip"'
                names = sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
                assert names == ["openings/roll-1.json", "openings/roll-2.json"]
            else:
                assert "审计员" in r.text or "auditor" in r.text
    with TestClient(app) as anonymous:  # the public bundle never carries them
        z = zipfile.ZipFile(io.BytesIO(anonymous.get(f"/estates/{SLUG}/audit/bundle.zip").content))
        assert not [n for n in z.namelist() if "openings" in n]
