"""Estates and roll versions in the database, checked against the ledger (SPEC §6.2–§6.4).

A roll version is one ``roll`` ledger entry (public: pseudonymous weights, commitments, totals)
plus its openings in the roll tables (private, erasable: owner ids, part fields, salts), the
owners' names and phones.  The tables are projections: whatever counts is opened against the
entry first (``current_roll``, ``overview``, ``voter_for_part``) and refused with
``RollTampered`` on a mismatch.

Importing is split so the write transaction stays short (issue #8.1): ``prepare_roll`` does the
hashing and the body building outside any transaction; ``import_roll`` only inserts, appends and
signs.  ``import_roll_file`` runs both for the CLI and the upload page, retrying once when a
concurrent upload created the same estate first.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import record
from identity.models import (
    Estate,
    EstateSecret,
    OwnerName,
    RollErasure,
    RollPart,
    RollPhone,
    RollVersion,
    RollVoter,
)
from identity.roll import Roll, Voter
from identity.scope import Totals
from ledger import checkpoint, keys, log, tree
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from ledger.models import Entry, Log

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
CHUNK = 5000  # rows per INSERT batch: bounded memory for the largest roll
RETENTION = ("委员会任期届满后一年 / the committee's term plus one year (DOMAIN.md; Civil Code Art. 280: "
             "a decision can be challenged within one year)")


class EstateError(ValueError):
    """A request about estates that cannot be carried out (bad slug, unknown estate)."""


class RollTampered(ValueError):
    """The roll tables disagree with the estate's ledger: nothing derived from them is used."""

    def __init__(self, slug: str, version: int | None, detail: str):
        self.slug, self.version, self.detail = slug, version, detail
        super().__init__(f"小区 {slug} 第 {version} 版名册的数据库记录与账本不符，已停止使用；请联系管理员核查 / "
                         f"the stored roll version {version} of {slug} does not match its ledger entry and "
                         f"is not used; ask the administrator to investigate: {detail}")


class ImportConflict(EstateError):
    """Two uploads raced for the same estate and the retry lost too: try again."""


def origin_for(slug: str) -> str:
    """Log origin of an estate: ``<site name>/<estate slug>`` (SPEC §2)."""
    return f"{keys.site_name()}/{slug}"


@dataclass(frozen=True)
class RollView:
    """A stored roll version with its estate, opened against its ledger entry."""

    slug: str
    estate_name: str
    origin: str
    version: int
    roll: Roll  # owner ids (private), names and phones
    opened: record.OpenedRoll  # pseudonyms, checked against the ledger

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


def check_name(name: str) -> str:
    """An estate name: NFKC, 1–200 characters, no invisible or control characters (EstateError)."""
    from identity.roll import MAX_NAME, clean_text

    try:
        text = clean_text(name, "小区名称 name", MAX_NAME)
    except ValueError as exc:
        raise EstateError(str(exc)) from None
    if not text:
        raise EstateError("请填写小区名称 / the estate name is empty")
    return text


def get_estate(session: Session, slug: str) -> Estate | None:
    return session.scalar(select(Estate).where(Estate.slug == slug))


def create_estate(session: Session, slug: str, name: str, secret: bytes | None = None) -> Estate:
    """Create an estate, its pseudonym secret and its ledger, whose entry 0 records it (SPEC §6.1)."""
    check_slug(slug)
    name = check_name(name) if name.strip() else slug
    origin = origin_for(slug)
    ledger_log = log.create_log(session, origin)
    estate = Estate(slug=slug, name=name, origin=origin, log_id=ledger_log.id, created_at=_now())
    session.add(estate)
    session.flush()
    session.add(EstateSecret(estate_id=estate.id, secret=secret or secrets.token_bytes(32)))
    log.append(session, ledger_log.id, record.ESTATE, record.estate_body(slug, name, origin, keys.log_key().vkey))
    return estate


def estate_secret(session: Session, estate: Estate) -> bytes:
    found = session.get(EstateSecret, estate.id)
    if found is None:
        raise RollTampered(estate.slug, None, "the estate's pseudonym secret is missing")
    return found.secret


