"""What a plain install (``pip install .``, no test extras: scripts/run.sh) must bring for every command."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _runtime_requirements() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}


def test_gongjue_simulate_has_its_http_client_without_the_test_extras():
    # `gongjue simulate` drives the app through starlette.testclient, which needs httpx2 (with plain
    # httpx, a test-only requirement, it warns; with neither it refuses to import).
    assert "httpx2" in _runtime_requirements()
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import fastapi.testclient, web.cli.simulate"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
