"""Voters for the letter tests, built from the real roll types (identity.roll)."""

from identity.roll import Part, Voter


def P(building: str, unit: str, room: str) -> tuple[str, str, str]:  # noqa: N802
    """A place (building, unit, room); V turns it into a Part of that voter."""
    return (building, unit, room)


def V(voter_id: str, places: tuple) -> Voter:  # noqa: N802
    """A voter holding ``places``, each a 50.00 m² registered part."""
    return Voter(voter_id, tuple(Part(b, u, r, 5000, "registered", voter_id) for b, u, r in places))
