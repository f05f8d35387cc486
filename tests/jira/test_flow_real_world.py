"""The shipped flow against the simulator serving the variants real Jira Cloud sites send (jira-api.md §11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jira.flowrun import FLOW, fast_flow, overrides_for, run_cli, run_once, truth, warehouse

SHAPES = (
    "board-without-location",
    "board-without-is-private",
    "project-without-type-key",
    "ids-as-strings",
    "sprint-goal-absent",
)


@pytest.mark.parametrize(
    "variants",
    [SHAPES, ("board-without-location", "config-location-documented"), ("config-location-documented",)],
    ids=["recorded-shapes", "documented-config-location", "documented-config-location-with-list-location"],
)
def test_recorded_payload_shapes_end_exact_and_quiet(tmp_path: Path, jira_sim_factory: Any, variants: Any) -> None:
    sim = jira_sim_factory(variants=variants)
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db))
    assert report.exit_code == 0, report.bulletins
    assert [b for b in report.bulletins if b.level in ("WARNING", "ERROR")] == []
    expected = truth(sim)
    assert warehouse(db) == expected
    boards = expected["BOARD"]
    if "board-without-location" in variants:
        assert all(b["LOCATION_PROJECT_TYPE_KEY"] is None for b in boards)
        projects = [b for b in boards if b["LOCATION_TYPE"] == "project"]
        assert projects and all(b["LOCATION_PROJECT_ID"] is not None for b in projects)
        if "config-location-documented" not in variants:
            assert all(b["LOCATION_PROJECT_KEY"] and b["LOCATION_DISPLAY_NAME"] for b in projects)
    if "board-without-is-private" in variants:
        assert all(b["IS_PRIVATE"] is None for b in boards)
    if "project-without-type-key" in variants:
        assert all(p["PROJECT_TYPE_KEY"] is None for p in expected["BOARD_PROJECT"])
    if "sprint-goal-absent" in variants:
        assert any(s["GOAL"] is None for s in expected["SPRINT"])


def test_every_no_sprints_answer_means_no_sprints_without_retry_or_warning(tmp_path: Path, jira_sim: Any) -> None:
    sim = jira_sim
    scrum = [b["ID"] for b in truth(sim)["BOARD"] if b["TYPE"] in ("scrum", "simple")]
    answers = {scrum[0]: "doesnt", scrum[1]: "no-columns", scrum[2]: "does-not"}
    for board_id, answer in answers.items():
        sim.data.set_sprints_answer(board_id, answer)
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db))
    assert report.exit_code == 0, report.bulletins
    assert [b for b in report.bulletins if b.level in ("WARNING", "ERROR")] == []
    assert warehouse(db) == truth(sim)
    assert not {r["BOARD_ID"] for r in warehouse(db)["BOARD_SPRINT"]} & set(answers)
    for board_id in answers:
        assert sum(1 for e in sim.request_log.entries if e.path == f"/rest/agile/1.0/board/{board_id}/sprint") == 1
    assert sim.request_log.statuses.get(500) == 1  # the no-columns answer, asked once


def test_a_board_configuration_without_filter_keeps_the_board_and_says_why_issues_are_missing(
    tmp_path: Path, jira_sim: Any
) -> None:
    sim = jira_sim
    board = truth(sim)["BOARD"][0]
    sim.data.drop_config_filter(board["ID"])
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db))
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(sim)
    row = next(b for b in warehouse(db)["BOARD"] if b["ID"] == board["ID"])
    assert (row["FILTER_ID"], row["FILTER_JQL"]) == (None, None)
    (warning,) = [b.message for b in report.bulletins if b.level == "WARNING"]
    assert f"board {board['ID']} '{board['NAME']}'" in warning
    assert "names no saved filter" in warning
    assert "permission" not in warning and "cannot read" not in warning


def test_a_wrong_typed_optional_value_is_null_with_a_warning_naming_the_board(tmp_path: Path, jira_sim: Any) -> None:
    sim = jira_sim
    board = truth(sim)["BOARD"][1]
    sim.data.set_board_field(board["ID"], "isPrivate", "sometimes")
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db))
    assert report.exit_code == 0, report.bulletins
    got = warehouse(db)
    expected = truth(sim)
    expected["BOARD"] = [dict(b, IS_PRIVATE=None) if b["ID"] == board["ID"] else b for b in expected["BOARD"]]
    assert got == expected
    (warning,) = [b.message for b in report.bulletins if b.level == "WARNING"]
    assert f"board {board['ID']} '{board['NAME']}'" in warning and "IS_PRIVATE" in warning and "sometimes" in warning


def test_a_captcha_lock_out_exits_2_with_the_cause_and_writes_nothing(tmp_path: Path, jira_sim: Any) -> None:
    jira_sim.lock_out()
    db = tmp_path / "warehouse.db"
    overrides = overrides_for(jira_sim, db)
    args = ["run", str(FLOW), "--once"]
    for name, value in overrides.items():
        args += ["-p", f"{name}={value}"]
    result = run_cli(args, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "CAPTCHA_CHALLENGE" in lines[0] and "browser" in lines[0]
    assert "on_trigger" not in lines[0]
    assert jira_sim.token not in result.stdout + result.stderr
    assert not db.exists()
    assert jira_sim.request_log.total == 1  # /myself once, no retries


def test_a_generic_fetch_board_table_serves_any_declared_board_endpoint(tmp_path: Path, jira_sim: Any) -> None:
    """FetchBoardTable + an endpoint name replaces a dedicated processor: how a new table is wired."""
    import yaml

    doc = yaml.safe_load(fast_flow(tmp_path).read_text())
    for processor in doc["processors"]:
        if processor["type"] in ("FetchBoardProjects", "FetchSprints", "FetchBoardIssues"):
            endpoint = {"FetchBoardProjects": "board_projects", "FetchSprints": "board_sprints"}.get(
                processor["type"], "search_jql"
            )
            processor["type"] = "FetchBoardTable"
            processor["properties"]["Endpoint"] = endpoint
    flow = tmp_path / "generic.yaml"
    flow.write_text(yaml.safe_dump(doc, sort_keys=False))
    db = tmp_path / "warehouse.db"
    report = run_once(flow, tmp_path / "home", overrides_for(jira_sim, db))
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(jira_sim)
    assert jira_sim.request_log.count("GET /rest/agile/1.0/board/{id}/sprint") == len(
        [b for b in truth(jira_sim)["BOARD"] if b["TYPE"] != "kanban"]
    )


def test_a_listed_board_without_a_usable_id_deletes_nothing(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    flow, home = fast_flow(tmp_path), tmp_path / "home"
    assert run_once(flow, home, overrides_for(jira_sim, db)).exit_code == 0
    before = warehouse(db)
    board = before["BOARD"][0]
    jira_sim.data.set_board_field(board["ID"], "id", None)
    report = run_once(flow, home, overrides_for(jira_sim, db))
    assert report.exit_code == 1
    (error,) = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert "without a usable id" in error and "no board will be deleted" in error
    assert warehouse(db) == before  # the board the list could not name keeps its rows; the others are unchanged
