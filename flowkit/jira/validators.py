"""Property validators for the Jira flow's own parameters (product.md §3).

Destination parameters are validated by their destination type (flowkit.destinations).

Each validator takes the resolved text and returns an error message or None; the engine
prefixes the message with the parameter's name, so messages say only what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from flowkit.destinations.rows import OVERSIZED_STRATEGIES
from flowkit.jira.run_state import OPTIONAL_TABLES


def parse_enabled_tables(value: str) -> tuple[str, ...]:
    """`Enabled Tables` text -> the optional table names, in a stable order; raises ValueError."""
    names = [part.strip().upper() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in OPTIONAL_TABLES]
    if unknown:
        raise ValueError(
            f"unknown table {', '.join(repr(n) for n in unknown)}; expected any of {', '.join(OPTIONAL_TABLES)}"
        )
    return tuple(t for t in OPTIONAL_TABLES if t in names)


def from_parser(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A property validator from a parser that raises ValueError with a one-line message."""

    def validate(value: str) -> str | None:
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return validate


enabled_tables = from_parser(parse_enabled_tables)


def oversized_strategy(value: str) -> str | None:
    if value.strip() not in OVERSIZED_STRATEGIES:
        return f"{value!r} is not a strategy; expected 'Fail Table' or 'Set Null'"
    return None
