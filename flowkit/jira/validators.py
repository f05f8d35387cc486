"""Property validators for the Jira flow's parameters (product.md §3).

Each validator takes the resolved text and returns an error message or None; the engine
prefixes the message with the parameter's name, so messages say only what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flowkit.jira.run_state import OPTIONAL_TABLES

DESTINATION_TYPES = ("SQLITE", "SNOWFLAKE")
OVERSIZED_STRATEGIES = ("Fail Table", "Set Null")
AUTH_STRATEGIES = ("SNOWFLAKE_MANAGED", "KEY_PAIR")
AUTH_ALIASES = {
    "SNOWFLAKE_SESSION_TOKEN": "SNOWFLAKE_MANAGED",
    "SNOWFLAKE_MANAGED_TOKEN": "SNOWFLAKE_MANAGED",
}

# Unquoted Snowflake identifiers (letters, digits, _ and $, not starting with a digit or $);
# a name in double quotes may hold anything but a double quote.
_UNQUOTED_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUOTED_IDENTIFIER = re.compile(r'^"[^"]{1,255}"$')


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


def destination_type(value: str) -> str | None:
    if value.strip().upper() not in DESTINATION_TYPES:
        return f"{value!r} is not a destination type; expected SQLITE or SNOWFLAKE"
    return None


def oversized_strategy(value: str) -> str | None:
    if value.strip() not in OVERSIZED_STRATEGIES:
        return f"{value!r} is not a strategy; expected 'Fail Table' or 'Set Null'"
    return None


def normalize_auth_strategy(value: str) -> str:
    upper = value.strip().upper()
    return AUTH_ALIASES.get(upper, upper)


def auth_strategy(value: str) -> str | None:
    if normalize_auth_strategy(value) not in AUTH_STRATEGIES:
        return f"{value!r} is not an authentication strategy; expected SNOWFLAKE_MANAGED or KEY_PAIR"
    return None


def sql_identifier(value: str) -> str | None:
    """Database/schema names must be safe to splice into SQL: a plain or a double-quoted identifier."""
    if not value:
        return None
    if _UNQUOTED_IDENTIFIER.match(value) or _QUOTED_IDENTIFIER.match(value):
        return None
    return f"{value!r} is not a SQL-safe identifier (letters, digits, _ and $; or a double-quoted name)"
