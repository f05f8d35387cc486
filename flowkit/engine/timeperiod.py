"""NiFi time periods ("30 sec", "1 min", "250 millis") parsed into seconds."""

from __future__ import annotations

import re

_SECONDS_PER_UNIT: dict[str, float] = {}
for _names, _seconds in (
    (("ns", "nano", "nanos", "nanosecond", "nanoseconds"), 1e-9),
    (("us", "micro", "micros", "microsecond", "microseconds"), 1e-6),
    (("ms", "milli", "millis", "millisecond", "milliseconds"), 1e-3),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "wk", "wks", "week", "weeks"), 604800.0),
):
    for _name in _names:
        _SECONDS_PER_UNIT[_name] = _seconds

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


def parse_time_period(text: str) -> float:
    """Return the number of seconds in a NiFi time period such as ``"30 sec"`` or ``"50 ms"``.

    Units (case-insensitive): nanos, micros, millis/ms, secs/sec/seconds/s, mins/min/minutes/m,
    hrs/hours/h, days/d, weeks/w.

    Raises:
        ValueError: with a message like ``'5 parsecs' is not a valid time period``.
    """
    match = _PATTERN.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SECONDS_PER_UNIT:
        raise ValueError(f"'{text}' is not a valid time period (expected e.g. '30 sec', '5 mins', '250 millis')")
    return float(match.group(1)) * _SECONDS_PER_UNIT[unit]


def is_time_period(text: str) -> bool:
    """True when `text` parses as a time period."""
    try:
        parse_time_period(text)
    except ValueError:
        return False
    return True
