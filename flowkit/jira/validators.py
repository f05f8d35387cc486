"""Property validators for the Jira flow's parameters (product.md §3).

Each validator takes the resolved text and returns an error message or None; the engine
prefixes the message with the parameter's name, so messages say only what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

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


def _blank(values: Mapping[str, str | None], name: str) -> bool:
    return not (values.get(name) or "").strip()


def destination_problem(values: Mapping[str, str | None]) -> str | None:
    """Rules across the destination parameters (product.md §3); one line naming them, or None.

    Names only: sensitive values (key, key password) are never quoted.
    """
    if (values.get("Destination Type") or "SQLITE").strip().upper() != "SNOWFLAKE":
        return None
    for name in ("Destination Database", "Destination Schema"):
        if _blank(values, name):
            return f"'{name}' is required when 'Destination Type' is SNOWFLAKE"
    strategy = normalize_auth_strategy(values.get("Snowflake Authentication Strategy") or "SNOWFLAKE_MANAGED")
    key_material = ("Snowflake Private Key", "Snowflake Private Key File", "Snowflake Private Key Password")
    if strategy == "SNOWFLAKE_MANAGED":
        for name in ("Snowflake Account Identifier", *key_material, "Snowflake Username"):
            if not _blank(values, name):
                return f"'{name}' must be blank with SNOWFLAKE_MANAGED (the session token of the container is used)"
    else:
        for name in ("Snowflake Account Identifier", "Snowflake Username"):
            if _blank(values, name):
                return f"'{name}' is required with KEY_PAIR"
        if _blank(values, "Snowflake Private Key") == _blank(values, "Snowflake Private Key File"):
            return "exactly one of 'Snowflake Private Key' and 'Snowflake Private Key File' is required with KEY_PAIR"
    host = (values.get("Snowflake Host") or "").strip()
    if host:
        problem = _host_problem(host)
        if problem:
            return f"'Snowflake Host': {problem}"
    return "'Destination Type': SNOWFLAKE is not available in this build yet; use SQLITE"


def _host_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} is not https://host[:port]"
    if parts.path not in ("", "/") or parts.query or parts.username:
        return f"{url!r} must be https://host[:port] with nothing after the port"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "plain http is accepted only for loopback hosts"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
