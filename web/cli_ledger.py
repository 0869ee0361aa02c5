"""Subcommands (placeholder until the capability lands)."""


def register(sub) -> None:  # noqa: ANN001
    """Add this module's subcommands to the ``gongjue`` parser."""
