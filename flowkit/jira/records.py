"""Pure mappings from Jira REST objects to destination rows (product.md §4), tolerant of real payloads.

Row format (docs/architecture.md §2): upper-case column names; NUMBER -> int, BOOLEAN -> bool,
VARIANT -> the parsed JSON value, TIMESTAMP_TZ -> ISO-8601 UTC text with millis and `Z`.

Real sites differ from the documented examples (jira-api.md §11), so the mapping is lenient where it
can be and strict only where it must be:

* the key of a row (a board's, sprint's, project's or issue's ``id``) is required: without it the
  answer is unusable and the caller fails that board/table (``KeyError``/``ValueError``);
* every other field is optional: a missing key is NULL; ids sent as strings (``"10000"``) are numbers;
  unknown extra keys are ignored;
* a value of the wrong type in an optional field (a list where text belongs, ``"abc"`` for a number,
  an unparsable date) is NULL, and a line naming the column is added to ``problems`` so the caller can
  warn naming the board.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowkit.destinations.rows import normalize_timestamp
from flowkit.jira.http import KeyOnlyIssue

Row = dict[str, Any]
Json = Mapping[str, Any]
#: Lines describing optional values that were stored as NULL because Jira sent the wrong type.
Problems = list[str]

_EMPTY: Json = {}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(problems: Problems | None, column: str, expected: str, value: Any) -> None:
    if problems is not None:
        problems.append(f"{column}: expected {expected}, got {type(value).__name__} {_show(value)}")


def _number(value: Any) -> int | None:
    """An int from an int, an integral float or a digit string; None when it is not one."""
    if type(value) is str and value.isdecimal():  # Jira's usual "10001": the fast path of every issue row
        return int(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdecimal():  # isdigit() also accepts "²", which int() refuses
            return int(text)
    return None


def key_id(value: Any, what: str = "id") -> int:
    """A required id (the row's key): a number or a digit string, else ``ValueError``."""
    number = _number(value)
    if number is None:
        raise ValueError(f"{what} is missing or not a number ({_show(value)})")
    return number


def opt_int(value: Any, column: str, problems: Problems | None = None) -> int | None:
    if value is None or value == "":
        return None
    number = _number(value)
    if number is None:
        _bad(problems, column, "a number", value)
    return number


def opt_str(value: Any, column: str, problems: Problems | None = None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    _bad(problems, column, "text", value)
    return None


def opt_bool(value: Any, column: str, problems: Problems | None = None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    _bad(problems, column, "true or false", value)
    return None


def opt_obj(value: Any, column: str, problems: Problems | None = None) -> dict[str, Any] | None:
    """A VARIANT that must be a JSON object (configuration parts)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    _bad(problems, column, "a JSON object", value)
    return None


def opt_timestamp(value: Any, column: str, problems: Problems | None = None) -> str | None:
    try:
        return normalize_timestamp(value)
    except ValueError:
        _bad(problems, column, "an ISO-8601 timestamp", value)
        return None


def _part(value: Any, what: str, problems: Problems | None) -> Json:
    """A nested object the mapping reads fields from; missing -> empty, wrong type -> empty + problem."""
    if value is None:
        return _EMPTY
    if isinstance(value, Mapping):
        return value
    _bad(problems, what, "a JSON object", value)
    return _EMPTY


def board_location(board: Json, configuration: Json, problems: Problems | None = None) -> Row:
    """The LOCATION_* columns: the board list's ``location`` first, gaps filled from the configuration's.

    Real board lists often carry no ``location`` while ``/board/{id}/configuration`` does, as
    ``{"type": "project", "key", "id", "name", "self"}`` or the documented ``{"type", "projectKeyOrId"}``
    (jira-api.md §11). The configuration has no project type and no user account id: those stay NULL.
    A project's display name is Jira's ``"<name> (<key>)"`` when the list does not give one.
    """
    listed = _part(board.get("location"), "location", problems)
    config = _part(configuration.get("location"), "configuration location", problems)
    loc_type = opt_str(config.get("type"), "LOCATION_TYPE", problems)
    if loc_type is None and listed:
        loc_type = "user" if "userAccountId" in listed or "userId" in listed else "project"

    project_id = opt_int(listed.get("projectId"), "LOCATION_PROJECT_ID", problems)
    project_key = opt_str(listed.get("projectKey"), "LOCATION_PROJECT_KEY", problems)
    project_name = opt_str(listed.get("projectName"), "LOCATION_PROJECT_NAME", problems)
    display_name = opt_str(listed.get("displayName"), "LOCATION_DISPLAY_NAME", problems)
    account_id = opt_str(listed.get("userAccountId"), "LOCATION_USER_ACCOUNT_ID", problems)
    config_name = opt_str(config.get("name"), "LOCATION_DISPLAY_NAME", problems)
    if loc_type == "project":
        key_or_id = config.get("projectKeyOrId")
        key_or_id = (
            str(key_or_id).strip() if isinstance(key_or_id, str | int) and not isinstance(key_or_id, bool) else None
        )
        if project_id is None:
            project_id = opt_int(config.get("id"), "LOCATION_PROJECT_ID", problems)
            if project_id is None and key_or_id and key_or_id.isdigit():
                project_id = int(key_or_id)
        if project_key is None:
            project_key = opt_str(config.get("key"), "LOCATION_PROJECT_KEY", problems)
            if project_key is None and key_or_id and not key_or_id.isdigit():
                project_key = key_or_id
        if project_name is None:
            project_name = config_name
        if display_name is None and project_name and project_key:
            display_name = f"{project_name} ({project_key})"
    elif loc_type == "user":
        if account_id is None:
            account_id = opt_str(
                config.get("accountId") or config.get("userAccountId"), "LOCATION_USER_ACCOUNT_ID", problems
            )
        if display_name is None:
            display_name = config_name
    return {
        "LOCATION_TYPE": loc_type,
        "LOCATION_PROJECT_ID": project_id,
        "LOCATION_PROJECT_KEY": project_key,
        "LOCATION_PROJECT_NAME": project_name,
        "LOCATION_PROJECT_TYPE_KEY": opt_str(listed.get("projectTypeKey"), "LOCATION_PROJECT_TYPE_KEY", problems),
        "LOCATION_USER_ACCOUNT_ID": account_id,
        "LOCATION_DISPLAY_NAME": display_name,
    }


def board_row(board: Json, configuration: Json, saved_filter: Json | None, problems: Problems | None = None) -> Row:
    """BOARD: the board from /board, enriched with its configuration and saved filter.

    IS_PRIVATE is NULL when the list does not say (recorded board lists never do); FILTER_* are NULL for
    a configuration without a filter.
    """
    saved = _part(saved_filter, "filter", problems)
    location = board_location(board, configuration, problems)
    sub_query = opt_str(_part(configuration.get("subQuery"), "subQuery", problems).get("query"), "SUB_QUERY", problems)
    filter_part = _part(configuration.get("filter"), "configuration filter", problems)
    return {
        "ID": key_id(board.get("id"), "board id"),
        "NAME": opt_str(board.get("name"), "NAME", problems),
        "TYPE": opt_str(board.get("type"), "TYPE", problems),
        "SELF": opt_str(board.get("self"), "SELF", problems),
        "IS_PRIVATE": opt_bool(board.get("isPrivate"), "IS_PRIVATE", problems),
        "LOCATION_TYPE": location["LOCATION_TYPE"],
        "LOCATION_PROJECT_ID": location["LOCATION_PROJECT_ID"],
        "LOCATION_PROJECT_KEY": location["LOCATION_PROJECT_KEY"],
        "LOCATION_PROJECT_NAME": location["LOCATION_PROJECT_NAME"],
        "LOCATION_PROJECT_TYPE_KEY": location["LOCATION_PROJECT_TYPE_KEY"],
        "LOCATION_USER_ACCOUNT_ID": location["LOCATION_USER_ACCOUNT_ID"],
        "LOCATION_DISPLAY_NAME": location["LOCATION_DISPLAY_NAME"],
        "FILTER_ID": opt_int(filter_part.get("id"), "FILTER_ID", problems),
        "FILTER_NAME": opt_str(saved.get("name"), "FILTER_NAME", problems),
        "FILTER_JQL": opt_str(saved.get("jql"), "FILTER_JQL", problems),
        "SUB_QUERY": sub_query or None,
        "COLUMN_CONFIG": opt_obj(configuration.get("columnConfig"), "COLUMN_CONFIG", problems),
        "ESTIMATION": opt_obj(configuration.get("estimation"), "ESTIMATION", problems),
        "RANK_CUSTOM_FIELD_ID": opt_int(
            _part(configuration.get("ranking"), "ranking", problems).get("rankCustomFieldId"),
            "RANK_CUSTOM_FIELD_ID",
            problems,
        ),
    }


def sprint_row(sprint: Json, problems: Problems | None = None) -> Row:
    """SPRINT: one sprint from /board/{id}/sprint (dates omitted for future sprints; goal may be absent)."""
    return {
        "ID": key_id(sprint.get("id"), "sprint id"),
        "SELF": opt_str(sprint.get("self"), "SELF", problems),
        "STATE": opt_str(sprint.get("state"), "STATE", problems),
        "NAME": opt_str(sprint.get("name"), "NAME", problems),
        "START_DATE": opt_timestamp(sprint.get("startDate"), "START_DATE", problems),
        "END_DATE": opt_timestamp(sprint.get("endDate"), "END_DATE", problems),
        "COMPLETE_DATE": opt_timestamp(sprint.get("completeDate"), "COMPLETE_DATE", problems),
        "CREATED_DATE": opt_timestamp(sprint.get("createdDate"), "CREATED_DATE", problems),
        "ORIGIN_BOARD_ID": opt_int(sprint.get("originBoardId"), "ORIGIN_BOARD_ID", problems),
        "GOAL": opt_str(sprint.get("goal"), "GOAL", problems),
    }


def board_sprint_row(board_id: int, sprint: Json, problems: Problems | None = None) -> Row:
    return {"BOARD_ID": board_id, "SPRINT_ID": key_id(sprint.get("id"), "sprint id")}


def board_project_row(board_id: int, project: Json, problems: Problems | None = None) -> Row:
    """BOARD_PROJECT: PROJECT_TYPE_KEY is NULL when Jira leaves it out (the documented shape has none)."""
    return {
        "BOARD_ID": board_id,
        "PROJECT_ID": key_id(project.get("id"), "project id"),
        "PROJECT_KEY": opt_str(project.get("key"), "PROJECT_KEY", problems),
        "PROJECT_NAME": opt_str(project.get("name"), "PROJECT_NAME", problems),
        "PROJECT_TYPE_KEY": opt_str(project.get("projectTypeKey"), "PROJECT_TYPE_KEY", problems),
    }


def board_issue_row(board_id: int, issue: Json | KeyOnlyIssue, problems: Problems | None = None) -> Row:
    # A million of these a run: Jira's usual shape ({"id": "10001", "key": "PLAT-1"}) is mapped inline,
    # anything else by key_id and opt_str (the same values, errors and problems). Id/key-only search pages
    # arrive as KeyOnlyIssue (flowkit/jira/http.py): the same two values, read as attributes.
    if isinstance(issue, KeyOnlyIssue):
        issue_id, key = issue.id, issue.key
    else:
        issue_id = issue.get("id")
        key = issue.get("key")
    return {
        "BOARD_ID": board_id,
        "ISSUE_ID": int(issue_id) if type(issue_id) is str and issue_id.isdecimal() else key_id(issue_id, "issue id"),
        "ISSUE_KEY": key if type(key) is str else opt_str(key, "ISSUE_KEY", problems),
    }
