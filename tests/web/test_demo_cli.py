"""The demo estate, ``gongjue migrate``, ``gongjue staff add`` and ``gongjue serve --demo``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from identity import staff as staff_store
from identity import store
from identity.models import Estate
from identity.roll import read_roll
from ledger.db import make_engine, transaction
from web import cli
from web.demo import DEMO_NAME, DEMO_SLUG, MULTI_OWNER, create_demo, demo_roll_csv

ROOT = Path(__file__).resolve().parents[2]


def _expected_area() -> int:
    """Total area of the demo roll, from its description rather than its rows."""
    flats = sum(12 * ((8950 + 37 * (u - 1) + 12 * (b - 1)) + (11236 + 37 * (u - 1) + 12 * (b - 1)))
                for b in (1, 2, 3) for u in (1, 2))
    shops = sum(4520 + 1375 * s for s in range(1, 7))
    parking = 10 * 1250
    return flats + shops + parking


def test_demo_roll_exercises_the_counting_rules():
    roll = read_roll(demo_roll_csv(), "demo.csv")
    assert len(roll.parts) == 3 * 2 * 12 * 2 + 6 + 10
    voters = {v.voter_id: v for v in roll.voters}
    # 144 flats - 8 unsold; M0007 owns 3 flats (+1 parking space); 6 shops; the developer is one voter
    assert len(voters) == (144 - 8 - 2) + 6 + 1 == 141
    assert [p.label for p in voters[MULTI_OWNER].parts] == ["1-1-101", "1-1-102", "2-2-1201", "车库-B1-001"]
    developer = voters["DEV"]
    assert developer.developer and len(developer.parts) == 8 + 2
    assert {p.area_source for p in developer.parts if p.building == "3"} == {"contract"}
    assert [p.label for p in roll.parts if p.area_source == "surveyed"] == ["3-1-101", "3-1-201"]
    assert sum(v.area for v in voters.values()) == _expected_area() == 1526279
    assert not any(re.fullmatch(r"\d{17}[\dX]", v) for v in voters)  # no ID-card numbers
    assert demo_roll_csv() == demo_roll_csv()  # deterministic


def test_create_demo_imports_the_estate_and_a_supervisor_with_a_random_password(engine):
    demo = create_demo(engine)
    assert (demo.slug, demo.version, demo.username) == (DEMO_SLUG, 1, "demo")
    assert len(demo.password) == 16
    with transaction(engine) as session:
        view = store.overview(session, DEMO_SLUG)
        assert (view.name, view.buildings, view.parts, view.totals.heads, view.totals.area, view.developer_parts) == \
            (DEMO_NAME, 5, 160, 141, 1526279, 10)
        account = staff_store.verify_password(session, "demo", demo.password)
        assert account.role == "staff" and staff_store.roles_in(session, account.id, DEMO_SLUG) == {"supervisor"}
    again = create_demo(engine)  # a second call: a new roll version, no second account or password
    assert (again.version, again.username, again.password) == (2, None, None)


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GONGJUE_DATABASE_URL", url)
    return url


def test_migrate_and_staff_add(database, monkeypatch, capsys):
    assert cli.main(["migrate"]) == 0
    assert "数据库已是最新" in capsys.readouterr().out
    monkeypatch.setenv("GONGJUE_STAFF_PASSWORD", "a long enough secret")
    assert cli.main(["staff", "add", "--username", "Wang.Li", "--role", "admin"]) == 0
    out, err = capsys.readouterr()
    assert out == "已创建管理员账户 wang.li / created admin account wang.li\n"
    assert "a long enough secret" not in out + err
    assert cli.main(["staff", "add", "--username", "wang.li"]) == 2
    assert "用户名 'wang.li' 已存在" in capsys.readouterr().err
    monkeypatch.setenv("GONGJUE_STAFF_PASSWORD", "short")
    assert cli.main(["staff", "add", "--username", "zhao"]) == 2
    assert "密码太短" in capsys.readouterr().err
    engine = make_engine(database)
    with transaction(engine) as session:
        assert staff_store.verify_password(session, "wang.li", "a long enough secret").role == "admin"
        assert staff_store.find_staff(session, "zhao") is None
    engine.dispose()


def test_staff_add_without_a_terminal_or_password_variable_is_refused(database, monkeypatch, capsys):
    monkeypatch.delenv("GONGJUE_STAFF_PASSWORD", raising=False)
    with open(os.devnull) as no_terminal:
        monkeypatch.setattr(sys, "stdin", no_terminal)
        assert cli.main(["staff", "add", "--username", "zhao"]) == 2
    assert "GONGJUE_STAFF_PASSWORD" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_demo_migrates_creates_the_demo_once_and_serves(tmp_path):
    env = {**os.environ, "GONGJUE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    command = [sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("password:" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "serve exited early:\n" + "".join(lines)
            lines.append(line)
        password = lines[-1].split("password:")[1].strip()
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                page = httpx.get(f"{url}/estates/{DEMO_SLUG}")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert page.status_code == 200 and DEMO_NAME in page.text and "15,262.79 m²" in page.text
        with httpx.Client(base_url=url) as browser:
            form = browser.get("/signin").text
            token = re.search(r'name="csrf" value="([0-9a-f]{64})"', form).group(1)
            r = browser.post("/signin", data={"csrf": token, "username": "demo", "password": password})
            assert r.status_code == 303
            assert "demo（工作人员）" in browser.get("/").text
            session_token = browser.cookies["gongjue_session"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert output.count(password) == 0  # printed once, before the log; never again
    assert session_token not in output and "POST /signin" in output  # the access log has no secrets
    assert "".join(lines).count(password) == 1
    # a second start finds the estate and creates nothing
    second = subprocess.run([sys.executable, "-c", "import sys; from web.cli.serve import _ensure_demo; "
                             "from ledger.db import make_engine; _ensure_demo(make_engine())"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "数据库中已有小区，未创建演示数据" in second.stdout and "password" not in second.stdout
    engine = make_engine(env["GONGJUE_DATABASE_URL"])
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Estate)) == 1
    engine.dispose()
