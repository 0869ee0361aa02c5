"""The shared load harness (issue #11): an election ready for casting, ballots made ahead of time,
a real Uvicorn server in its own process group, and casting over real HTTP.

Used by ``benchmarks/cast_bench.py``, ``benchmarks/crash_loop.py`` and ``tests/load/``:

    election = prepare(db_url, voters=200)             # estate, roll, credentials, trustees, open round
    ballots = make_ballots(election, jobs=2)            # [(voter index, signed ballot text)]
    with Server(db_url, workers=2) as server:           # uvicorn --workers 2, SIGKILL-able as a group
        status, body = cast(server.url, election.voters[i], text)   # 201 + receipt, or a refusal

``prepare`` writes directly through the library (no SMS, no rate limits): an estate whose roll has
one flat per voter, a credential authority recording every voter's Ed25519 credential key, two
trustees (n-of-n) for a secret round, a round announced eight days ago, open since an hour ago and
closing in a day (or at ``closes``), and one verified owner session per voter (SPEC §4.6) whose
token is the ``gongjue_owner`` cookie.  Everything but the server's own randomness (log key,
salts, nonces, ballot encryption) is a function of ``seed``.

The server runs ``uvicorn web.app:create_app --factory`` (the app reads GONGJUE_DATABASE_URL), in a
new session so that ``kill()`` reaches the supervisor and every worker at once; its output goes to
a log file.  The server signs with the log key of GONGJUE_LOG_KEY_FILE / GONGJUE_SITE of the
environment, the same one ``prepare`` used when it signed the setup's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
ROUND_ID = "load"
OWNER_COOKIE = "gongjue_owner"  # web.owner.OWNER_COOKIE
STAFF_COOKIE = "gongjue_session"  # web.security.SESSION_COOKIE
SESSION_SECONDS = 12 * 3600
JSON = {"content-type": "application/json"}
MATTERS = ("hire_manager", "use_maintenance_fund", "rules_of_procedure", "rebuild", "change_common_use",
           "management_statute", "raise_maintenance_fund", "other_major")


@dataclass(frozen=True)
class Voter:
    """One owner able to cast: the pseudonym, the credential key's seed (hex) and the session cookie."""

    index: int
    pseudonym: str
    seed: str  # hex of the Ed25519 signing key's 32-byte seed
    token: str  # the gongjue_owner cookie value (a verified owner session)
    flat: tuple[str, str, str]  # building, unit, room

    @property
    def cookies(self) -> dict[str, str]:
        return {OWNER_COOKIE: self.token}

    @property
    def headers(self) -> dict[str, str]:
        return {**JSON, "cookie": f"{OWNER_COOKIE}={self.token}"}


@dataclass
class Election:
    """What ``prepare`` made: the database, the estate, the round and its voters."""

    db_url: str
    slug: str
    round_id: str
    secrecy: str
    voters: list[Voter]
    closes: datetime
    trustee_secrets: dict[int, int] = field(default_factory=dict)
    seed: int = 1

    @property
    def ballot_path(self) -> str:
        return f"/api/v1/estates/{self.slug}/rounds/{self.round_id}/ballots"


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(seed: int, slug: str, what: str) -> bytes:
    return hashlib.sha256(f"gongjue harness {seed} {slug} {what}".encode()).digest()


def _agenda(items: tuple[str, ...]) -> dict:
    out, motions = [], 0
    for i, kind in enumerate(items, start=1):
        if kind == "motion":
            out.append({"id": f"m{i}", "kind": "motion", "matter": MATTERS[motions % len(MATTERS)]})
            motions += 1
        elif kind == "choice":
            out.append({"id": f"c{i}", "kind": "choice", "matter": "hire_manager",
                        "options": ["greenleaf", "harbour", "none"]})
        elif kind == "election":
            out.append({"id": f"e{i}", "kind": "election", "matter": "elect_committee", "seats": 2,
                        "candidates": ["C1", "C2", "C3", "C4"], "rank_by": "heads"})
        else:
            raise ValueError(f"items: unknown kind {kind!r} (motion, choice or election)")
    return {"rules": "civil-code-2021", "items": out}


