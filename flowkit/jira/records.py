"""Pure mappings from Jira REST objects to destination rows (product.md §4).

Row format (docs/architecture.md §2): upper-case column names; NUMBER -> int, BOOLEAN -> bool,
VARIANT -> the parsed JSON value, TIMESTAMP_TZ -> ISO-8601 UTC text with millis and `Z`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowkit.destinations.rows import normalize_timestamp

Row = dict[str, Any]
Json = Mapping[str, Any]


def _int(value: Any) -> int | None:
    """Jira sends ids sometimes as numbers and sometimes as strings ("10000")."""
    if value is None or value == "":
        return None
    return int(value)


def _obj(value: Any) -> Json:
    return value if isinstance(value, Mapping) else {}


def board_row(board: Json, configuration: Json, saved_filter: Json | None) -> Row:
    """BOARD: the board from /board, enriched with its configuration and saved filter."""
    location = _obj(board.get("location"))
    config_location = _obj(configuration.get("location"))
    sub_query = _obj(configuration.get("subQuery")).get("query")
    saved = _obj(saved_filter)
    is_private = board.get("isPrivate")
    return {
        "ID": _int(board["id"]),
        "NAME": board.get("name"),
        "TYPE": board.get("type"),
        "SELF": board.get("self"),
        "IS_PRIVATE": None if is_private is None else bool(is_private),
        "LOCATION_TYPE": config_location.get("type"),
        "LOCATION_PROJECT_ID": _int(location.get("projectId")),
        "LOCATION_PROJECT_KEY": location.get("projectKey"),
        "LOCATION_PROJECT_NAME": location.get("projectName"),
        "LOCATION_PROJECT_TYPE_KEY": location.get("projectTypeKey"),
        "LOCATION_USER_ACCOUNT_ID": location.get("userAccountId"),
        "LOCATION_DISPLAY_NAME": location.get("displayName"),
        "FILTER_ID": _int(_obj(configuration.get("filter")).get("id")),
        "FILTER_NAME": saved.get("name"),
        "FILTER_JQL": saved.get("jql"),
        "SUB_QUERY": sub_query or None,
        "COLUMN_CONFIG": configuration.get("columnConfig"),
        "ESTIMATION": configuration.get("estimation"),
        "RANK_CUSTOM_FIELD_ID": _int(_obj(configuration.get("ranking")).get("rankCustomFieldId")),
    }


def sprint_row(sprint: Json) -> Row:
    """SPRINT: one sprint from /board/{id}/sprint (dates omitted for future sprints)."""
    return {
        "ID": _int(sprint["id"]),
        "SELF": sprint.get("self"),
        "STATE": sprint.get("state"),
        "NAME": sprint.get("name"),
        "START_DATE": normalize_timestamp(sprint.get("startDate")),
        "END_DATE": normalize_timestamp(sprint.get("endDate")),
        "COMPLETE_DATE": normalize_timestamp(sprint.get("completeDate")),
        "CREATED_DATE": normalize_timestamp(sprint.get("createdDate")),
        "ORIGIN_BOARD_ID": _int(sprint.get("originBoardId")),
        "GOAL": sprint.get("goal"),
    }


def board_sprint_row(board_id: int, sprint: Json) -> Row:
    return {"BOARD_ID": board_id, "SPRINT_ID": _int(sprint["id"])}


def board_project_row(board_id: int, project: Json) -> Row:
    return {
        "BOARD_ID": board_id,
        "PROJECT_ID": _int(project["id"]),
        "PROJECT_KEY": project.get("key"),
        "PROJECT_NAME": project.get("name"),
        "PROJECT_TYPE_KEY": project.get("projectTypeKey"),
    }


def board_issue_row(board_id: int, issue: Json) -> Row:
    return {"BOARD_ID": board_id, "ISSUE_ID": _int(issue["id"]), "ISSUE_KEY": issue.get("key")}
