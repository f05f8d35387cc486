"""``Destination Type = SNOWFLAKE``: the flow's tables in a Snowflake schema.

This module declares the destination's parameters and checks them; it imports neither the
Snowflake connector nor the destination's SQL, so `flowkit --help`, `flowkit validate` and SQLite
runs never load the connector. `SnowflakeDestinationType.open` loads them on first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowkit.destinations.base import Destination
from flowkit.destinations.registry import DestinationType, Values
from flowkit.destinations.schema import Schema
from flowkit.destinations.snowflake import auth
from flowkit.engine.components import PropertyDescriptor

# Role and warehouse go to the connector as login parameters: plain identifiers, or a double-quoted name.
_UNQUOTED_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUOTED_IDENTIFIER = re.compile(r'^"[^"]{1,255}"$')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def object_name_problem(value: str) -> str | None:
    """`Destination Database` / `Destination Schema` are used exactly as given, always double-quoted
    (so case-sensitive: unquoted Snowflake names are stored upper-case, give them so). Refuse what
    cannot be quoted unambiguously. Blank is left to the rule that requires it for SNOWFLAKE."""
    if not value.strip():
        return None
    if len(value) > 255:
        return "is longer than Snowflake's 255 characters"
    if '"' in value:
        return "must not contain double quotes: give the name itself, it is always quoted (case-sensitive)"
    if _CONTROL.search(value) or value != value.strip():
        return "must not contain control characters or leading/trailing spaces"
    return None


def login_identifier_problem(value: str) -> str | None:
    """Role and warehouse: a plain identifier or a double-quoted name."""
    if not value or _UNQUOTED_IDENTIFIER.match(value) or _QUOTED_IDENTIFIER.match(value):
        return None
    return f"{value!r} is not a Snowflake identifier (letters, digits, _ and $; or a double-quoted name)"


def strategy_problem(value: str) -> str | None:
    try:
        auth.normalize_strategy(value)
    except auth.SnowflakeAuthError as exc:
        return exc.problem or str(exc)
    return None


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to connect, checked. ``login()`` gives the authentication arguments of one new
    connection (the managed token is re-read each time); ``endpoint`` the host/port/protocol when
    `Snowflake Host` is set; ``session`` role and warehouse. Its repr shows no secret."""

    login: Callable[[], dict[str, Any]] = field(repr=False)
    endpoint: Mapping[str, Any]
    session: Mapping[str, str]
    account: str
    database: str
    schema: str

    def connect_args(self) -> dict[str, Any]:
        return {**self.login(), **self.endpoint, **self.session}


class SnowflakeDestinationType(DestinationType):
    """Snowflake, through snowflake-connector-python (key-pair JWT or the container's OAuth token)."""

    name = "SNOWFLAKE"
    description = "a Snowflake database and schema"

    DATABASE = PropertyDescriptor(
        "Destination Database", "Snowflake database, case-sensitive (SNOWFLAKE only)", validator=object_name_problem
    )
    SCHEMA = PropertyDescriptor(
        "Destination Schema", "Snowflake schema, case-sensitive (SNOWFLAKE only)", validator=object_name_problem
    )
    AUTH_STRATEGY = PropertyDescriptor(
        "Snowflake Authentication Strategy",
        "SNOWFLAKE_MANAGED or KEY_PAIR",
        default="SNOWFLAKE_MANAGED",
        validator=strategy_problem,
    )
    ACCOUNT = PropertyDescriptor("Snowflake Account Identifier", "<org>-<account> (KEY_PAIR)")
    PRIVATE_KEY = PropertyDescriptor("Snowflake Private Key", "PKCS#8 PEM text (KEY_PAIR)", sensitive=True)
    PRIVATE_KEY_FILE = PropertyDescriptor("Snowflake Private Key File", "Path of a PKCS#8 PEM file (KEY_PAIR)")
    PRIVATE_KEY_PASSWORD = PropertyDescriptor(
        "Snowflake Private Key Password", "Passphrase of an encrypted key", sensitive=True
    )
    ROLE = PropertyDescriptor("Snowflake Role", "Role to use", validator=login_identifier_problem)
    USERNAME = PropertyDescriptor("Snowflake Username", "User (KEY_PAIR)")
    WAREHOUSE = PropertyDescriptor("Snowflake Warehouse", "Warehouse to use", validator=login_identifier_problem)
    HOST = PropertyDescriptor(
        "Snowflake Host", "Optional https://host[:port] (http only for loopback); blank: from the account"
    )
    properties = (
        DATABASE,
        SCHEMA,
        AUTH_STRATEGY,
        ACCOUNT,
        PRIVATE_KEY,
        PRIVATE_KEY_FILE,
        PRIVATE_KEY_PASSWORD,
        ROLE,
        USERNAME,
        WAREHOUSE,
        HOST,
    )

    @classmethod
    def validate(cls, values: Values, env: Mapping[str, str]) -> str | None:
        """Every rule of product.md §3 for SNOWFLAKE, the key loaded and the token file read, so a wrong
        key password or an absent token is refused before any Jira request. Never quotes a secret."""
        try:
            connection_settings(values, env)
        except auth.SnowflakeAuthError as exc:
            return str(exc)
        return None

    @classmethod
    def identity(cls, values: Values) -> str:
        """Account (or host) and the exact database and schema; role, warehouse and key do not change where
        the tables are."""
        where = [_text(values, d.name) for d in (cls.ACCOUNT, cls.HOST)]
        return "SNOWFLAKE:" + "|".join([*where, values.get(cls.DATABASE.name) or "", values.get(cls.SCHEMA.name) or ""])

    @classmethod
    def open(cls, values: Values, *, schema: Schema, home: Path, env: Mapping[str, str]) -> Destination:
        from flowkit.destinations.snowflake.destination import SnowflakeDestination

        settings = connection_settings(values, env)
        return SnowflakeDestination(settings, schema=schema, home=home)


