"""Estates and roll versions in the database.

``import_roll`` writes a new, immutable roll version (creating the estate on first use) inside
the caller's transaction, so a refused or failed import writes nothing.  Reading back gives
the same ``Roll`` the CSV produced.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from identity import record
from identity.models import Estate, OwnerName, RollPart, RollVersion
from identity.roll import Part, Roll, Voter
from identity.scope import Totals, totals
from ledger import checkpoint, keys, log

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class EstateError(ValueError):
    """A request about estates that cannot be carried out (bad slug, unknown estate)."""


def origin_for(slug: str) -> str:
    """Log origin of an estate: ``<site name>/<estate slug>`` (SPEC §2)."""
    return f"{keys.site_name()}/{slug}"


@dataclass(frozen=True)
class RollView:
    """A stored roll version with its estate."""

    slug: str
    estate_name: str
    origin: str
    version: int
    roll: Roll

    @property
    def voters(self) -> tuple[Voter, ...]:
        return self.roll.voters


@dataclass(frozen=True)
class Overview:
    slug: str
    name: str
    version: int | None
    buildings: int
    parts: int
    totals: Totals
    developer_parts: int


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise EstateError(f"小区代号 '{slug}' 无效：只用小写字母、数字和连字符，2–63 个字符 / "
                          f"estate slug must be 2-63 lowercase letters, digits or hyphens")
    return slug


def get_estate(session: Session, slug: str) -> Estate | None:
    return session.scalar(select(Estate).where(Estate.slug == slug))


def create_estate(session: Session, slug: str, name: str) -> Estate:
    """Create an estate and its ledger, whose entry 0 records it (caller's transaction; SPEC §6.1)."""
    check_slug(slug)
    name = name.strip() or slug
    origin = origin_for(slug)
    ledger_log = log.create_log(session, origin)
    estate = Estate(slug=slug, name=name, origin=origin, log_id=ledger_log.id, created_at=_now())
    session.add(estate)
    session.flush()
    log.append(session, ledger_log.id, record.ESTATE, record.estate_body(slug, name, origin, keys.log_key().vkey))
    return estate


def import_roll(session: Session, slug: str, roll: Roll, *, filename: str, data: bytes,
                name: str | None = None) -> RollVersion:
    """Store ``roll`` as the estate's next roll version; create the estate if it is new.

    The version is recorded in the estate's ledger (SPEC §6.2) and a checkpoint covering it is
    signed, all in the caller's transaction: a failed import leaves neither rows nor entries.
    """
    estate = get_estate(session, check_slug(slug)) or create_estate(session, slug, name or slug)
    latest = session.scalar(select(func.max(RollVersion.version)).where(RollVersion.estate_id == estate.id))
    whole = totals(roll)
    version = RollVersion(estate_id=estate.id, version=(latest or 0) + 1, created_at=_now(),
                          filename=filename[:300], file_sha256=hashlib.sha256(data).hexdigest(),
                          parts=len(roll.parts), heads=whole.heads, area=whole.area)
    session.add(version)
    session.flush()
    session.add_all(RollPart(roll_version_id=version.id, position=i, building=p.building, unit=p.unit,
                             room=p.room, area=p.area, area_source=p.area_source, voter_id=p.owner,
                             developer_held=p.developer_held) for i, p in enumerate(roll.parts))
    session.add_all(OwnerName(roll_version_id=version.id, voter_id=v, name=n[:200]) for v, n in roll.names.items())
    entry = log.append(session, estate.log_id, record.ROLL, record.roll_body(version.version, roll))
    version.ledger_seq = entry.seq
    session.flush()
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return version


def load_roll(session: Session, version: RollVersion) -> Roll:
    rows = session.scalars(select(RollPart).where(RollPart.roll_version_id == version.id)
                           .order_by(RollPart.position)).all()
    names = dict(session.execute(select(OwnerName.voter_id, OwnerName.name)
                                 .where(OwnerName.roll_version_id == version.id)).all())
    return Roll(tuple(Part(r.building, r.unit, r.room, r.area, r.area_source, r.voter_id, r.developer_held)
                      for r in rows), names)


def roll_version(session: Session, estate: Estate, version: int | None = None) -> RollVersion | None:
    """The given roll version of ``estate``, or its latest when ``version`` is None."""
    query = select(RollVersion).where(RollVersion.estate_id == estate.id)
    if version is None:
        query = query.order_by(RollVersion.version.desc()).limit(1)
    else:
        query = query.where(RollVersion.version == version)
    return session.scalar(query)


def current_roll(session: Session, slug: str) -> RollView | None:
    """The estate's latest roll version, or None if the estate or its roll does not exist."""
    estate = get_estate(session, slug)
    if estate is None:
        return None
    version = roll_version(session, estate)
    if version is None:
        return None
    return RollView(estate.slug, estate.name, estate.origin, version.version, load_roll(session, version))


def list_estates(session: Session) -> list[Estate]:
    return list(session.scalars(select(Estate).order_by(Estate.slug)))


def overview(session: Session, slug: str) -> Overview | None:
    """Figures for the estate overview page (latest roll version)."""
    estate = get_estate(session, slug)
    if estate is None:
        return None
    view = current_roll(session, slug)
    if view is None:
        return Overview(estate.slug, estate.name, None, 0, 0, Totals(0, 0), 0)
    roll = view.roll
    return Overview(estate.slug, estate.name, view.version, len(roll.buildings), len(roll.parts),
                    totals(roll), sum(1 for p in roll.parts if p.developer_held))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
