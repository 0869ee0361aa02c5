"""Tables owned by identity: estates, roll versions, parts, owners' names (private)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
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
    __table_args__ = (UniqueConstraint("roll_version_id", "building", "unit", "room"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    room: Mapped[str] = mapped_column(String(64))
    area: Mapped[int] = mapped_column(BigInteger)  # 0.01 m²
    area_source: Mapped[str] = mapped_column(String(16))
    voter_id: Mapped[str] = mapped_column(String(64))
    developer_held: Mapped[bool] = mapped_column(Boolean)


class OwnerName(Base):
    """Owners' names: private to supervisors, never in the ledger or on public pages."""

    __tablename__ = "identity_owner_names"

    roll_version_id: Mapped[int] = mapped_column(ForeignKey("identity_roll_versions.id"), primary_key=True)
    voter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
