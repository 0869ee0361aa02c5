"""``gongjue … | head``: a reader that goes away early ends the command quietly (issue #11.6) —
no BrokenPipeError traceback, no "Exception ignored" line at exit; the status is 141 (128 +
SIGPIPE), what a shell reports for ``yes | head``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GONGJUE = [sys.executable, "-m", "web.cli"]


def _into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``gongjue args`` with stdout a pipe whose reader is gone before the first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([*GONGJUE, *args], stdout=write, stderr=subprocess.PIPE, cwd=ROOT, text=True,
                              timeout=120)
    finally:
        os.close(write)


def test_a_handler_writing_into_a_closed_pipe_ends_quietly(tmp_path):
    done = _into_closed_pipe(["authority", "keygen", "--name", "x", "--out", str(tmp_path / "k")])
    assert done.stderr == ""
    assert done.returncode == 141
    assert (tmp_path / "k.pub").exists()  # the work was done; only the message had no reader


def test_help_into_a_closed_pipe_ends_quietly():
    done = _into_closed_pipe(["--help"])
    assert done.stderr == "" and done.returncode in (0, 141)


def test_piped_into_head_prints_the_first_line_only(tmp_path):
    done = subprocess.run(f"{sys.executable} -m web.cli authority keygen --name x --out {tmp_path / 'k'} | head -1",
                          shell=True, capture_output=True, cwd=ROOT, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith("凭证机构密钥已生成 / authority key written:") and done.stdout.count("\n") == 1
    assert done.stderr == ""
