"""Export bundles (SPEC §2.7): everything an auditor needs to re-verify a log offline.

Layout (a directory, or the same files at the top of a .zip)::

    entries.jsonl     line i = the exact stored bytes of entry i, then "\\n"
    checkpoint        the latest signed checkpoint (with any witness cosignatures)
    log.vkey          the log's verifier key (signed-note form) and "\\n"
    checkpoints/<n>   every earlier checkpoint the server signed, n = its size
    timestamps/<n>.<k>.tsr  the RFC 3161 tokens of checkpoint n (DER TimeStampResp), k = 0, 1, … (§2.10)

The bundle covers exactly the entries of its checkpoint: the tree size comes from the signed
checkpoint, never from the database.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ledger import checkpoint, log as logs

ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint"
VKEY = "log.vkey"
HISTORY = "checkpoints"
TIMESTAMPS = "timestamps"


class BundleError(ValueError):
    """A log that cannot be exported (no signed checkpoint yet)."""


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its relative path and its contents (bytes, or a lazy stream)."""

    path: str
    data: bytes | None = None
    stream: Iterator[bytes] | None = None


def bundle_files(session: Session, log_id: int) -> list[BundleFile]:
    """The files of the log's bundle, entries streamed from the database."""
    latest = checkpoint.latest(session, log_id)
    if latest is None:
        raise BundleError("这个账本还没有签名检查点 / the log has no signed checkpoint yet")
    files = [BundleFile(ENTRIES, stream=_entry_lines(session, log_id, latest.size)),
             BundleFile(CHECKPOINT, checkpoint.with_cosignatures(session, latest).encode("utf-8")),
             BundleFile(VKEY, (latest.vkey + "\n").encode("ascii"))]
    for row in checkpoint.history(session, log_id)[:-1]:
        files.append(BundleFile(f"{HISTORY}/{row.size}", checkpoint.with_cosignatures(session, row).encode("utf-8")))
    files.extend(_token_files(session, log_id, latest.size))
    return files


def _token_files(session: Session, log_id: int, size: int) -> list[BundleFile]:
    """``timestamps/<size>.<k>.tsr`` for every token of a checkpoint the bundle holds (SPEC §2.7, §2.10)."""
    from ledger import timestamp

    files, counter = [], {}
    for row in timestamp.tokens(session, log_id):
        if row.size > size:
            continue
        k = counter.get(row.size, 0)
        counter[row.size] = k + 1
        files.append(BundleFile(f"{TIMESTAMPS}/{row.size}.{k}.tsr", bytes(row.token)))
    return files


def _entry_lines(session: Session, log_id: int, size: int) -> Iterator[bytes]:
    for _seq, data in logs.iter_data(session, log_id, size):
        yield data + b"\n"


def write_dir(session: Session, log_id: int, out: Path) -> int:
    """Write the bundle into directory ``out`` (created; existing bundle files refused). Returns its size."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / ENTRIES).exists() or (out / CHECKPOINT).exists():
        raise BundleError(f"{out} already holds a bundle; choose an empty directory")
    (out / HISTORY).mkdir(exist_ok=True)
    (out / TIMESTAMPS).mkdir(exist_ok=True)
    count = 0
    for f in bundle_files(session, log_id):
        with open(out / f.path, "wb") as fh:
            if f.stream is not None:
                for line in f.stream:
                    fh.write(line)
                    count += 1
            else:
                fh.write(f.data)
    return count


def write_zip(session: Session, log_id: int, target: io.IOBase | Path) -> None:
    """Write the bundle as a zip archive (files at the top level)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in bundle_files(session, log_id):
            if f.stream is not None:
                with zf.open(f.path, "w", force_zip64=True) as member:
                    for line in f.stream:
                        member.write(line)
            else:
                zf.writestr(f.path, f.data)