def _text(values: Values, name: str) -> str:
    return (values.get(name) or "").strip()


def connection_settings(values: Values, env: Mapping[str, str]) -> ConnectionSettings:
    """The checked connection settings; `SnowflakeAuthError` (one line naming the parameter) otherwise."""
    t = SnowflakeDestinationType
    for descriptor in (t.DATABASE, t.SCHEMA):
        value = values.get(descriptor.name) or ""
        if not value.strip():
            raise auth.SnowflakeAuthError(f"'{descriptor.name}' is required when 'Destination Type' is SNOWFLAKE")
        problem = object_name_problem(value)
        if problem:
            raise auth.SnowflakeAuthError(f"'{descriptor.name}' {problem}")
    strategy = auth.normalize_strategy(_text(values, t.AUTH_STRATEGY.name) or "SNOWFLAKE_MANAGED")
    host = _text(values, t.HOST.name)
    endpoint = auth.host_connect_args(host) if host else {}
    if strategy == "SNOWFLAKE_MANAGED":
        for descriptor in (t.ACCOUNT, t.PRIVATE_KEY, t.PRIVATE_KEY_FILE, t.PRIVATE_KEY_PASSWORD, t.USERNAME):
            if _text(values, descriptor.name):
                raise auth.SnowflakeAuthError(
                    f"'{descriptor.name}' must be blank with SNOWFLAKE_MANAGED (the container's session token is used)"
                )
        auth.check_managed(env)
        login = lambda: auth.managed_connect_args(env)  # noqa: E731 - re-read the rotated token per connection
        account = env.get("SNOWFLAKE_ACCOUNT", "")
    else:
        for descriptor in (t.ACCOUNT, t.USERNAME):
            if not _text(values, descriptor.name):
                raise auth.SnowflakeAuthError(f"'{descriptor.name}' is required with KEY_PAIR")
        text, file = values.get(t.PRIVATE_KEY.name) or "", _text(values, t.PRIVATE_KEY_FILE.name)
        if bool(text.strip()) == bool(file):
            raise auth.SnowflakeAuthError(
                f"exactly one of '{t.PRIVATE_KEY.name}' and '{t.PRIVATE_KEY_FILE.name}' is required with KEY_PAIR"
            )
        key = auth.load_private_key(text or None, file or None, values.get(t.PRIVATE_KEY_PASSWORD.name) or None)
        account, user = _text(values, t.ACCOUNT.name), _text(values, t.USERNAME.name)
        args = auth.key_pair_connect_args(account, user, key)
        login = lambda: dict(args)  # noqa: E731
    for descriptor in (t.ROLE, t.WAREHOUSE):
        problem = login_identifier_problem(_text(values, descriptor.name))
        if problem:
            raise auth.SnowflakeAuthError(f"'{descriptor.name}': {problem}")
    session = {
        name: value
        for name, value in (("role", _text(values, t.ROLE.name)), ("warehouse", _text(values, t.WAREHOUSE.name)))
        if value
    }
    return ConnectionSettings(
        login=login,
        endpoint=endpoint,
        session=session,
        account=account,
        database=values.get(t.DATABASE.name) or "",
        schema=values.get(t.SCHEMA.name) or "",
    )
