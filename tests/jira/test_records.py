"""Mapping Jira REST objects (shapes from jira-api.md) to destination rows."""

from __future__ import annotations

import json

import pytest

from flowkit.jira.http import KeyOnlyIssue, loads, loads_key_only_search
from flowkit.jira.records import (
    board_issue_row,
    board_project_row,
    board_row,
    board_sprint_row,
    key_id,
    opt_str,
    sprint_row,
)
from flowkit.jira.validators import parse_enabled_tables

BOARD = {
    "id": 1,
    "self": "https://acme.atlassian.net/rest/agile/1.0/board/1",
    "name": "PLAT board",
    "type": "scrum",
    "isPrivate": False,
    "location": {
        "projectId": 10000,
        "displayName": "Platform (PLAT)",
        "projectName": "Platform",
        "projectKey": "PLAT",
        "projectTypeKey": "software",
        "name": "Platform (PLAT)",
    },
}
CONFIGURATION = {
    "id": 1,
    "location": {"type": "project", "projectKeyOrId": "10000"},
    "filter": {"id": "10010", "self": "https://acme.atlassian.net/rest/api/3/filter/10010"},
    "columnConfig": {
        "columns": [{"name": "To Do", "statuses": [{"id": "10000"}]}],
        "constraintType": "issueCount",
    },
    "estimation": {
        "type": "field",
        "field": {"fieldId": "customfield_10016", "displayName": "Story point estimate"},
    },
    "ranking": {"rankCustomFieldId": 10019},
}


def test_board_row_from_board_configuration_and_filter() -> None:
    row = board_row(BOARD, CONFIGURATION, {"id": "10010", "name": "Filter for PLAT", "jql": "project = PLAT"})
    assert row == {
        "ID": 1,
        "NAME": "PLAT board",
        "TYPE": "scrum",
        "SELF": "https://acme.atlassian.net/rest/agile/1.0/board/1",
        "IS_PRIVATE": False,
        "LOCATION_TYPE": "project",
        "LOCATION_PROJECT_ID": 10000,
        "LOCATION_PROJECT_KEY": "PLAT",
        "LOCATION_PROJECT_NAME": "Platform",
        "LOCATION_PROJECT_TYPE_KEY": "software",
        "LOCATION_USER_ACCOUNT_ID": None,
        "LOCATION_DISPLAY_NAME": "Platform (PLAT)",
        "FILTER_ID": 10010,
        "FILTER_NAME": "Filter for PLAT",
        "FILTER_JQL": "project = PLAT",
        "SUB_QUERY": None,
        "COLUMN_CONFIG": CONFIGURATION["columnConfig"],
        "ESTIMATION": CONFIGURATION["estimation"],
        "RANK_CUSTOM_FIELD_ID": 10019,
    }


def test_kanban_board_keeps_its_sub_query_and_has_no_estimation() -> None:
    configuration = {**CONFIGURATION, "subQuery": {"query": "resolution = EMPTY"}}
    del configuration["estimation"]
    row = board_row({**BOARD, "type": "kanban"}, configuration, None)
    assert row["SUB_QUERY"] == "resolution = EMPTY"
    assert row["ESTIMATION"] is None
    assert row["FILTER_NAME"] is None and row["FILTER_JQL"] is None


def test_sprint_row_normalises_dates_to_utc_and_omits_future_dates() -> None:
    closed = {
        "id": 12,
        "self": "https://acme.atlassian.net/rest/agile/1.0/sprint/12",
        "state": "closed",
        "name": "PLAT Sprint 7",
        "startDate": "2026-02-02T19:00:00.000+10:00",
        "endDate": "2026-02-16T09:00:00.000Z",
        "completeDate": "2026-02-16T10:12:00.000Z",
        "createdDate": "2026-01-30T15:00:00.000Z",
        "originBoardId": 1,
        "goal": "Ship auth",
    }
    row = sprint_row(closed)
    assert row["START_DATE"] == "2026-02-02T09:00:00.000Z"
    assert row["ORIGIN_BOARD_ID"] == 1 and row["GOAL"] == "Ship auth"
    future = sprint_row({"id": 13, "state": "future", "name": "S8", "createdDate": "2026-02-16T10:13:00.000Z"})
    assert future["START_DATE"] is None and future["END_DATE"] is None and future["COMPLETE_DATE"] is None