# --- import -----------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A roll's public body (version set at insert) and openings, made for one estate secret."""

    secret: bytes
    body: dict
    voters: dict[str, tuple[str, str]]  # owner id → (pseudonym, salt), roll order
    salts: list[str]  # one per part, roll order
    roll: Roll


def prepare_roll(roll: Roll, secret: bytes) -> Prepared:
    """Pseudonyms, salts, commitments and totals: all the hashing, outside any transaction.

    Owner salt = HMAC-SHA-256(estate secret, owner id), so pseudonyms are stable across versions;
    part salts are fresh random 32 bytes (SPEC §6.3)."""
    voters: dict[str, tuple[str, str]] = {}
    for p in roll.parts:
        if p.owner not in voters:
            salt = hmac.new(secret, p.owner.encode(), hashlib.sha256).hexdigest()
            voters[p.owner] = (record.pseudonym(p.owner, salt), salt)
    salts = [secrets.token_hex(32) for _ in roll.parts]
    opened = record.OpenedParts(roll, {o: v[0] for o, v in voters.items()}, salts)
    return Prepared(secret, record.public_body(0, opened), voters, salts, roll)


def import_roll(session: Session, slug: str, roll: Roll, *, filename: str, data: bytes,
                name: str | None = None, prepared: Prepared | None = None) -> RollVersion:
    """Store ``roll`` as the estate's next roll version; create the estate if it is new.

    In the caller's transaction: the estate (if new), the ``roll`` entry (SPEC §6.2), the
    openings rows, names and phones, and a checkpoint; a failed import leaves nothing.  Pass
    ``prepared`` (from ``prepare_roll`` with this estate's secret) to keep hashing out of it.
    """
    estate = get_estate(session, check_slug(slug))
    if estate is None:
        estate = create_estate(session, slug, name or slug, prepared.secret if prepared else None)
    secret = estate_secret(session, estate)
    if prepared is None or prepared.secret != secret or prepared.roll is not roll:
        prepared = prepare_roll(roll, secret)
    latest = session.scalar(select(func.max(RollVersion.version)).where(RollVersion.estate_id == estate.id))
    number = (latest or 0) + 1
    body = dict(prepared.body, version=number)
    entry = log.append(session, estate.log_id, record.ROLL, body)
    whole = body["totals"]["estate"]
    version = RollVersion(estate_id=estate.id, version=number, created_at=_now(), filename=filename[:300],
                          file_sha256=hashlib.sha256(data).hexdigest(), parts=len(roll.parts),
                          heads=whole["heads"], area=whole["area"], ledger_seq=entry.seq)
    session.add(version)
    session.flush()
    _insert_openings(session, version.id, prepared, roll)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return version


def _insert_openings(session: Session, version_id: int, prepared: Prepared, roll: Roll) -> None:
    conn = session.connection()
    voters = prepared.voters
    for rows in _chunks({"roll_version_id": version_id, "position": i, "building": p.building, "unit": p.unit,
                         "room": p.room, "area": p.area, "area_source": p.area_source, "voter_id": p.owner,
                         "developer_held": p.developer_held, "voter": voters[p.owner][0], "salt": salt}
                        for i, (p, salt) in enumerate(zip(roll.parts, prepared.salts))):
        conn.execute(insert(RollPart), rows)
    for rows in _chunks({"roll_version_id": version_id, "voter": pseudonym, "position": i, "owner": owner,
                         "salt": salt} for i, (owner, (pseudonym, salt)) in enumerate(voters.items())):
        conn.execute(insert(RollVoter), rows)
    for rows in _chunks({"roll_version_id": version_id, "voter_id": owner, "name": name[:200]}
                        for owner, name in roll.names.items()):
        conn.execute(insert(OwnerName), rows)
    for rows in _chunks({"roll_version_id": version_id, "voter": voters[owner][0], "phone": phone}
                        for owner, phone in roll.phones.items()):
        conn.execute(insert(RollPhone), rows)


