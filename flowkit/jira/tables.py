"""The tables the Jira Cloud (Agile) flow lands (product.md section 4), declared once.

Names, column order and Snowflake types are the public contract: the processors, every
destination (through `SCHEMA`) and the simulator's ground truth all follow them. A partition is
a board: one completed fetch of a board owns that board's rows (SPRINT rows are shared by boards
and live as long as a BOARD_SPRINT row references them).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowkit.destinations.schema import Schema, TableSpec, columns

BOARD = TableSpec(
    name="BOARD",
    primary_key=("ID",),
    columns=columns(
        "ID NUMBER, NAME VARCHAR, TYPE VARCHAR, SELF VARCHAR, IS_PRIVATE BOOLEAN, LOCATION_TYPE VARCHAR, "
        "LOCATION_PROJECT_ID NUMBER, LOCATION_PROJECT_KEY VARCHAR, LOCATION_PROJECT_NAME VARCHAR, "
        "LOCATION_PROJECT_TYPE_KEY VARCHAR, LOCATION_USER_ACCOUNT_ID VARCHAR, LOCATION_DISPLAY_NAME VARCHAR, "
        "FILTER_ID NUMBER, FILTER_NAME VARCHAR, FILTER_JQL VARCHAR, SUB_QUERY VARCHAR, "
        "COLUMN_CONFIG VARIANT, ESTIMATION VARIANT, RANK_CUSTOM_FIELD_ID NUMBER"
    ),
    partition_column="ID",
)

SPRINT = TableSpec(
    name="SPRINT",
    primary_key=("ID",),
    columns=columns(
        "ID NUMBER, SELF VARCHAR, STATE VARCHAR, NAME VARCHAR, "
        "START_DATE TIMESTAMP_TZ, END_DATE TIMESTAMP_TZ, "
        "COMPLETE_DATE TIMESTAMP_TZ, CREATED_DATE TIMESTAMP_TZ, ORIGIN_BOARD_ID NUMBER, GOAL VARCHAR"
    ),
    partition_column=None,
    retained_by=("BOARD_SPRINT", "SPRINT_ID"),
)

BOARD_SPRINT = TableSpec(
    name="BOARD_SPRINT",
    primary_key=("BOARD_ID", "SPRINT_ID"),
    columns=columns("BOARD_ID NUMBER, SPRINT_ID NUMBER"),
    partition_column="BOARD_ID",
    replace_partition=True,
    indexes=(("SPRINT_ID",),),
)

BOARD_PROJECT = TableSpec(
    name="BOARD_PROJECT",
    primary_key=("BOARD_ID", "PROJECT_ID"),
    columns=columns(
        "BOARD_ID NUMBER, PROJECT_ID NUMBER, PROJECT_KEY VARCHAR, PROJECT_NAME VARCHAR, PROJECT_TYPE_KEY VARCHAR"
    ),
    partition_column="BOARD_ID",
    replace_partition=True,
)

BOARD_ISSUE = TableSpec(
    name="BOARD_ISSUE",
    primary_key=("BOARD_ID", "ISSUE_ID"),
    columns=columns("BOARD_ID NUMBER, ISSUE_ID NUMBER, ISSUE_KEY VARCHAR"),
    partition_column="BOARD_ID",
    replace_partition=True,
)

#: Every table of the flow, in merge order (BOARD_SPRINT before SPRINT, which it retains).
SCHEMA = Schema((BOARD, BOARD_SPRINT, SPRINT, BOARD_PROJECT, BOARD_ISSUE))

#: The same, by name (merge order).
TABLES: dict[str, TableSpec] = {t.name: t for t in SCHEMA}

#: Tables that are always on; the others are enabled by the ``Enabled Tables`` parameter.
ALWAYS_ENABLED: tuple[str, ...] = ("BOARD",)

#: ``Enabled Tables`` value -> destination tables it fills (SPRINT fills SPRINT and BOARD_SPRINT).
ENABLED_TABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "SPRINT": ("SPRINT", "BOARD_SPRINT"),
    "BOARD_PROJECT": ("BOARD_PROJECT",),
    "BOARD_ISSUE": ("BOARD_ISSUE",),
}


def tables_for_enabled(enabled: Iterable[str]) -> list[str]:
    """Destination tables filled for an ``Enabled Tables`` selection (BOARD always), in merge order."""
    out: set[str] = set(ALWAYS_ENABLED)
    for name in enabled:
        try:
            out.update(ENABLED_TABLE_GROUPS[name])
        except KeyError:
            raise KeyError(f"unknown table {name!r}; valid values: {', '.join(ENABLED_TABLE_GROUPS)}") from None
    return SCHEMA.merge_order(out)
