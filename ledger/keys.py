"""The server's log key: an Ed25519 signed-note key kept in a 0600 file.

``log_key()`` reads ``GONGJUE_LOG_KEY_FILE`` (default ``var/log.key``); when the file is missing
it creates one (mode 0600) named after ``GONGJUE_SITE`` (default ``gongjue.local``).  A key
file appears whole or not at all: it is written to a temporary file and linked into place, so of
several processes starting at once exactly one creates it and the others read that one.  The file holds one line, the private key in the form of Go's
golang.org/x/mod/sumdb/note: ``PRIVATE+KEY+<name>+<8 hex id>+<base64(0x01 ‖ seed)>``.
Its public half, the verifier key ``<name>+<8 hex id>+<base64(0x01 ‖ public key)>``, is what
auditors pin (SPEC §2.4).  The private key is never printed or logged.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ledger.note import ED25519, Signer, generate_signer, parse_skey

DEFAULT_KEY_FILE = "var/log.key"
DEFAULT_SITE = "gongjue.local"


@dataclass(frozen=True)
class LogKey:
    """The log's signer (private) and its public verifier key text."""

    signer: Signer

    @property
    def name(self) -> str:
        return self.signer.name

    @property
    def vkey(self) -> str:
        return self.signer.verifier.vkey


def site_name() -> str:
    """The site name (GONGJUE_SITE): the log key's name and the first part of every origin."""
    return os.environ.get("GONGJUE_SITE", DEFAULT_SITE)


def key_file() -> Path:
    return Path(os.environ.get("GONGJUE_LOG_KEY_FILE", DEFAULT_KEY_FILE))


def log_key(path: Path | None = None) -> LogKey:
    """The server's log key, created (0600) on first use; a key another process created first wins."""
    path = path or key_file()
    if not path.exists():
        try:
            return create_key_file(path, site_name())
        except FileExistsError:
            pass  # created by another process between the check and the link: use that one
    return load_key_file(path)


def load_key_file(path: Path) -> LogKey:
    signer = parse_skey(path.read_text(encoding="ascii"))
    if signer.alg != ED25519:
        raise ValueError(f"{path}: not an Ed25519 note key")
    return LogKey(signer)


def create_key_file(path: Path, name: str, alg: int = ED25519) -> LogKey:
    """Write a new random key to ``path``, mode 0600; FileExistsError if ``path`` exists."""
    signer = generate_signer(name, alg)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(path, signer.skey)
    return LogKey(signer)


def _write_whole(path: Path, skey: str) -> None:
    """Put ``skey`` at ``path`` (0600) atomically and never over an existing file: write and fsync a
    private temporary file, then hard-link it to ``path`` (which fails if ``path`` exists)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(skey + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def old_key_path(path: Path, vkey: str) -> Path:
    """Where a rotated-out key is kept: ``<key file>.old-<8 hex key id>`` (SPEC §2.4, DEPLOY §5)."""
    return path.with_name(f"{path.name}.old-{vkey.split('+')[1]}")


def old_key(vkey: str, path: Path | None = None) -> LogKey:
    """The rotated-out key whose verifier key is ``vkey`` (kept beside the key file)."""
    path = old_key_path(path or key_file(), vkey)
    if not path.exists():
        raise FileNotFoundError(f"the old log key {vkey} is not kept at {path}")
    found = load_key_file(path)
    if found.vkey != vkey:
        raise ValueError(f"{path} holds {found.vkey}, not {vkey}")
    return found


def rotate_key_file(path: Path | None = None, new_key_file: Path | None = None) -> tuple[LogKey, LogKey]:
    """Replace the key file with a new key of the same name; the old one is kept as ``.old-<id>``.

    ``new_key_file``: a key prepared elsewhere (same name) instead of a fresh random one.
    Returns (old, new).  The old file is renamed, never overwritten or deleted.
    """
    path = path or key_file()
    old = load_key_file(path)
    if new_key_file is not None:
        new = load_key_file(new_key_file)
        if new.name != old.name:
            raise ValueError(f"the new key is named {new.name!r}, the log key {old.name!r}: the name must stay")
        if new.vkey == old.vkey:
            raise ValueError("the new key is the current key")
    keep = old_key_path(path, old.vkey)
    if keep.exists():
        raise FileExistsError(f"{keep} exists already")
    os.link(path, keep)  # the old key is kept before the key file changes
    tmp = path.with_name(path.name + ".new")
    if tmp.exists():
        tmp.unlink()
    if new_key_file is None:
        new = create_key_file(tmp, old.name)
    else:
        _write_whole(tmp, new.signer.skey)
    os.replace(tmp, path)
    return old, new
