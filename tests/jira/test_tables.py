"""The table declarations match product.md section 4 exactly."""

from __future__ import annotations

import pytest

from flowkit.destinations.schema import METADATA_COLUMNS
from flowkit.jira.tables import SCHEMA, TABLES, tables_for_enabled

merge_order = SCHEMA.merge_order

# Copied from product.md section 4 (the public contract).
PRODUCT_TABLES = {
    "BOARD": (
        ("ID",),
        "ID NUMBER, NAME VARCHAR, TYPE VARCHAR, SELF VARCHAR, IS_PRIVATE BOOLEAN, LOCATION_TYPE VARCHAR, "
        "LOCATION_PROJECT_ID NUMBER, LOCATION_PROJECT_KEY VARCHAR, LOCATION_PROJECT_NAME VARCHAR, "
        "LOCATION_PROJECT_TYPE_KEY VARCHAR, LOCATION_USER_ACCOUNT_ID VARCHAR, LOCATION_DISPLAY_NAME VARCHAR, "
        "FILTER_ID NUMBER, FILTER_NAME VARCHAR, FILTER_JQL VARCHAR, SUB_QUERY VARCHAR, "
        "COLUMN_CONFIG VARIANT, ESTIMATION VARIANT, RANK_CUSTOM_FIELD_ID NUMBER",
    ),
    "SPRINT": (
        ("ID",),
        "ID NUMBER, SELF VARCHAR, STATE VARCHAR, NAME VARCHAR, START_DATE TIMESTAMP_TZ, "
        "END_DATE TIMESTAMP_TZ, "
        "COMPLETE_DATE TIMESTAMP_TZ, CREATED_DATE TIMESTAMP_TZ, ORIGIN_BOARD_ID NUMBER, GOAL VARCHAR",
    ),
    "BOARD_SPRINT": (("BOARD_ID", "SPRINT_ID"), "BOARD_ID NUMBER, SPRINT_ID NUMBER"),
    "BOARD_PROJECT": (
        ("BOARD_ID", "PROJECT_ID"),
        "BOARD_ID NUMBER, PROJECT_ID NUMBER, PROJECT_KEY VARCHAR, PROJECT_NAME VARCHAR, PROJECT_TYPE_KEY VARCHAR",
    ),
    "BOARD_ISSUE": (("BOARD_ID", "ISSUE_ID"), "BOARD_ID NUMBER, ISSUE_ID NUMBER, ISSUE_KEY VARCHAR"),
}


@pytest.mark.parametrize("name", sorted(PRODUCT_TABLES))
def test_tables_match_product_spec(name: str) -> None:
    pk, columns = PRODUCT_TABLES[name]
    spec = TABLES[name]
    assert spec.name == name
    assert spec.primary_key == pk
    assert [f"{c.name} {c.snowflake_type}" for c in spec.columns] == [c.strip() for c in columns.split(",")]


def test_exactly_five_tables() -> None:
    assert set(TABLES) == set(PRODUCT_TABLES)


def test_metadata_columns() -> None:
    assert [(c.name, c.snowflake_type) for c in METADATA_COLUMNS] == [
        ("_SNOWFLAKE_INSERTED_AT", "TIMESTAMP_NTZ"),
        ("_SNOWFLAKE_UPDATED_AT", "TIMESTAMP_NTZ"),
        ("_SNOWFLAKE_HASH", "VARCHAR"),
    ]
    for spec in TABLES.values():
        assert spec.all_columns[-3:] == METADATA_COLUMNS


def test_partition_columns() -> None:
    assert TABLES["BOARD"].partition_column == "ID"
    assert TABLES["SPRINT"].partition_column is None
    for name in ("BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"):
        assert TABLES[name].partition_column == "BOARD_ID"
        assert TABLES[name].replace_partition


def test_merge_order_sprint_after_board_sprint() -> None:
    assert merge_order(["SPRINT", "BOARD_ISSUE", "BOARD_SPRINT", "BOARD", "SPRINT"]) == [
        "BOARD",
        "BOARD_SPRINT",
        "SPRINT",
        "BOARD_ISSUE",
    ]
    order = merge_order(TABLES)
    assert order.index("BOARD_SPRINT") < order.index("SPRINT")


def test_tables_for_enabled() -> None:
    assert tables_for_enabled([]) == ["BOARD"]
    assert tables_for_enabled(["SPRINT"]) == ["BOARD", "BOARD_SPRINT", "SPRINT"]
    assert tables_for_enabled(["BOARD_ISSUE", "BOARD_PROJECT", "SPRINT"]) == merge_order(TABLES)
    with pytest.raises(KeyError, match="BOARDS"):
        tables_for_enabled(["BOARDS"])


def test_get_table_unknown() -> None:
    with pytest.raises(KeyError, match="known tables"):
        SCHEMA["ISSUE"]
