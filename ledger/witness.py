"""A network witness: the C2SP tlog-witness protocol (c2sp.org/tlog-witness), SPEC §2.5.

``POST <prefix>/add-checkpoint`` with the body ``old <size>\\n``, up to 63 consistency-proof lines
(base64 hashes), an empty line, then a signed checkpoint.  The witness answers

* 200 with its ``cosignature/v1`` signature line(s) (c2sp.org/tlog-cosignature);
* 400 malformed body, or ``old`` larger than the checkpoint's size;
* 403 no signature by a key it trusts for the origin; 404 an origin it does not know;
* 409 ``old`` is not the size it last cosigned (body: that size and a newline, ``Content-Type:
  text/x.tlog.size``), or the same size with another root (a fork);
* 422 the consistency proof from its last cosigned checkpoint does not verify (a fork).

``WitnessState`` keeps, per origin, the last checkpoint the witness cosigned, in its own
directory (``DIR/<origin with '/' as '__'>/checkpoint``, as ``gongjue witness cosign``): checked
and replaced under one lock (a thread lock and ``flock`` on the directory's lock file, so two
requests or two processes cannot roll it back), written to a temporary file, fsynced and renamed
over the old one.  ``Witness.add_checkpoint`` is the protocol without HTTP;
``serve`` puts it behind a small HTTP server; ``submit`` is the log's side (ledger.anchor).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from ledger.note import (
    COSIGNATURE_V1,
    NoteError,
    Signer,
    Verifier,
    cosign,
    parse_note,
    verify_cosignature,
    verify_note,
)
from ledger.proof import ProofError, verify_consistency

PATH = "/add-checkpoint"
SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_BODY = 64 * 1024


class Refused(Exception):
    """The witness's refusal: an HTTP status and a body."""

    def __init__(self, status: int, message: str, content_type: str = "text/plain; charset=utf-8") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.content_type = content_type


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    """The add-checkpoint body: ``old <size>``, proof lines, an empty line, the checkpoint."""
    lines = [f"old {old}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof] + ["\n", note]
    return "".join(lines).encode("utf-8")


def parse_body(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, proof hashes, checkpoint note) of an add-checkpoint body; Refused(400) if malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise Refused(400, "body must be 'old <size>', proof lines, an empty line and the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    size_text = first[4:] if first.startswith("old ") else ""
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise Refused(400, "the first line must be 'old <size>' (decimal, no leading zeros)")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refused(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            raw = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, f"proof line {line[:50]!r} is not base64") from None
        if len(raw) != 32:
            raise Refused(400, "every proof line must be the base64 of a 32-byte hash")
        proof.append(raw)
    return int(size_text), proof, note


class WitnessState:
    """The last checkpoint this witness cosigned, per origin, in ``directory`` (durable, atomic)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._thread_lock = threading.Lock()

    def _file(self, origin: str) -> Path:
        """``DIR/<origin, '/' as '__'>/checkpoint``: the layout ``gongjue witness cosign`` uses too, so a
        witness that also cosigns by hand shares one record (origins come only from ``--log``)."""
        return self.dir / origin.replace("/", "__") / "checkpoint"

    def latest(self, origin: str) -> Checkpoint | None:
        path = self._file(origin)
        return parse_checkpoint(path.read_text(encoding="utf-8")) if path.exists() else None

    def save(self, origin: str, note: str) -> None:
        """Replace the origin's checkpoint: temporary file, fsync, rename, fsync the directory."""
        path = self._file(origin)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".checkpoint.tmp{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def locked(self) -> _Locked:
        """Hold the state's lock (this process's threads and other processes) while checking and saving."""
        return _Locked(self)


class _Locked:
    def __init__(self, state: WitnessState) -> None:
        self.state = state
        self.fh = None

    def __enter__(self) -> WitnessState:
        self.state._thread_lock.acquire()
        self.fh = open(self.state.dir / ".lock", "a")  # noqa: SIM115
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)
        return self.state

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()
        self.state._thread_lock.release()


def _signed_by(cp: Checkpoint, verifier: Verifier) -> bool:
    try:
        verify_note(cp.note, verifier)
    except NoteError:
        return False
    return True


@dataclass
class Witness:
    """A witness key, the logs it follows (origin → the log's verifier key, or a tuple of keys
    any of which may sign: the old and the new one around a log-key rotation, SPEC §2.4) and its state."""

    signer: Signer
    logs: dict[str, Verifier | tuple[Verifier, ...]]
    state: WitnessState
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.signer.alg != COSIGNATURE_V1:
            raise NoteError("a witness key must be a cosignature/v1 (0x04) key: gongjue witness keygen")

    def add_checkpoint(self, body: bytes) -> str:
        """Check and cosign; return the cosignature line(s).  Raises Refused with the protocol's status."""
        old, proof, note = parse_body(body)
        try:
            new = parse_checkpoint(note)
        except CheckpointError as exc:
            raise Refused(400, f"not a checkpoint: {exc}") from None
        verifier = self.logs.get(new.origin)
        if verifier is None:
            raise Refused(404, f"unknown log origin {new.origin!r}")
        if not any(_signed_by(new, v) for v in (verifier if isinstance(verifier, tuple) else (verifier,))):
            raise Refused(403, f"no valid signature by the key this witness trusts for {new.origin}")
        if old > new.size:
            raise Refused(400, f"old size {old} is larger than the checkpoint's size {new.size}")
        with self.state.locked() as state:
            last = state.latest(new.origin)
            known = last.size if last is not None else 0
            if old != known:
                raise Refused(409, f"{known}\n", SIZE_TYPE)
            _check_consistent(last, new, proof)
            line = cosign(new.note.text, self.signer, int(self.clock())).line
            state.save(new.origin, new.note.text + "\n" + "".join(s.line for s in new.note.signatures))
        return line


def _check_consistent(last: Checkpoint | None, new: Checkpoint, proof: list[bytes]) -> None:
    """The new checkpoint extends the last cosigned one (RFC 9162 consistency), or Refused."""
    if last is None or last.size == 0:
        if proof:
            raise Refused(422, "the consistency proof must be empty when old is 0")
        return
    if last.size == new.size:
        if last.root != new.root or proof:
            raise Refused(409, f"{last.size}\n", SIZE_TYPE)  # same size, another root: a fork
        return
    try:
        verify_consistency(last.size, new.size, last.root, new.root, proof)
    except ProofError as exc:
        raise Refused(422, f"consistency proof from {last.size} to {new.size} does not verify: {exc}") from None


# --- HTTP ------------------------------------------------------------------------------------------

def make_server(witness: Witness, host: str, port: int, prefix: str = "") -> ThreadingHTTPServer:
    """An HTTP server answering ``POST <prefix>/add-checkpoint`` (keep-alive, bodies ≤ 64 KiB)."""
    path = prefix.rstrip("/") + PATH

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "gongjue-witness"

        def do_POST(self) -> None:  # noqa: N802
            if urllib.parse.urlsplit(self.path).path != path:
                self._answer(404, f"no such endpoint; POST {path}\n", close=True)  # its body is left unread
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._answer(411, "Content-Length required\n", close=True)
                return
            if not 0 <= length <= MAX_BODY:
                self._answer(413, f"body larger than {MAX_BODY} bytes\n", close=True)
                return
            body = self.rfile.read(length)
            try:
                line = witness.add_checkpoint(body)
            except Refused as exc:
                text = exc.message if exc.message.endswith("\n") else exc.message + "\n"
                self._answer(exc.status, text, exc.content_type)
                return
            self._answer(200, line)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(405, f"POST {path}\n")

        def _answer(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8",
                    close: bool = False) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


# --- the log's side --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """A witness's HTTP answer to add-checkpoint."""

    status: int
    body: str
    content_type: str


def submit(url: str, old: int, proof: list[bytes], note: str, timeout: float = 10.0) -> Answer:
    """POST ``<url>/add-checkpoint``; the answer whatever its status (OSError if unreachable)."""
    target = url.rstrip("/") + PATH
    request = urllib.request.Request(target, data=request_body(old, proof, note), method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 — configured witness URL
            return Answer(answer.status, answer.read(MAX_BODY).decode("utf-8", "replace"),
                          answer.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(MAX_BODY).decode("utf-8", "replace"), exc.headers.get("Content-Type", ""))


def conflict_size(answer: Answer) -> int | None:
    """The witness's last cosigned size from a 409 ``text/x.tlog.size`` answer, else None."""
    if answer.status != 409 or not answer.content_type.startswith(SIZE_TYPE):
        return None
    text = answer.body.rstrip("\n")
    return int(text) if text.isascii() and text.isdigit() else None


def cosignature_line(answer_body: str, note: str, witness: Verifier) -> str:
    """The witness's verified cosignature line among the answer's lines (others are ignored)."""
    for line in answer_body.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        try:
            parsed = parse_note(note.split("\n\n")[0] + "\n\n" + line)
            verify_cosignature(parsed, witness)
        except NoteError:
            continue
        return line
    raise NoteError(f"no valid cosignature by {witness.name} in the witness's answer")
