"""Run history: what a run records, pruning, bounded bulletins, died runs, `flowkit status`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowkit.cli import cli
from flowkit.engine import ConfigurationError, load_flow, run_flow
from flowkit.engine.history import MAX_BULLETINS, RunHistory, keep_runs_from_env, read_history, status_document
from flowkit.engine.locking import RunLock
from flowkit.engine.progress import FlowStatus
from flowkit.engine.report import Bulletin
from tests.engine.helpers import write_flow

COUNTING = """\
    flowkit: 1
    process_group: {name: History}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 3}}
      - {name: Boards, type: CountFlowFiles, properties: {Counter Name: rows.BOARD.inserted}}
      - {name: Warn, type: LogMessage, properties: {Log Level: WARNING, Message: careful}}
      - {name: Log, type: LogAttribute, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Boards}
      - {source: Boards, relationships: [success], destination: Warn}
      - {source: Warn, relationships: [success], destination: Log}
    """


def test_a_run_records_outcome_counts_per_processor_and_bulletins(tmp_path: Path, home: Path) -> None:
    report = run_flow(load_flow(write_flow(tmp_path, COUNTING)), once=True, home=home)
    assert report.exit_code == 0 and report.run_id == "1"
    [run] = read_history(home, "history")
    assert run["run_id"] == "1" and run["outcome"] == "succeeded" and run["mode"] == "once" and run["exit_code"] == 0
    assert run["started_at"] <= run["ended_at"] and run["pid"] == os.getpid()
    assert run["counters"]["rows.BOARD.inserted"] == 3
    io = {p["name"]: (p["flowfiles_in"], p["flowfiles_out"]) for p in run["processors"]}
    assert io == {"Generate": (0, 3), "Boards": (3, 3), "Warn": (3, 3), "Log": (3, 3)}
    shown = [(b["level"], b["component"], b["message"]) for b in run["bulletins"]]
    assert shown == [("WARNING", "Warn", "careful")] * 3
    assert {c["source"]: c["queued"] for c in run["connections"]} == {"Generate": 0, "Boards": 0, "Warn": 0}


def test_history_keeps_the_newest_runs_only(tmp_path: Path, home: Path) -> None:
    flow = load_flow(write_flow(tmp_path, COUNTING))
    for _ in range(5):
        run_flow(flow, once=True, home=home, keep_runs=3)
    assert [r["run_id"] for r in read_history(home, "history", limit=None)] == ["5", "4", "3"]


def test_run_ids_count_up_per_flow_and_history_reads_per_flow(tmp_path: Path, home: Path) -> None:
    run_flow(load_flow(write_flow(tmp_path, COUNTING)), once=True, home=home)
    other = write_flow(tmp_path, COUNTING.replace("name: History", "name: Other"), "other.yaml")
    run_flow(load_flow(other), once=True, home=home)
    run_flow(load_flow(other), once=True, home=home)
    assert [r["run_id"] for r in read_history(home, "other")] == ["2", "1"]
    assert [r["run_id"] for r in read_history(home, "history")] == ["1"]
    assert {r["flow_id"] for r in read_history(home)} == {"history", "other"}


def _status(flow_id: str = "f", elapsed: float = 1.0) -> FlowStatus:
    return FlowStatus(flow_id, elapsed, (), (), {"x.count": 1}, {"phase": "done"}, 0, 0, {"T": 4})


def test_a_run_keeps_a_bounded_number_of_bulletins(home: Path) -> None:
    history = RunHistory(home)
    try:
        run_id = history.start("f", once=True)
        bulletins = [Bulletin("WARNING", "C", f"b{i}") for i in range(MAX_BULLETINS + 25)]
        history.finish(run_id, _status(), bulletins, outcome="failed", exit_code=1)
        [run] = history.runs("f")
    finally:
        history.close()
    assert len(run["bulletins"]) == MAX_BULLETINS and run["bulletins_dropped"] == 25
    assert run["bulletins"][0]["message"] == "b0"  # the first ones are kept
    assert run["tables"] == {"T": 4} and run["gauges"] == {"phase": "done"}


def test_stored_bulletins_and_errors_never_hold_a_sensitive_value(home: Path) -> None:
    history = RunHistory(home, secrets=["s3cret-value", "ab"])
    try:
        run_id = history.start("f", once=True)
        leak = [Bulletin("ERROR", "C", "request failed with token s3cret-value (ab)")]
        history.finish(run_id, _status(), leak, outcome="error", exit_code=2, error="refused: s3cret-value")
        [run] = history.runs("f")
    finally:
        history.close()
    assert run["bulletins"][0]["message"] == "request failed with token *** (ab)" and run["error"] == "refused: ***"
    assert b"s3cret-value" not in (home / "state.db").read_bytes()


def test_a_running_row_without_its_process_reads_as_died(home: Path) -> None:
    history = RunHistory(home)
    try:
        history.start("f", once=True)
    finally:
        history.close()
    assert read_history(home, "f")[0]["outcome"] == "died"
    with RunLock(home, "f"):  # the flow is running (in this process): the row is what it says
        assert read_history(home, "f")[0]["outcome"] == "running"
        assert status_document(home, "f")["f"]["running"] is True


def test_a_configuration_error_at_run_time_is_recorded(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Broken}
        processors:
          - {name: Bad, type: ConfigFailure, properties: {Hook: on_trigger}, auto_terminate: [success]}
        """,
    )
    with pytest.raises(ConfigurationError):
        run_flow(load_flow(flow), once=True, home=home)
    [run] = read_history(home, "broken")
    assert run["outcome"] == "error" and run["exit_code"] == 2 and run["error"]


