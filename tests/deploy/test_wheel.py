"""The installed package, not the work tree: a wheel built from the sources, installed into a fresh
virtual environment, runs ``gongjue`` from a folder outside the repository: it migrates a fresh
SQLite database from the migrations shipped inside the wheel, imports a roll, exports and verifies
the bundle, and serves pages (templates, the Chinese catalogs, static files) and the OpenAPI document.

The wheel is built with pip's build isolation from the package index pip is configured with (the
build needs setuptools ≥ 68); the fresh environment gets the project's dependencies through a
``.pth`` line naming the test interpreter's site-packages (so nothing is downloaded), but not the
editable install of the project: every module must come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from tests.web.uvicorn_server import free_port

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("identity", "ledger", "voting", "web")
# The native extension built in place by `pip install -e .` is left behind: the wheel builds its own.
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.so")


def run(cmd, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 600), check=False, **kw)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """What the wheel is built from: pyproject.toml, setup.py (the C extension), README.md and the four packages."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=SKIP)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)])
    (built,) = out.glob("gongjue-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--ignore-installed", "--no-index", str(wheel)])
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The project's dependencies (not the project: .pth files inside that folder are not processed).
    (site / "zz_gongjue_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir / "bin"


def outside_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGJUE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(GONGJUE_DATABASE_URL=f"sqlite:///{tmp / 'db' / 'gongjue.db'}", GONGJUE_LOG_KEY_FILE=str(tmp / "log.key"),
               GONGJUE_SITE="wheel.example", GONGJUE_SELFCHECK_SECONDS="0", GONGJUE_COUNT_SECONDS="0")
    return env


def test_the_wheel_holds_every_file_of_the_packages(source, wheel):
    """Templates, static files and bundles, catalogs, migrations and their environment: everything
    the packages hold in the sources is in the wheel (a new kind of file cannot be left out)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    files = sorted(p.relative_to(source).as_posix() for package in PACKAGES
                   for p in (source / package).rglob("*") if p.is_file())
    missing = [f for f in files if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    for needed in ("ledger/migrations/env.py", "ledger/migrations/script.py.mako",
                   "ledger/migrations/versions/ledger_0001_log.py", "web/static/dist/manifest.json",
                   "web/locale/zh_Hans/LC_MESSAGES/site.po", "web/templates/base.html"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    if os.environ.get("GONGJUE_REQUIRE_NATIVE") == "1":  # libdecaf-dev is there: the MSM is built into the wheel
        assert [n for n in names if n.startswith("voting/crypto/_msm.") and n.endswith(".so")], sorted(names)


def test_installed_gongjue_migrates_imports_verifies_and_serves(installed, tmp_path):
    python, gongjue = str(installed / "python"), str(installed / "gongjue")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = outside_env(tmp_path)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work, env=env).stdout.strip()
    probe = ("import json, identity, ledger, voting, web, ledger.db as d, voting.crypto.batch as b; "
             "print(json.dumps([m.__file__ for m in (identity, ledger, voting, web)] "
             "+ [str(p) for p in d.version_locations()] + ([b._msm.__file__] if b.NATIVE else [])))")
    where = json.loads(run([python, "-c", probe], cwd=work, env=env).stdout)
    if os.environ.get("GONGJUE_REQUIRE_NATIVE") == "1":
        assert any("_msm." in w for w in where), where
    assert all(Path(w).resolve().is_relative_to(Path(site).resolve()) for w in where), where

    run([gongjue, "migrate"], cwd=work, env=env)
    import sqlite3

    with sqlite3.connect(tmp_path / "db" / "gongjue.db") as db:
        heads = sorted(r[0] for r in db.execute("SELECT version_num FROM alembic_version"))
    assert [h.split("_")[0] for h in heads] == ["identity", "ledger", "voting", "web"], heads

    shutil.copy(REPO / "docs" / "examples" / "roll.csv", work / "roll.csv")
    run([gongjue, "import-roll", "--estate", "maple-court", "--name", "枫林苑", "roll.csv"], cwd=work, env=env)
    run([gongjue, "export", "--estate", "maple-court", "--out", "bundle"], cwd=work, env=env)
    verified = run([gongjue, "verify", "bundle", "--json"], cwd=work, env=env)
    assert json.loads(verified.stdout)["ok"] is True

    port = free_port()
    server = subprocess.Popen([gongjue, "serve", "--port", str(port)], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "gongjue serve did not answer"
                time.sleep(0.2)
        page = urllib.request.urlopen(base + "/estates/maple-court", timeout=10).read().decode()
        assert "枫林苑" in page and "<html" in page
        signin = urllib.request.urlopen(base + "/signin", timeout=10).read().decode()
        assert "登录" in signin  # the Chinese catalog, read from the installed .po files
        manifest = json.loads((Path(site) / "web/static/dist/manifest.json").read_text())
        asset = next(iter(manifest.values()))
        asset = asset if isinstance(asset, str) else next(iter(asset.values()))
        static = urllib.request.urlopen(base + "/static/dist/" + Path(asset).name, timeout=10)
        assert static.status == 200 and len(static.read()) > 100
        api = json.loads(urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=10).read())
        assert "/api/v1/estates/{slug}/rounds/{round_id}/ballots" in api["paths"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
