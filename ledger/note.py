"""C2SP signed notes, verifier keys and cosignatures (c2sp.org/signed-note, c2sp.org/tlog-cosignature).

A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte key id ‖ signature)>\\n`` (U+2014, a space).  The key id is
``SHA-256(<name> ‖ 0x0A ‖ <type> ‖ <public key>)[:4]``; type 0x01 is a plain Ed25519 note
signature over the note text, type 0x04 an Ed25519 ``cosignature/v1``: the signature carries an
8-byte big-endian timestamp before the 64 signature bytes, and signs
``"cosignature/v1\\ntime <timestamp>\\n" ‖ <note text>``.

A verifier key ("vkey") is ``<name>+<8 hex key id>+<base64(type ‖ 32-byte public key)>``; the
private form of this project's key files is ``PRIVATE+KEY+<name>+<8 hex>+<base64(type ‖ seed)>``
as in Go's golang.org/x/mod/sumdb/note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from functools import cached_property

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
COSIGN_HEADER = "cosignature/v1\n"


class NoteError(ValueError):
    """A malformed note, key or signature."""


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name ‖ "\\n" ‖ alg ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def check_name(name: str) -> None:
    """Key names are non-empty, with no '+' and no whitespace (signed-note §Verifier keys)."""
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"invalid key name {name!r}: non-empty, no '+', no spaces")


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures of one name, id and type."""

    name: str
    alg: int
    public_key: bytes

    @cached_property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    @cached_property
    def vkey(self) -> str:
        """``<name>+<hex id>+<base64(alg ‖ key)>``."""
        material = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with its note name and signature type."""

    name: str
    alg: int
    seed: bytes

    @cached_property
    def _signing_key(self) -> SigningKey:  # derived once per Signer (a scalar multiplication)
        return SigningKey(self.seed)

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.alg, bytes(self._signing_key.verify_key))

    @property
    def skey(self) -> str:
        """``PRIVATE+KEY+<name>+<hex id>+<base64(alg ‖ seed)>`` — keep secret."""
        material = base64.b64encode(bytes([self.alg]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{material}"

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature


def generate_signer(name: str, alg: int = ED25519) -> Signer:
    """A fresh random key (libsodium's CSPRNG)."""
    check_name(name)
    return Signer(name, alg, bytes(SigningKey.generate()))


def parse_vkey(text: str) -> Verifier:
    """Decode a verifier key, checking its id and type."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<hex id>+<base64 key>")
    name, hex_id, material = parts
    check_name(name)
    raw = _b64(material, "verifier key")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError("verifier key must hold a type byte 0x01 or 0x04 and a 32-byte Ed25519 key")
    v = Verifier(name, raw[0], raw[1:])
    if hex_id != v.key_id.hex():
        raise NoteError(f"verifier key id {hex_id} does not match its name and key ({v.key_id.hex()})")
    return v


def parse_skey(text: str) -> Signer:
    """Decode a private key line written by ``Signer.skey``."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("private key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
    name, hex_id, material = parts[2:]
    check_name(name)
    raw = _b64(material, "private key")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError("private key must hold a type byte 0x01 or 0x04 and a 32-byte seed")
    s = Signer(name, raw[0], raw[1:])
    if hex_id != s.verifier.key_id.hex():
        raise NoteError("private key id does not match its name and key")
    return s


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes  # after the key id: 64 bytes (0x01) or 8-byte time ‖ 64 bytes (0x04)

    @property
    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A note split into its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def sign_note(text: str, signer: Signer) -> str:
    """A note of ``text`` carrying one Ed25519 (0x01) signature."""
    check_text(text)
    sig = Signature(signer.name, signer.verifier.key_id, signer.sign(text.encode("utf-8")))
    return Note(text, (sig,)).render()


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # control characters but newline (one scan, not per char)


def check_text(text: str) -> None:
    """Note text: non-empty, ends in a newline, no blank line, no control characters but newline."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must not contain a blank line")
    if _CONTROL.search(text):
        raise NoteError("note text must not contain control characters")


def parse_note(note: str) -> Note:
    """Split a signed note into text and signature lines (no signature is verified here)."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line and signature lines, ending with a newline")
    text, tail = note[: cut + 1], note[cut + 2:]
    check_text(text)
    sigs = []
    for line in tail[:-1].split("\n"):
        prefix = DASH + " "
        if not line.startswith(prefix):
            raise NoteError(f"signature line must start with '{DASH} ': {line[:40]!r}")
        fields = line[len(prefix):].split(" ")
        if len(fields) != 2:
            raise NoteError("signature line must be '— <name> <base64>'")
        name, b64 = fields
        check_name(name)
        raw = _b64(b64, "signature")
        if len(raw) < 5:
            raise NoteError("signature too short")
        sigs.append(Signature(name, raw[:4], raw[4:]))
    if not sigs:
        raise NoteError("note has no signature")
    return Note(text, tuple(sigs))


def verify_note(note: Note, verifier: Verifier) -> None:
    """Check that ``note`` carries a valid Ed25519 (0x01) signature by ``verifier``."""
    if verifier.alg != ED25519:
        raise NoteError("not an Ed25519 note key")
    mine = [s for s in note.signatures if s.name == verifier.name and s.key_id == verifier.key_id]
    if not mine:
        raise NoteError(f"no signature by {verifier.name}+{verifier.key_id.hex()}")
    for s in mine:
        try:
            VerifyKey(verifier.public_key).verify(note.text.encode("utf-8"), s.signature)
        except (BadSignatureError, ValueError):
            raise NoteError(f"signature by {verifier.name} does not verify") from None


def cosign(text: str, signer: Signer, timestamp: int) -> Signature:
    """A cosignature/v1 signature line over note ``text`` at POSIX ``timestamp``."""
    if signer.alg != COSIGNATURE_V1:
        raise NoteError("cosigning needs a cosignature/v1 (0x04) key")
    if not 0 <= timestamp < 2**63:
        raise NoteError("timestamp out of range")
    sig = signer.sign(_cosigned_message(text, timestamp))
    return Signature(signer.name, signer.verifier.key_id, struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: Note, verifier: Verifier) -> int:
    """Check ``verifier``'s cosignature/v1 on ``note``; return its timestamp."""
    if verifier.alg != COSIGNATURE_V1:
        raise NoteError("not a cosignature/v1 key")
    mine = [s for s in note.signatures if s.name == verifier.name and s.key_id == verifier.key_id]
    if not mine:
        raise NoteError(f"no cosignature by {verifier.name}+{verifier.key_id.hex()}")
    s = mine[0]
    if len(s.signature) != 72:
        raise NoteError("cosignature must be an 8-byte timestamp and a 64-byte signature")
    (timestamp,) = struct.unpack(">Q", s.signature[:8])
    try:
        VerifyKey(verifier.public_key).verify(_cosigned_message(note.text, timestamp), s.signature[8:])
    except (BadSignatureError, ValueError):
        raise NoteError(f"cosignature by {verifier.name} does not verify") from None
    return timestamp


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"{COSIGN_HEADER}time {timestamp}\n{text}".encode("utf-8")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
