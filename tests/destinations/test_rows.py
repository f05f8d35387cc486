"""Pure row helpers: canonical JSON, hash, SQLite conversion, timestamps, oversized values."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from flowkit.destinations.base import DestinationError, OversizedValueError
from flowkit.destinations.rows import (
    FAIL_TABLE,
    SET_NULL,
    apply_oversized_strategy,
    canonical_json,
    canonical_row,
    from_sqlite,
    make_journal_page_encoder,
    normalize_timestamp,
    oversized_values,
    row_hash,
    sqlite_values_hash,
    to_sqlite,
    to_sqlite_values,
)
from flowkit.jira.tables import TABLES

BOARD = TABLES["BOARD"]
SPRINT = TABLES["SPRINT"]
ISSUE = TABLES["BOARD_ISSUE"]
PROJECT = TABLES["BOARD_PROJECT"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def board_row(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {c: None for c in BOARD.column_names}
    row.update(ID=7, NAME="Board", TYPE="scrum", IS_PRIVATE=False)
    row.update(kw)
    return row


# --------------------------------------------------------------------------- canonical JSON / hash


def test_canonical_json_sorts_nested_keys_compact_and_keeps_unicode() -> None:
    value = {"b": [1, {"z": None, "a": True}], "a": 'é ✓ "q" \n', "ü": 1.5}
    assert canonical_json(value) == '{"a":"é ✓ \\"q\\" \\n","b":[1,{"a":true,"z":null}],"ü":1.5}'


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json(float("nan"))


def test_row_hash_of_board_issue_is_sha256_of_json_array() -> None:
    row = {"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": "KEY-1"}
    assert canonical_row(ISSUE, row) == '[1,10001,"KEY-1"]'
    assert row_hash(ISSUE, row) == sha('[1,10001,"KEY-1"]')
    assert len(row_hash(ISSUE, row)) == 64


def test_row_hash_none_bool_unicode_and_nested_variant() -> None:
    row = board_row(
        NAME="Équipe ✓ 日本",
        IS_PRIVATE=True,
        COLUMN_CONFIG={"columns": [{"name": "To Do", "statuses": [{"id": "1"}]}], "constraintType": "none"},
        ESTIMATION={"type": "field", "field": {"fieldId": "customfield_10016", "displayName": "SP"}},
        RANK_CUSTOM_FIELD_ID=10019,
    )
    expected = (
        '[7,"Équipe ✓ 日本","scrum",null,true,null,null,null,null,null,null,null,null,null,null,null,'
        '{"columns":[{"name":"To Do","statuses":[{"id":"1"}]}],"constraintType":"none"},'
        '{"field":{"displayName":"SP","fieldId":"customfield_10016"},"type":"field"},10019]'
    )
    assert canonical_row(BOARD, row) == expected
    assert row_hash(BOARD, row) == sha(expected)


def test_row_hash_ignores_variant_key_order_and_absent_vs_none() -> None:
    a = board_row(COLUMN_CONFIG={"a": 1, "b": {"y": 2, "x": 1}})
    b = board_row(COLUMN_CONFIG={"b": {"x": 1, "y": 2}, "a": 1})
    assert row_hash(BOARD, a) == row_hash(BOARD, b)
    sparse = {"ID": 7, "NAME": "Board", "TYPE": "scrum", "IS_PRIVATE": False}
    assert row_hash(BOARD, sparse) == row_hash(BOARD, board_row())


def test_row_hash_distinguishes_values() -> None:
    base = row_hash(BOARD, board_row())
    assert row_hash(BOARD, board_row(IS_PRIVATE=True)) != base
    assert row_hash(BOARD, board_row(IS_PRIVATE=None)) != base
    assert row_hash(BOARD, board_row(NAME="Board ")) != base
    # a VARIANT string is not the same as the object it spells
    assert row_hash(BOARD, board_row(ESTIMATION='{"a":1}')) != row_hash(BOARD, board_row(ESTIMATION={"a": 1}))


def test_row_hash_normalizes_timestamps() -> None:
    a = {"ID": 1, "START_DATE": "2026-02-02T19:00:00.000+10:00"}
    b = {"ID": 1, "START_DATE": "2026-02-02T09:00:00.000Z"}
    assert row_hash(SPRINT, a) == row_hash(SPRINT, b)
    assert '"2026-02-02T09:00:00.000Z"' in canonical_row(SPRINT, a)


def test_journal_page_holds_sqlite_values_and_row_hash() -> None:
    rows = [
        board_row(NAME='Ünïcödé "q" \n', COLUMN_CONFIG={"k": ["v", 1, None], "a": 2.5}, IS_PRIVATE=True),
        board_row(IS_PRIVATE=False, ESTIMATION=[]),
        {"ID": 3},
    ]
    page = json.loads(make_journal_page_encoder(BOARD)(rows))
    assert len(page) == len(rows)
    for row, (*values, digest) in zip(rows, page, strict=True):
        assert digest == row_hash(BOARD, row)
        assert sqlite_values_hash(BOARD, values) == digest
        assert tuple(values) == to_sqlite_values(BOARD, row)  # VARIANT as canonical text, BOOLEAN as 0/1


def test_journal_page_of_other_kinds() -> None:
    sprint = {"ID": 5, "START_DATE": "2026-02-02T19:00:00.000+10:00", "GOAL": None, "ORIGIN_BOARD_ID": 7.0}
    ((*values, digest),) = json.loads(make_journal_page_encoder(SPRINT)([sprint]))
    assert digest == row_hash(SPRINT, sprint)
    assert values[SPRINT.column_names.index("START_DATE")] == "2026-02-02T09:00:00.000Z"
    issue = {"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": "KEY-1"}
    assert json.loads(make_journal_page_encoder(ISSUE)([issue])) == [[1, 10001, "KEY-1", sha('[1,10001,"KEY-1"]')]]
    assert make_journal_page_encoder(ISSUE)([]) == "[]"


class _Key(str):
    pass


class _Rows(dict):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "row",
    [
        {"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": "KEY-1"},  # the fast path's row
        {"ISSUE_KEY": 'Ünï "q"\n\x01', "ISSUE_ID": 10001, "BOARD_ID": 1},  # another key order, escapes
        {"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": None},
        {"BOARD_ID": 1, "ISSUE_ID": 10001},
        {"BOARD_ID": 1, "ISSUE_ID": True, "ISSUE_KEY": "KEY-1"},  # a bool is no int here: true, not 1
        {"BOARD_ID": 1, "ISSUE_ID": 2.5, "ISSUE_KEY": "KEY-1"},
        {"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": 5},
        {"BOARD_ID": 1, "ISSUE_ID": "10001", "ISSUE_KEY": "KEY-1"},
        _Rows({"BOARD_ID": 1, "ISSUE_ID": 10001, "ISSUE_KEY": "KEY-1"}),
    ],
)
def test_journal_page_fast_path_writes_what_the_general_path_writes(row: dict[str, object]) -> None:
    ((*values, digest),) = json.loads(make_journal_page_encoder(ISSUE)([row]))
    assert tuple(values) == to_sqlite_values(ISSUE, row)
    assert digest == row_hash(ISSUE, row) == sha(canonical_row(ISSUE, row))


def test_journal_page_fast_path_for_other_mapping_tables() -> None:
    project = {"BOARD_ID": 1, "PROJECT_ID": 10000, "PROJECT_KEY": "PLAT", "PROJECT_NAME": "Pl", "PROJECT_TYPE_KEY": "x"}
    sprint = {"BOARD_ID": 1, "SPRINT_ID": 5}
    for spec, row in ((PROJECT, project), (TABLES["BOARD_SPRINT"], sprint)):
        ((*values, digest),) = json.loads(make_journal_page_encoder(spec)([row]))
        assert tuple(values) == to_sqlite_values(spec, row)
        assert digest == row_hash(spec, row)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"BOARD_ID": 1, "ISSUE_ID": 2, "NOPE": 3}, "NOPE"),
        ({"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": "K-1", "NOPE": 3}, "NOPE"),
        ({"BOARD_ID": 1, "ISSUE_KEY": "K-1", "NOPE": 3}, "NOPE"),  # as many keys as columns, one unknown
        ({"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": "\ud800"}, "BOARD_ISSUE: 'utf-8' codec can't encode"),
        ({"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": _Key("K-1")}, "ISSUE_KEY: cannot store a _Key value"),
        ({"BOARD_ID": 1, "ISSUE_KEY": "K-1"}, "NULL primary key"),
        ({"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": {"a": 1}}, "ISSUE_KEY: cannot store a dict"),
        ({"BOARD_ID": 1, "ISSUE_ID": float("nan")}, "BOARD_ISSUE: Out of range float"),
        ({"BOARD_ID": 1, "ISSUE_ID": 2**64}, "BOARD_ISSUE: Integer exceeds 64-bit range"),
    ],
)
def test_journal_page_refuses_bad_rows(row: dict[str, object], message: str) -> None:
    with pytest.raises(DestinationError, match=message):
        make_journal_page_encoder(ISSUE)([row])


def test_journal_page_refuses_bad_timestamps() -> None:
    with pytest.raises(DestinationError, match="SPRINT: not an ISO-8601 timestamp"):
        make_journal_page_encoder(SPRINT)([{"ID": 1, "START_DATE": "yesterday"}])


# --------------------------------------------------------------------------- SQLite conversion


def test_to_sqlite_and_back() -> None:
    row = board_row(IS_PRIVATE=True, COLUMN_CONFIG={"b": 1, "a": ["é"]}, ESTIMATION=None)
    stored = to_sqlite(BOARD, row)
    assert stored["IS_PRIVATE"] == 1
    assert stored["COLUMN_CONFIG"] == '{"a":["é"],"b":1}'
    assert stored["ESTIMATION"] is None
    assert stored["NAME"] == "Board"
    assert from_sqlite(BOARD, stored) == row
    assert from_sqlite(BOARD, to_sqlite(BOARD, board_row(IS_PRIVATE=False)))["IS_PRIVATE"] is False


def test_to_sqlite_fills_absent_columns_and_refuses_unknown() -> None:
    assert to_sqlite(ISSUE, {"BOARD_ID": 1, "ISSUE_ID": 2}) == {
        "BOARD_ID": 1,
        "ISSUE_ID": 2,
        "ISSUE_KEY": None,
    }
    with pytest.raises(DestinationError, match="unknown column"):
        to_sqlite(ISSUE, {"BOARD_ID": 1, "issue_id": 2})


def test_to_sqlite_normalizes_timestamps_and_refuses_bad_ones() -> None:
    out = to_sqlite(SPRINT, {"ID": 1, "END_DATE": "2026-02-02T19:00:00+0000"})
    assert out["END_DATE"] == "2026-02-02T19:00:00.000Z"
    with pytest.raises(DestinationError, match="SPRINT"):
        to_sqlite(SPRINT, {"ID": 1, "END_DATE": "yesterday"})


def test_from_sqlite_passes_metadata_through() -> None:
    stored = {"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": "K", "_SNOWFLAKE_HASH": "h", "other": 1}
    assert from_sqlite(ISSUE, stored) == {
        "BOARD_ID": 1,
        "ISSUE_ID": 2,
        "ISSUE_KEY": "K",
        "_SNOWFLAKE_HASH": "h",
    }


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-02T19:00:00.000+10:00", "2026-02-02T09:00:00.000Z"),
        ("2026-02-02T09:00:00.000Z", "2026-02-02T09:00:00.000Z"),
        ("2026-02-02T09:00:00Z", "2026-02-02T09:00:00.000Z"),
        ("2026-02-02T09:00:00.000+0000", "2026-02-02T09:00:00.000Z"),
        ("2026-02-02T09:00:00+0000", "2026-02-02T09:00:00.000Z"),
        ("2026-02-02T04:30:00.5-0530", "2026-02-02T10:00:00.500Z"),
        ("2026-02-01T23:30:00.123456789-03:00", "2026-02-02T02:30:00.123Z"),
        ("2026-01-01T05:00:00.000+10:00", "2025-12-31T19:00:00.000Z"),
        ("2026-02-02 09:00:00+01", "2026-02-02T08:00:00.000Z"),
        ("2026-02-02T09:00+01:00", "2026-02-02T08:00:00.000Z"),
        ("2026-02-02T09:00:00.042", "2026-02-02T09:00:00.042Z"),
        ("  2026-02-02T09:00:00z ", "2026-02-02T09:00:00.000Z"),
    ],
)
def test_normalize_timestamp(text: str, expected: str) -> None:
    assert normalize_timestamp(text) == expected


def test_normalize_timestamp_none_blank_datetime() -> None:
    assert normalize_timestamp(None) is None
    assert normalize_timestamp("  ") is None
    dt = datetime(2026, 2, 2, 19, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=10)))
    assert normalize_timestamp(dt) == "2026-02-02T09:00:00.999Z"
    assert normalize_timestamp(datetime(2026, 2, 2, 9, tzinfo=UTC)) == "2026-02-02T09:00:00.000Z"


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "02/02/2026", "2026-02-02T09:00:00+25:00", "now"])
def test_normalize_timestamp_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_timestamp(text)


# --------------------------------------------------------------------------- oversized values

LIMIT = 100  # a small limit keeps the tests fast; the default is 16 MiB


def test_oversized_values_measures_utf8_bytes_and_variant_json() -> None:
    row = board_row(
        NAME="é" * 50,  # 50 chars, 100 bytes: not over
        FILTER_JQL="é" * 51,  # 102 bytes: over
        COLUMN_CONFIG={"k": "x" * 92},  # {"k":"xxx..."} = 100 bytes: not over
        ESTIMATION={"k": "x" * 93},  # 101 bytes: over
    )
    assert oversized_values(BOARD, row, limit=LIMIT) == ["FILTER_JQL", "ESTIMATION"]
    assert oversized_values(BOARD, board_row(), limit=LIMIT) == []


def test_oversized_default_limit_is_16_mib() -> None:
    big = "x" * (16 * 1024 * 1024)
    assert oversized_values(ISSUE, {"BOARD_ID": 1, "ISSUE_ID": 1, "ISSUE_KEY": big}) == []
    assert oversized_values(ISSUE, {"BOARD_ID": 1, "ISSUE_ID": 1, "ISSUE_KEY": big + "x"}) == ["ISSUE_KEY"]


def test_set_null_strategy() -> None:
    rows = [
        {"BOARD_ID": 1, "PROJECT_ID": 10, "PROJECT_KEY": "A", "PROJECT_NAME": "n" * 101},
        {"BOARD_ID": 1, "PROJECT_ID": 11, "PROJECT_KEY": "B", "PROJECT_NAME": "ok"},
    ]
    out, warnings = apply_oversized_strategy(PROJECT, rows, SET_NULL, limit=LIMIT)
    assert out[0] == {"BOARD_ID": 1, "PROJECT_ID": 10, "PROJECT_KEY": "A", "PROJECT_NAME": None}
    assert out[1] == rows[1]
    assert rows[0]["PROJECT_NAME"] == "n" * 101  # input untouched
    assert len(warnings) == 1
    assert "BOARD_PROJECT" in warnings[0]
    assert "BOARD_ID=1, PROJECT_ID=10" in warnings[0]
    assert "PROJECT_NAME" in warnings[0]


def test_fail_table_strategy() -> None:
    rows = [{"BOARD_ID": 1, "ISSUE_ID": 5, "ISSUE_KEY": "k" * 101}]
    with pytest.raises(OversizedValueError) as info:
        apply_oversized_strategy(ISSUE, rows, FAIL_TABLE, limit=LIMIT)
    err = info.value
    assert isinstance(err, DestinationError)
    assert (err.table, err.pk, err.column) == ("BOARD_ISSUE", (1, 5), "ISSUE_KEY")
    assert "BOARD_ISSUE" in str(err) and "ISSUE_KEY" in str(err)
    out, warnings = apply_oversized_strategy(ISSUE, [{"BOARD_ID": 1, "ISSUE_ID": 5}], FAIL_TABLE, limit=LIMIT)
    assert out == [{"BOARD_ID": 1, "ISSUE_ID": 5}] and warnings == []


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="Oversized Value Strategy"):
        apply_oversized_strategy(ISSUE, [], "Truncate")
