"""The real-site variants the simulator serves (jira-api.md §11), read over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from flowkit.simulator import JiraSimulator
from flowkit.simulator.mutations import SimulatorError

AGILE = "/rest/agile/1.0"


def get(sim: JiraSimulator, path: str) -> requests.Response:
    return requests.get(sim.url + path, auth=sim.auth, timeout=10)


def test_default_shapes_are_the_documented_ones(jira_sim: JiraSimulator) -> None:
    board = get(jira_sim, AGILE + "/board").json()["values"][0]
    assert isinstance(board["id"], int) and "location" in board and "isPrivate" in board
    assert "projectTypeKey" in get(jira_sim, AGILE + "/board/1/project").json()["values"][0]


def test_site_wide_variants(jira_sim_factory: Any) -> None:
    sim = jira_sim_factory(variants=["board-without-location", "board-without-is-private", "ids-as-strings"])
    boards = get(sim, AGILE + "/board").json()["values"]
    assert boards and all("location" not in b and "isPrivate" not in b for b in boards)
    assert all(isinstance(b["id"], str) for b in boards)
    sprint = get(sim, AGILE + "/board/1/sprint").json()["values"][0]
    assert isinstance(sprint["id"], str) and isinstance(sprint["originBoardId"], str)
    assert get(sim, AGILE + "/board/1/configuration").json()["location"]["key"] == "PLAT"

    sim.data.set_variants(["config-location-documented", "project-without-type-key", "sprint-goal-absent"])
    assert get(sim, AGILE + "/board/1/configuration").json()["location"] == {
        "type": "project",
        "projectKeyOrId": "10000",
    }
    assert "projectTypeKey" not in get(sim, AGILE + "/board/1/project").json()["values"][0]
    sprints = get(sim, AGILE + "/board/1/sprint").json()["values"]
    assert any("goal" not in s for s in sprints) and all(s.get("goal", "x") for s in sprints)
    with pytest.raises(SimulatorError, match="unknown variant"):
        sim.data.set_variants(["nope"])


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        ("does-not", 400, "The board does not support sprints"),
        ("doesnt", 400, "The board doesn't support sprints."),
        ("no-columns", 500, "This board has no columns with a mapped status."),
    ],
)
def test_no_sprints_answers(jira_sim: JiraSimulator, answer: str, status: int, message: str) -> None:
    jira_sim.data.set_sprints_answer(1, answer)
    r = get(jira_sim, AGILE + "/board/1/sprint")
    assert r.status_code == status and r.json()["errorMessages"] == [message]
    assert not any(row["BOARD_ID"] == 1 for row in jira_sim.ground_truth()["BOARD_SPRINT"])
    jira_sim.data.set_sprints_answer(1, None)
    assert get(jira_sim, AGILE + "/board/1/sprint").status_code == 200


def test_configuration_without_filter_and_list_overrides(jira_sim: JiraSimulator) -> None:
    jira_sim.data.drop_config_filter(1)
    assert "filter" not in get(jira_sim, AGILE + "/board/1/configuration").json()
    row = next(b for b in jira_sim.ground_truth()["BOARD"] if b["ID"] == 1)
    assert row["FILTER_ID"] is None and row["FILTER_JQL"] is None
    jira_sim.data.set_board_field(1, "isPrivate", "sometimes")
    listed = next(b for b in get(jira_sim, AGILE + "/board").json()["values"] if b["id"] == 1)
    assert listed["isPrivate"] == "sometimes"


def test_lock_out_answers_403_with_the_header_until_cleared(jira_sim: JiraSimulator) -> None:
    jira_sim.lock_out()
    r = get(jira_sim, "/rest/api/3/myself")
    assert r.status_code == 403
    assert r.headers["X-Authentication-Denied-Reason"].startswith("CAPTCHA_CHALLENGE; login-url=")
    jira_sim.clear_faults()
    assert get(jira_sim, "/rest/api/3/myself").status_code == 200


def test_variants_over_the_admin_endpoint(jira_sim: JiraSimulator) -> None:
    r = requests.post(
        jira_sim.url + "/_sim/mutate/set_variants", json={"names": ["board-without-location"]}, timeout=10
    )
    assert r.status_code == 200, r.text
    assert "location" not in get(jira_sim, AGILE + "/board").json()["values"][0]
    assert requests.get(jira_sim.url + "/_sim/info", timeout=10).json()["variants"] == ["board-without-location"]