def _flat(i: int) -> tuple[str, str, str]:
    """Voter i's flat: buildings of 2 stairwells × 30 floors × 4 flats."""
    building, rest = divmod(i, 240)
    unit, rest = divmod(rest, 120)
    floor, k = divmod(rest, 4)
    return str(building + 1), str(unit + 1), f"{floor + 1}{k + 1:02d}"


def _roll(voters: int) -> bytes:
    from identity.csvfile import write_csv

    rows = []
    for i in range(voters):
        b, u, r = _flat(i)
        area = (6050, 8950, 10820, 12675)[i % 4]
        rows.append([b, u, r, f"{area // 100}.{area % 100:02d}", f"O{i + 1:06d}", "no"])
    return write_csv(["building", "unit", "room", "area", "owner", "developer_held"], rows)


def prepare(db_url: str, *, voters: int, secrecy: str = "secret", items: tuple[str, ...] = ("motion", "motion"),
            seed: int = 1, slug: str | None = None, closes: datetime | None = None,
            revote: bool = False, policies: dict | None = None) -> Election:
    """Migrate ``db_url`` and make an estate of ``voters`` voters with an open round (module docstring).

    ``closes``: the end of the voting window (default: a day from now; whole seconds, UTC);
    ``policies``: members that replace the round's default policies (e.g. ``{"objection_days": 0}``).
    """
    import nacl.signing

    from identity import authority, store
    from identity.roll import read_roll
    from ledger import checkpoint, keys
    from ledger.db import migrated_engine, transaction
    from voting import candidates, rounds
    from voting.crypto import trustee
    from web.owner import OwnerSessionRow

    if voters < 1:
        raise ValueError("voters must be ≥ 1")
    slug = slug or f"load-{seed}"
    engine = migrated_engine(db_url)
    try:
        agenda = _agenda(tuple(items))
        data = _roll(voters)
        store.import_roll_file(engine, slug, read_roll(data, "roll.csv"), filename="roll.csv", data=data,
                               name=f"压力测试小区 {seed} / load estate {seed}")
        authority_key = nacl.signing.SigningKey(_seed(seed, slug, "authority"))
        pk = authority_key.verify_key.encode().hex()
        seeds = [_seed(seed, slug, f"credential {i}") for i in range(voters)]
        with transaction(engine) as s:
            origin = store.get_estate(s, slug).origin
            pseudonyms = [store.voter_for_part(s, slug, *_flat(i)) for i in range(voters)]
            authority.record_authority(s, slug, "压力测试街道办 / load-test street office", "", pk)
            pairs = [(p, nacl.signing.SigningKey(k).verify_key.encode().hex()) for p, k in zip(pseudonyms, seeds)]
            authority.record_statement(s, slug, authority.sign_statement(
                authority.credentials_statement(origin, pk, 1, pairs), authority_key))
        rng = random.Random(seed)
        secrets_ = {1: rng.randrange(1, 2**250), 2: rng.randrange(1, 2**250)} if secrecy == "secret" else {}
        context = f"{origin}/{ROUND_ID}"
        trustees = ({"threshold": None, "keys": [trustee.public_key_json(sec, j, context=context)
                                                 for j, sec in secrets_.items()]} if secrets_ else None)
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = now - timedelta(days=8)
        closes = (closes or now + timedelta(days=1)).astimezone(UTC).replace(microsecond=0)
        spec = {"round": ROUND_ID, "secrecy": secrecy, "agenda": agenda, "opens": _fmt(now - timedelta(hours=1)),
                "closes": _fmt(closes), "short_notice_reason": "压力测试 / load test", "trustees": trustees,
                "policies": {"duplicate": "first", "revote": revote, "proxy_cap": None, "deemed_consent": False,
                             **(policies or {})}}
        with transaction(engine) as s:
            rounds.create_draft(s, slug, spec, by="harness", now=t0)
            for item in agenda["items"]:
                for c in item.get("candidates", ()):
                    candidates.nominate(s, slug, ROUND_ID, item=item["id"], candidate=c, nominated_by="organiser",
                                        statement=f"候选人 {c} / candidate {c}", by="harness", now=t0)
                    candidates.vet(s, slug, ROUND_ID, item=item["id"], candidate=c, status="approved",
                                   note="资格审核通过 / eligible", by="harness", now=t0)
            rounds.announce(s, slug, ROUND_ID, by="harness", now=t0)
            checkpoint.sign(s, store.get_estate(s, slug).log_id, keys.log_key())
        at = int(time.time())
        tokens = [secrets.token_urlsafe(32) for _ in range(voters)]
        with transaction(engine) as s:
            s.add_all([OwnerSessionRow(token_hash=hashlib.sha256(t.encode("ascii")).hexdigest(), estate=slug,
                                       voter=p, factor="pin", verified=True, created_at=at,
                                       expires_at=at + SESSION_SECONDS) for t, p in zip(tokens, pseudonyms)])
    finally:
        engine.dispose()
    people = [Voter(i, pseudonyms[i], seeds[i].hex(), tokens[i], _flat(i)) for i in range(voters)]
    return Election(db_url, slug, ROUND_ID, secrecy, people, closes, secrets_, seed)


