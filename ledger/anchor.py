"""Anchoring signed checkpoints outside the operator's control (SPEC §2.5, §2.10), in the background.

For every log, ``anchor_once``

* asks each configured RFC 3161 TSA (``GONGJUE_TSA_URLS``, space-separated; replies checked
  against ``GONGJUE_TSA_ROOTS``, a PEM file, when set) to stamp the signed checkpoints it has not
  stamped yet, smallest size first and only sizes above the largest it stamped (so one TSA's times
  never go backwards); when more than ``BATCH`` wait, only the newest ``BATCH`` are stamped (an
  older checkpoint is covered by a later token of a larger tree: its entries are a prefix);
* sends the latest checkpoint to each configured witness (``GONGJUE_WITNESSES``: entries
  ``<url> <witness vkey>`` separated by ``;`` or newlines) by the C2SP tlog-witness protocol with a
  consistency proof from the size that witness last cosigned, and records the cosignature line.

One pass runs at a time per database (a PostgreSQL advisory lock, or ``flock`` beside the SQLite
file), so several app workers never ask a TSA twice.  Network calls run outside any database
transaction; each result is stored in its own short write
transaction.  A TSA or witness that is down only delays its evidence: nothing here is on the path
of a ballot, and the next pass (``GONGJUE_ANCHOR_SECONDS``, default 30) retries.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cryptography.x509
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from ledger import checkpoint, timestamp
from ledger import log as logs
from ledger import witness as witnesses
from ledger.db import claim, reading, transaction
from ledger.models import AnchorStatus, CheckpointRow, Cosignature, Log
from ledger.note import NoteError, Verifier, parse_vkey

BATCH = 10
ADVISORY_KEY = 0x676F6E676A7565  # "gongjue": the PostgreSQL advisory lock of the anchor pass
DEFAULT_SECONDS = 30.0
log = logging.getLogger("gongjue.anchor")


@dataclass(frozen=True)
class WitnessPeer:
    """A witness the server asks for cosignatures: its submission URL prefix and its vkey."""

    url: str
    verifier: Verifier

    @property
    def vkey(self) -> str:
        return self.verifier.vkey


@dataclass(frozen=True)
class AnchorConfig:
    tsa_urls: tuple[str, ...] = ()
    tsa_roots: tuple[cryptography.x509.Certificate, ...] = ()
    witnesses: tuple[WitnessPeer, ...] = ()
    seconds: float = DEFAULT_SECONDS
    timeout: float = 10.0

    @property
    def active(self) -> bool:
        return bool(self.tsa_urls or self.witnesses)


def parse_witnesses(text: str) -> tuple[WitnessPeer, ...]:
    """``<url> <vkey>`` entries separated by ``;`` or newlines (blank entries ignored)."""
    peers = []
    for item in text.replace("\n", ";").split(";"):
        fields = item.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].startswith(("http://", "https://")):
            raise ValueError(f"witness entry {item.strip()!r} must be '<http(s) url> <witness vkey>'")
        peers.append(WitnessPeer(fields[0], parse_vkey(fields[1])))
    return tuple(peers)


def config_from_env(env: dict[str, str] | None = None) -> AnchorConfig:
    """GONGJUE_TSA_URLS, GONGJUE_TSA_ROOTS, GONGJUE_WITNESSES, GONGJUE_ANCHOR_SECONDS (operations.md)."""
    env = os.environ if env is None else env
    roots = env.get("GONGJUE_TSA_ROOTS", "").strip()
    return AnchorConfig(
        tsa_urls=tuple(env.get("GONGJUE_TSA_URLS", "").split()),
        tsa_roots=tuple(timestamp.load_roots(Path(roots))) if roots else (),
        witnesses=parse_witnesses(env.get("GONGJUE_WITNESSES", "")),
        seconds=float(env.get("GONGJUE_ANCHOR_SECONDS", DEFAULT_SECONDS)),
    )


@dataclass
class Outcome:
    """What one pass did: tokens and cosignatures stored, and what failed (retried next pass)."""

    stamped: int = 0
    cosigned: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: bool = False  # another process was running a pass


def only_one_pass(engine: Engine) -> AbstractContextManager[bool]:
    """Whether this process may run the pass now: one pass at a time per database, so several app
    workers (``gongjue serve --workers N``) do not ask a TSA twice (``ledger.db.claim``)."""
    return claim(engine, ADVISORY_KEY, ".anchor.lock")


def anchor_once(engine: Engine, config: AnchorConfig) -> Outcome:
    """One pass over every log: timestamps, then witness cosignatures (skipped, with nothing done,
    while another process runs a pass over the same database)."""
    with only_one_pass(engine) as mine:
        return _pass(engine, config) if mine else Outcome(skipped=True)


def _pass(engine: Engine, config: AnchorConfig) -> Outcome:
    outcome = Outcome()
    with reading(engine) as session:
        log_ids = list(session.scalars(select(Log.id).order_by(Log.id)))
    for log_id in log_ids:
        for url in config.tsa_urls:
            _stamp(engine, log_id, url, config, outcome)
        for peer in config.witnesses:
            _collect(engine, log_id, peer, config, outcome)
    _record(engine, outcome)
    return outcome


SHOWN = 20  # failures kept for staff pages, each cut to 300 characters
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")  # credentials in a TSA or witness URL never reach a page


def _record(engine: Engine, outcome: Outcome) -> None:
    """The pass's outcome as the one ``ledger_anchor_status`` row (insert or replace in one statement)."""
    failures = "\n".join(_USERINFO.sub("", " ".join(f.split()))[:300] for f in outcome.failures[:SHOWN])
    values = {"checked_at": datetime.now(UTC), "stamped": outcome.stamped, "cosigned": outcome.cosigned,
              "failures": failures}
    with transaction(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        session.execute(upsert(AnchorStatus).values(id=1, **values)
                        .on_conflict_do_update(index_elements=[AnchorStatus.id], set_=values))


def failing(session) -> AnchorStatus | None:  # noqa: ANN001
    """The last pass, when it had failures (for staff pages); None when it had none or none ran."""
    row = session.get(AnchorStatus, 1)
    return row if row is not None and row.failures else None


def _pending(engine: Engine, log_id: int, url: str) -> list[tuple[int, str]]:
    """(checkpoint id, note) of the checkpoints this TSA should stamp now, smallest first."""
    with reading(engine) as session:
        last = timestamp.last_stamped_size(session, log_id, url)
        query = select(CheckpointRow.id, CheckpointRow.note).where(CheckpointRow.log_id == log_id)
        if last is not None:
            query = query.where(CheckpointRow.size > last)
        rows = session.execute(query.order_by(CheckpointRow.size.desc()).limit(BATCH)).all()
    return [(r[0], r[1]) for r in reversed(rows)]


def _stamp(engine: Engine, log_id: int, url: str, config: AnchorConfig, outcome: Outcome) -> None:
    for row_id, note in _pending(engine, log_id, url):
        try:
            token, _ = timestamp.fetch_token(url, note, list(config.tsa_roots) or None, config.timeout)
        except timestamp.TimestampError as exc:
            outcome.failures.append(str(exc))
            return  # this TSA is down or refusing: later sizes wait (their times must not precede)
        try:
            with transaction(engine) as session:
                timestamp.add_token(session, session.get(CheckpointRow, row_id), url, token)
        except IntegrityError:
            continue  # another process stored one first
        outcome.stamped += 1


def _collect(engine: Engine, log_id: int, peer: WitnessPeer, config: AnchorConfig, outcome: Outcome) -> None:
    """Ask ``peer`` to cosign the log's latest checkpoint (once; a 409 tells its size: asked again)."""
    with reading(engine) as session:
        row = checkpoint.latest(session, log_id)
        if row is None or checkpoint.cosigned(session, row, peer.vkey):
            return
        old = _last_cosigned_size(session, log_id, peer.vkey)
        row_id, size, note = row.id, row.size, row.note
    for _attempt in range(2):
        try:
            with reading(engine) as session:
                proof = logs.consistency_proof(session, log_id, old, size) if 0 < old < size else []
            answer = witnesses.submit(peer.url, old, proof, note, config.timeout)
        except (OSError, logs.LogError, ValueError) as exc:
            outcome.failures.append(f"witness {peer.url}: {exc}")
            return
        told = witnesses.conflict_size(answer)
        if told is not None and told != old and told <= size:
            old = told
            continue
        break
    told = witnesses.conflict_size(answer)
    if told is not None and told > size:
        outcome.failures.append(f"witness {peer.url} already cosigned size {told} of this log, larger than its latest "
                                f"checkpoint {size}: the log was rolled back (a restored backup?) or forked")
        return
    if answer.status != 200:
        outcome.failures.append(f"witness {peer.url} answered {answer.status}: {answer.body.strip()[:200]}")
        return
    try:
        line = witnesses.cosignature_line(answer.body, note, peer.verifier)
        with transaction(engine) as session:
            checkpoint.add_cosignature(session, session.get(CheckpointRow, row_id), peer.vkey, line)
    except NoteError as exc:
        outcome.failures.append(f"witness {peer.url}: {exc}")
        return
    except IntegrityError:
        return  # another process (a second app worker) recorded this witness's line first
    outcome.cosigned += 1


def _last_cosigned_size(session, log_id: int, vkey: str) -> int:  # noqa: ANN001
    """The largest checkpoint size ``vkey`` cosigned on this server (0: none)."""
    found = session.scalar(select(CheckpointRow.size).join(Cosignature, Cosignature.checkpoint_id == CheckpointRow.id)
                           .where(CheckpointRow.log_id == log_id, Cosignature.witness == vkey)
                           .order_by(CheckpointRow.size.desc()).limit(1))
    return int(found or 0)


class AnchorThread(threading.Thread):
    """Runs ``anchor_once`` every ``config.seconds`` until stopped (a daemon thread)."""

    def __init__(self, engine: Engine, config: AnchorConfig) -> None:
        super().__init__(name="gongjue-anchor", daemon=True)
        self.engine, self.config = engine, config
        self._stop_event = threading.Event()
        self.last: Outcome | None = None

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.last = anchor_once(self.engine, self.config)
                for failure in self.last.failures:
                    log.warning("anchor: %s (retried later)", failure)
            except Exception:  # noqa: BLE001 — never let the background loop die
                log.exception("anchor pass failed (retried later)")
            self._stop_event.wait(self.config.seconds)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.config.timeout + 5)


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:  # noqa: ANN001
    """Start the anchor loop when TSAs or witnesses are configured (web.app's lifespan)."""
    config = config_from_env()
    worker = AnchorThread(app.state.engine, config) if config.active and config.seconds > 0 else None
    if worker:
        worker.start()
    app.state.anchor = worker
    try:
        yield
    finally:
        if worker:
            worker.stop()