def test_keep_runs_comes_from_the_environment() -> None:
    assert keep_runs_from_env({}) == 100
    assert keep_runs_from_env({"FLOWKIT_HISTORY_RUNS": "7"}) == 7
    with pytest.raises(ValueError, match="FLOWKIT_HISTORY_RUNS"):
        keep_runs_from_env({"FLOWKIT_HISTORY_RUNS": "0"})


def test_cli_refuses_a_bad_history_size_before_running(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, COUNTING)
    result = CliRunner().invoke(cli, ["run", str(flow), "--once"], env={"FLOWKIT_HISTORY_RUNS": "many"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "flowkit: error: FLOWKIT_HISTORY_RUNS must be a positive integer, got 'many'"
    ]
    assert not home.exists()  # nothing written


def test_status_shows_runs_state_and_json(tmp_path: Path, home: Path) -> None:
    runner = CliRunner()
    flow = write_flow(tmp_path, COUNTING)
    assert runner.invoke(cli, ["status", str(flow)]).output.startswith("nothing recorded for flow 'history'")
    for _ in range(2):
        assert runner.invoke(cli, ["run", str(flow), "--once", "-q"]).exit_code == 0
    shown = runner.invoke(cli, ["status", str(flow)], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    assert "flow 'history': not running; last run succeeded" in shown.output
    assert "#2" in shown.output and "#1" in shown.output and "+3 ~0 -0" in shown.output and "3W 0E" in shown.output
    assert "careful" in shown.output  # the newest run's bulletins
    document = json.loads(runner.invoke(cli, ["status", str(flow), "--json", "--runs", "1"]).output)
    entry = document["history"]
    assert entry["running"] is False and [r["run_id"] for r in entry["runs"]] == ["2"]
    assert entry["state"]["components"]["Boards"]["data"] == {"total": "6"}


SLOW = """\
    flowkit: 1
    process_group: {name: Slow}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 1}, scheduling: {run_schedule: 100 millis}}
      - {name: Hold, type: DelayFlowFile, properties: {Delay: 50 millis}}
      - {name: Count, type: CountFlowFiles, properties: {Counter Name: held}, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Hold}
      - {source: Hold, relationships: [success], destination: Count}
    """


def test_status_sees_a_run_in_another_process_move(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW)
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit.cli", "run", str(flow), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        counts: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(set(counts)) < 2:
            time.sleep(0.5)
            document = status_document(home, "slow")
            runs = document.get("slow", {}).get("runs")
            if runs and runs[0]["counters"]:
                assert document["slow"]["running"] is True and runs[0]["outcome"] == "running"
                counts.append(runs[0]["counters"].get("held", 0))
        assert len(set(counts)) >= 2 and counts == sorted(counts), counts  # refreshed while it runs
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    [run] = read_history(home, "slow")
    assert run["outcome"] == "stopped" and run["mode"] == "continuous" and run["counters"]["held"] >= max(counts)


def test_reading_status_in_the_running_process_loses_no_write(tmp_path: Path, home: Path) -> None:
    """An in-process reader (a UI next to the run) must not drop SQLite's locks on state.db.

    Opening and closing another descriptor of state.db in a process that has it open drops that
    process's POSIX locks; another process closing its connection may then delete the WAL, and the
    run's later writes vanish. Readers here: `status_document` in this process, sqlite3 in others.
    """
    import threading

    flow = load_flow(write_flow(tmp_path, SLOW))
    stop = threading.Event()
    runner = threading.Thread(target=run_flow, kwargs={"flow": flow, "once": False, "home": home, "stop": stop})
    runner.start()
    probe = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT COUNT(*) FROM runs'); c.close()"
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            if (home / "state.db").exists():
                status_document(home, "slow")
                subprocess.run([sys.executable, "-c", probe, str(home / "state.db")], check=False, timeout=30)
            time.sleep(0.3)
    finally:
        stop.set()
        runner.join(timeout=30)
    seen = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
            '"SELECT outcome FROM runs").fetchone()[0])',
            str(home / "state.db"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert seen.stdout.strip() == "stopped", seen.stdout + seen.stderr