def test_mapping_rows_turn_string_ids_into_numbers() -> None:
    assert board_sprint_row(1, {"id": 12}) == {"BOARD_ID": 1, "SPRINT_ID": 12}
    project = {"id": "10000", "key": "PLAT", "name": "Platform", "projectTypeKey": "software"}
    assert board_project_row(1, project) == {
        "BOARD_ID": 1,
        "PROJECT_ID": 10000,
        "PROJECT_KEY": "PLAT",
        "PROJECT_NAME": "Platform",
        "PROJECT_TYPE_KEY": "software",
    }
    assert board_issue_row(1, {"id": "10001", "key": "PLAT-1"}) == {
        "BOARD_ID": 1,
        "ISSUE_ID": 10001,
        "ISSUE_KEY": "PLAT-1",
    }


def test_ids_are_decimal_digits_only() -> None:
    assert board_issue_row(1, {"id": " 10002 ", "key": "PLAT-2"})["ISSUE_ID"] == 10002
    assert board_issue_row(1, {"id": "-3", "key": "PLAT-3"})["ISSUE_ID"] == -3
    for bad in ("²", "1²", "", "1e3", "0x10"):  # "²".isdigit() is True, but it is no number int() reads
        with pytest.raises(ValueError, match="issue id is missing or not a number"):
            board_issue_row(1, {"id": bad, "key": "PLAT-9"})


@pytest.mark.parametrize(
    "issue",
    [
        {"id": "10001", "key": "PLAT-1"},  # Jira's usual shape: mapped inline
        {"id": 10001, "key": "PLAT-1", "self": "x", "fields": {}},
        {"id": "١٢", "key": "PLAT-12"},  # Arabic-Indic digits: decimal, and int() reads them
        {"id": 7.0, "key": None},
        {"id": "7", "key": 7},
        {"id": "7", "key": ["a"]},
        {"id": "7"},
        {"id": True, "key": "PLAT-1"},
        {"id": " 8 ", "key": "PLAT-8"},
        {"key": "PLAT-9"},
    ],
)
def test_board_issue_row_inline_path_matches_the_general_mapping(issue: dict[str, object]) -> None:
    def general(problems: list[str]) -> dict[str, object]:
        return {
            "BOARD_ID": 3,
            "ISSUE_ID": key_id(issue.get("id"), "issue id"),
            "ISSUE_KEY": opt_str(issue.get("key"), "ISSUE_KEY", problems),
        }

    expected_problems: list[str] = []
    problems: list[str] = []
    try:
        expected: object = general(expected_problems)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = board_issue_row(3, issue, problems)
    except ValueError as exc:
        got = str(exc)
    assert got == expected
    assert problems == expected_problems
    if isinstance(got, dict):
        assert type(got["ISSUE_ID"]) is int


@pytest.mark.parametrize(
    "issue",
    [
        {"id": "10001", "key": "PLAT-1", "expand": "operations", "self": "https://x/rest/api/3/issue/10001"},
        {"id": 10001, "key": "PLAT-1", "fields": {}},
        {"id": 7.0, "key": None},
        {"id": "7", "key": 7},
        {"id": "7", "key": ["a"]},
        {"id": "7"},
        {"id": True, "key": "PLAT-1"},
        {"key": "PLAT-9"},
        {},
    ],
)
def test_a_key_only_search_page_maps_exactly_like_the_generic_decoding(issue: dict[str, object]) -> None:
    """FetchBoardIssues decodes its pages with loads_key_only_search (two fields per issue, as objects): every
    row, error and problem must be what the generic decoding gives."""
    body = json.dumps({"issues": [issue, {"id": "1", "key": "A-1"}], "nextPageToken": "t", "isLast": False})
    generic, fast = loads(body), loads_key_only_search(body)
    assert isinstance(fast["issues"][0], KeyOnlyIssue)
    assert (fast["nextPageToken"], fast["isLast"]) == (generic["nextPageToken"], generic["isLast"])
    outcomes = []
    for page in (generic, fast):
        problems: list[str] = []
        try:
            rows: object = [board_issue_row(3, item, problems) for item in page["issues"]]
        except ValueError as exc:
            rows = str(exc)
        outcomes.append((rows, problems))
    assert outcomes[0] == outcomes[1]


def test_enabled_tables_parsing() -> None:
    assert parse_enabled_tables("sprint, BOARD_ISSUE") == ("BOARD_ISSUE", "SPRINT")
    assert parse_enabled_tables("") == ()
    try:
        parse_enabled_tables("SPRINT, ISSUES")
    except ValueError as exc:
        assert "'ISSUES'" in str(exc)
    else:
        raise AssertionError("an unknown table must be refused")
