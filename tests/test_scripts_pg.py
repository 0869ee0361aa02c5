"""scripts/test.sh on a shared machine (issue #11.6): each run starts its own PostgreSQL on a
free port in a private folder and stops it and removes the folder when the run ends — after a
pass, a failure or Ctrl-C — so two runs never collide and none leaves a server running.

The runs here use GONGJUE_SKIP_INSTALL=1 (the venv is complete) and a probe test outside the
suite that records the server it was given.  They never touch the developer's server on 54329.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVELOPER_PORT = 54329
PROBE = '''
import os, time, psycopg
def test_probe():
    url = os.environ["GONGJUE_TEST_POSTGRES_URL"]
    with psycopg.connect(url) as c:
        assert c.execute("select 1").fetchone() == (1,)
    with open(os.environ["PROBE_OUT"], "w") as f:
        f.write(url + "\\n" + os.environ["GONGJUE_TEST_PG_DIR"] + "\\n")
    time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
    assert os.environ.get("PROBE_FAIL") != "1", "failing on purpose"
'''

pytestmark = pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")),
                                reason="PostgreSQL binaries are not installed")


def _env(tmp_path: Path, name: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GONGJUE_TEST_POSTGRES_URL", "GONGJUE_TEST_PG_DIR")}
    env.update(GONGJUE_SKIP_INSTALL="1", PROBE_OUT=str(tmp_path / f"{name}.out"), **extra)
    return env


def _probe(tmp_path: Path) -> Path:
    path = tmp_path / "probe_test.py"
    path.write_text(PROBE)
    return path


def _start(tmp_path: Path, name: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(["bash", "scripts/test.sh", "-q", "-p", "no:cacheprovider", str(_probe(tmp_path))],
                            cwd=ROOT, env=_env(tmp_path, name, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _used(tmp_path: Path, name: str) -> tuple[int, Path]:
    url, folder = (tmp_path / f"{name}.out").read_text().split()
    return int(url.rsplit(":", 1)[1].split("/")[0]), Path(folder)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _assert_gone(port: int, folder: Path) -> None:
    assert port != DEVELOPER_PORT
    assert not folder.exists(), f"{folder} left behind"
    assert not _listening(port), f"PostgreSQL still listening on {port}"


def test_two_runs_at_once_get_their_own_servers_and_leave_nothing_running(tmp_path):
    runs = {name: _start(tmp_path, name) for name in ("one", "two")}
    for name, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, (name, out, err)
        assert "1 passed" in out
    (port1, dir1), (port2, dir2) = _used(tmp_path, "one"), _used(tmp_path, "two")
    assert port1 != port2 and dir1 != dir2
    assert dir1.name.startswith("gongjue-pg.") and dir2.name.startswith("gongjue-pg.")
    _assert_gone(port1, dir1)
    _assert_gone(port2, dir2)


def test_a_failing_run_still_stops_its_server(tmp_path):
    run = _start(tmp_path, "fail", PROBE_FAIL="1")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1 and "failing on purpose" in out
    _assert_gone(*_used(tmp_path, "fail"))


def test_ctrl_c_stops_the_server(tmp_path):
    run = _start(tmp_path, "interrupted", PROBE_SLEEP="120")
    out_file = tmp_path / "interrupted.out"
    deadline = time.monotonic() + 240
    while not out_file.exists():  # the probe is running: the server is up
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    port, folder = _used(tmp_path, "interrupted")
    assert _listening(port) and folder.exists()
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole foreground group
    run.communicate(timeout=120)
    assert run.returncode != 0
    _assert_gone(port, folder)


def test_pg_sh_alone_prints_the_url_and_stops_on_request(tmp_path):
    """The developer's way, on a private folder and a free port so it never meets the shared server.
    (The folder lies directly in /tmp: run as root, the server's user cannot enter pytest's tmp_path.)"""
    folder = Path(tempfile.mkdtemp(prefix="gongjue-pg."))
    env = {**os.environ, "GONGJUE_PG_PORT": "free", "GONGJUE_PG_DIR": str(folder)}
    started = subprocess.run(["bash", "scripts/pg.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("postgresql://gongjue@127.0.0.1:") and url.endswith("/postgres")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert port != DEVELOPER_PORT and _listening(port)
    finally:
        stopped = subprocess.run(["bash", "scripts/pg.sh", "stop"], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    _assert_gone(port, folder)


def test_pg_sh_refuses_a_folder_that_is_not_its_own(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    env = {**os.environ, "GONGJUE_PG_PORT": "free", "GONGJUE_PG_DIR": str(folder)}
    done = subprocess.run(["bash", "scripts/pg.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "refusing to use it" in done.stderr
    assert (folder / "notes.txt").read_text() == "keep me"