def staff_session(db_url: str, slug: str, role: str = "supervisor", username: str | None = None) -> str:
    """A signed-in staff session (cookie ``gongjue_session``) holding ``role`` in ``slug``; returns the
    token.  The account is made directly (argon2id hash of a random password; no sign-in form)."""
    from identity import staff
    from ledger.db import make_engine, transaction
    from web.sessions import open_session

    engine = make_engine(db_url)
    try:
        with transaction(engine) as s:
            name = username or f"{role}-{secrets.token_hex(4)}"
            account = staff.create_staff(s, name, secrets.token_urlsafe(18), by="harness")
            staff.assign(s, name, slug, role, by="harness")
            return open_session(s, account)
    finally:
        engine.dispose()


# --- ballots, made before any timing ---------------------------------------------------------------

_shape: dict = {}


def _init_worker(shape: dict) -> None:
    _shape.clear()
    _shape.update(shape)


def _make_one(job: tuple[int, str, int]) -> tuple[int, str]:
    import nacl.signing

    from voting.cast import dumps
    from voting.crypto import ballot as ballots_

    index, seed_hex, choice_seed = job
    rng = random.Random(choice_seed)
    sel = {}
    for item in _shape["items"]:  # voting.crypto.ballot.ItemShape: n selections, lo ≤ Σ ≤ hi
        picks = set(rng.sample(range(item.n), rng.randint(item.lo, item.hi)))
        sel[item.id] = [int(k in picks) for k in range(item.n)]
    sk = nacl.signing.SigningKey(bytes.fromhex(seed_hex))
    if _shape["secrecy"] == "secret":
        signed, _ = ballots_.encrypt_ballot(fingerprint=_shape["fingerprint"], joint_key=_shape["joint_key"],
                                            items=_shape["items"], choices=sel, signing_key=sk)
    else:
        signed = ballots_.make_open_ballot(fingerprint=_shape["fingerprint"], items=_shape["items"], choices=sel,
                                           signing_key=sk)
    return index, dumps(signed)


def round_shape(election: Election) -> dict:
    """The round as the booth sees it: fingerprint, joint key, item shapes, secrecy."""
    from ledger.db import make_engine, reading
    from voting import rounds

    engine = make_engine(election.db_url)
    try:
        with reading(engine) as s:
            view = rounds.load(s, election.slug, election.round_id)
    finally:
        engine.dispose()
    return {"fingerprint": bytes(view.fingerprint), "joint_key": view.joint_key, "items": list(view.items),
            "secrecy": view.secrecy}


