"""Sign-in flood benchmark (issue #8.2): public read speed with and without a flood of wrong sign-ins.

Starts a real ``gongjue serve`` (Uvicorn) on 127.0.0.1 over a fresh database with one estate and
one staff account, then measures GET /estates/<slug>/audit/checkpoint throughput and p50/p99
latency from ``--readers`` keep-alive clients for ``--seconds``: first quiet, then while
``--flood-rate`` wrong sign-ins per second arrive, each from its own X-Forwarded-For address
(Uvicorn trusts it from 127.0.0.1), each fetching the form (its CSRF token) and posting a wrong
password, for the known account or for made-up names (``--usernames``); the flood runs in a
process of its own, so its clients do not slow the readers' interpreter.  Prints figures; no
thresholds (the machine may be shared: say so when quoting them).

Run: .venv/bin/python benchmarks/signin_flood.py [--seconds 10] [--readers 4] [--flood-rate 10]
     [--usernames mixed|one|many] [--root DIR] [--database-url URL] [--json]
``--root`` runs the server from another checkout (e.g. a ``git worktree`` of an older commit),
so the same command measures before and after a change.  Bounded: each phase stops after
``--seconds`` or ``--max-requests`` reads, the flood after the phase.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SLUG = "bench-court"
USERNAME = "victim"
PASSWORD = "the real password, never guessed"
CSRF = re.compile(r'name="csrf" value="([0-9a-zA-Z_\-.]+)"')
ROLL = "building,unit,room,area,owner\n" + "".join(f"1,1,{100 + i},{80 + i}.50,O{i}\n" for i in range(40))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run the server from")
    parser.add_argument("--database-url", help="database (default: a fresh SQLite file)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--readers", type=int, default=4, help="concurrent public readers")
    parser.add_argument("--flood-rate", type=float, default=10.0, help="wrong sign-ins per second")
    parser.add_argument("--flood-workers", type=int, default=16, help="concurrent flooding clients")
    parser.add_argument("--usernames", choices=("mixed", "one", "many"), default="mixed",
                        help="flood the known account, made-up names, or half of each")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on reads per phase")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gongjue-flood-") as tmp:
        env = _environment(args, Path(tmp))
        _prepare(args.root, env, Path(tmp))
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=args.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            quiet = _read_phase(base, args)
            flood = FloodProcess(base, args)
            flood.start()
            try:
                flooded = _read_phase(base, args)
            finally:
                flood.stop()
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    result = {"root": str(args.root), "database": env["GONGJUE_DATABASE_URL"].split("://")[0],
              "readers": args.readers, "seconds": args.seconds, "quiet": quiet, "flood": flooded,
              "flood_requests": flood.summary()}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print(result)
    return 0


def _environment(args, tmp: Path) -> dict[str, str]:  # noqa: ANN001
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    return {**os.environ, "GONGJUE_DATABASE_URL": url, "GONGJUE_LOG_KEY_FILE": str(tmp / "log.key"),
            "GONGJUE_SITE": "bench.local", "GONGJUE_STAFF_PASSWORD": PASSWORD, "PYTHONPATH": str(args.root),
            "PYTHONUNBUFFERED": "1"}


def _prepare(root: Path, env: dict[str, str], tmp: Path) -> None:
    """One estate (so its checkpoint exists) and one staff account, through the CLI of ``root``."""
    roll = tmp / "roll.csv"
    roll.write_text(ROLL)
    for command in (["import-roll", "--estate", SLUG, "--name", "基准苑", str(roll)],
                    ["staff", "add", "--username", USERNAME, "--role", "admin"]):
        subprocess.run([sys.executable, "-m", "web.cli", *command], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited while starting")
        try:
            if httpx.get(f"{base}/estates/{SLUG}/audit/checkpoint", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer within 60 s")


def _read_phase(base: str, args) -> dict:  # noqa: ANN001
    """``args.readers`` clients GET the checkpoint back to back for ``args.seconds``."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def reader() -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                with lock:
                    if len(latencies) >= args.max_requests:
                        return
                start = time.perf_counter()
                try:
                    status = str(client.get(f"{base}/estates/{SLUG}/audit/checkpoint").status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=reader) for _ in range(args.readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    return {"requests": len(ordered), "per_second": round(len(ordered) / wall, 1),
            "p50_ms": round(1000 * _quantile(ordered, 0.50), 1), "p99_ms": round(1000 * _quantile(ordered, 0.99), 1),
            "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
            "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else None, "statuses": dict(statuses)}


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Flood:
    """Wrong sign-ins at a fixed rate, each from a new address: form GET, then POST."""

    def __init__(self, base: str, args) -> None:  # noqa: ANN001
        self.base = base
        self.rate = args.flood_rate
        self.workers = args.flood_workers
        self.usernames = args.usernames
        self.next = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.statuses: Counter[str] = Counter()
        self.threads: list[threading.Thread] = []
        self.started = 0.0
        self.stopped = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._work) for _ in range(self.workers)]
        for t in self.threads:
            t.start()
        time.sleep(1.0)  # let the flood reach its rate before measuring

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()
        self.stopped = time.monotonic()

    def _username(self, n: int) -> str:
        if self.usernames == "one" or (self.usernames == "mixed" and n % 2 == 0):
            return USERNAME
        return f"guess{n}"

    def _work(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                n = self.next
                self.next += 1
            due = self.started + n / self.rate
            while not self.stopping.is_set() and time.monotonic() < due:
                time.sleep(min(0.05, due - time.monotonic()))
            if self.stopping.is_set():
                return
            self._attempt(n)

    def _attempt(self, n: int) -> None:
        address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        try:
            with httpx.Client(timeout=30, headers={"x-forwarded-for": address}) as client:
                form = client.get(f"{self.base}/signin")
                match = CSRF.search(form.text)
                r = client.post(f"{self.base}/signin", data={"csrf": match.group(1) if match else "",
                                                              "username": self._username(n),
                                                              "password": f"wrong guess {n}"})
                status = str(r.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        with self.lock:
            self.statuses[status] += 1

    def summary(self) -> dict:
        sent = sum(self.statuses.values())
        wall = max(self.stopped - self.started, 1e-9)
        return {"attempts": sent, "per_second": round(sent / wall, 1), "statuses": dict(self.statuses)}


class FloodProcess:
    """The flood in a process of its own, so its clients do not take the readers' interpreter lock."""

    def __init__(self, base: str, args) -> None:  # noqa: ANN001
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.stopping = context.Event()
        settings = {"flood_rate": args.flood_rate, "flood_workers": args.flood_workers, "usernames": args.usernames}
        self.process = context.Process(target=_flood_main, args=(base, settings, self.stopping, self.results))

    def start(self) -> None:
        self.process.start()
        self.results.get(timeout=60)  # "started": the flood ran for a second, at its rate

    def stop(self) -> None:
        self.stopping.set()
        self.summary_ = self.results.get(timeout=120)
        self.process.join(30)

    def summary(self) -> dict:
        return self.summary_


def _flood_main(base: str, settings: dict, stopping, results) -> None:  # noqa: ANN001
    flood = Flood(base, argparse.Namespace(**settings))
    flood.start()
    results.put("started")
    stopping.wait()
    flood.stop()
    results.put(flood.summary())


def _print(result: dict) -> None:
    print(f"server: {result['root']} ({result['database']}); {result['readers']} readers, "
          f"{result['seconds']:g} s per phase; GET /estates/{SLUG}/audit/checkpoint")
    for phase in ("quiet", "flood"):
        r = result[phase]
        print(f"  {phase:5}: {r['per_second']:8.1f} req/s  p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  "
              f"max {r['max_ms']} ms  ({r['requests']} requests, statuses {r['statuses']})")
    f = result["flood_requests"]
    print(f"  flood: {f['attempts']} wrong sign-ins at {f['per_second']} /s, statuses {f['statuses']}")


if __name__ == "__main__":
    sys.exit(main())
