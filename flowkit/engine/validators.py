"""Property validators: ``Callable[[str], str | None]`` returning an error message, or None when valid.

Messages quote the value; the engine redacts it when the property or parameter is sensitive.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlparse

from flowkit.engine.timeperiod import parse_time_period

Validator = Callable[[str], "str | None"]


def TIME_PERIOD(value: str) -> str | None:
    """A NiFi time period such as ``30 sec``."""
    try:
        parse_time_period(value)
    except ValueError as exc:
        return str(exc).split(" (expected")[0]
    return None


def _integer(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def INTEGER(value: str) -> str | None:
    """Any integer."""
    return None if _integer(value) is not None else f"'{value}' is not an integer"


def POSITIVE_INTEGER(value: str) -> str | None:
    """An integer > 0."""
    number = _integer(value)
    return None if number is not None and number > 0 else f"'{value}' is not a positive integer"


def NON_NEGATIVE_INTEGER(value: str) -> str | None:
    """An integer >= 0."""
    number = _integer(value)
    return None if number is not None and number >= 0 else f"'{value}' is not a non-negative integer"


def NON_EMPTY(value: str) -> str | None:
    """Not blank."""
    return None if value.strip() else "the value is empty"


def BOOLEAN(value: str) -> str | None:
    """``true`` or ``false`` (case-insensitive)."""
    return None if value.strip().lower() in ("true", "false") else f"'{value}' is not true or false"


def URL(value: str) -> str | None:
    """An absolute http(s) URL with a host."""
    parsed = urlparse(value.strip())
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return None
    return f"'{value}' is not an http(s) URL"


def REGULAR_EXPRESSION(value: str) -> str | None:
    """A Python regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        return f"'{value}' is not a valid regular expression ({exc})"
    return None


def one_of(allowed: Iterable[str], *, case_sensitive: bool = True) -> Validator:
    """A validator accepting only the given values."""
    choices = tuple(allowed)
    fold = (lambda s: s) if case_sensitive else str.lower
    folded = {fold(choice) for choice in choices}

    def validate(value: str) -> str | None:
        if fold(value.strip()) in folded:
            return None
        return f"'{value}' is not one of {', '.join(choices)}"

    return validate


def all_of(*checks: Validator) -> Validator:
    """A validator that applies each check in turn and returns the first failure."""

    def validate(value: str) -> str | None:
        for check in checks:
            message = check(value)
            if message:
                return message
        return None

    return validate


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``), 127.0.0.0/8 and ::1 (brackets allowed): the hosts
    plain ``http://`` is accepted for (simulators, emulators, tests)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
