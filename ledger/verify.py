"""The bundle verifier (SPEC §2.8): re-derive everything from an export bundle alone.

Checks, in order: the verifier key; the checkpoint's signature (tree size and root are taken only
from it); every entry's canonical RFC 8785 bytes, its fields, ``seq`` = line number and ``prev``
= leaf hash of the line before; the Merkle root of the entries against the checkpoint; every
older checkpoint (the bundle's ``checkpoints/`` and those the auditor supplies) for signature,
origin and consistency — the prefix of the bundle of that size must have that checkpoint's root;
and the election content, through the ``checks`` argument (``ContentChecks``: per-entry checks by
entry type, and whole-log checks that see every entry in order).  There is no global registry:
a caller that wants the election checks passes them (``checks`` is a required keyword), so no
library caller skips them silently.  Every problem names the first entry it concerns when one
can be named.  A log rewritten and re-signed with the same key is caught by older checkpoints:
the verifier narrows the rewrite to the entries between the largest checkpoint that still holds
and the smallest that does not.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from ledger import rotation
from ledger.bundle import CHECKPOINT, ENTRIES, HISTORY, VKEY
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
)
from ledger.entry import ZERO_PREV, EntryError, ParsedEntry, encode_entry, parse_entry
from ledger.note import NoteError, Verifier, parse_vkey, verify_note
from ledger.tree import RootBuilder, leaf_hash

MAX_PROBLEMS = 100
CHUNK = 8192
KEEP_PARSED_BYTES = 256 * 2**20
"""Up to this many bytes of entries, the entries parsed once are kept for the whole-log checks
(every check sees the same list); above it each whole-log check parses the bundle again, so a
huge roll entry is never held twice."""

CHECK_NAMES = {
    "bundle": "导出包 / bundle", "key": "公钥 / key", "signature": "签名 / signature",
    "entry": "条目编码 / entry encoding", "seq": "序号 / seq", "prev": "哈希链 / prev chain",
    "count": "条目数 / entry count", "root": "默克尔根 / Merkle root",
    "consistency": "一致性 / consistency", "content": "选举内容 / election content",
}


@dataclass(frozen=True)
class VerifyContext:
    """What content checks may compare against: the signed origin and the log's verifier key;
    ``jobs``: the worker processes a whole-log check may use (``verify_bundle``'s ``jobs``)."""

    origin: str
    vkey: str
    jobs: int = 1
    counts: dict[str, int] | None = field(default=None, compare=False)
    """What the whole-log checks checked, by check name (``count``); None: nobody asked."""

    def count(self, name: str, n: int = 1) -> None:
        """Record that a whole-log check checked ``n`` more things of kind ``name`` (main process
        only: a per-entry check runs in a worker, its counts would be lost)."""
        if self.counts is not None:
            self.counts[name] = self.counts.get(name, 0) + n


_MEMO: ContextVar[dict | None] = ContextVar("ledger_verify_memo", default=None)


def audit_memo() -> dict | None:
    """A dict shared by the whole-log checks of the running ``verify_bundle`` (None outside one).

    For what one check derives from the entries and another would derive again, identically —
    e.g. a statement whose signature was verified (``identity.authority.verify_document``).  The
    entries do not change during the checks (``LogCheck``), so a value keyed by an entry object's
    identity holds for the whole audit; the key should start with the module's name and the value
    keep the object it was derived from (so that its ``id`` is not reused).  Discarded when the
    checks end."""
    return _MEMO.get()


def memoized(kind: str, of: object, derive: Callable[[], object]) -> object:
    """``derive()``, computed once per object ``of`` for ``kind`` in the running audit
    (``audit_memo``; every time outside one).  ``derive`` must depend only on ``of``, which the
    checks do not change; an exception is not remembered."""
    memo = _MEMO.get()
    if memo is None:
        return derive()
    key = (kind, id(of))
    known = memo.get(key)
    if known is not None and known[0] is of:
        return known[1]
    value = derive()
    memo[key] = (of, value)
    return value


def entry_leaf_hash(e: ParsedEntry) -> bytes:
    """The leaf hash (SPEC §2.2) of a parsed entry: SHA-256(0x00 ‖ its canonical bytes), re-encoded
    (once per audit: the roll entry, ~1 MB at 10,000 voters, is asked for by several checks)."""
    return memoized("ledger.verify.entry_leaf_hash", e,
                    lambda: leaf_hash(encode_entry(e.seq, e.prev, e.type, e.time, e.body)))


EntryCheck = Callable[[ParsedEntry, VerifyContext], list[str]]
"""A per-entry content check: stateless, returns problems (empty when it holds).  It may run in a
worker process, so it must be a module-level (picklable) function."""

LogCheck = Callable[[Iterable[ParsedEntry], VerifyContext], Iterable[tuple[int | None, str]]]
"""A whole-log content check: sees every well-formed entry of the bundle once, in seq order, in
the main process, after the structural checks; yields (seq or None, problem).  The entries are
parsed once and shared by every whole-log check: a check must not change them."""


@dataclass(frozen=True)
class ContentChecks:
    """The election-content checks to run (SPEC §2.8 item 7); each package above the ledger
    exposes its own as a module constant ``CHECKS`` and callers ``merge`` them."""

    per_entry: Mapping[str, Sequence[EntryCheck]] = field(default_factory=dict)
    whole_log: Sequence[LogCheck] = ()

    def __post_init__(self) -> None:  # plain dict and tuples: picklable for worker processes
        object.__setattr__(self, "per_entry", {t: tuple(cs) for t, cs in dict(self.per_entry).items()})
        object.__setattr__(self, "whole_log", tuple(self.whole_log))

    @staticmethod
    def merge(*checks: ContentChecks) -> ContentChecks:
        """All the checks of ``checks``, in order (a check listed twice runs once)."""
        per_entry: dict[str, list[EntryCheck]] = {}
        whole: list[LogCheck] = []
        for c in checks:
            for entry_type, fns in c.per_entry.items():
                known = per_entry.setdefault(entry_type, [])
                known.extend(f for f in fns if f not in known)
            whole.extend(f for f in c.whole_log if f not in whole)
        return ContentChecks(per_entry, whole)


NO_CONTENT_CHECKS = ContentChecks()
"""Structure only (tests of the ledger itself): say so explicitly with ``checks=NO_CONTENT_CHECKS``."""


@dataclass(frozen=True)
class Problem:
    """One failed check; ``seq`` is the first entry concerned (None for bundle-level problems)."""

    check: str
    message: str
    seq: int | None = None
    last: int | None = None  # set when the problem lies somewhere in seq … last

    def to_json(self) -> dict:
        return {"check": self.check, "seq": self.seq, "message": self.message}


@dataclass
class Report:
    """The verifier's findings. ``ok`` only when no problem at all was found."""

    origin: str | None = None
    size: int | None = None
    root: str | None = None
    entries: int = 0
    checkpoints: list[int] = field(default_factory=list)
    types: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # what the whole-log checks checked (VerifyContext.count)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The problem naming the smallest entry; else the first problem found.

        A problem known only to lie in a range of entries comes first only when the whole range
        precedes every exactly named entry.
        """
        exact = [p for p in self.problems if p.seq is not None and p.last is None]
        ranges = [p for p in self.problems if p.seq is not None and p.last is not None]
        bound = min((p.seq for p in exact), default=None)
        early = [p for p in ranges if bound is None or p.last < bound]
        if early:
            return min(early, key=lambda p: (p.last - p.seq, p.seq))
        if exact:
            return min(exact, key=lambda p: p.seq)
        return self.problems[0] if self.problems else None

    def add(self, check: str, message: str, seq: int | None = None, last: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(check, message, seq, None if last == seq else last))

    def to_json(self) -> dict:
        first = self.first
        return {"ok": self.ok, "origin": self.origin, "size": self.size, "root": self.root,
                "entries": self.entries, "checkpoints": self.checkpoints, "types": self.types,
                "counts": self.counts,
                "first": first.to_json() if first else None,
                "problems": [p.to_json() for p in self.problems]}


class BundleSource:
    """Read access to a bundle directory or zip file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.is_file() else None
        self._prefix = ""
        if self._zip is not None:
            names = self._zip.namelist()
            if ENTRIES not in names:
                tops = [n[: -len(ENTRIES)] for n in names if n.endswith("/" + ENTRIES)]
                if len(tops) == 1:
                    self._prefix = tops[0]

    def names(self) -> list[str]:
        if self._zip is not None:
                return [n[len(self._prefix):] for n in self._zip.namelist()
                    if n.startswith(self._prefix) and not n.endswith("/")]  # files, not folders
        return [str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()]

    def names_under(self, folder: str) -> list[str]:
        """The files under ``folder`` (at any depth), sorted: ``[n for n in sorted(names()) if
        n.startswith(folder + "/")]`` without listing the rest of the bundle (a directory bundle
        holds a checkpoint file per cast: os.walk, not pathlib, for 10,000 of them)."""
        if self._zip is not None:
            return sorted(n for n in self.names() if n.startswith(folder + "/"))
        found: list[str] = []
        _files_under(os.path.join(self.path, folder), folder, found)
        return sorted(found)

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def exists(self, name: str) -> bool:
        return name in self.names() if self._zip is not None else (self.path / name).is_file()

    def read_text(self, name: str) -> str:
        if self._zip is not None:
            return self._zip.read(self._prefix + name).decode("utf-8")
        return _read_text(self.path, name)

    def lines(self, name: str) -> Iterator[bytes]:
        """Raw lines with their line endings (binary)."""
        if self._zip is not None:
            with self._zip.open(self._prefix + name) as fh:
                yield from fh
        else:
            with open(self.path / name, "rb") as fh:
                yield from fh

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _read_text(directory: Path, name: str) -> str:
    """File ``name`` of a directory bundle as ``Path.read_text`` reads it (UTF-8, universal newlines)."""
    with open(os.path.join(directory, name), encoding="utf-8") as fh:
        return fh.read()


def _files_under(directory: str, rel: str, found: list[str]) -> None:
    """Append ``rel/<name>`` for each file under ``directory``, as ``Path.rglob("*")`` with
    ``is_file()`` finds them (symbolic links to files count; linked folders are not entered)."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            _files_under(entry.path, f"{rel}/{entry.name}", found)
        elif entry.is_file():
            found.append(f"{rel}/{entry.name}")


def verify_bundle(path: Path, old_checkpoints: list[tuple[str, str]] | None = None, *, checks: ContentChecks,
                  jobs: int | None = None, progress: Callable[[int, int], None] | None = None) -> Report:
    """Verify the bundle at ``path`` (directory or .zip).

    ``old_checkpoints``: (label, note text) of checkpoints the auditor kept; each must be signed
    by the bundle's key, have its origin, and be consistent with the bundle's entries.
    ``checks``: the content checks (required: pass ``NO_CONTENT_CHECKS`` to check structure only).
    ``progress(done, total)`` is called after each chunk of CHUNK entries.  ``jobs`` > 1 checks
    entries in that many worker processes (per-entry content checks run there too).
    """
    if not isinstance(checks, ContentChecks):
        raise TypeError(f"checks must be a ledger.verify.ContentChecks, not {type(checks).__name__}")
    report = Report()
    try:
        source = BundleSource(path)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        report.add("bundle", f"cannot open bundle {path}: {exc}")
        return report
    try:
        with _no_cyclic_gc():
            _verify(source, old_checkpoints or [], progress, report, max(1, jobs or 1), checks)
    except UNREADABLE as exc:  # a damaged zip member (bad header, CRC, deflate stream) or a file gone
        report.add("bundle", f"cannot read bundle {path}: {exc!r}")
    finally:
        source.close()
    return report


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a bundle is verified, then restore it.

    The audit builds millions of acyclic containers (the parsed entries, a ballot's JSON) and
    keeps them to the end; the collector would traverse them again at every generation-2 pass —
    about half the time of the entry walk of a 10,000-ballot bundle — and find nothing to free.
    Reference counting still frees everything that is not in a cycle; the worker processes,
    forked meanwhile, inherit the pause.  Nothing checked depends on it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError)
"""What reading a damaged bundle raises (zipfile, zlib, the file system): a ``bundle`` problem."""


def _verify(source: BundleSource, given: list[tuple[str, str]], progress, report: Report, jobs: int,
            checks: ContentChecks) -> None:
    for name in (ENTRIES, CHECKPOINT, VKEY):
        if not source.exists(name):
            report.add("bundle", f"bundle has no {name}")
    if not report.ok:
        return
    first, rotations = rotation.scan(source.lines(ENTRIES))
    if rotations:  # the log's key was rotated (SPEC §2.4): each checkpoint against the key in force for it
        _verify_rotated(source, given, progress, report, checks, first, rotations)
        return
    try:
        verifier = parse_vkey(source.read_text(VKEY))
    except (NoteError, UnicodeDecodeError) as exc:
        report.add("key", f"{VKEY}: {exc}")
        return
    try:
        cp = open_checkpoint(source.read_text(CHECKPOINT), verifier)
    except (CheckpointError, UnicodeDecodeError) as exc:
        report.add("signature", f"{CHECKPOINT}: {exc}")
        return
    report.origin, report.size, report.root = cp.origin, cp.size, cp.root.hex()
    entry_jobs = jobs if cp.size >= 4 * CHUNK else 1  # worker start-up is not worth it for small logs
    pending = _start_old_checkpoints(source, given, verifier, cp.origin, jobs if entry_jobs == 1 else 1)
    leaves: bytearray | None = None
    if pending is None:
        olds = _old_checkpoints(source, given, verifier, cp.origin, report)
        sizes = {cp.size} | {old.size for _, old, _ in olds}
    else:  # signatures checked by workers while the entries are walked: the walk keeps every leaf hash
        sizes, leaves = {cp.size}, bytearray()
    ctx = VerifyContext(cp.origin, verifier.vkey, jobs, report.counts)  # whole-log checks (ballots) use every job
    kept: list[ParsedEntry] | None = [] if checks.whole_log else None
    mark = len(report.problems)
    roots = _check_entries(source, cp, ctx, sizes, progress, report, entry_jobs, checks, kept, leaves)
    if pending is not None:
        olds = pending.finish(report, mark)
        roots |= _prefix_roots(leaves, {old.size for _, old, _ in olds})
    _check_roots(cp, olds, roots, report)
    _check_whole_log(source, ctx, checks, report, kept)


def _verify_rotated(source: BundleSource, given: list[tuple[str, str]], progress, report: Report,
                    checks: ContentChecks, first: str | None, rotations: list[tuple[int, str]]) -> None:
    """``_verify`` for a log with log.key entries (SPEC §2.4, §2.8 step 1).

    The key chain is read from the entries before they are verified; they are then checked against
    the signed roots, and every hand-over checkpoint must carry the old key's signature, so a chain
    not made by the holder of entry 0's key is refused."""
    if first is None:
        report.add("key", "the log has log.key entries but entry 0 is not an estate entry recording the log key")
        return
    try:
        vkey_file = source.read_text(VKEY).strip()
        main = parse_checkpoint(source.read_text(CHECKPOINT))
    except (CheckpointError, UnicodeDecodeError) as exc:
        report.add("signature", f"{CHECKPOINT}: {exc}")
        return
    rotations = [(seq, vkey) for seq, vkey in rotations if seq < main.size]
    chain = rotation.KeyChain(first, rotations)
    for seq, vkey in rotations:
        for problem in rotation.check_key_body({"v": 1, "vkey": vkey, "reason": ""}, chain.in_force(seq)):
            report.add("key", f"log.key entry {seq}: {problem}", seq)
    if not report.ok:
        return
    if vkey_file != chain.in_force(main.size):
        report.add("key", f"{VKEY} is {vkey_file}, not the key in force for checkpoint {main.size}: "
                          f"{chain.in_force(main.size)}")
        return
    try:
        cp = _open_in_force(source.read_text(CHECKPOINT), chain, None)
    except CheckpointError as exc:
        report.add("signature", f"{CHECKPOINT}: {exc}")
        return
    report.origin, report.size, report.root = cp.origin, cp.size, cp.root.hex()
    names = source.names_under(HISTORY)
    olds = []
    for label, group in [(n, "bundle") for n in names] + [(label, "given") for label, _ in given]:
        try:
            text = source.read_text(label) if group == "bundle" else dict(given)[label]
            olds.append((label, _open_in_force(text, chain, cp.origin), group))
        except (CheckpointError, UnicodeDecodeError) as exc:
            report.add("signature", f"checkpoint {label}: {exc}")
    report.checkpoints = sorted({old.size for _, old, _ in olds})
    own = [("checkpoint", cp)] + [(label, c) for label, c, group in olds if group == "bundle"]
    for seq, vkey in rotations:  # the hand-over checkpoint: size seq + 1, signed by the old key too
        found = [(label, c) for label, c in own if c.size == seq + 1]
        if not found:
            report.add("signature", f"log.key entry {seq} hands the log over to {vkey}, but the bundle lacks its "
                                    f"hand-over checkpoint (size {seq + 1}, signed by both keys)", seq)
            continue
        label, c = found[0]
        old = chain.in_force(seq)
        try:
            verify_note(c.note, parse_vkey(old))
        except NoteError as exc:
            report.add("signature", f"log.key entry {seq} hands the log over to {vkey}, but its hand-over checkpoint "
                                    f"{label} (size {c.size}) has no valid signature by the old key {old}: {exc}", seq)
    ctx = VerifyContext(cp.origin, first, 1, report.counts)
    kept: list[ParsedEntry] | None = [] if checks.whole_log else None
    sizes = {cp.size} | {old.size for _, old, _ in olds}
    roots = _check_entries(source, cp, ctx, sizes, progress, report, 1, checks, kept)
    _check_roots(cp, olds, roots, report)
    _check_whole_log(source, ctx, checks, report, kept)


def _open_in_force(text: str, chain: rotation.KeyChain, origin: str | None) -> Checkpoint:
    """Open a checkpoint against the key in force for its size (naming the rotation when it fails)."""
    parsed = parse_checkpoint(text)
    vkey = chain.in_force(parsed.size)
    try:
        return open_checkpoint(text, parse_vkey(vkey), origin)
    except CheckpointError as exc:
        since = [seq for seq, _ in chain.rotations if seq < parsed.size]
        why = f" (in force since log.key entry {since[-1]})" if since else " (entry 0's key)"
        raise CheckpointError(f"size {parsed.size}: not signed by the key in force {vkey}{why}: {exc}") from None


def _old_checkpoints(source: BundleSource, given: list[tuple[str, str]], verifier: Verifier, origin: str,
                     report: Report) -> list[tuple[str, Checkpoint, str]]:
    """(label, checkpoint, group) of every older checkpoint: group "bundle" or "given"."""
    names = source.names_under(HISTORY)
    olds = []
    for label, group in [(n, "bundle") for n in names] + [(label, "given") for label, _ in given]:
        try:
            text = source.read_text(label) if group == "bundle" else dict(given)[label]
            olds.append((label, open_checkpoint(text, verifier, origin), group))
        except (CheckpointError, UnicodeDecodeError) as exc:
            report.add("signature", f"checkpoint {label}: {exc}")
    report.checkpoints = sorted({old.size for _, old, _ in olds})
    return olds


PARALLEL_CHECKPOINTS = 512
"""From this many older checkpoints on (a bundle holds one per cast), their signatures are checked
by worker processes while the main process walks the entries (``_start_old_checkpoints``)."""


def _open_all(items: list[tuple[str, str | None]], directory: Path | None, verifier: Verifier, origin: str) -> list:
    """The Checkpoint, or the message of the CheckpointError or UnicodeDecodeError, of each
    (label, note text) — a text None is file ``label`` of the directory bundle: a worker's part."""
    out: list = []
    for label, text in items:
        try:
            out.append(open_checkpoint(_read_text(directory, label) if text is None else text, verifier, origin))
        except (CheckpointError, UnicodeDecodeError) as exc:
            out.append(str(exc))
    return out


class _PendingCheckpoints:
    """Older checkpoints being opened by workers; the verified list with ``finish``.  Their sizes
    are not known before (nothing is read from a note before its signature is checked): the walk
    keeps the leaf hashes and ``_prefix_roots`` computes the roots at the sizes ``finish`` gives."""

    def __init__(self, items: list[tuple[str, str | None, str]], source: BundleSource, verifier: Verifier,
                 origin: str, jobs: int) -> None:
        self.labels = [(label, group) for label, _, group in items]
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
        step = max(64, len(items) // (4 * jobs) + 1)
        texts = [(label, text) for label, text, _ in items]
        directory = None if source.is_zip else source.path
        self.futures = [self.pool.submit(_open_all, texts[i:i + step], directory, verifier, origin)
                        for i in range(0, len(texts), step)]

    def finish(self, report: Report, mark: int) -> list[tuple[str, Checkpoint, str]]:
        """The opened checkpoints (as ``_old_checkpoints``); their problems go where
        ``_old_checkpoints`` would have put them, before the ones found after ``mark``."""
        try:
            done = [got for f in self.futures for got in f.result()]
        finally:
            self.pool.shutdown()
        olds, found = [], []
        for (label, group), got in zip(self.labels, done):
            if isinstance(got, str):
                found.append(Problem("signature", f"checkpoint {label}: {got}"))
            else:
                olds.append((label, got, group))
        report.problems[mark:mark] = found
        del report.problems[MAX_PROBLEMS:]
        report.checkpoints = sorted({old.size for _, old, _ in olds})
        return olds


def _start_old_checkpoints(source: BundleSource, given: list[tuple[str, str]], verifier: Verifier, origin: str,
                           jobs: int) -> _PendingCheckpoints | None:
    """Start opening the older checkpoints in ``jobs`` workers, or None (few, or one job): then
    ``_old_checkpoints`` opens them here, as always.  The workers read a directory bundle's files
    themselves; a zip's are read here (forked workers would share the archive's file offset)."""
    names = source.names_under(HISTORY)
    if jobs <= 1 or len(names) + len(given) < PARALLEL_CHECKPOINTS:
        return None
    if source.is_zip:
        try:
            items: list[tuple[str, str | None, str]] = [(n, source.read_text(n), "bundle") for n in names]
        except UnicodeDecodeError:
            return None
    else:
        items = [(n, None, "bundle") for n in names]
    items += [(label, text, "given") for label, text in given]
    return _PendingCheckpoints(items, source, verifier, origin, jobs)


def _check_entries(source: BundleSource, cp: Checkpoint, ctx: VerifyContext, sizes: set[int], progress,
                   report: Report, jobs: int, checks: ContentChecks,
                   kept: list[ParsedEntry] | None = None, leaves: bytearray | None = None) -> dict[int, bytes]:
    """Walk entries.jsonl once: encoding, seq, prev chain, content; Merkle roots at ``sizes``
    (``leaves``, when given, receives every leaf hash, 32 bytes each, in order).

    Lines are checked in chunks, by ``jobs`` worker processes when jobs > 1 (the per-entry JSON
    work is what costs); the Merkle root is built here, in order, from the chunks' leaf hashes.
    ``kept`` (a list, when given and the walk runs here): receives the well-formed entries on
    their own line, in order, while their bytes stay under KEEP_PARSED_BYTES; past that it is
    emptied and marked (a None at its head) so that the whole-log checks parse again.
    """
    per_entry = checks.per_entry
    builder = RootBuilder()
    roots: dict[int, bytes] = {0: builder.root()} if 0 in sizes else {}
    budget = [KEEP_PARSED_BYTES]

    def keep(entries: list[ParsedEntry], size: int) -> None:
        if kept is None or (kept and kept[0] is None):
            return
        budget[0] -= size
        if budget[0] < 0:
            kept[:] = [None]  # too large to hold: the whole-log checks re-parse
        else:
            kept.extend(entries)

    def take(result: _ChunkResult) -> None:
        for leaf in result.leaves:
            builder.add(leaf)
            if builder.size in sizes:
                roots[builder.size] = builder.root()
        if leaves is not None:
            leaves.extend(b"".join(result.leaves))
        for p in result.problems:
            report.add(p.check, p.message, p.seq, p.last)
        for t, n in result.types.items():
            report.types[t] = report.types.get(t, 0) + n
        if progress:
            progress(builder.size, cp.size)

    chunks = _chunks(source.lines(ENTRIES))
    if jobs <= 1:
        for start, raws, prev in chunks:
            result = _check_chunk(start, raws, prev, ctx, per_entry, kept is not None)
            take(result)
            keep(result.parsed, sum(len(r) for r in raws))
    else:
        if kept is not None:
            kept[:] = [None]  # parsed in the workers: the whole-log checks parse in the main process
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            pending: deque = deque()
            for start, raws, prev in chunks:
                pending.append(pool.submit(_check_chunk, start, raws, prev, ctx, per_entry))
                if len(pending) > 2 * jobs:
                    take(pending.popleft().result())
            while pending:
                take(pending.popleft().result())
    count = builder.size
    report.entries = count
    if count < cp.size:
        report.add("count", f"entry {count} is missing: the signed checkpoint covers {cp.size} entries, "
                            f"the bundle holds {count}", count)
    elif count > cp.size:
        report.add("count", f"entry {cp.size} and later are not covered by the signed checkpoint "
                            f"(size {cp.size}, bundle holds {count})", cp.size)
    return roots


def _prefix_roots(leaves: bytes, sizes: set[int]) -> dict[int, bytes]:
    """The Merkle root of each prefix of ``leaves`` (32-byte leaf hashes, concatenated) whose
    size is in ``sizes`` (sizes beyond the leaves have none)."""
    builder = RootBuilder()
    roots = {0: builder.root()} if 0 in sizes else {}
    for start in range(0, len(leaves), 32):
        builder.add(bytes(leaves[start:start + 32]))
        if builder.size in sizes:
            roots[builder.size] = builder.root()
    return roots


@dataclass
class _ChunkResult:
    leaves: list[bytes]
    problems: list[Problem]
    types: dict[str, int]
    parsed: list[ParsedEntry] = field(default_factory=list)  # only when asked (main-process walk)


def _chunks(lines: Iterator[bytes]) -> Iterator[tuple[int, list[bytes], bytes | None]]:
    """(first seq, raw lines, leaf hash of the line before) for consecutive runs of CHUNK lines."""
    start, prev, raws = 0, None, []
    for raw in lines:
        raws.append(raw)
        if len(raws) == CHUNK:
            yield start, raws, prev
            last = raws[-1]
            prev = hashlib.sha256(b"\x00" + (last[:-1] if last.endswith(b"\n") else last)).digest()
            start, raws = start + CHUNK, []
    if raws:
        yield start, raws, prev


def _check_chunk(start: int, raws: list[bytes], prev_hash: bytes | None, ctx: VerifyContext,
                 per_entry: Mapping[str, Sequence[EntryCheck]], keep: bool = False) -> _ChunkResult:
    """Check lines start … start+len-1 given the leaf hash of the line before; return their leaves
    (and, with ``keep``, the entries that parse and sit on their own line)."""
    local = Report()
    leaves = []
    parsed: list[ParsedEntry] = []
    sha256 = hashlib.sha256
    for offset, raw in enumerate(raws):
        seq = start + offset
        if raw.endswith(b"\n"):
            data = raw[:-1]
        else:
            data = raw
            local.add("bundle", f"{ENTRIES}: line {seq + 1} does not end with a newline", seq)
        leaf = sha256(b"\x00" + data).digest()
        entry = _check_entry(seq, data, prev_hash, ctx, local.types, local, per_entry)
        if keep and entry is not None and entry.seq == seq:
            parsed.append(entry)
        leaves.append(leaf)
        prev_hash = leaf
    return _ChunkResult(leaves, local.problems, local.types, parsed)


def _check_entry(seq: int, data: bytes, prev_hash: bytes | None, ctx: VerifyContext, types: dict[str, int],
                 report: Report, per_entry: Mapping[str, Sequence[EntryCheck]]) -> ParsedEntry | None:
    """Check one line; returns the parsed entry (None when it does not parse)."""
    try:
        entry = parse_entry(data)
    except EntryError as exc:
        report.add("entry", f"entry {seq}: {exc}", seq)
        return None
    types[entry.type] = types.get(entry.type, 0) + 1
    if entry.seq != seq:
        report.add("seq", f"entry {seq}: line {seq + 1} holds seq {entry.seq}, expected {seq} "
                          "(entries missing, duplicated or out of order)", seq)
        return entry
    want = ZERO_PREV if prev_hash is None else prev_hash.hex()
    if entry.prev != want:
        if seq == 0:
            report.add("prev", "entry 0: prev must be 64 zeros", 0)
        else:
            report.add("prev", f"entry {seq - 1}: its leaf hash {want[:16]}… is not the prev "
                               f"{entry.prev[:16]}… that entry {seq} committed to "
                               f"(entry {seq - 1} was altered, or entry {seq})", seq - 1)
    for check in per_entry.get(entry.type, ()):
        try:
            found = list(check(entry, ctx))
        except Exception as exc:  # noqa: BLE001 — a malformed body must be a finding, not a crash
            found = [f"{_name(check)} could not check it: {type(exc).__name__}: {exc}"]
        for problem in found:
            report.add("content", f"entry {seq} ({entry.type}): {problem}", seq)
    return entry


def _check_whole_log(source: BundleSource, ctx: VerifyContext, checks: ContentChecks, report: Report,
                     kept: list[ParsedEntry] | None = None) -> None:
    """Run each whole-log check over every well-formed entry, in seq order (main process).

    The entries are parsed once for all the checks: ``kept`` from the walk, else parsed here
    while under KEEP_PARSED_BYTES; a larger bundle is parsed again for each check."""
    if not checks.whole_log:
        return
    if kept is None or (kept and kept[0] is None):
        kept = _keep_parsed(source)
    token = _MEMO.set({})
    try:
        _run_whole_log(source, ctx, checks, report, kept)
    finally:
        _MEMO.reset(token)


def _run_whole_log(source: BundleSource, ctx: VerifyContext, checks: ContentChecks, report: Report,
                   kept: list[ParsedEntry] | None) -> None:
    for check in checks.whole_log:
        try:
            for seq, problem in check(iter(kept) if kept is not None else _parsed_entries(source), ctx):
                where = f"entry {seq}: " if seq is not None else ""
                report.add("content", f"{where}{problem}", seq)
        except Exception as exc:  # noqa: BLE001
            report.add("content", f"{_name(check)} could not check the log: {type(exc).__name__}: {exc}")


def _keep_parsed(source: BundleSource) -> list[ParsedEntry] | None:
    """Every well-formed entry on its own line, in order, or None past KEEP_PARSED_BYTES."""
    out, budget = [], KEEP_PARSED_BYTES
    for seq, raw in enumerate(source.lines(ENTRIES)):
        budget -= len(raw)
        if budget < 0:
            return None
        try:
            entry = parse_entry(raw[:-1] if raw.endswith(b"\n") else raw)
        except EntryError:
            continue
        if entry.seq == seq:
            out.append(entry)
    return out


def _parsed_entries(source: BundleSource) -> Iterator[ParsedEntry]:
    """The entries of the bundle that parse and sit on their own line number, in order."""
    for seq, raw in enumerate(source.lines(ENTRIES)):
        try:
            entry = parse_entry(raw[:-1] if raw.endswith(b"\n") else raw)
        except EntryError:
            continue
        if entry.seq == seq:
            yield entry


def _name(check: Callable) -> str:
    return f"{getattr(check, '__module__', '?')}.{getattr(check, '__qualname__', repr(check))}"


def _check_roots(cp: Checkpoint, olds: list[tuple[str, Checkpoint, str]], roots: dict[int, bytes],
                 report: Report) -> None:
    """Compare the bundle's prefix roots with the signed checkpoint and every older one.

    A checkpoint that disagrees with the bundle is localised with the checkpoints *of the same
    group* that agree (the bundle's own, or the ones the auditor supplied; a supplied checkpoint
    identical to one of the bundle's counts as the bundle's): the altered entry lies between the
    largest agreeing size below it and its own size.
    """
    signed = [("checkpoint", cp, "bundle")] + olds
    _check_forks(signed, report)
    held = {g: sorted({c.size for _, c, grp in signed if grp == g and roots.get(c.size) == c.root})
            for g in ("bundle", "given")}
    unique: dict[tuple[int, bytes], tuple[str, Checkpoint, str]] = {}
    for item in signed:  # a supplied checkpoint equal to one of the bundle's is that one
        unique.setdefault((item[1].size, item[1].root), item)
    signed = list(unique.values())
    for label, c, group in sorted(signed, key=lambda x: x[1].size):
        if c.size not in roots:
            if c.size > report.entries:
                report.add("consistency", f"checkpoint {label} (size {c.size}) covers entries the bundle lacks: "
                                          f"entry {report.entries} and later are missing (log truncated)",
                           report.entries)
            continue
        if roots[c.size] == c.root:
            continue
        lo = max((s for s in held[group] if s < c.size), default=0)
        check = "root" if label == "checkpoint" else "consistency"
        where = (f"entry {lo} differs from the entry it signed" if c.size - lo == 1 else
                 f"an entry in seq {lo}…{c.size - 1} differs from the entries it signed")
        report.add(check, f"checkpoint {label} (size {c.size}): the bundle's first {c.size} entries have root "
                          f"{roots[c.size].hex()[:16]}…, not the signed {c.root.hex()[:16]}… — {where}",
                   lo, c.size - 1)


def _check_forks(signed: list[tuple[str, Checkpoint, str]], report: Report) -> None:
    """Two checkpoints of one size with different roots, both signed by the log key: a fork."""
    by_size: dict[int, tuple[str, Checkpoint]] = {}
    for label, c, _ in signed:
        seen = by_size.setdefault(c.size, (label, c))
        if seen[1].root != c.root:
            report.add("consistency", f"fork: the log key signed two different trees of size {c.size} "
                                      f"({seen[0]} and {label})")