def _chunks(rows: Iterator[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def import_roll_file(engine: Engine, slug: str, roll: Roll, *, filename: str, data: bytes,
                     name: str | None = None) -> int:
    """Import ``roll`` with the hashing before the write transaction; returns the version number.

    When another upload creates the same new estate meanwhile (IntegrityError on its slug), the
    import is retried once and becomes that estate's next version; a second loss raises
    ImportConflict (a clear "try again").
    """
    check_slug(slug)
    for attempt in (1, 2):
        with reading(engine) as session:  # one SELECT of the secret, without the write lock
            estate = get_estate(session, slug)
            secret = estate_secret(session, estate) if estate else secrets.token_bytes(32)
        prepared = prepare_roll(roll, secret)
        try:
            with transaction(engine) as session:
                return import_roll(session, slug, roll, filename=filename, data=data, name=name,
                                   prepared=prepared).version
        except (IntegrityError, log.LogError):
            if attempt == 2:
                raise ImportConflict(f"小区 {slug} 同时有另一份名册在导入，请稍后重试 / another roll for {slug} "
                                     f"was being imported at the same time; please try again") from None
    raise AssertionError("unreachable")


# --- reading, checked against the ledger ------------------------------------------------------


def roll_version(session: Session, estate: Estate, version: int | None = None) -> RollVersion | None:
    """The given roll version of ``estate``, or its latest when ``version`` is None."""
    query = select(RollVersion).where(RollVersion.estate_id == estate.id)
    if version is None:
        query = query.order_by(RollVersion.version.desc()).limit(1)
    else:
        query = query.where(RollVersion.version == version)
    return session.scalar(query)


def roll_entry(session: Session, estate: Estate, version: RollVersion) -> dict:
    """The public body of ``version``'s ``roll`` entry, read from the ledger (RollTampered if the
    row points anywhere else or the entry's bytes do not give its leaf hash).  The body is parsed
    once per process and shared: callers must not change it."""
    where = (Entry.log_id == estate.log_id, Entry.seq == version.ledger_seq)
    row = session.execute(select(Entry.leaf_hash, Entry.type, Log.origin).join(Log, Log.id == Entry.log_id)
                          .where(*where)).first()
    if row is None or row.type != record.ROLL or row.origin != estate.origin:
        raise RollTampered(estate.slug, version.version, f"no roll entry at seq {version.ledger_seq} of its log")
    leaf = bytes(row.leaf_hash)
    body = _BODIES.get(leaf)
    if body is None:
        data = bytes(session.scalar(select(Entry.data).where(*where)))
        if tree.leaf_hash(data) != leaf:
            raise RollTampered(estate.slug, version.version, f"entry {version.ledger_seq}'s bytes do not give its hash")
        body = parse_entry(data).body
        while len(_BODIES) >= 8:  # a few recent entries per process; threads may race here
            oldest = next(iter(_BODIES), None)
            _BODIES.pop(oldest, None)
            _COMMITMENTS.pop(oldest, None)
        _BODIES[leaf] = body
        _COMMITMENTS[leaf] = None
    if body.get("version") != version.version:
        raise RollTampered(estate.slug, version.version, f"entry {version.ledger_seq} is roll version "
                                                         f"{body.get('version')!r}")
    return body


_BODIES: dict[bytes, dict] = {}  # leaf hash → parsed body: entries never change (triggers, checkpoints)
_COMMITMENTS: dict[bytes, frozenset[str] | None] = {}


def _commitments(body: dict) -> frozenset[str]:
    leaf = next((k for k, b in _BODIES.items() if b is body), None)
    found = _COMMITMENTS.get(leaf) if leaf else None
    if found is None:
        found = frozenset(body["parts"])
        if leaf:
            _COMMITMENTS[leaf] = found
    return found


def load_openings(session: Session, version: RollVersion) -> dict:
    """The openings of ``version`` as SPEC §6.3 states them (without origin and seq)."""
    parts = session.execute(select(RollPart.building, RollPart.unit, RollPart.room, RollPart.area,
                                   RollPart.area_source, RollPart.developer_held, RollPart.voter, RollPart.salt)
                            .where(RollPart.roll_version_id == version.id).order_by(RollPart.position))
    voters = session.execute(select(RollVoter.voter, RollVoter.owner, RollVoter.salt)
                             .where(RollVoter.roll_version_id == version.id).order_by(RollVoter.position))
    return {"version": version.version,
            "voters": [{"voter": v.voter, "owner": v.owner, "salt": v.salt} for v in voters],
            "parts": [{"building": p.building, "unit": p.unit, "room": p.room, "area": p.area,
                       "area_source": p.area_source, "developer_held": bool(p.developer_held),
                       "voter": p.voter, "salt": p.salt} for p in parts]}


def _open(session: Session, estate: Estate, version: RollVersion) -> record.OpenedRoll:
    body = roll_entry(session, estate, version)
    if session.get(RollErasure, version.id) is not None:
        raise EstateError(f"第 {version.version} 版名册的明细已按保存期限删除 / the openings of roll version "
                          f"{version.version} were erased after the retention period")
    try:
        return record.open_roll(body, load_openings(session, version))
    except ValueError as exc:
        raise RollTampered(estate.slug, version.version, str(exc)) from None


def current_roll(session: Session, slug: str) -> RollView | None:
    """The estate's latest roll version, opened against its ledger entry (RollTampered if the
    tables disagree with it); None if the estate or its roll does not exist."""
    estate = get_estate(session, slug)
    if estate is None:
        return None
    version = roll_version(session, estate)
    if version is None:
        return None
    opened = _open(session, estate, version)
    return RollView(estate.slug, estate.name, estate.origin, version.version, _with_private(session, version, opened),
                    opened)


def load_roll(session: Session, version: RollVersion) -> Roll:
    """The parts of ``version`` with owner ids, names and phones, opened against the ledger
    (RollTampered)."""
    estate = session.get(Estate, version.estate_id)
    return _with_private(session, version, _open(session, estate, version))


def _with_private(session: Session, version: RollVersion, opened: record.OpenedRoll) -> Roll:
    """The opened roll with the owners' names and phones (private; not in the ledger)."""
    owners = {v.owner for v in opened.voters}
    names = {o: n for o, n in session.execute(select(OwnerName.voter_id, OwnerName.name)
                                              .where(OwnerName.roll_version_id == version.id)) if o in owners}
    owner_of = {v.voter: v.owner for v in opened.voters}
    phones = {owner_of[v]: p for v, p in session.execute(select(RollPhone.voter, RollPhone.phone)
                                                         .where(RollPhone.roll_version_id == version.id))
              if v in owner_of}
    return Roll(opened.roll.parts, names, phones)


def roll_openings(session: Session, slug: str, version: int | None = None) -> dict:
    """The openings an auditor downloads as ``openings/roll-<version>.json`` (SPEC §6.3), checked
    against the entry first; EstateError if there is no such version or it was erased."""
    estate = get_estate(session, slug)
    row = roll_version(session, estate, version) if estate else None
    if row is None:
        raise EstateError(f"没有这个名册版本 / no roll version {version} of estate '{slug}'")
    _open(session, estate, row)
    return {"origin": estate.origin, "seq": row.ledger_seq, **load_openings(session, row)}


def voter_for_part(session: Session, slug: str, building: str, unit: str, room: str) -> str | None:
    """Pseudonym of the current roll's voter holding that part, or None (contract C2).

    The labels are normalised as on import; the part row is checked against the entry: its
    commitment must be one of the entry's (RollTampered otherwise)."""
    from identity.roll import normalise_label

    estate = get_estate(session, slug)
    version = roll_version(session, estate) if estate else None
    if version is None:
        return None
    try:
        building, unit, room = (normalise_label(x) for x in (building, unit, room))
    except ValueError:
        return None
    part = session.execute(select(RollPart).where(RollPart.roll_version_id == version.id, RollPart.building == building,
                                                  RollPart.unit == unit, RollPart.room == room)).scalar()
    if part is None:
        return None
    opening = {"building": part.building, "unit": part.unit, "room": part.room, "area": part.area,
               "area_source": part.area_source, "developer_held": bool(part.developer_held),
               "voter": part.voter, "salt": part.salt}
    body = roll_entry(session, estate, version)
    if part.salt is None or record.commitment(opening) not in _commitments(body):
        raise RollTampered(slug, version.version, f"part {part.building}-{part.unit}-{part.room} is not committed "
                                                  f"in the ledger")
    return part.voter


def voter_phone(session: Session, slug: str, voter: str) -> str | None:
    """The private mobile number of ``voter`` (pseudonym) in the current roll, or None (C2).
    Never in the ledger, never exported, never shown in full (``mask_phone``)."""
    estate = get_estate(session, slug)
    version = roll_version(session, estate) if estate else None
    if version is None:
        return None
    return session.scalar(select(RollPhone.phone).where(RollPhone.roll_version_id == version.id,
                                                        RollPhone.voter == voter))


def mask_phone(phone: str) -> str:
    """"13812345678" → "138****5678": what a page may show of a phone number."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def list_estates(session: Session) -> list[Estate]:
    return list(session.scalars(select(Estate).order_by(Estate.slug)))


def overview(session: Session, slug: str) -> Overview | None:
    """Figures for the estate overview page: taken from the latest ``roll`` entry, after the
    tables' part count, heads and area were compared with it (RollTampered on a mismatch)."""
    estate = get_estate(session, slug)
    if estate is None:
        return None
    version = roll_version(session, estate)
    if version is None:
        return Overview(estate.slug, estate.name, None, 0, 0, Totals(0, 0), 0)
    body = roll_entry(session, estate, version)
    whole = body["totals"]["estate"]
    stated = (len(body["parts"]), whole["heads"], whole["area"])
    parts, area = session.execute(select(func.count(), func.coalesce(func.sum(RollPart.area), 0))
                                  .where(RollPart.roll_version_id == version.id)).one()  # index-only scan
    heads = session.scalar(select(func.count()).select_from(RollVoter).where(RollVoter.roll_version_id == version.id))
    for source, figures in (("roll version row", (version.parts, version.heads, version.area)),
                            ("roll part rows", (int(parts), int(heads), int(area)))):
        if figures != stated:
            raise RollTampered(slug, version.version, f"{source}: parts, heads, area = {figures}, "
                                                      f"the ledger entry says {stated}")
    dev = body["developer"]
    return Overview(estate.slug, estate.name, version.version, len(body["totals"]["buildings"]), len(body["parts"]),
                    Totals(whole["heads"], whole["area"]), dev["parts"] if dev else 0)


# --- erasure after the retention period (SPEC §6.3) -------------------------------------------


def erase_openings(session: Session, slug: str, before: int, by: str) -> list[int]:
    """Erase the openings, names and phones of every version of ``slug`` older than ``before``
    (never the latest); returns the versions erased now.  The ledger entries stay."""
    estate = get_estate(session, slug)
    if estate is None:
        raise EstateError(f"没有这个小区 / no estate '{slug}'")
    latest = roll_version(session, estate)
    if latest is None or before > latest.version:
        raise EstateError(f"只能删除当前版本（第 {latest.version if latest else 0} 版）之前的明细 / only versions "
                          f"before the current one ({latest.version if latest else 0}) can be erased")
    done = set(session.scalars(select(RollErasure.roll_version_id)))
    erased = []
    for row in session.scalars(select(RollVersion).where(RollVersion.estate_id == estate.id,
                                                         RollVersion.version < before)
                               .order_by(RollVersion.version)).all():
        if row.id in done:
            continue
        session.add(RollErasure(roll_version_id=row.id, erased_at=_now(), erased_by=by[:200]))
        session.flush()
        for table in (RollPart, RollVoter, OwnerName, RollPhone):
            session.execute(table.__table__.delete().where(table.roll_version_id == row.id))
        erased.append(row.version)
    return erased


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
