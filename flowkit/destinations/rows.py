"""Row helpers: canonical JSON, the row hash, SQLite conversion, timestamps, oversized values.

All functions here are pure. A *row* is a mapping from upper-case column name to a value in the
row format of architecture.md section 2: NUMBER -> int, VARCHAR -> str, BOOLEAN -> bool,
VARIANT -> parsed JSON value, TIMESTAMP_TZ -> ``YYYY-MM-DDTHH:MM:SS.fffZ`` text, absent -> None.

Row hash (``_SNOWFLAKE_HASH``)
------------------------------
``row_hash`` is the lower-case hex SHA-256 of the UTF-8 bytes of the *canonical serialisation*
of the business columns: a JSON array holding, in table column order, each column's value
(the destination form: what ``to_sqlite`` stores, read back by ``from_sqlite``):

- NULL / absent -> ``null``; BOOLEAN -> ``true`` / ``false`` (never 0/1);
- NUMBER -> the JSON number (``123``); VARCHAR and TIMESTAMP_* -> a JSON string;
- VARIANT -> the value itself, nested (not as a string), in canonical JSON;
- canonical JSON: object keys sorted (by code point), no whitespace (separators ``,`` and ``:``),
  non-ASCII characters written as themselves (UTF-8, not ``\\uXXXX``), only the escapes JSON
  requires (``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f``, other control
  characters as ``\\u00XX``), NaN/Infinity refused.

This is ``json.dumps([...], sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
Example: BOARD_ISSUE ``{BOARD_ID: 1, ISSUE_ID: 10001, ISSUE_KEY: "KEY-1"}`` hashes
``[1,10001,"KEY-1"]``. In Snowflake the same text is
``TO_JSON(ARRAY_CONSTRUCT(...))`` with NULLs as JSON null, so ``SHA2(..., 256)`` gives the same hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from json.encoder import encode_basestring
from typing import Any

import orjson

from flowkit.destinations.base import DestinationError, OversizedValueError
from flowkit.destinations.schema import BOOLEAN, NUMBER, TIMESTAMP_NTZ, TIMESTAMP_TZ, VARCHAR, VARIANT, TableSpec

Row = Mapping[str, Any]

#: The Snowflake VARIANT/VARCHAR size limit.
OVERSIZED_LIMIT = 16 * 1024 * 1024

SET_NULL = "Set Null"
FAIL_TABLE = "Fail Table"
OVERSIZED_STRATEGIES: tuple[str, ...] = (FAIL_TABLE, SET_NULL)


# --------------------------------------------------------------------------- canonical JSON


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a value (sorted keys, compact, UTF-8 characters kept, no NaN)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _encode_scalar(value: Any) -> str:
    """Canonical JSON of a non-VARIANT destination value (fast paths for the common types)."""
    if value is None:
        return "null"
    t = type(value)
    if t is str:
        return str(encode_basestring(value))
    if t is int:
        return int.__repr__(value)
    if t is bool:
        return "true" if value else "false"
    return canonical_json(value)


# --------------------------------------------------------------------------- timestamps

_NORMALIZED_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_ISO_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def format_timestamp(dt: datetime) -> str:
    """An aware (or UTC naive) datetime as ``YYYY-MM-DDTHH:MM:SS.fffZ`` in UTC (milliseconds truncated)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def normalize_timestamp(value: str | datetime | None) -> str | None:
    """Any ISO-8601 timestamp -> UTC ``YYYY-MM-DDTHH:MM:SS.fffZ``.

    Accepts ``2026-02-02T19:00:00.000+10:00``, ``...Z``, ``...+0000``, ``...+10``, no or any
    number of fraction digits (truncated to milliseconds), no seconds, a space instead of ``T``.
    A timestamp without offset is taken as UTC. ``None`` and blank text -> ``None``; a datetime
    is converted the same way. Anything else raises ``ValueError``.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_timestamp(value)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if not text:
        return None
    if _NORMALIZED_TS.fullmatch(text):
        return text
    m = _ISO_TS.fullmatch(text)
    if m is None:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = UTC
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or "0")
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset in timestamp: {value!r}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"not a valid timestamp: {value!r} ({exc})") from None
    return format_timestamp(dt)


# --------------------------------------------------------------------------- SQLite conversion

_Converter = Callable[[Any], Any]


def _variant_to_sqlite(value: Any) -> Any:
    return None if value is None else canonical_json(value)


def _bool_to_sqlite(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | int):
        return 1 if value else 0
    raise ValueError(f"not a boolean: {value!r}")


def _ts_to_sqlite(value: Any) -> Any:
    return normalize_timestamp(value)


def _identity(value: Any) -> Any:
    return value


_TO_SQLITE: dict[str, _Converter] = {
    VARIANT: _variant_to_sqlite,
    BOOLEAN: _bool_to_sqlite,
    TIMESTAMP_TZ: _ts_to_sqlite,
    TIMESTAMP_NTZ: _ts_to_sqlite,
}


def _column_converters(spec: TableSpec) -> list[_Converter]:
    return [_TO_SQLITE.get(c.snowflake_type, _identity) for c in spec.columns]


def check_columns(spec: TableSpec, row: Row) -> None:
    """Raise DestinationError if the row has keys that are not business columns of the table."""
    unknown = set(row) - set(spec.column_names)
    if unknown:
        raise DestinationError(f"{spec.name}: unknown column(s) {', '.join(sorted(unknown))} in row")


def to_sqlite_values(spec: TableSpec, row: Row) -> tuple[Any, ...]:
    """The row's business column values in column order, in SQLite form (see ``to_sqlite``)."""
    try:
        return tuple(
            conv(row.get(name)) for conv, name in zip(_column_converters(spec), spec.column_names, strict=True)
        )
    except ValueError as exc:
        raise DestinationError(f"{spec.name}: {exc}") from None


