"""Tables owned by identity: estates, roll versions, parts, owners' names (private).

The roll tables are projections of the ledger (SPEC §6.4): triggers refuse UPDATE and DELETE
(migration identity_0003) except the erasure of a version's private rows (SPEC §6.3).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db import Base


class Estate(Base):
    __tablename__ = "identity_estates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(300), unique=True)
    log_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RollVersion(Base):
    """One imported roll; never changed once written (rounds freeze the version they use)."""

    __tablename__ = "identity_roll_versions"
    __table_args__ = (UniqueConstraint("estate_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("identity_estates.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    filename: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    parts: Mapped[int] = mapped_column(Integer)
    heads: Mapped[int] = mapped_column(Integer)
    area: Mapped[int] = mapped_column(BigInteger)  # 0.01 m²
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RollPart(Base):
    __tablename__ = "identity_roll_parts"
    __table_args__ = (UniqueConstraint("roll_version_id", "building", "unit", "room"),
                      Index("ix_identity_roll_parts_version_area", "roll_version_id", "area"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    area: Mapped[int] = mapped_column(BigInteger)  # 0.01 m²
    area_source: Mapped[str] = mapped_column(String(16))
    voter_id: Mapped[str] = mapped_column(String(64))  # owner id (业主编号): private
    developer_held: Mapped[bool] = mapped_column(Boolean)
    voter: Mapped[str | None] = mapped_column(String(32), nullable=True)  # pseudonym (SPEC §6.3)
    salt: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the part's commitment salt


class OwnerName(Base):
    """Owners' names: private to supervisors, never in the ledger or on public pages."""

    __tablename__ = "identity_owner_names"

    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), primary_key=True)
    voter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class EstateSecret(Base):
    """The estate's pseudonym secret: owner salt = HMAC-SHA-256(secret, owner id) (SPEC §6.3)."""

    __tablename__ = "identity_estate_secrets"

    estate_id: Mapped[int] = mapped_column(ForeignKey("identity_estates.id"), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))


class RollVoter(Base):
    """A voter's opening in one version: pseudonym, owner id, salt (private, erasable)."""

    __tablename__ = "identity_roll_voters"

    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), primary_key=True)
    voter: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(64))


class RollPhone(Base):
    """A voter's mobile number (optional roll column): never in the ledger, never exported."""

    __tablename__ = "identity_roll_phones"

    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), primary_key=True)
    voter: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))


class RollErasure(Base):
    """A version whose openings were erased after the retention period (SPEC §6.3)."""

    __tablename__ = "identity_roll_erasures"

    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_by: Mapped[str] = mapped_column(String(200))
