"""Scheduled (continuous) runs must always reach their merge, whatever one board or table does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowkit.engine import RunReport, load_flow, run_flow
from tests.jira.flowrun import fast_flow, overrides_for, truth, warehouse


def run_until(flow: Path, home: Path, overrides: dict[str, str], done: Callable[[], bool]) -> RunReport:
    """`flowkit run` without --once (on its schedule), stopped as soon as `done()` holds (or after 30 s)."""
    stop = threading.Event()
    result: dict[str, RunReport] = {}
    loaded = load_flow(flow, overrides={**overrides, "Merge Interval": "200 millis"}, env={})
    worker = threading.Thread(target=lambda: result.setdefault("r", run_flow(loaded, once=False, home=home, stop=stop)))
    worker.start()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and worker.is_alive():
            if done():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the scheduled run never reached its merge")
    finally:
        stop.set()
        worker.join(timeout=30)
    return result["r"]


def test_an_oversized_value_fails_its_table_but_the_scheduled_run_still_merges_the_rest(
    tmp_path: Path, jira_sim_factory: Any
) -> None:
    sim = jira_sim_factory(oversized_value=True)
    db = tmp_path / "warehouse.db"
    others = ("SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")
    expected = truth(sim, others)
    report = run_until(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db), lambda: _has(db, expected))
    assert warehouse(db, ("BOARD",)) == {"BOARD": []}
    errors = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert any("BOARD" in e and "COLUMN_CONFIG" in e for e in errors), errors
    assert not any("before these were fetched" in e for e in errors), errors


def test_an_answer_of_the_wrong_shape_fails_one_board_and_the_scheduled_run_still_merges(
    tmp_path: Path, jira_sim: Any
) -> None:
    db = tmp_path / "warehouse.db"
    jira_sim.add_fault(kind="shape", path=r"/rest/api/3/search/jql", count=1)  # one board's issues lose their ids
    tables = ("BOARD", "SPRINT", "BOARD_SPRINT", "BOARD_PROJECT")
    report = run_until(
        fast_flow(tmp_path), tmp_path / "home", overrides_for(jira_sim, db), lambda: _has(db, truth(jira_sim, tables))
    )
    errors = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert any("issues failed: unexpected answer (ValueError: issue id is missing" in e for e in errors), errors
    issue_boards = {r["BOARD_ID"] for r in warehouse(db)["BOARD_ISSUE"]}
    expected_boards = {r["BOARD_ID"] for r in truth(jira_sim)["BOARD_ISSUE"]}
    assert len(expected_boards - issue_boards) == 1  # only the board with the broken answer has none (yet)


def _has(db: Path, expected: dict[str, list[dict[str, Any]]]) -> bool:
    try:
        return warehouse(db, tuple(expected)) == expected
    except Exception:
        return False  # the warehouse is being created


def test_a_resumed_run_keeps_its_tables_and_says_so_when_enabled_tables_changed(
    tmp_path: Path, jira_sim_factory: Any
) -> None:
    sim = jira_sim_factory(latency_ms=80)  # an unbroken run takes well over a second
    db, home, flow = tmp_path / "warehouse.db", tmp_path / "home", fast_flow(tmp_path)
    loaded = load_flow(flow, overrides=overrides_for(sim, db), env={})
    stop = threading.Event()
    threading.Timer(0.4, stop.set).start()  # interrupt the first run part-way (after /myself: 80 ms)
    first = run_flow(loaded, once=True, home=home, stop=stop)
    assert first.interrupted
    overrides = overrides_for(sim, db, **{"Enabled Tables": "SPRINT"})
    resumed = run_flow(load_flow(flow, overrides=overrides, env={}), once=True, home=home)
    assert resumed.exit_code == 0, resumed.bulletins
    warnings = [b.message for b in resumed.bulletins if b.level == "WARNING"]
    assert any("with the tables it started with" in w and "applies from the next run" in w for w in warnings)
    assert warehouse(db) == truth(sim)  # the run it resumed still covered every table