def to_sqlite(spec: TableSpec, row: Row) -> dict[str, Any]:
    """Row -> SQLite form: VARIANT -> canonical JSON text, BOOLEAN -> 0/1, timestamps normalised
    to UTC text, absent -> None, everything else as is. Unknown keys raise DestinationError."""
    check_columns(spec, row)
    return dict(zip(spec.column_names, to_sqlite_values(spec, row), strict=True))


def from_sqlite(spec: TableSpec, row: Row) -> dict[str, Any]:
    """Inverse of ``to_sqlite``: VARIANT text -> parsed JSON, 0/1 -> bool. Metadata columns
    present in the input are passed through; other unknown keys are dropped."""
    out: dict[str, Any] = {}
    for col in spec.all_columns:
        if col.name not in row:
            continue
        value = row[col.name]
        if value is not None:
            if col.snowflake_type == VARIANT:
                value = json.loads(value)
            elif col.snowflake_type == BOOLEAN:
                value = bool(value)
        out[col.name] = value
    return out


# --------------------------------------------------------------------------- hash


def sqlite_values_hash(spec: TableSpec, values: Sequence[Any]) -> str:
    """``row_hash`` of business values already in SQLite form (column order)."""
    parts = []
    for col, value in zip(spec.columns, values, strict=True):
        if value is None:
            parts.append("null")
        elif col.snowflake_type == VARIANT:
            parts.append(value)  # already canonical JSON text
        elif col.snowflake_type == BOOLEAN:
            parts.append("true" if value else "false")
        else:
            parts.append(_encode_scalar(value))
    return hashlib.sha256(("[" + ",".join(parts) + "]").encode("utf-8")).hexdigest()


def canonical_row(spec: TableSpec, row: Row) -> str:
    """The canonical serialisation that ``row_hash`` hashes (see the module docstring)."""
    values = to_sqlite_values(spec, row)
    parts = []
    for col, value in zip(spec.columns, values, strict=True):
        if col.snowflake_type == VARIANT and value is not None:
            parts.append(value)
        elif col.snowflake_type == BOOLEAN and value is not None:
            parts.append("true" if value else "false")
        else:
            parts.append(_encode_scalar(value))
    return "[" + ",".join(parts) + "]"


def row_hash(spec: TableSpec, row: Row) -> str:
    """SHA-256 hex of ``canonical_row(spec, row)`` (business columns only)."""
    return hashlib.sha256(canonical_row(spec, row).encode("utf-8")).hexdigest()


