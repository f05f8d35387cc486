"""Destinations: where journaled records land and are merged (SQLite warehouse, Snowflake).

Public API (architecture.md section 2, docs/destinations.md). This package imports nothing else
of flowkit, so the engine and the Jira flow can wrap it in controller services.
"""

from flowkit.destinations.base import (
    Destination,
    DestinationError,
    JournalBatch,
    MergePlan,
    MergeResult,
    OversizedValueError,
)
from flowkit.destinations.rows import (
    FAIL_TABLE,
    OVERSIZED_LIMIT,
    OVERSIZED_STRATEGIES,
    SET_NULL,
    apply_oversized_strategy,
    canonical_json,
    canonical_row,
    format_timestamp,
    from_sqlite,
    normalize_timestamp,
    oversized_values,
    row_hash,
    to_sqlite,
)
from flowkit.destinations.schema import (
    ENABLED_TABLE_GROUPS,
    METADATA_COLUMNS,
    TABLES,
    Column,
    TableSpec,
    get_table,
    merge_order,
    tables_for_enabled,
)
from flowkit.destinations.sqlite import SQLiteDestination, merge_statements

__all__ = [
    "ENABLED_TABLE_GROUPS",
    "FAIL_TABLE",
    "METADATA_COLUMNS",
    "OVERSIZED_LIMIT",
    "OVERSIZED_STRATEGIES",
    "SET_NULL",
    "TABLES",
    "Column",
    "Destination",
    "DestinationError",
    "JournalBatch",
    "MergePlan",
    "MergeResult",
    "OversizedValueError",
    "SQLiteDestination",
    "TableSpec",
    "apply_oversized_strategy",
    "canonical_json",
    "canonical_row",
    "format_timestamp",
    "from_sqlite",
    "get_table",
    "merge_order",
    "merge_statements",
    "normalize_timestamp",
    "oversized_values",
    "row_hash",
    "tables_for_enabled",
    "to_sqlite",
]
