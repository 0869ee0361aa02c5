"""`gongjue credentials generate` against a real database (SQLite file and PostgreSQL)."""

import json
import os
import re
import stat
import subprocess
import sys

from identity import credential as cr
from identity import store
from identity.roll import read_roll
from ledger.db import transaction
from web.cli import main

ROLL = ("楼栋,单元,房号,面积,业主编号\n1,1,101,88.50,A\n1,1,102,90,A\n2,,201,100.05,B\n3,2,301,70,C\n").encode()


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_generate_from_current_roll(engine, tmp_path, monkeypatch, capsys):
    with transaction(engine) as s:
        store.import_roll(s, "maple-court", read_roll(b"building,room,area,owner\n1,101,50,Z\n", "old.csv"),
                          filename="old.csv", data=b"", name="枫林苑")
    with transaction(engine) as s:
        store.import_roll(s, "maple-court", read_roll(ROLL, "r.csv"), filename="r.csv", data=ROLL)
    monkeypatch.setenv("GONGJUE_DATABASE_URL", _url(engine))
    out = tmp_path / "letters"
    status = main(["credentials", "generate", "--estate", "maple-court", "--out", str(out),
                   "--base-url", "https://vote.example.cn/maple-court"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "3 credential letters for gongjue.local/maple-court (roll version 2)" in printed.out
    keys = json.loads((out / "public_keys.json").read_text("utf-8"))
    assert keys["estate"] == "gongjue.local/maple-court"
    assert [c["voter"] for c in keys["credentials"]] == ["A", "B", "C"]  # current roll only, roll order
    letters = (out / "letters.html").read_text("utf-8")
    assert stat.S_IMODE((out / "letters.html").stat().st_mode) == 0o600
    codes = [cr.normalise_code(c) for c in re.findall(r'<div class="code">([2-9A-Z-]+)</div>', letters)]
    assert [cr.public_key_hex(c, keys["estate"]) for c in codes] == [c["public_key"] for c in keys["credentials"]]
    assert "1栋 1单元 101室" in letters and "2栋 201室" in letters and "3栋 2单元 301室" in letters
    assert "https://vote.example.cn/maple-court/vote" in letters
    for code in codes:  # the secret codes never reach the terminal
        assert code not in printed.out + printed.err and cr.format_code(code) not in printed.out + printed.err
    # a second run refuses and leaves the first letters intact
    again = main(["credentials", "generate", "--estate", "maple-court", "--out", str(out)])
    assert again == 2 and "already exists" in capsys.readouterr().err
    assert (out / "letters.html").read_text("utf-8") == letters


def test_unknown_estate_is_refused(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", _url(engine))
    status = main(["credentials", "generate", "--estate", "nowhere", "--out", str(tmp_path / "o")])
    assert status == 2
    assert capsys.readouterr().err == ("gongjue: 小区 'nowhere' 不存在或尚未导入名册 / estate 'nowhere' has no roll; "
                                       "import one with `gongjue import-roll` first\n")
    assert not (tmp_path / "o").exists()


def test_command_line_end_to_end(tmp_path):
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}")
    roll = tmp_path / "roll.csv"
    roll.write_bytes(ROLL)
    run = lambda *a: subprocess.run([sys.executable, "-m", "web.cli", *a], capture_output=True, text=True,  # noqa: E731
                                    env=env, cwd=tmp_path)
    assert run("import-roll", "--estate", "maple-court", "--name", "枫林苑", str(roll)).returncode == 0
    done = run("credentials", "generate", "--estate", "maple-court", "--out", "out")
    assert done.returncode == 0, done.stderr
    letters = (tmp_path / "out" / "letters.html").read_text("utf-8")
    assert letters.count('<section class="letter"') == 3
    assert "https://gongjue.local/estates/maple-court/vote#c=" not in letters  # only inside the QR code
    assert "https://gongjue.local/estates/maple-court/vote</strong>" in letters
