"""The Jira processors one at a time, on flowkit.engine.testing's runner, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowkit.engine import ConfigurationError
from flowkit.engine.state import Scope
from flowkit.engine.testing import TestRunner
from flowkit.jira.processors import FetchBoardIssues, FetchSprints, VerifyConnection
from flowkit.jira.processors.common import BOARD_ID, BOARD_NAME, BOARD_TYPE, FRAGMENT_COUNT, RUN_ID, TABLE
from flowkit.jira.services import JiraCloudClientService
from flowkit.jira.state_service import StandardJiraIngestionStateService

SERVICES = {"Jira Client": "Jira Client", "Ingestion State Service": "Ingestion State"}


def _runner(processor: Any, sim: Any) -> TestRunner:
    runner = TestRunner(processor, flow_id="atlassian-jira-cloud-agile")
    runner.add_service(
        "Jira Client",
        JiraCloudClientService,
        {
            "Environment URL": sim.url,
            "Jira Email": sim.email,
            "Jira API Token": sim.token,
            "Max Retries": "2",
            "Initial Retry Delay": "10 millis",
            "Max Retry Delay": "20 millis",
        },
    )
    runner.add_service("Ingestion State", StandardJiraIngestionStateService)
    for name, value in SERVICES.items():
        runner.set_property(name, value)
    return runner


@pytest.fixture
def sprints(jira_sim: Any) -> Iterator[TestRunner]:
    with _runner(FetchSprints, jira_sim) as runner:
        yield runner


def _begin(runner: TestRunner, *enabled: str) -> str:
    started = runner.service("Ingestion State", StandardJiraIngestionStateService).begin_run(enabled)
    assert started is not None
    return started[0].run_id


def test_verify_connection_starts_a_run(jira_sim: Any) -> None:
    with _runner(VerifyConnection, jira_sim) as runner:
        runner.set_property("Enabled Tables", "SPRINT")
        runner.run()
        (flowfile,) = runner.assert_all_transferred("success", 1)
        run = runner.service("Ingestion State", StandardJiraIngestionStateService).current()
        assert run is not None and flowfile.attributes[RUN_ID] == run.run_id
        assert run.tables == ("BOARD", "BOARD_SPRINT", "SPRINT")
        assert flowfile.attributes["jira.site.timezone"] == "Europe/Berlin"


def test_verify_connection_stops_the_run_on_a_captcha_lock_out(jira_sim: Any) -> None:
    jira_sim.lock_out()
    with _runner(VerifyConnection, jira_sim) as runner:
        runner.set_property("Enabled Tables", "SPRINT")
        with pytest.raises(ConfigurationError, match="CAPTCHA_CHALLENGE") as info:
            runner.run()
        assert "browser" in str(info.value) and "on_trigger failed" not in str(info.value)
        runner.assert_transferred("success", 0)
    assert jira_sim.request_log.total == 1


def test_fetch_sprints_emits_the_boards_pages(sprints: TestRunner, jira_sim: Any) -> None:
    run_id = _begin(sprints, "SPRINT")
    board = next(b for b in jira_sim.ground_truth()["BOARD"] if b["TYPE"] == "scrum")
    sprints.enqueue(attributes={RUN_ID: run_id, BOARD_ID: str(board["ID"]), BOARD_TYPE: "scrum"})
    sprints.run()
    pages = sprints.assert_all_transferred("success", 2)  # one page per table
    by_table = {p.attributes[TABLE]: p for p in pages}
    truth = jira_sim.ground_truth()
    expected = [r for r in truth["BOARD_SPRINT"] if r["BOARD_ID"] == board["ID"]]
    assert list(by_table["BOARD_SPRINT"].records or ()) == expected
    ids = {r["SPRINT_ID"] for r in expected}
    assert list(by_table["SPRINT"].records or ()) == [s for s in truth["SPRINT"] if s["ID"] in ids]
    assert all(p.attributes[FRAGMENT_COUNT] == "1" for p in pages)
    assert sprints.bulletins == []


@pytest.mark.parametrize("answer", ["does-not", "doesnt", "no-columns"])
def test_fetch_sprints_a_no_sprints_answer_is_an_empty_last_page(
    sprints: TestRunner, jira_sim: Any, answer: str
) -> None:
    run_id = _begin(sprints, "SPRINT")
    jira_sim.data.set_sprints_answer(1, answer)
    sprints.enqueue(attributes={RUN_ID: run_id, BOARD_ID: "1", BOARD_TYPE: "scrum"})
    sprints.run()
    pages = sprints.assert_all_transferred("success", 2)
    assert all(p.records == () and p.attributes[FRAGMENT_COUNT] == "1" for p in pages)
    assert sprints.bulletins == []
    assert jira_sim.request_log.count("GET /rest/agile/1.0/board/{id}/sprint") == 1


def test_fetch_board_issues_without_a_filter_says_so_and_settles_the_board(jira_sim: Any) -> None:
    with _runner(FetchBoardIssues, jira_sim) as runner:
        run_id = _begin(runner, "BOARD_ISSUE")
        runner.enqueue(attributes={RUN_ID: run_id, BOARD_ID: "3", BOARD_NAME: "OPS kanban", BOARD_TYPE: "kanban"})
        runner.run()
        runner.assert_transferred("success", 0)
        (warning,) = runner.messages("WARNING")
        assert "board 3 'OPS kanban'" in warning and "names no saved filter" in warning
        run = runner.service("Ingestion State", StandardJiraIngestionStateService).current()
        assert run is not None and run.is_settled(3, "BOARD_ISSUE")
        assert runner.counters == {"boards.skipped": 1}
        assert runner.state.get(Scope.COMPONENT).version is None  # processors keep their progress in the service


def test_verify_connection_names_the_url_when_the_site_is_not_jira(jira_sim: Any) -> None:
    jira_sim.add_fault("status", status=404, path=r"/myself$", message="Not Found")
    with _runner(VerifyConnection, jira_sim) as runner:
        with pytest.raises(ConfigurationError, match=r"'Environment URL' http://127\.0\.0\.1:") as info:
            runner.run()
        assert "HTTP 404" in str(info.value)
        runner.assert_transferred("success", 0)
