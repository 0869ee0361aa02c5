"""RFC 3161 trusted timestamps of signed checkpoints (SPEC §2.10).

The message imprint of a checkpoint's token is SHA-256 of the checkpoint **body**: its three lines
``<origin>\\n<size>\\n<base64 root>\\n`` as UTF-8 (the text the log key signs, without the blank
line and signature lines).  A token is the TSA's whole DER ``TimeStampResp`` (what ``openssl ts
-reply`` writes, a ``.tsr`` file), kept beside the checkpoint in ``ledger_timestamps`` (migration
``ledger_0003``, append-only) and exported as ``timestamps/<size>.<n>.tsr`` (SPEC §2.7).

Parsing and the CMS/certificate checks are rfc3161-client's (no hand-written ASN.1 here):
``fetch_token`` asks a TSA over HTTP (RFC 3161 §3.4) and checks the answer before anything is
stored; ``check_token`` verifies a stored or exported token against the auditor's roots.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography.x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.db import Base
from ledger.models import CheckpointRow

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY = 256 * 1024
SHA256_OID = cryptography.x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


class TimestampError(ValueError):
    """A token that does not verify, or a TSA answer that is refused (nothing is stored)."""


class TimestampRow(Base):
    """One TSA token on one signed checkpoint (migration ``ledger_0003``; append-only)."""

    __tablename__ = "ledger_timestamps"
    __table_args__ = (UniqueConstraint("checkpoint_id", "tsa"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("ledger_checkpoints.id"), nullable=False)
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tsa: Mapped[str] = mapped_column(String(500), nullable=False)  # the URL it was asked at
    token: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER TimeStampResp
    gen_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


@dataclass(frozen=True)
class Stamp:
    """What a verified token says: when (genTime ± accuracy), by whom (the signing certificate's subject)."""

    gen_time: datetime
    accuracy: timedelta
    tsa: str
    serial: int

    @property
    def latest(self) -> datetime:
        """The latest instant the token allows (genTime + accuracy)."""
        return self.gen_time + self.accuracy


def body_bytes(note_text: str) -> bytes:
    """The bytes a checkpoint's token stamps: the checkpoint body (signed-note text), UTF-8."""
    cut = note_text.find("\n\n")
    return (note_text[:cut + 1] if cut >= 0 else note_text).encode("utf-8")


def imprint(note_text: str) -> bytes:
    """SHA-256 of the checkpoint body (SPEC §2.10): the token's message imprint."""
    return hashlib.sha256(body_bytes(note_text)).digest()


def load_roots(path: Path) -> list[cryptography.x509.Certificate]:
    """The trusted TSA roots: one or more PEM certificates in one file."""
    try:
        roots = cryptography.x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError as exc:
        raise TimestampError(f"{path}: not PEM certificates: {exc}") from None
    if not roots:
        raise TimestampError(f"{path}: no certificate")
    return roots


def fetch_token(url: str, note_text: str, roots: list[cryptography.x509.Certificate] | None = None,
                timeout: float = 10.0) -> tuple[bytes, Stamp | None]:
    """Ask the TSA at ``url`` to stamp the checkpoint; return the DER reply and (with roots) its Stamp.

    The reply must be granted, for this imprint and this request's nonce; with ``roots`` its
    signature and certificate chain must verify too.  Raises TimestampError (TSA down, refused, or
    a reply that does not match): the caller retries later."""
    request = (TimestampRequestBuilder().data(body_bytes(note_text)).hash_algorithm(HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",
                                  headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 — configured https/http URL
            reply = answer.read(MAX_REPLY + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"TSA {url}: {exc}") from None
    if len(reply) > MAX_REPLY:
        raise TimestampError(f"TSA {url}: reply larger than {MAX_REPLY} bytes")
    try:
        response = decode_timestamp_response(reply)
    except ValueError as exc:
        raise TimestampError(f"TSA {url}: not a timestamp reply: {exc}") from None
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"TSA {url} refused: status {response.status} {response.status_string}")
    if response.tst_info.nonce != request.nonce:
        raise TimestampError(f"TSA {url}: the reply's nonce is not the request's")
    if roots:
        return reply, check_token(reply, note_text, roots)
    _check_imprint(response, note_text)
    return reply, None


def check_token(token: bytes, note_text: str, roots: list[cryptography.x509.Certificate]) -> Stamp:
    """Verify a DER TimeStampResp for the checkpoint ``note_text`` against the trusted ``roots``.

    Checks (rfc3161-client): status granted; the CMS signature by the TSA certificate, whose chain
    (certificates in the token) leads to one of ``roots`` and is valid at genTime; the TSA
    certificate's critical extended key usage timeStamping; then the imprint is SHA-256 of this
    checkpoint's body.  Raises TimestampError naming what failed."""
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TimestampError(f"not a DER timestamp reply: {exc}") from None
    if PKIStatus(response.status) != PKIStatus.GRANTED:
        raise TimestampError(f"token status is {response.status}, not granted")
    _check_imprint(response, note_text)
    embedded = [cryptography.x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
    builder = VerifierBuilder(roots=list(roots), intermediates=[c for c in embedded if c not in roots])
    try:
        builder.build().verify(response, imprint(note_text))
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"token does not verify against the TSA roots: {exc}") from None
    info = response.tst_info
    return Stamp(_utc(info.gen_time), _accuracy(info), _signer_subject(response, embedded), info.serial_number)


def unchecked_stamp(token: bytes, note_text: str) -> Stamp:
    """A token's imprint checked and its Stamp read, its signature and chain NOT verified (no roots)."""
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TimestampError(f"not a DER timestamp reply: {exc}") from None
    _check_imprint(response, note_text)
    embedded = [cryptography.x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]
    info = response.tst_info
    return Stamp(_utc(info.gen_time), _accuracy(info), _signer_subject(response, embedded), info.serial_number)


def token_time(token: bytes) -> datetime:
    """genTime of a token (not verified): for display and storage after ``fetch_token``."""
    return _utc(decode_timestamp_response(token).tst_info.gen_time)


def _check_imprint(response, note_text: str) -> None:  # noqa: ANN001
    mi = response.tst_info.message_imprint
    if mi.hash_algorithm != SHA256_OID:
        raise TimestampError(f"token imprint uses {mi.hash_algorithm.dotted_string}, not SHA-256")
    if mi.message != imprint(note_text):
        raise TimestampError("token imprint is not SHA-256 of this checkpoint's body: a token for other data")


def _accuracy(info) -> timedelta:  # noqa: ANN001
    try:
        acc = info.accuracy
    except ValueError:
        return timedelta(0)
    if acc is None:
        return timedelta(0)
    return timedelta(seconds=acc.seconds or 0, milliseconds=acc.millis or 0, microseconds=acc.micros or 0)


def _signer_subject(response, embedded: list[cryptography.x509.Certificate]) -> str:  # noqa: ANN001
    infos = list(response.signed_data.signer_infos)
    for cert in embedded:
        if infos and cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert.subject.rfc4514_string()
    return infos[0].issuer.rfc4514_string() if infos else "?"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- storage -------------------------------------------------------------------------------------

def add_token(session: Session, row: CheckpointRow, tsa: str, token: bytes) -> TimestampRow:
    """Store a token fetched for ``row`` (its imprint checked again here: never a token of other data)."""
    response = decode_timestamp_response(token)
    _check_imprint(response, row.note)
    stamp = TimestampRow(checkpoint_id=row.id, log_id=row.log_id, size=row.size, tsa=tsa, token=token,
                         gen_time=_utc(response.tst_info.gen_time), created_at=datetime.now(UTC))
    session.add(stamp)
    session.flush()
    return stamp


def tokens(session: Session, log_id: int) -> list[TimestampRow]:
    """Every token of the log, by checkpoint size, then in the order they were stored."""
    return list(session.scalars(select(TimestampRow).where(TimestampRow.log_id == log_id)
                                .order_by(TimestampRow.size, TimestampRow.id)))


def tokens_of(session: Session, row: CheckpointRow) -> list[TimestampRow]:
    """The tokens of one checkpoint, in the order they were stored (``n`` of the bundle's file names)."""
    return list(session.scalars(select(TimestampRow).where(TimestampRow.checkpoint_id == row.id)
                                .order_by(TimestampRow.id)))


def last_stamped_size(session: Session, log_id: int, tsa: str) -> int | None:
    """The largest checkpoint size this TSA stamped for the log (stamps only ever go forward)."""
    return session.scalar(select(TimestampRow.size).where(TimestampRow.log_id == log_id, TimestampRow.tsa == tsa)
                          .order_by(TimestampRow.size.desc()).limit(1))
