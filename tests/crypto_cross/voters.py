"""Voters for the letter tests, built from the real roll types (identity.roll)."""

import nacl.signing

from identity import authority
from identity.roll import Part, Voter


def P(building: str, unit: str, room: str) -> tuple[str, str, str]:
    """A place (building, unit, room); V turns it into a Part of that voter."""
    return (building, unit, room)


def V(voter_id: str, places: tuple) -> Voter:
    """A voter holding ``places``, each a 50.00 m² registered part."""
    return Voter(voter_id, tuple(Part(b, u, r, 5000, "registered", voter_id) for b, u, r in places))


AUTHORITY = nacl.signing.SigningKey(bytes([7]) * 32)
"""A fixed credential authority key for the letter tests."""


def signer(origin: str, roll: int = 1, key: nacl.signing.SigningKey = AUTHORITY):
    """The ``sign`` argument of identity.letters.write_credentials: the authority's signed statement."""
    def sign(issued):
        statement = authority.credentials_statement(origin, key.verify_key.encode().hex(), roll,
                                                    [(c.voter_id, c.public_key) for c in issued])
        return authority.sign_statement(statement, key)
    return sign