def make_journal_page_encoder(spec: TableSpec) -> Callable[[Sequence[Row]], str]:
    """A fast ``rows -> journal page``: the JSON array of each row's business values in SQLite form
    followed by its ``row_hash``, e.g. ``[[1,10001,"KEY-1","9f86..."], ...]``.

    A page is one journal row whatever its size: appending costs one INSERT per page instead of one per
    row, and SQLite expands the page again with ``json_each`` at merge time. VARIANT values are carried
    as their canonical JSON *text* (a JSON string), so the merge stores exactly what ``to_sqlite`` would.
    Raises DestinationError for unknown columns, a NULL primary key, or a value SQLite cannot store.

    This runs on every journaled row, so the per-row function is generated for the table's columns
    (as dataclasses generates ``__init__``): no loop over columns, no per-value dispatch on the kind.
    A table of NUMBER and VARCHAR columns only (the mapping tables, a million rows a run) also gets a
    fast path for the row nearly every one is: a dict of exactly its columns, each NUMBER an int and each
    VARCHAR a str; it builds the hash text in one f-string. Any other row takes the general function, so values,
    hashes and errors are the same either way.
    """
    names = spec.column_names
    name_set = frozenset(names)
    converters = _column_converters(spec)
    env: dict[str, Any] = {
        "name_set": name_set,
        "check_columns": check_columns,
        "spec": spec,
        "sha256": hashlib.sha256,
        "encode_str": encode_basestring,
        "int_repr": int.__repr__,
        "scalar": _page_scalar,
        "DestinationError": DestinationError,
    }
    lines = ["def encode_general(row):", "    if not name_set.issuperset(row):", "        check_columns(spec, row)"]
    for i, (col, conv) in enumerate(zip(spec.columns, converters, strict=True)):
        v, p = f"v{i}", f"p{i}"
        lines.append(f"    {v} = row.get({col.name!r})")
        if conv is not _identity:
            env[f"conv{i}"] = conv
            lines.append(f"    {v} = conv{i}({v})")
        if col.name in spec.primary_key:
            lines.append(f"    if {v} is None:")
            lines.append(
                f"        raise DestinationError({spec.name + ': a journal row has a NULL primary key column'!r})"
            )
        if col.snowflake_type == VARIANT:  # already canonical JSON text
            lines.append(f"    {p} = 'null' if {v} is None else {v}")
        elif col.snowflake_type == BOOLEAN:  # 0/1 in SQLite, true/false in the hash
            lines.append(f"    {p} = 'null' if {v} is None else 'true' if {v} else 'false'")
        else:
            lines += [
                f"    t = type({v})",
                f"    {p} = int_repr({v}) if t is int else encode_str({v}) if t is str else "
                f"'null' if {v} is None else scalar(spec, {col.name!r}, {v})",
            ]
    parts = ",".join(f"{{p{i}}}" for i in range(len(names)))
    values = ", ".join(f"v{i}" for i in range(len(names)))
    lines.append(f"    return [{values}, sha256(f'[{parts}]'.encode('utf-8')).hexdigest()]")
    lines += _fast_path_lines(spec)
    exec("\n".join(lines), env)  # names from the spec enter only as repr() string literals
    encode_row: Callable[[Row], list[Any]] = env.get("encode_row", env["encode_general"])

    def encode_page(rows: Sequence[Row]) -> str:
        try:
            values = [encode_row(row) for row in rows]
        except ValueError as exc:  # a bad timestamp, NaN
            raise DestinationError(f"{spec.name}: {exc}") from None
        try:
            # orjson writes compact UTF-8 JSON 20x faster than json. Every float was already checked by the
            # hash (canonical_json refuses NaN and infinities, which orjson would write as null).
            return orjson.dumps(values).decode("utf-8")
        except orjson.JSONEncodeError as exc:  # an integer over 64 bits
            raise DestinationError(f"{spec.name}: {exc}") from None

    return encode_page


_FAST_TYPES = {NUMBER: "int", VARCHAR: "str"}


def _fast_path_lines(spec: TableSpec) -> list[str]:
    """Source of ``encode_row(row)``, the journal encoder's fast path (see make_journal_page_encoder), or
    nothing when a column is of another kind. For a dict with exactly the table's columns, NUMBER values of
    type int and VARCHAR values of type str, the general function would write ``int.__repr__`` (what an
    f-string writes for an int) and ``encode_str``; every other row is handed to it."""
    if not spec.columns or any(c.snowflake_type not in _FAST_TYPES for c in spec.columns):
        return []
    count = len(spec.columns)
    checks = " and ".join(f"type(v{i}) is {_FAST_TYPES[c.snowflake_type]}" for i, c in enumerate(spec.columns))
    text = ",".join(
        f"{{v{i}}}" if c.snowflake_type == NUMBER else f"{{encode_str(v{i})}}" for i, c in enumerate(spec.columns)
    )
    values = ", ".join(f"v{i}" for i in range(count))
    lines = ["def encode_row(row):", f"    if type(row) is dict and len(row) == {count}:", "        try:"]
    lines += [f"            v{i} = row[{c.name!r}]" for i, c in enumerate(spec.columns)]
    lines += [
        "        except KeyError:  # an unknown column instead of this one",
        "            return encode_general(row)",
        f"        if {checks}:",
        f"            return [{values}, sha256(f'[{text}]'.encode('utf-8')).hexdigest()]",
        "    return encode_general(row)",
    ]
    return lines


