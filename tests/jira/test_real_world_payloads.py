"""Shapes recorded from real Jira Cloud sites (jira-api.md §11), fed through the client over loopback HTTP
and then through the row mapping: each fact of issue 8 is pinned here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flowkit.jira.client import JiraClient
from flowkit.jira.endpoints import BOARD_PROJECTS, BOARD_SPRINTS
from flowkit.jira.errors import JiraAuthError
from flowkit.jira.records import board_project_row, board_row, sprint_row
from tests.jira.test_client_http import Reply, ScriptedServer, make_client, server

__all__ = ["make_client", "server"]  # the scripted server's fixtures, shared with test_client_http

SITE = "https://acme.atlassian.net"
# A board list as recorded from real sites: no `location`, no `isPrivate`.
RECORDED_BOARDS = {
    "maxResults": 50,
    "startAt": 0,
    "isLast": True,
    "values": [
        {"id": 84, "self": f"{SITE}/rest/agile/1.0/board/84", "name": "SCRUM board", "type": "scrum"},
        {"id": 85, "self": f"{SITE}/rest/agile/1.0/board/85", "name": "My board", "type": "kanban"},
    ],
}
CONFIG_LOCATION_FULL = {
    "type": "project",
    "key": "SCRUM",
    "id": "10000",
    "self": f"{SITE}/rest/api/2/project/10000",
    "name": "Scrum Project",
}
CONFIG_LOCATION_DOCUMENTED = {"type": "project", "projectKeyOrId": "10000"}
CONFIG_LOCATION_USER = {"type": "user", "name": "Dana Dev"}


def _config(board_id: int, location: dict[str, Any], *, with_filter: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": board_id,
        "name": "SCRUM board",
        "type": "scrum",
        "self": f"{SITE}/rest/agile/1.0/board/{board_id}/configuration",
        "location": location,
        "columnConfig": {"columns": [{"name": "To Do", "statuses": [{"id": "10000"}]}], "constraintType": "none"},
        "ranking": {"rankCustomFieldId": 10019},
    }
    if with_filter:
        out["filter"] = {"id": "10001", "self": f"{SITE}/rest/api/3/filter/10001"}
    return out


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            CONFIG_LOCATION_FULL,
            {
                "LOCATION_TYPE": "project",
                "LOCATION_PROJECT_ID": 10000,
                "LOCATION_PROJECT_KEY": "SCRUM",
                "LOCATION_PROJECT_NAME": "Scrum Project",
                "LOCATION_DISPLAY_NAME": "Scrum Project (SCRUM)",
            },
        ),
        (
            CONFIG_LOCATION_DOCUMENTED,
            {
                "LOCATION_TYPE": "project",
                "LOCATION_PROJECT_ID": 10000,
                "LOCATION_PROJECT_KEY": None,
                "LOCATION_PROJECT_NAME": None,
                "LOCATION_DISPLAY_NAME": None,
            },
        ),
        (
            CONFIG_LOCATION_USER,
            {
                "LOCATION_TYPE": "user",
                "LOCATION_PROJECT_ID": None,
                "LOCATION_PROJECT_KEY": None,
                "LOCATION_PROJECT_NAME": None,
                "LOCATION_DISPLAY_NAME": "Dana Dev",
            },
        ),
    ],
)
def test_board_without_location_takes_it_from_the_configuration(
    server: ScriptedServer, make_client: Callable[..., JiraClient], location: dict[str, Any], expected: dict[str, Any]
) -> None:
    def script(req: Any, n: int) -> Reply:
        if req.path == "/rest/agile/1.0/board":
            return Reply(200, RECORDED_BOARDS)
        if req.path.endswith("/configuration"):
            return Reply(200, _config(84, location))
        return Reply(200, {"id": "10001", "name": "Filter for SCRUM board", "jql": "project = SCRUM ORDER BY Rank ASC"})

    server.script = script
    client = make_client()
    (page,) = list(client.iter_board_pages())
    board = page[0]
    problems: list[str] = []
    row = board_row(board, client.board_configuration(84), client.filter(10001, board_id=84), problems)
    assert problems == []
    for column, value in expected.items():
        assert row[column] == value, column
    # Not in any recorded list and not in the configuration: NULL (documented in docs/jira-flow.md).
    assert row["IS_PRIVATE"] is None
    assert row["LOCATION_PROJECT_TYPE_KEY"] is None and row["LOCATION_USER_ACCOUNT_ID"] is None
    assert row["FILTER_ID"] == 10001 and row["FILTER_JQL"].startswith("project = SCRUM")


def test_the_board_lists_location_wins_over_the_configuration() -> None:
    board = {
        "id": 1,
        "location": {"projectId": 10001, "projectKey": "OPS", "projectName": "Ops", "displayName": "Ops (OPS)"},
    }
    row = board_row(board, _config(1, CONFIG_LOCATION_FULL), None)
    assert (row["LOCATION_PROJECT_ID"], row["LOCATION_PROJECT_KEY"], row["LOCATION_DISPLAY_NAME"]) == (
        10001,
        "OPS",
        "Ops (OPS)",
    )


def test_configuration_without_filter_gives_null_filter_columns_not_a_permission_error(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(200, _config(84, CONFIG_LOCATION_FULL, with_filter=False))
    config = make_client().board_configuration(84)
    row = board_row(RECORDED_BOARDS["values"][0], config, None)
    assert (row["FILTER_ID"], row["FILTER_NAME"], row["FILTER_JQL"]) == (None, None, None)
    assert row["COLUMN_CONFIG"] is not None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "The board does not support sprints"),
        (400, "The board doesn't support sprints."),
        (500, "This board has no columns with a mapped status."),
    ],
)
def test_every_no_sprints_answer_is_an_empty_list_after_one_request(
    server: ScriptedServer, make_client: Callable[..., JiraClient], status: int, message: str
) -> None:
    server.script = lambda req, n: Reply(status, {"errorMessages": [message], "errors": {}})
    client = make_client()
    assert list(client.iter_pages(BOARD_SPRINTS, board_id=84)) == []
    assert server.paths() == ["/rest/agile/1.0/board/84/sprint"]  # no retry: the 500 here means "no sprints"
    assert client.retry_count == 0


def test_403_lock_out_on_myself_stops_with_the_real_cause(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    reason = f"CAPTCHA_CHALLENGE; login-url={SITE}/login.jsp"
    server.script = lambda req, n: Reply(403, "", {"X-Authentication-Denied-Reason": reason})
    client = make_client()
    with pytest.raises(JiraAuthError) as info:
        client.myself()
    assert info.value.status == 403
    assert "CAPTCHA_CHALLENGE" in str(info.value) and "browser" in str(info.value)
    assert len(server.requests) == 1  # never retried


def test_documented_board_projects_have_no_type_key(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    page = {
        "maxResults": 50,
        "startAt": 0,
        "total": 1,
        "isLast": True,
        "values": [{"self": f"{SITE}/rest/api/3/project/10000", "id": "10000", "key": "SCRUM", "name": "Scrum"}],
    }
    server.script = lambda req, n: Reply(200, page)
    (items,) = list(make_client().iter_pages(BOARD_PROJECTS, board_id=84))
    problems: list[str] = []
    assert board_project_row(84, items[0], problems) == {
        "BOARD_ID": 84,
        "PROJECT_ID": 10000,
        "PROJECT_KEY": "SCRUM",
        "PROJECT_NAME": "Scrum",
        "PROJECT_TYPE_KEY": None,
    }
    assert problems == []


# ---------------------------------------------------------------- payload tolerance


def test_string_ids_are_numbers_unknown_keys_ignored_missing_optional_keys_null(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    sprint = {
        "id": "37",
        "self": f"{SITE}/rest/agile/1.0/sprint/37",
        "state": "closed",
        "name": "Sprint 1",
        "startDate": "2016-01-01T10:00:00.000-07:00",
        "originBoardId": "84",
        "someNewField": {"nested": [1, 2]},
    }  # no goal, no endDate/completeDate/createdDate
    server.script = lambda req, n: Reply(200, {"isLast": True, "values": [sprint]})
    (items,) = list(make_client().iter_pages(BOARD_SPRINTS, board_id=84))
    problems: list[str] = []
    row = sprint_row(items[0], problems)
    assert row["ID"] == 37 and row["ORIGIN_BOARD_ID"] == 84
    assert row["START_DATE"] == "2016-01-01T17:00:00.000Z"
    assert row["GOAL"] is None and row["END_DATE"] is None and row["CREATED_DATE"] is None
    assert problems == []
    assert set(BOARD_SPRINTS.rows["BOARD_SPRINT"](84, items[0], problems).values()) == {84, 37}


def test_wrong_typed_optional_values_are_null_with_a_problem_each() -> None:
    problems: list[str] = []
    row = sprint_row(
        {"id": 5, "goal": ["not", "text"], "startDate": "next tuesday", "originBoardId": "board-1", "state": 3},
        problems,
    )
    assert (row["GOAL"], row["START_DATE"], row["ORIGIN_BOARD_ID"], row["STATE"]) == (None, None, None, None)
    assert len(problems) == 4
    assert any(p.startswith("GOAL: expected text, got list") for p in problems)
    assert any(p.startswith("START_DATE: expected an ISO-8601 timestamp") for p in problems)

    problems = []
    board = {"id": "9", "name": "B", "isPrivate": "maybe", "location": "PLAT"}
    config = {"location": {"type": "project", "id": "x"}, "columnConfig": "broken", "ranking": []}
    row = board_row(board, config, None, problems)
    assert row["ID"] == 9 and row["NAME"] == "B"
    assert row["IS_PRIVATE"] is None and row["COLUMN_CONFIG"] is None and row["RANK_CUSTOM_FIELD_ID"] is None
    assert row["LOCATION_PROJECT_ID"] is None
    assert len(problems) == 5, problems


def test_a_missing_key_still_fails_the_row() -> None:
    with pytest.raises(ValueError, match="sprint id is missing"):
        sprint_row({"name": "no id"})
    with pytest.raises(ValueError, match="board id"):
        board_row({"id": "abc"}, {}, None)


def test_tolerant_booleans_and_integral_floats() -> None:
    row = board_row({"id": 1.0, "isPrivate": "false"}, {"ranking": {"rankCustomFieldId": "10019"}}, None)
    assert row["ID"] == 1 and row["IS_PRIVATE"] is False and row["RANK_CUSTOM_FIELD_ID"] == 10019


def test_board_list_ids_are_numbers_and_items_without_one_are_reported() -> None:
    from flowkit.jira.processors.list_boards import _with_int_ids

    good, bad = _with_int_ids([{"id": "84", "name": "a"}, {"id": None}, {"name": "no id"}, {"id": 7}])
    assert [b["id"] for b in good] == [84, 7] and good[0]["name"] == "a"
    assert len(bad) == 2 and all("board id is missing" in b for b in bad)
