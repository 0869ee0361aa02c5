"""The ledger's tables (migration ``ledger_0001``): logs, entries, stored hashes, checkpoints, cosignatures;
and the self-check state (``ledger_0002``).

Every ledger_0001 table is append-only; the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL)
with triggers, and refuses an entry or stored hash that is not the next one of its log.  That is
defence in depth only: tampering is detected by checkpoints held by others (SPEC §2).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base


class Log(Base):
    """One append-only log (one per estate); ``origin`` is ``<site>/<estate slug>``."""

    __tablename__ = "ledger_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(300), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Entry(Base):
    """Entry ``seq`` of a log: its exact canonical bytes and leaf hash SHA-256(0x00 ‖ data)."""

    __tablename__ = "ledger_entries"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    time: Mapped[str] = mapped_column(String(20), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class StoredHash(Base):
    """Hash number ``idx`` of a log's stored-hash sequence (ledger.tree.stored_hash_index)."""

    __tablename__ = "ledger_hashes"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class CheckpointRow(Base):
    """A checkpoint the server signed: the full signed note, as issued."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (UniqueConstraint("log_id", "size"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    vkey: Mapped[str] = mapped_column(String(300), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Cosignature(Base):
    """A witness's cosignature/v1 line on one signed checkpoint."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("ledger_checkpoints.id"), nullable=False)
    witness: Mapped[str] = mapped_column(String(300), nullable=False)  # the witness's vkey
    line: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SelfCheck(Base):
    """The last self-check of a log (migration ``ledger_0002``; state, not part of the ledger)."""

    __tablename__ = "ledger_selfcheck"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)


class AnchorStatus(Base):
    """The last pass of the anchor loop (``ledger.anchor``, migration ``ledger_0006``; state, not
    part of the ledger): one row, what failed, so that staff pages show it."""

    __tablename__ = "ledger_anchor_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one loop per database
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    stamped: Mapped[int] = mapped_column(Integer, nullable=False)
    cosigned: Mapped[int] = mapped_column(Integer, nullable=False)
    failures: Mapped[str] = mapped_column(Text, nullable=False)  # one a line, "" when none
