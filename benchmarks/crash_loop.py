"""Crash safety (issue #11 part 2): cast against a real server, SIGKILL it K times, check nothing
acknowledged was lost.

    python benchmarks/crash_loop.py --kills K [--db sqlite|postgresql] [--json]
        [--db-url URL] [--voters N] [--workers W] [--clients C] [--seed S] [--out DIR]

1. ``benchmarks.harness.prepare``: an estate of N voters with a secret round open now; every
   voter's ballot is made before the server starts;
2. K times: start ``uvicorn --workers W`` (its own process group), first re-send every ballot whose
   request died with the previous server (an owner pressing "cast" again: acknowledged, or refused
   ``already_voted`` / ``duplicate_ballot`` when it had been written before the kill), then C client
   threads cast from the queue (at most ``--rate`` casts/s in all) until a random moment (0.3–2.5 s, from ``--seed``) when the whole
   process group is killed with SIGKILL (PostgreSQL itself is never touched); the ledger's
   self-check (``ledger.selfcheck``: every stored hash and signed checkpoint re-derived) runs on the
   database as the kill left it;
3. a last start: the re-sends, more casts for up to two seconds, a graceful stop;
4. ``gongjue export`` to DIR/bundle (left in place), ``gongjue verify`` of it with up to 20 of the
   checkpoints handed out as ``--checkpoint`` files, and ``harness.check_receipts``: every receipt
   that was returned verifies, its ballot is in the ledger at its seq with its tracking code, and
   every checkpoint handed out is consistent with the final one (RFC 9162 consistency proofs).

Exact accounting: ballot entries in the ledger = acknowledged + re-sends refused as already cast
(a ballot written before a kill but never acknowledged) — no ballot half-written, none invented.

Prints one JSON object (``--json``; else a short text): ``kills``, ``db``, ``voters``, ``sent``,
``acknowledged``, ``found``, ``lost`` (count) with ``lost_detail``, ``written_unacknowledged``,
``ballot_entries``, ``accounted`` (the equation above holds), ``checkpoints`` (distinct ones handed
out), ``inconsistent``, ``verify`` (passed), ``selfcheck_problems``, ``refused`` (codes),
``connection_errors``, ``queue_exhausted`` (every ballot was sent before the last kill: raise
``--voters``), ``bundle``, ``server_log``, ``seconds``.  Exit status 0 only when nothing
was lost, the accounting holds and verify passed.

SQLite: a file in DIR.  PostgreSQL: a fresh database on GONGJUE_TEST_POSTGRES_URL (dropped at the
end unless ``--keep-db``), or the empty database of ``--db-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks import harness

RESENT_OK = ("already_voted", "duplicate_ballot")


class Loop:
    """The state of one crash loop: the queue of ballots, the receipts, what died in flight."""

    def __init__(self, election: harness.Election, ballots: list[tuple[int, str]], rate: float = 0) -> None:
        self.election, self.rate, self.next_at = election, rate, 0.0
        self.queue = list(reversed(ballots))  # pop() from the end: casting order = ballots order
        self.receipts: list[dict] = []
        self.in_flight: list[tuple[int, str]] = []  # requests that died with a server
        self.refused: Counter = Counter()
        self.resent_written = 0  # re-sends refused because the ballot had been written before the kill
        self.connection_errors = 0
        self.sent = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[int, str] | None:
        """The next ballot, no sooner than the pace allows (``rate`` casts per second in all)."""
        with self.lock:
            if not self.queue:
                return None
            now = time.monotonic()
            at = self.next_at = max(now, self.next_at + 1 / self.rate) if self.rate else now
            job = self.queue.pop()
        if at > now:
            time.sleep(at - now)
        return job

    def send(self, url: str, http: httpx.Client, job: tuple[int, str], *, resend: bool = False) -> bool:
        """Cast one ballot; False when the connection failed (the job is kept for a re-send)."""
        i, text = job
        with self.lock:
            self.sent += 1
        try:
            status, body = harness.cast(url, self.election.voters[i], text, self.election, http=http)
        except httpx.HTTPError:
            with self.lock:
                self.connection_errors += 1
                self.in_flight.append(job)
            return False
        with self.lock:
            if status == 201:
                self.receipts.append(body)
            else:
                code = body.get("detail", {}).get("code", str(status)) if isinstance(body, dict) else str(status)
                if resend and code in RESENT_OK:
                    self.resent_written += 1
                else:
                    self.refused[code] += 1
        return True

    def resend(self, url: str) -> None:
        """Re-send what died in flight (the voter presses "cast" again)."""
        with self.lock:
            jobs, self.in_flight = self.in_flight, []
        with httpx.Client(timeout=120) as http:
            for job in jobs:
                self.send(url, http, job, resend=True)

    def cast_until(self, url: str, clients: int, stop: threading.Event) -> None:
        def client() -> None:
            with httpx.Client(timeout=120) as http:
                while not stop.is_set():
                    job = self.take()
                    if job is None or not self.send(url, http, job):
                        return

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _database(args, out: Path) -> tuple[str, callable]:
    """(URL, cleanup) of the database to use."""
    if args.db_url:
        return args.db_url, lambda: None
    if args.db == "sqlite":
        return f"sqlite:///{out / 'gongjue.db'}", lambda: None
    from sqlalchemy import create_engine, text

    base_url = os.environ.get("GONGJUE_TEST_POSTGRES_URL") or os.environ.get("GONGJUE_BENCH_POSTGRES_URL")
    if not base_url:
        raise SystemExit("--db postgresql needs GONGJUE_TEST_POSTGRES_URL (bash scripts/pg.sh prints one) or --db-url")
    name = "crash_" + uuid.uuid4().hex[:12]
    admin = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        if not args.keep_db:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base_url.rpartition('/')[0]}/{name}", drop


def _selfcheck(db_url: str) -> list[str]:
    from ledger import selfcheck
    from ledger.db import make_engine

    engine = make_engine(db_url)
    try:
        return [f"{o.origin}: {o.finding.message}" for o in selfcheck.run(engine) if not o.ok]
    finally:
        engine.dispose()


def run(args) -> dict:
    started = time.monotonic()
    out = Path(args.out or tempfile.mkdtemp(prefix="gongjue-crash-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GONGJUE_LOG_KEY_FILE", str(out / "log.key"))
    rng = random.Random(args.seed)
    db_url, cleanup = _database(args, out)
    try:
        voters = args.voters or 100 + round(args.rate * 2.5) * args.kills
        election = harness.prepare(db_url, voters=voters, seed=args.seed, slug=f"crash-{args.seed}")
        loop = Loop(election, harness.make_ballots(election, jobs=args.jobs), rate=args.rate)
        phases = {"prepare_and_ballots": round(time.monotonic() - started, 1), "starts": []}
        server = harness.Server(db_url, workers=args.workers, log=out / "server.log")
        problems = []
        for _ in range(args.kills):
            at = time.monotonic()
            server.start()
            phases["starts"].append(round(time.monotonic() - at, 1))
            loop.resend(server.url)
            stop = threading.Event()
            delay = rng.uniform(0.3, 2.5)

            def killer(s: harness.Server = server, ev: threading.Event = stop, wait: float = delay) -> None:
                time.sleep(wait)
                s.kill()  # SIGKILL to the whole process group
                ev.set()

            k = threading.Thread(target=killer)
            k.start()
            loop.cast_until(server.url, args.clients, stop)
            k.join()
            problems += _selfcheck(db_url)
        exhausted = not loop.queue  # every ballot sent before the last start: later kills found the server idle
        server.start()
        loop.resend(server.url)
        stop = threading.Event()
        timer = threading.Timer(2.0, stop.set)
        timer.start()
        loop.cast_until(server.url, args.clients, stop)
        timer.cancel()
        server.stop()
        problems += _selfcheck(db_url)

        bundle = harness.export(db_url, election.slug, out / "bundle")
        notes = list(dict.fromkeys(r["checkpoint"] for r in loop.receipts))
        picked = notes if len(notes) <= 20 else [notes[round(k * (len(notes) - 1) / 19)] for k in range(20)]
        kept = out / "kept-checkpoints"
        kept.mkdir(exist_ok=True)
        extra = []
        for n, note in enumerate(picked):
            (kept / f"{n:02d}").write_text(note, encoding="utf-8")
            extra += ["--checkpoint", str(kept / f"{n:02d}")]
        ok, report = harness.verify(bundle, *extra)
        check = harness.check_receipts(bundle, loop.receipts)
    finally:
        cleanup()
    acknowledged = len(loop.receipts)
    unacknowledged = check.ballot_entries - acknowledged
    return {"kills": args.kills, "db": "sqlite" if db_url.startswith("sqlite") else "postgresql",
            "voters": voters, "workers": args.workers, "clients": args.clients, "rate": args.rate, "sent": loop.sent,
            "acknowledged": acknowledged, "found": check.found, "lost": len(check.lost),
            "lost_detail": check.lost[:20], "written_unacknowledged": loop.resent_written,
            "ballot_entries": check.ballot_entries,
            "accounted": unacknowledged == loop.resent_written and not loop.in_flight,
            "checkpoints": check.checkpoints, "inconsistent": check.inconsistent, "verify": ok,
            "verify_tail": "" if ok else report[-2000:], "selfcheck_problems": problems,
            "refused": dict(loop.refused), "connection_errors": loop.connection_errors,
            "queue_exhausted": exhausted,
            "bundle": str(bundle), "server_log": str(server.log_path),
            "seconds": round(time.monotonic() - started, 1), "phases": phases}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, required=True, metavar="K", help="how many times the server is SIGKILLed")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--db-url", help="an empty database to use (instead of a fresh one of --db)")
    p.add_argument("--keep-db", action="store_true", help="PostgreSQL: keep the fresh database")
    p.add_argument("--voters", type=int, default=0, help="voters in the estate (default 100 + 2.5·rate·K: ballots left for every kill)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    p.add_argument("--clients", type=int, default=6, help="concurrent client threads (default 6)")
    p.add_argument("--rate", type=float, default=40, help="casts per second in all, at most (default 40; 0 = as fast "
                                                          "as the server answers): the ballots last until the last kill")
    p.add_argument("--jobs", type=int, default=2, help="processes making the ballots beforehand (default 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="work directory: database, server log, bundle (default: a new temp dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.kills < 0:
        p.error("--kills must be ≥ 0")
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['kills']} kills ({result['db']}): {result['acknowledged']} acknowledged, {result['found']} "
              f"found, {result['lost']} lost; {result['written_unacknowledged']} written before a kill but not "
              f"acknowledged; verify {'passed' if result['verify'] else 'FAILED'}; bundle {result['bundle']}")
    good = (result["lost"] == 0 and result["found"] == result["acknowledged"] and result["verify"]
            and result["accounted"] and not result["inconsistent"] and not result["selfcheck_problems"])
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
