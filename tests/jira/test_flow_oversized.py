"""A value over 16 MB (the Snowflake VARIANT/VARCHAR limit): `Oversized Value Strategy`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowkit.engine import state_document
from tests.jira.flowrun import fast_flow, overrides_for, run_once, truth, warehouse

OTHER_TABLES = ("SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")


@pytest.fixture
def big_sim(jira_sim_factory: Any) -> Any:
    return jira_sim_factory(oversized_value=True)


def _big_board(sim: Any) -> int:
    boards = truth(sim)["BOARD"]
    sizes = {b["ID"]: len(str(b["COLUMN_CONFIG"])) for b in boards}
    return max(sizes, key=lambda board: sizes[board])


def test_fail_table_stops_that_table_and_the_others_go_on(tmp_path: Path, big_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(big_sim, db))
    assert report.exit_code == 1
    errors = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert any("BOARD" in e and "COLUMN_CONFIG" in e for e in errors), errors
    got = warehouse(db)
    assert got["BOARD"] == []  # not replicated in this run
    assert {t: got[t] for t in OTHER_TABLES} == {t: truth(big_sim)[t] for t in OTHER_TABLES}


def test_set_null_stores_null_and_warns_naming_row_and_column(tmp_path: Path, big_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    overrides = overrides_for(big_sim, db, **{"Oversized Value Strategy": "Set Null"})
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides)
    assert report.exit_code == 0, report.bulletins
    big = _big_board(big_sim)
    warnings = [b.message for b in report.bulletins if b.level == "WARNING"]
    assert any("COLUMN_CONFIG" in w and str(big) in w for w in warnings), warnings
    expected = truth(big_sim)
    for row in expected["BOARD"]:
        if row["ID"] == big:
            row["COLUMN_CONFIG"] = None
    assert warehouse(db) == expected


def test_a_run_whose_only_table_failed_still_ends(tmp_path: Path, big_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    home = tmp_path / "home"
    overrides = overrides_for(big_sim, db, **{"Enabled Tables": ""})  # BOARD only, and BOARD fails
    assert run_once(fast_flow(tmp_path), home, overrides).exit_code == 1
    document = state_document(home)
    progress = document["atlassian-jira-cloud-agile"]["components"]["Ingestion State"]["data"]["progress"]
    assert " done;" in progress and "failed tables BOARD" in progress, progress