def _page_scalar(spec: TableSpec, column: str, value: Any) -> str:
    """The hash text of a value that is neither int, str nor None (floats, booleans in a NUMBER column)."""
    if isinstance(value, float | bool):
        return canonical_json(value)  # ValueError for NaN/Infinity
    raise DestinationError(f"{spec.name}: column {column}: cannot store a {type(value).__name__} value")


def primary_key(spec: TableSpec, row: Row) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in spec.primary_key)


def format_key(spec: TableSpec, row: Row) -> str:
    """``ID=12`` / ``BOARD_ID=1, ISSUE_ID=10001``: a row's primary key for messages."""
    return ", ".join(f"{k}={row.get(k)!r}" for k in spec.primary_key)


# --------------------------------------------------------------------------- oversized values


def _value_size(kind: str, value: Any, limit: int) -> int:
    """UTF-8 byte size of the value as stored (JSON text for VARIANT); 0 for small scalars.
    Returns early (a size <= limit) when the value is obviously small enough."""
    if value is None:
        return 0
    if kind == VARIANT:
        if isinstance(value, str) and len(value) * 6 + 2 <= limit:  # JSON escapes: <= 6 bytes/char
            return 0
        if isinstance(value, dict | list | str):
            return len(canonical_json(value).encode("utf-8"))
        return 0
    if isinstance(value, str):
        if len(value) * 4 <= limit:  # a code point is at most 4 UTF-8 bytes
            return 0
        return len(value.encode("utf-8"))
    return 0


def oversized_values(spec: TableSpec, row: Row, limit: int = OVERSIZED_LIMIT) -> list[str]:
    """Columns (in column order) whose value is over ``limit`` bytes: UTF-8 size of the text,
    or of the canonical JSON text for VARIANT."""
    out = []
    for col in spec.columns:
        if _value_size(col.snowflake_type, row.get(col.name), limit) > limit:
            out.append(col.name)
    return out


def _all_small(spec: TableSpec, rows: Sequence[Row], limit: int) -> bool:
    """True when no value of these rows can be over ``limit`` bytes, by a cheap bound: only text can be
    that big, and a text of n characters is at most 4n UTF-8 bytes. Tables with a VARIANT column (whose
    size is only known once serialised) always take the exact check."""
    if any(c.snowflake_type == VARIANT for c in spec.columns):
        return False
    most = limit // 4
    for column in spec.column_names:
        for row in rows:
            value = row.get(column)
            if type(value) is str and len(value) > most:
                return False
    return True


def apply_oversized_strategy(
    spec: TableSpec,
    rows: Iterable[Row],
    strategy: str,
    limit: int = OVERSIZED_LIMIT,
) -> tuple[list[Row], list[str]]:
    """Apply ``Oversized Value Strategy`` to a batch of rows.

    - ``Set Null``: oversized values become None; one warning per value naming the table, the
      row's primary key and the column. Other rows are returned unchanged.
    - ``Fail Table``: raise ``OversizedValueError(table, pk, column)`` at the first oversized value.

    Returns ``(rows, warnings)``; rows without oversized values are passed through as they are
    (not copied: a page holds thousands of rows and this runs on every one).
    """
    if strategy not in OVERSIZED_STRATEGIES:
        raise ValueError(
            f"unknown Oversized Value Strategy {strategy!r}; expected one of {', '.join(OVERSIZED_STRATEGIES)}"
        )
    rows = list(rows)
    if _all_small(spec, rows, limit):
        return rows, []
    out: list[Row] = []
    warnings: list[str] = []
    for row in rows:
        cols = oversized_values(spec, row, limit)
        if not cols:
            out.append(row)
            continue
        pk = primary_key(spec, row)
        if strategy == FAIL_TABLE:
            raise OversizedValueError(spec.name, pk, cols[0], limit=limit)
        fixed = dict(row)
        for col in cols:
            fixed[col] = None
            warnings.append(
                f"{spec.name} row {format_key(spec, row)}: value of column {col} is over "
                f"{limit} bytes; stored as NULL (Oversized Value Strategy = Set Null)"
            )
        out.append(fixed)
    return out, warnings
