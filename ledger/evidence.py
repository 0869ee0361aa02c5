"""Checks of a bundle's outside evidence (SPEC §2.10): RFC 3161 tokens and witness cosignatures.

``check_evidence(path, roots, witnesses)`` runs after ``ledger.verify.verify_bundle`` (which has
checked the log key, every checkpoint's signature and the entries) and returns problems of two
kinds, ``timestamp`` and ``cosignature``, plus what was found:

* every ``timestamps/<size>.<n>.tsr`` belongs to a checkpoint of the bundle (``checkpoint`` or
  ``checkpoints/<size>``) of that size; its imprint is SHA-256 of that checkpoint's body; with
  ``roots`` (``gongjue verify --tsa-roots FILE``) its signature and certificate chain verify to one
  of them; its time (genTime + accuracy) is not before the latest ``time`` of the entries it covers
  (entries 0 … size−1); and one TSA's tokens (the same signing certificate) do not go back in time
  as the size grows.  With roots given, a bundle without any token is a problem.
* for each witness key given (``--witness VKEY``), every cosignature line by it verifies
  (cosignature/v1 over the checkpoint body) and it cosigned at least one checkpoint of the bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cryptography.x509

from ledger import timestamp
from ledger.bundle import CHECKPOINT, ENTRIES, HISTORY, TIMESTAMPS, VKEY
from ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from ledger.note import NoteError, Verifier, parse_vkey, verify_cosignature

TOKEN_NAME = re.compile(rf"{TIMESTAMPS}/(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.tsr\Z")


@dataclass
class Evidence:
    """Problems (check, message) and what was found: tokens and witnesses."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    tokens: list[dict] = field(default_factory=list)
    witnesses: list[dict] = field(default_factory=list)


def check_evidence(path: Path, roots: list[cryptography.x509.Certificate] | None,
                   witness_keys: list[Verifier]) -> Evidence:
    from ledger.verify import (
        BundleSource,  # the same reader as the verifier (dir, zip, one folder)
    )

    found = Evidence()
    try:
        source = BundleSource(path)
    except OSError:
        return found  # verify_bundle reported it
    try:
        _check(source, roots, witness_keys, found)
    finally:
        source.close()
    return found


def _checkpoints(source, history_names: list[str], sizes: set[int], witness_names: set[str]) -> dict[int, Checkpoint]:  # noqa: ANN001
    """The bundle's validly signed checkpoints by size that this check needs: those of ``sizes`` (a
    token's) and those carrying a line by one of ``witness_names``.  Only these are opened (a bundle
    may hold a checkpoint per ballot); a bad one is verify_bundle's problem, left out here."""
    if not sizes and not witness_names:
        return {}
    try:
        verifier = parse_vkey(source.read_text(VKEY))
    except (NoteError, UnicodeDecodeError, KeyError, OSError):
        return {}
    chain = _key_chain(source)
    history = set(history_names)
    if witness_names:
        candidates = [CHECKPOINT] + sorted(history)
    else:
        candidates = [CHECKPOINT] + sorted(n for n in (f"{HISTORY}/{size}" for size in sizes) if n in history)
    prefixes = tuple(f"\u2014 {name} " for name in witness_names)
    signed: dict[int, Checkpoint] = {}
    for name in candidates:
        try:
            text = source.read_text(name)
            lines = text.split("\n")
            wanted = name == CHECKPOINT or int(lines[1]) in sizes or any(line.startswith(prefixes) for line in lines)
            if not wanted:
                continue
            key = verifier if chain is None else parse_vkey(chain.in_force(int(lines[1])))
            cp = open_checkpoint(text, key)
        except (CheckpointError, UnicodeDecodeError, KeyError, OSError, IndexError, ValueError):
            continue
        signed.setdefault(cp.size, cp)
    return signed


def _key_chain(source):  # noqa: ANN001, ANN202
    """The log's key chain when it holds log.key entries (SPEC §2.4), else None (log.vkey alone)."""
    from ledger import rotation

    try:
        first, rotations = rotation.scan(source.lines(ENTRIES))
    except (OSError, KeyError, ValueError):
        return None
    return rotation.KeyChain(first, rotations) if rotations and first else None


def _names(source, folder: str) -> list[str]:  # noqa: ANN001
    """The files under ``folder/`` (a directory bundle: that folder only, not a walk of the bundle)."""
    if source.path.is_dir():
        where = source.path / folder
        return sorted(f"{folder}/{p.name}" for p in where.iterdir() if p.is_file()) if where.is_dir() else []
    return sorted(n for n in source.names() if n.startswith(folder + "/"))


