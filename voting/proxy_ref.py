"""The proxies page's flat lookups: a proxy named to the owner's browser without its pseudonym.

An owner who wants to authorise another owner names one of that owner's flats. The server finds
the voter, draws a salt and answers with ``proxy_ref`` (``voting.proxy.proxy_ref``, SPEC §7.8),
never the pseudonym: a pseudonym would let any owner map flats to the public record's voters (their
petition signatures, consultation answers, open ballots, turnout). The browser signs the grant
with ``proxy_ref``; the server resolves it here, and the entry publishes the proxy and the salt so
that every verifier recomputes the reference.

One row per (round, represented voter, proxy): looking the same flat up again gives the same
reference, and the grant's revocation signs it too. The rows are private (the flat as typed is
personal data, PIPL), outside the ledger, and deleted when the round closes (``forget``: no grant
or revocation can follow); an owner may look up at most ``PER_ROUND`` different owners in a
round, so lookups cannot trawl the roll through grants either.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.db import Base
from voting import proxy as proxies

PER_ROUND = 5  # different owners one owner may name on the proxies page in one round


class ProxyRef(Base):
    """A reference handed to an owner's browser for a proxy (SPEC §7.8, "by reference")."""

    __tablename__ = "voting_proxy_refs"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    round_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    voter: Mapped[str] = mapped_column(String(64), primary_key=True)  # the owner who names the proxy
    proxy: Mapped[str] = mapped_column(String(64), primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(64))
    flat: Mapped[str | None] = mapped_column(String(200))  # as the owner typed it; None for a grant made elsewhere
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def refer(s: Session, log_id: int, round_id: str, fingerprint_hex: str, voter: str, proxy: str,
          flat: str | None = None) -> ProxyRef:
    """The reference ``voter`` uses for ``proxy`` in the round, made on first use (a fresh salt)."""
    row = s.get(ProxyRef, (log_id, round_id, voter, proxy))
    if row is None:
        salt = secrets.token_hex(32)
        row = ProxyRef(log_id=log_id, round_id=round_id, voter=voter, proxy=proxy, salt=salt,
                       ref=proxies.proxy_ref(fingerprint_hex, proxy, salt), flat=flat, created_at=datetime.now(UTC))
        s.add(row)
        s.flush()
    elif flat and not row.flat:
        row.flat = flat
    return row


def named(s: Session, log_id: int, round_id: str, voter: str) -> int:
    """How many different owners ``voter`` has named in the round."""
    return s.scalar(select(func.count()).select_from(ProxyRef).where(
        ProxyRef.log_id == log_id, ProxyRef.round_id == round_id, ProxyRef.voter == voter))


def resolve(s: Session, log_id: int, round_id: str, voter: str, ref: str) -> ProxyRef | None:
    """The row behind ``ref`` handed to ``voter`` in the round; None for any other reference."""
    return s.scalar(select(ProxyRef).where(ProxyRef.log_id == log_id, ProxyRef.round_id == round_id,
                                           ProxyRef.voter == voter, ProxyRef.ref == ref))


def of(s: Session, log_id: int, round_id: str, voter: str, proxy: str) -> ProxyRef | None:
    return s.get(ProxyRef, (log_id, round_id, voter, proxy))


def forget(s: Session, log_id: int, round_id: str) -> None:
    """Delete the round's references (at its close: the flats typed are no longer needed)."""
    s.execute(delete(ProxyRef).where(ProxyRef.log_id == log_id, ProxyRef.round_id == round_id))
