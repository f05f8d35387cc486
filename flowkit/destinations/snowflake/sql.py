"""The SQL the Snowflake destination sends, built by pure functions (unit-tested statement by statement).

Names are always double-quoted and fully qualified (``"DB"."SCHEMA"."TABLE"``), so the session
needs no ``USE`` and `Destination Database` / `Destination Schema` keep their exact case.

A sync of one table sends the rows that changed (``U``: insert or update, ``D``: delete) to a
temporary stage table, then applies them in one transaction::

    CREATE OR REPLACE TEMPORARY TABLE <stage> (...)      -- DDL: commits implicitly, so before BEGIN
    BEGIN
    INSERT INTO <stage> VALUES (?, ...)                    -- array binding, in chunks
    MERGE INTO <table> USING <the U rows> ...              -- only rows whose hash differs are updated
    DELETE FROM <table> USING <the D rows> ...
    COMMIT

Applying the same changes twice changes nothing (the MERGE compares ``_SNOWFLAKE_HASH``; a
delete of a deleted key deletes nothing), which is what makes a crash between the Snowflake
COMMIT and the local bookkeeping harmless.
"""

from __future__ import annotations

import re

from flowkit.destinations.schema import (
    BOOLEAN,
    HASH,
    NUMBER,
    TIMESTAMP_NTZ,
    TIMESTAMP_TZ,
    UPDATED_AT,
    VARIANT,
    TableSpec,
)

#: Snowflake column type of each schema type in the destination tables.
COLUMN_TYPES: dict[str, str] = {
    NUMBER: "NUMBER(38,0)",
    "VARCHAR": "VARCHAR",
    BOOLEAN: "BOOLEAN",
    VARIANT: "VARIANT",
    TIMESTAMP_TZ: "TIMESTAMP_TZ",
    TIMESTAMP_NTZ: "TIMESTAMP_NTZ",
}

#: The stage holds values as bound by the connector: VARIANT and timestamps as text, converted in the MERGE.
STAGE_TYPES: dict[str, str] = {**COLUMN_TYPES, VARIANT: "VARCHAR", TIMESTAMP_TZ: "VARCHAR", TIMESTAMP_NTZ: "VARCHAR"}

OP = "_FLOWKIT_OP"
UPSERT = "U"
DELETE = "D"
STAGE_PREFIX = "_FLOWKIT_STAGE_"

# Statements Snowflake answers from cloud services / metadata, without resuming a warehouse.
_PART = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"{_PART}(?:\s*\.\s*{_PART}){{0,2}}"
_NO_WAREHOUSE = re.compile(
    r"^\s*(SHOW|DESC|DESCRIBE|USE|BEGIN|COMMIT|ROLLBACK|ALTER\s+SESSION|DROP\s+TABLE)\b"
    rf"|^\s*CREATE\s+(OR\s+REPLACE\s+)?(TEMPORARY\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*\("
    rf"|^\s*SELECT\s+COUNT\(\*\)\s+FROM\s+{_NAME}\s*;?\s*$",
    re.IGNORECASE,
)


def needs_warehouse(sql: str) -> bool:
    """Whether a statement resumes a virtual warehouse (INSERT, MERGE, DELETE, SELECT of table data...).

    SHOW / DESCRIBE / USE, transaction control, CREATE TABLE with a column list (not ``AS SELECT``) and
    a whole-table ``SELECT COUNT(*)`` run on cloud services / metadata only. Used to count what a run costs.
    """
    return not _NO_WAREHOUSE.match(sql)


def quote(name: str) -> str:
    """A quoted identifier: the name exactly as given, ``"`` doubled."""
    return '"' + name.replace('"', '""') + '"'


def qualified(database: str, schema: str, table: str) -> str:
    return f"{quote(database)}.{quote(schema)}.{quote(table)}"