def make_ballots(election: Election, count: int | None = None, jobs: int = 2,
                 voters: list[int] | None = None) -> list[tuple[int, str]]:
    """Signed ballots (voter index, JSON text) with random choices for the first ``count`` voters (or
    for the voters at the indices ``voters``; one index may appear twice for two different ballots),
    made in ``jobs`` worker processes."""
    indices = voters if voters is not None else list(range(count if count is not None else len(election.voters)))
    shape = round_shape(election)
    work = [(i, election.voters[i].seed, election.seed * 1_000_003 + i * 7 + n)
            for n, i in enumerate(indices)]
    if jobs <= 1 or len(work) < 8:
        _init_worker(shape)
        return [_make_one(w) for w in work]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding engines or threads
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(shape,)) as pool:
        return list(pool.map(_make_one, work, chunksize=max(1, len(work) // (jobs * 8))))


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn web.app:create_app --factory --workers N`` on a loopback port, in its own process
    group; a context manager (start on enter, stop on exit).  ``kill`` signals the whole group."""

    def __init__(self, db_url: str, workers: int = 2, port: int | None = None, env: dict | None = None,
                 log: Path | str | None = None, ready_timeout: float = 60.0) -> None:
        self.db_url, self.workers, self.port = db_url, workers, port or free_port()
        self.env = {**os.environ, **(env or {}), "GONGJUE_DATABASE_URL": db_url}
        self.env.setdefault("GONGJUE_SELFCHECK_SECONDS", "0")
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.env.get("PYTHONPATH", "")) if p)
        if log is None:
            fd, name = tempfile.mkstemp(prefix="gongjue-server-", suffix=".log")
            os.close(fd)
            log = name
        self.log_path = Path(log)
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> Self:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the server is running already")
        cmd = [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", "--no-access-log", "--no-server-header", "--http", "h11"]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        with open(self.log_path, "ab") as out:
            out.write(f"--- start {datetime.now(UTC).isoformat()} {' '.join(cmd)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}:\n"
                                   + self.log_tail())
            try:
                if httpx.get(self.url + "/", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server did not answer in {self.ready_timeout:.0f} s; see {self.log_path}:\n"
                                   + self.log_tail())
            time.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server's whole process group (supervisor and workers) and reap it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            _wait_group_gone(self.proc.pid)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the group), then SIGKILL whatever is left."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                _wait_group_gone(self.proc.pid, kill=True)
            return
        self.kill(signal.SIGTERM)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_group_gone(pgid: int, timeout: float = 15.0, kill: bool = False) -> None:
    """Wait until no process of the group is left (workers outlive a killed supervisor briefly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL if kill else 0)
        except ProcessLookupError:
            return
        if not kill and time.monotonic() > deadline - timeout / 2:
            kill = True
        time.sleep(0.05)


# --- casting over HTTP --------------------------------------------------------------------------

_clients = threading.local()


def client(url: str) -> httpx.Client:
    """This thread's keep-alive client for ``url``."""
    found = getattr(_clients, "by_url", None)
    if found is None:
        found = _clients.by_url = {}
    c = found.get(url)
    if c is None:
        c = found[url] = httpx.Client(base_url=url, timeout=httpx.Timeout(120, connect=10))
    return c


def cast(url: str, voter: Voter, text: str, election: Election | None = None, *, slug: str | None = None,
         round_id: str = ROUND_ID, http: httpx.Client | None = None) -> tuple[int, dict]:
    """POST ``text`` as ``voter``'s ballot over real HTTP; (status, JSON body: the receipt or the refusal).

    The estate is ``election.slug`` (or ``slug``; default: read from nothing, so pass one of them when
    the estate is not ``load-1``).  Network errors propagate (httpx.HTTPError)."""
    slug = election.slug if election is not None else (slug or "load-1")
    rid = election.round_id if election is not None else round_id
    c = http or client(url)
    r = c.post(f"{url}/api/v1/estates/{slug}/rounds/{rid}/ballots", content=text.encode(),
               headers=voter.headers)
    try:
        body = r.json()
    except ValueError:
        body = {"text": r.text[:500]}
    return r.status_code, body


def gongjue(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the ``gongjue`` command line (``python -m web.cli``) with ``env`` added."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


def export(db_url: str, slug: str, out: Path) -> Path:
    """``gongjue export --estate SLUG --out DIR`` against ``db_url``; returns DIR."""
    done = gongjue("export", "--estate", slug, "--out", str(out), env={"GONGJUE_DATABASE_URL": db_url})
    if done.returncode != 0:
        raise RuntimeError(f"gongjue export failed ({done.returncode}): {done.stderr[-2000:]}")
    return out


def verify(bundle: Path, *extra: str) -> tuple[bool, str]:
    """``gongjue verify --no-progress DIR``: (passed, output)."""
    done = gongjue("verify", "--no-progress", str(bundle), *extra)
    return done.returncode == 0, done.stdout + done.stderr


def entries(bundle: Path) -> list[dict]:
    """The bundle's entries (entries.jsonl), parsed."""
    out = []
    with open(bundle / "entries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


# --- checking acknowledged receipts against an exported bundle ----------------------------------------


@dataclass
class ReceiptCheck:
    """What ``check_receipts`` found: receipts whose ballot is in the bundle at its seq with its
    tracking code (``found``), those that are not (``lost``, with why), the ballot entries of the
    bundle, and the distinct checkpoints handed out that are consistent with the bundle's final one."""

    acknowledged: int
    found: int
    lost: list[str]
    ballot_entries: int
    checkpoints: int
    inconsistent: list[str]
    final_size: int

    @property
    def ok(self) -> bool:
        return not self.lost and not self.inconsistent


def check_receipts(bundle: Path, receipts: list[dict]) -> ReceiptCheck:
    """Check every receipt against the exported ``bundle``: its checkpoint signed by the bundle's
    log key and its inclusion proof (ledger.receipt.verify_receipt); the entry at its ``seq`` in the
    bundle is byte for byte the receipt's entry, a ``ballot`` whose tracking code is the receipt's;
    and every distinct checkpoint handed out is a prefix of the final log: an RFC 9162 consistency
    proof from its size to the bundle's final checkpoint, built from the bundle's entries and
    checked with ledger.proof.verify_consistency."""
    from ledger import proof, tree
    from ledger.checkpoint import open_checkpoint
    from ledger.note import parse_vkey
    from ledger.receipt import ReceiptError, verify_receipt
    from voting.crypto.ballot import tracking_code

    bundle = Path(bundle)
    vkey = (bundle / "log.vkey").read_text(encoding="ascii").strip()
    verifier = parse_vkey(vkey)
    lines = [line.rstrip("\n") for line in (bundle / "entries.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    origin = json.loads(lines[0])["body"]["origin"]
    final = open_checkpoint((bundle / "checkpoint").read_text(encoding="utf-8"), verifier, origin)
    hashes: list[bytes] = []

    def read(indexes):
        return [hashes[i] for i in indexes]

    for n, line in enumerate(lines):
        hashes.extend(tree.stored_hashes_for_leaf(n, tree.leaf_hash(line.encode("utf-8")), read))
    inconsistent = []
    if final.size != len(lines) or tree.tree_hash(final.size, read) != final.root:
        inconsistent.append(f"the bundle's checkpoint (size {final.size}) is not the root of its {len(lines)} entries")
    ballots = sum(1 for line in lines if json.loads(line)["type"] == "ballot")
    lost, found, seen = [], 0, {}
    for r in receipts:
        where = f"seq {r.get('seq')} tracking {r.get('tracking', '')[:12]}"
        try:
            verify_receipt(r, vkey)
        except ReceiptError as e:
            lost.append(f"{where}: the receipt does not verify: {e}")
            continue
        seq = r["seq"]
        if seq >= len(lines) or lines[seq] != r["entry"]:
            lost.append(f"{where}: not in the ledger at that seq")
            continue
        parsed = json.loads(lines[seq])
        if parsed["type"] != "ballot" or tracking_code(json.loads(parsed["body"]["ballot"]) if isinstance(
                parsed["body"]["ballot"], str) else parsed["body"]["ballot"])[0] != r["tracking"]:
            lost.append(f"{where}: the entry at that seq is not that ballot")
            continue
        found += 1
        seen[r["checkpoint"]] = None
    for note in seen:
        cp = open_checkpoint(note, verifier, origin)
        try:
            if cp.size > final.size:
                raise proof.ProofError(f"size {cp.size} beyond the final size {final.size}")
            proof.verify_consistency(cp.size, final.size, cp.root, final.root,
                                     tree.consistency_proof(final.size, cp.size, read))
        except (proof.ProofError, ValueError) as e:
            inconsistent.append(f"checkpoint of size {cp.size}: {e}")
    return ReceiptCheck(len(receipts), found, lost, ballots, len(seen), inconsistent, final.size)


__all__ = ["Election", "ReceiptCheck", "Server", "Voter", "cast", "check_receipts", "client", "entries", "export", "free_port", "gongjue",
           "make_ballots", "prepare", "round_shape", "staff_session", "verify"]
