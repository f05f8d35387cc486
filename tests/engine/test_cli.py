"""The CLI: CliRunner for output and exit codes, real subprocesses for the run lock and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from flowkit.cli import cli
from tests.engine.helpers import write_flow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "flows" / "example.yaml"


def flowkit(home: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``python -m flowkit.cli`` in a real subprocess."""
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_example_flow_runs_once_in_a_subprocess(home: Path) -> None:
    result = flowkit(home, "run", str(EXAMPLE), "--once", "-p", "Greeting=hi")
    assert result.returncode == 0, result.stderr
    assert "flowfiles" in result.stdout and "routed" in result.stdout  # grouped counters table
    assert "succeeded" in result.stdout
    shown = flowkit(home, "state", "show", str(EXAMPLE))
    assert "example-flow" in shown.stdout and "total" in shown.stdout


def test_run_once_summary_groups_counters(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Summary}
        processors:
          - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 4}}
          - {name: Boards, type: CountFlowFiles, properties: {Counter Name: rows.BOARD.inserted}}
          - {name: Sprints, type: CountFlowFiles, properties: {Counter Name: rows.SPRINT.updated}}
          - {name: Warn, type: LogMessage, properties: {Log Level: WARNING, Message: careful}}
          - {name: Log, type: LogAttribute, auto_terminate: [success]}
        connections:
          - {source: Generate, relationships: [success], destination: Boards}
          - {source: Boards, relationships: [success], destination: Sprints}
          - {source: Sprints, relationships: [success], destination: Log}
          - {source: Warn, relationships: [success], destination: Log}
        """,
    )
    result = CliRunner().invoke(cli, ["run", str(flow), "--once"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    board_row = next(line for line in lines if "BOARD" in line)
    assert board_row.split("│")[1:4] == [" BOARD  ", "        4 ", "       0 "]
    assert any("Generate.generated" in line and "4" in line for line in lines)
    assert "careful" in result.stdout  # the WARNING bulletin
    assert "succeeded" in result.stdout


def test_error_bulletin_makes_exit_code_1(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Errors}
        processors:
          - name: Alarm
            type: LogMessage
            properties: {Log Level: ERROR, Message: broken}
            auto_terminate: [success]
        """,
    )
    result = CliRunner().invoke(cli, ["run", str(flow), "--once"])
    assert result.exit_code == 1
    assert "broken" in result.stdout and "FAILED" in result.stdout


def test_runtime_configuration_error_is_one_line_exit_2(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Config}
        processors:
          - {name: Check, type: ConfigFailure, auto_terminate: [success]}
        """,
    )
    result = CliRunner().invoke(cli, ["run", str(flow), "--once"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "flowkit: error: parameter 'Jira API Token': credentials refused"


def test_state_commands(home: Path) -> None:
    runner = CliRunner()
    assert "no state stored" in runner.invoke(cli, ["state", "show"]).stdout
    assert runner.invoke(cli, ["run", str(EXAMPLE), "--once"]).exit_code == 0
    shown = runner.invoke(cli, ["state", "show", str(EXAMPLE)])
    assert "Count" in shown.stdout and "total" in shown.stdout
    cleared = runner.invoke(cli, ["state", "clear", str(EXAMPLE)])
    assert cleared.exit_code == 0 and "cleared 1 state map" in cleared.stdout
    assert "no state stored" in runner.invoke(cli, ["state", "show", str(EXAMPLE)]).stdout


SLOW_FLOW = """\
flowkit: 1
process_group: {name: Slow Flow}
processors:
  - {name: Generate, type: GenerateFlowFile, scheduling: {run_schedule: 50 millis}}
  - {name: Hold, type: DelayFlowFile, properties: {Delay: 30 sec}, scheduling: {concurrent_tasks: 2}}
  - {name: Count, type: CountFlowFiles, auto_terminate: [success]}
connections:
  - {source: Generate, relationships: [success], destination: Hold}
  - {source: Hold, relationships: [success], destination: Count}
"""


def test_run_lock_and_graceful_sigterm(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_FLOW)
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit.cli", "run", str(flow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        started = process.stderr.readline()
        assert f"running flow 'slow-flow' (pid {process.pid})" in started
        time.sleep(0.5)  # sessions of Hold are now in flight (holding FlowFiles for 30 s)

        second = flowkit(home, "run", str(flow), "--once")
        assert second.returncode == 2
        assert second.stderr.strip() == f"flowkit: error: flow 'slow-flow' is already running (pid {process.pid})"
        refused = flowkit(home, "state", "clear", str(flow))
        assert refused.returncode == 2
        assert "while it is running" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.monotonic() - sent < 5  # did not wait out the 30 s delay
    assert process.returncode == 0, stderr
    assert "succeeded" in stdout and "Generate.generated" in stdout  # the summary after a graceful stop
    assert (home / "locks" / "slow-flow.lock").read_text() == ""
    assert flowkit(home, "state", "clear", str(flow)).returncode == 0  # lock released