def _cols(names: tuple[str, ...] | list[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote(n) for n in names)


def _key_match(spec: TableSpec, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in spec.primary_key)


def create_table_sql(spec: TableSpec, database: str, schema: str) -> str:
    """The destination table, if absent (primary key declared, as documentation: Snowflake does not enforce it)."""
    defs = []
    for c in spec.all_columns:
        not_null = " NOT NULL" if c.name in spec.primary_key else ""
        defs.append(f"{quote(c.name)} {COLUMN_TYPES[c.snowflake_type]}{not_null}")
    defs.append(f"PRIMARY KEY ({_cols(spec.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {qualified(database, schema, spec.name)} (" + ", ".join(defs) + ")"


def stage_name(spec: TableSpec) -> str:
    return STAGE_PREFIX + spec.name


def create_stage_sql(spec: TableSpec) -> str:
    """A session-private stage for one sync of ``spec``'s table (replaced each time: it starts empty).

    Named without database and schema: a temporary table lives in the session's current schema (the
    connection is opened with the destination's), and the emulator accepts temporary tables only so.
    """
    defs = [f"{quote(c.name)} {STAGE_TYPES[c.snowflake_type]}" for c in spec.all_columns]
    defs.append(f"{quote(OP)} VARCHAR")
    return f"CREATE OR REPLACE TEMPORARY TABLE {quote(stage_name(spec))} (" + ", ".join(defs) + ")"


def stage_insert_sql(spec: TableSpec) -> str:
    """One INSERT sent with array binding (``executemany`` with qmark): every column, then the op."""
    names = [c.name for c in spec.all_columns] + [OP]
    return f"INSERT INTO {quote(stage_name(spec))} ({_cols(names)}) VALUES ({', '.join('?' * len(names))})"


def _converted(column_type: str, ref: str) -> str:
    if column_type == VARIANT:
        return f"PARSE_JSON({ref})"
    if column_type == TIMESTAMP_TZ:
        return f"CAST({ref} AS TIMESTAMP_TZ)"
    if column_type == TIMESTAMP_NTZ:
        return f"CAST({ref} AS TIMESTAMP_NTZ)"
    return ref


def merge_sql(spec: TableSpec, database: str, schema: str) -> str:
    """Upsert the stage's ``U`` rows: insert new keys, update only rows whose hash differs (an unchanged
    row keeps its ``_SNOWFLAKE_UPDATED_AT``; ``_SNOWFLAKE_INSERTED_AT`` is never overwritten)."""
    stage = quote(stage_name(spec))
    select = ", ".join(f"{_converted(c.snowflake_type, quote(c.name))} AS {quote(c.name)}" for c in spec.all_columns)
    source = f"(SELECT {select} FROM {stage} WHERE {quote(OP)} = '{UPSERT}')"
    updated = [*spec.non_key_columns, HASH, UPDATED_AT]
    names = [c.name for c in spec.all_columns]
    return (
        f"MERGE INTO {qualified(database, schema, spec.name)} AS t USING {source} AS s "
        f"ON {_key_match(spec, 't', 's')} "
        f"WHEN MATCHED AND t.{quote(HASH)} IS DISTINCT FROM s.{quote(HASH)} THEN UPDATE SET "
        + ", ".join(f"{quote(n)} = s.{quote(n)}" for n in updated)
        + f" WHEN NOT MATCHED THEN INSERT ({_cols(names)}) VALUES ({_cols(names, 's.')})"
    )


def delete_sql(spec: TableSpec, database: str, schema: str) -> str:
    """Delete the stage's ``D`` keys."""
    stage = quote(stage_name(spec))
    return (
        f"DELETE FROM {qualified(database, schema, spec.name)} AS t USING "
        f"(SELECT {_cols(spec.primary_key)} FROM {stage} WHERE {quote(OP)} = '{DELETE}') AS s "
        f"WHERE {_key_match(spec, 't', 's')}"
    )


def delete_missing_sql(spec: TableSpec, database: str, schema: str) -> str:
    """A full reconcile: delete every row whose key the stage (holding the whole table) does not have."""
    stage = quote(stage_name(spec))
    return (
        f"DELETE FROM {qualified(database, schema, spec.name)} AS t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {stage} AS s WHERE {_key_match(spec, 's', 't')})"
    )


def use_schema_sql(database: str, schema: str) -> str:
    """Make the destination schema the session's current one (metadata only): temporary tables live there."""
    return f"USE SCHEMA {quote(database)}.{quote(schema)}"


def show_tables_sql(database: str, schema: str) -> str:
    """The schema's tables, from metadata (no warehouse)."""
    return f"SHOW TABLES IN SCHEMA {quote(database)}.{quote(schema)}"


def count_sql(spec: TableSpec, database: str, schema: str) -> str:
    """A whole-table row count: answered from metadata, without a warehouse."""
    return f"SELECT COUNT(*) FROM {qualified(database, schema, spec.name)}"


def select_sql(spec: TableSpec, database: str, schema: str, *, metadata: bool) -> str:
    """Read a table back in a form the connector and the emulator return alike: VARIANT as JSON text,
    timestamps as text, and an ``IS NULL`` flag beside each timestamp (a NULL timestamp can come back
    as 1970-01-01 through some drivers)."""
    parts = []
    for c in spec.all_columns if metadata else spec.columns:
        ref = quote(c.name)
        if c.snowflake_type == VARIANT:
            parts.append(f"TO_JSON({ref})")
        elif c.snowflake_type in (TIMESTAMP_TZ, TIMESTAMP_NTZ):
            parts.extend([ref, f"{ref} IS NULL"])
        else:
            parts.append(ref)
    return f"SELECT {', '.join(parts)} FROM {qualified(database, schema, spec.name)} ORDER BY {_cols(spec.primary_key)}"
