"""Destinations: where journaled records land and are merged (SQLite warehouse, Snowflake).

Public API (architecture.md section 2, docs/destinations.md). Generic: a flow passes its own
`Schema`; destination types register themselves (entry point group ``flowkit.destinations``).
This package imports only the engine's property declarations, never a flow. The Snowflake
connector is imported only when a Snowflake destination is opened.
"""

from flowkit.destinations.base import (
    Destination,
    DestinationError,
    JournalBatch,
    MergePlan,
    MergeResult,
    OversizedValueError,
)
from flowkit.destinations.registry import DestinationType, all_properties, destination_type, destination_types
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
from flowkit.destinations.schema import METADATA_COLUMNS, Column, Schema, TableSpec, columns
from flowkit.destinations.sqlite import SQLiteDestination, merge_statements

__all__ = [
    "FAIL_TABLE",
    "METADATA_COLUMNS",
    "OVERSIZED_LIMIT",
    "OVERSIZED_STRATEGIES",
    "SET_NULL",
    "Column",
    "Destination",
    "DestinationError",
    "DestinationType",
    "JournalBatch",
    "MergePlan",
    "MergeResult",
    "OversizedValueError",
    "SQLiteDestination",
    "Schema",
    "TableSpec",
    "all_properties",
    "apply_oversized_strategy",
    "canonical_json",
    "canonical_row",
    "columns",
    "destination_type",
    "destination_types",
    "format_timestamp",
    "from_sqlite",
    "merge_statements",
    "normalize_timestamp",
    "oversized_values",
    "row_hash",
    "to_sqlite",
]
