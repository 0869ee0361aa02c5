"""`gongjue import-roll` as a supervisor runs it."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from identity.models import RollPart, RollVersion
from ledger.db import make_engine, transaction


def gongjue(tmp_path, *args):
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}",
               GONGJUE_LOG_KEY_FILE=str(tmp_path / "log.key"))
    return subprocess.run([sys.executable, "-m", "web.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path)


def test_import_roll_gb18030_file(tmp_path):
    roll = tmp_path / "名册.csv"
    roll.write_bytes("楼栋,单元,房号,面积,业主编号,开发商持有\r\n1,1,101,88.50,A,否\r\n1,1,102,90,A,否\r\n"
                     "2,1,101,100.05,D,是\r\n".encode("gb18030"))
    done = gongjue(tmp_path, "import-roll", "--estate", "maple-court", "--name", "枫林苑", str(roll))
    assert done.returncode == 0, done.stderr
    assert "第 1 版名册" in done.stdout and "3 套房屋 parts, 2 表决权人 voters, 278.55 m²" in done.stdout
    again = gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(roll))
    assert again.returncode == 0 and "第 2 版名册" in again.stdout


def test_bad_roll_refused_with_line_numbers_and_nothing_written(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("building,room,area,owner\n1,101,50,A\n")
    assert gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(good)).returncode == 0
    bad = tmp_path / "bad.csv"
    rows = ["building,room,area,owner"] + [f"1,{100 + i},50,O{i}" for i in range(1, 811)] + ["1,999,12.345,X"]
    bad.write_text("\n".join(rows) + "\n")
    done = gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(bad))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines()[0] == f"{bad}:812: 面积 '12.345' 超过两位小数 / area '12.345' has more than two decimals"
    assert "nothing was written" in done.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RollVersion)) == 1
        assert s.scalar(select(func.count()).select_from(RollPart)) == 1


def test_missing_file_and_bad_slug(tmp_path):
    done = gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(tmp_path / "none.csv"))
    assert done.returncode == 2 and "cannot read" in done.stderr
    f = tmp_path / "r.csv"
    f.write_text("building,room,area,owner\n1,101,50,A\n")
    done = gongjue(tmp_path, "import-roll", "--estate", "Bad Slug", str(f))
    assert done.returncode == 2 and "estate slug" in done.stderr


def test_another_log_key_is_refused_cleanly_and_nothing_written(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("building,room,area,owner\n1,101,50,A\n")
    assert gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(f)).returncode == 0
    (tmp_path / "log.key").rename(tmp_path / "old.key")  # a new key would be made on next use
    done = gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(f))
    assert done.returncode == 1
    assert "refusing to sign with another key" in done.stderr and "Traceback" not in done.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RollVersion)) == 1


# --- issue #8.3: database refusals are clear messages; erasure from the command line -------------

def _cli(engine, monkeypatch, capsys, *args):
    from web.cli import main

    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False)
                       .replace("postgresql+psycopg://", "postgresql://"))
    capsys.readouterr()
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("error, message", [
    (OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")),
     "数据库忙（被锁定），未写入任何内容，请稍后重试 / the database is locked by another process; nothing was written"),
    (IntegrityError("INSERT", {}, Exception("duplicate key value violates unique constraint")),
     "数据库拒绝写入，未写入任何内容 / the database refused the write; nothing was written"),
])
def test_locked_or_refusing_database_is_a_message_not_a_traceback(engine, tmp_path, monkeypatch, capsys, error, message):
    from identity import store

    roll = tmp_path / "roll.csv"
    roll.write_text("building,room,area,owner\n1,101,50,A\n")

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(store, "import_roll_file", refuse)
    status, out, err = _cli(engine, monkeypatch, capsys, "import-roll", "--estate", "maple-court", str(roll))
    assert status == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_estate_name_with_nul_is_refused_before_the_database(engine, tmp_path, monkeypatch, capsys):
    roll = tmp_path / "roll.csv"
    roll.write_text("building,room,area,owner\n1,101,50,A\n")
    status, _, err = _cli(engine, monkeypatch, capsys, "import-roll", "--estate", "maple-court", "--name",
                          "枫\x00林", str(roll))
    assert status == 2 and "U+0000" in err
    status, _, err = _cli(engine, monkeypatch, capsys, "import-roll", "--estate", "maple-court", "--name",
                          "枫" * 201, str(roll))
    assert status == 2 and "longer than 200 characters" in err
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RollVersion)) == 0


def test_roll_erase_command(engine, tmp_path, monkeypatch, capsys):
    roll = tmp_path / "roll.csv"
    roll.write_text("building,room,area,owner\n1,101,50,A\n")
    for _ in range(3):
        assert _cli(engine, monkeypatch, capsys, "import-roll", "--estate", "maple-court", str(roll))[0] == 0
    status, out, _ = _cli(engine, monkeypatch, capsys, "roll", "erase", "--estate", "maple-court", "--before", "3")
    assert status == 0 and "erased the openings of version(s) 1, 2" in out
    status, _, err = _cli(engine, monkeypatch, capsys, "roll", "erase", "--estate", "maple-court", "--before", "9")
    assert status == 2 and "only versions before the current one (3)" in err
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RollPart)) == 1