def _check(source, roots, witness_keys: list[Verifier], found: Evidence) -> None:  # noqa: ANN001
    names = _names(source, TIMESTAMPS)
    sizes = {int(m.group(1)) for m in map(TOKEN_NAME.match, names) if m is not None}
    history = _names(source, HISTORY) if sizes or witness_keys else []
    signed = _checkpoints(source, history, sizes, {v.name for v in witness_keys})
    tokens = []
    for name in names:
        match = TOKEN_NAME.match(name)
        if match is None:
            found.problems.append(("timestamp", f"{name}: not a timestamps/<size>.<n>.tsr file name"))
            continue
        size = int(match.group(1))
        cp = signed.get(size)
        if cp is None:
            found.problems.append(("timestamp", f"{name}: the bundle has no signed checkpoint of size {size}"))
            continue
        data = b"".join(source.lines(name))
        try:
            if roots:
                stamp = timestamp.check_token(data, cp.note.text, roots)
            else:
                stamp = timestamp.unchecked_stamp(data, cp.note.text)
        except timestamp.TimestampError as exc:
            found.problems.append(("timestamp", f"{name}: {exc}"))
            continue
        tokens.append((name, size, stamp))
    if roots and not names:
        found.problems.append(("timestamp",
                               "the bundle has no timestamp token (timestamps/), but TSA roots were given"))
    latest = _latest_entry_times(source, sorted({size for _, size, _ in tokens}))
    previous: dict[str, tuple[str, timestamp.Stamp]] = {}
    for name, size, stamp in sorted(tokens, key=lambda t: (t[1], t[0])):
        newest = latest.get(size)
        if newest is not None and stamp.latest < newest:
            found.problems.append(("timestamp", (f"{name}: token time {_iso(stamp.gen_time)} is before entry time "
                                                 f"{_iso(newest)} of an entry it covers")))
        before = previous.get(stamp.tsa)
        if before is not None and stamp.latest < before[1].gen_time - before[1].accuracy:
            found.problems.append(("timestamp", (f"{name}: token time {_iso(stamp.gen_time)} is before "
                                                 f"{_iso(before[1].gen_time)} of {before[0]}, a smaller checkpoint "
                                                 f"stamped by the same TSA")))
        previous[stamp.tsa] = (name, stamp)
        found.tokens.append({"file": name, "size": size, "tsa": stamp.tsa, "time": _iso(stamp.gen_time),
                             "verified": bool(roots)})
    for verifier in witness_keys:
        _check_witness(signed, verifier, found)


def _check_witness(signed: dict[int, Checkpoint], verifier: Verifier, found: Evidence) -> None:
    cosigned = []
    for size, cp in sorted(signed.items()):
        if not any(s.name == verifier.name and s.key_id == verifier.key_id for s in cp.note.signatures):
            continue
        try:
            when = verify_cosignature(cp.note, verifier)
        except NoteError as exc:
            found.problems.append(("cosignature", f"checkpoint {size}: {exc}"))
            continue
        cosigned.append((size, when))
    if not cosigned:
        found.problems.append(("cosignature", f"witness {verifier.vkey} cosigned no checkpoint of the bundle"))
        return
    size, when = cosigned[-1]
    found.witnesses.append({"vkey": verifier.vkey, "size": size, "time": _iso(datetime.fromtimestamp(when, UTC)),
                            "checkpoints": [s for s, _ in cosigned]})


def _latest_entry_times(source, sizes: list[int]) -> dict[int, datetime]:  # noqa: ANN001
    """For each size, the latest ``time`` of entries 0 … size−1 (the last ``"time":"…","type":`` of each
    canonical line is the entry's own: JCS sorts ``time`` after ``body``, ``prev`` and ``seq``)."""
    out: dict[int, datetime] = {}
    if not sizes:
        return out
    wanted, newest, at = iter(sizes), None, 0
    target = next(wanted)
    for line in source.lines(ENTRIES):
        while target == at:
            if newest is not None:
                out[target] = newest
            target = next(wanted, None)
            if target is None:
                return out
        cut = line.rfind(b'"time":"')
        if cut >= 0:
            try:
                moment = datetime.strptime(line[cut + 8:cut + 28].decode(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except (UnicodeDecodeError, ValueError):
                moment = None  # a malformed entry: verify_bundle names it
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        at += 1
    while target is not None and target <= at:
        if newest is not None:
            out[target] = newest
        target = next(wanted, None)
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
