"""The CLI: CliRunner for output and exit codes, real subprocesses for the run lock and SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowkit.cli import cli
from flowkit.engine import Scope, StateManager, StateService
from flowkit.views import folded_keys
from tests.engine.helpers import EVENTS, write_flow

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
    assert result.stderr == ""  # INFO records of LogAttribute stay below the default --log-level WARNING
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
    bulletin_row = next(line for line in lines if "careful" in line)
    assert [cell.strip() for cell in bulletin_row.split("│")[1:4]] == ["WARNING", "Warn", "careful"]
    assert re.fullmatch(r"flow 'summary' succeeded in \d+\.\d\d s \(exit code 0\)", lines[-1])


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
    assert any(re.search(r"ERROR\s*│ Alarm\s*│ broken", line) for line in result.stdout.splitlines())
    assert re.fullmatch(r"flow 'errors' FAILED in \d+\.\d\d s \(exit code 1\)", result.stdout.splitlines()[-1])


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
    assert result.stderr == "flowkit: error: parameter 'Jira API Token': credentials refused\n"  # exactly one line
    assert result.stdout == ""  # no summary: the run did not complete


def test_runtime_configuration_error_in_a_continuous_run(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Config}
        processors:
          - {name: Check, type: ConfigFailure, auto_terminate: [success]}
        """,
    )
    result = CliRunner().invoke(cli, ["run", str(flow)])
    assert result.exit_code == 2
    banner, error = result.stderr.splitlines()  # the run had started, so its banner precedes the error
    assert banner.startswith("flowkit: running flow 'config' (pid ")
    assert error == "flowkit: error: parameter 'Jira API Token': credentials refused"


def test_configuration_error_from_on_stopped_is_one_line_exit_2(tmp_path: Path, home: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Flush}
        processors:
          - {name: Check, type: ConfigFailure, properties: {Hook: on_stopped}, auto_terminate: [success]}
        """,
    )
    result = CliRunner().invoke(cli, ["run", str(flow), "--once"])
    assert result.exit_code == 2
    assert result.stderr == "flowkit: error: parameter 'Jira API Token': credentials refused while flushing\n"
    assert EVENTS == ["stopped Check"]


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
        assert second.stderr == f"flowkit: error: flow 'slow-flow' is already running (pid {process.pid})\n"
        continuous = flowkit(home, "run", str(flow))  # no "running flow" banner before a refused start
        assert continuous.returncode == 2 and continuous.stderr == second.stderr
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


def test_interrupted_once_run_exits_1(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_FLOW)
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit.cli", "run", str(flow), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lock = home / "locks" / "slow-flow.lock"
    try:
        deadline = time.monotonic() + 15
        while not (lock.exists() and lock.read_text().strip() == str(process.pid)):  # handlers installed
            assert process.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.02)
        time.sleep(0.3)  # Hold is now delaying its FlowFile for 30 s
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr
    assert stderr == ""  # --once prints no banner; an interruption is not an error line
    assert re.fullmatch(r"flow 'slow-flow' interrupted in \d+\.\d\d s \(exit code 1\)", stdout.splitlines()[-1])


JIRA_LIKE_RUN = {
    "run_id": "20240501T101010-abcd1234",
    "phase": "fetching",
    "tables": {table: {"status": "pending", "boards": list(range(60))} for table in ("BOARD", "BOARD_ISSUE")},
}


def seed_jira_like_state(home: Path) -> str:
    """State shaped like the Jira flow's: one long JSON document under "run"."""
    run = json.dumps(JIRA_LIKE_RUN, indent=2)
    service = StateService(home)
    try:
        StateManager(service, "jira", "Ingestion State").set({"run": run, "last_run": "[earlier]", "count": "7"})
        StateManager(service, "jira", "List Boards").set({"cursor": "42"}, Scope.FLOW)
    finally:
        service.close()
    return run


def test_state_show_prints_one_line_per_key(home: Path) -> None:
    run = seed_jira_like_state(home)
    assert len(run) > 1000 and run.count("\n") > 100
    result = CliRunner().invoke(cli, ["state", "show"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert lines[0].strip() == "state of flow 'jira'"
    rows = [line.split() for line in lines[3:]]  # after the title, the header and its rule
    assert len(rows) == 4, result.stdout  # one line per key, nothing wrapped
    assert rows[0] == ["(flow)", "1", "cursor", "42"]
    assert rows[1] == ["Ingestion", "State", "1", "count", "7"]
    assert rows[2] == ["Ingestion", "State", "1", "last_run", "[earlier]"]  # brackets are not markup
    run_row = lines[6]
    assert run_row.rstrip().endswith(f"… ({len(run)} chars)")
    assert '{ "run_id": "20240501T' in run_row  # the start of the value, whitespace collapsed

    wide = CliRunner().invoke(cli, ["state", "show"], env={"COLUMNS": "200"}).stdout
    shown = next(line for line in wide.splitlines() if "run_id" in line).split(" run ", 1)[1].strip()
    assert 60 <= len(shown.split("…")[0]) <= 64  # about the first 60 characters


def test_state_show_folds_a_large_family_of_keys_into_one_line(home: Path) -> None:
    boards = {f"run/board/{b}": json.dumps({"tables": {"BOARD": {"status": "journaled"}}}) for b in range(500)}
    data = {"progress": "run r1 fetching", "run": '{"run_id": "r1"}', "a/x": "1", "a/y": "2", **boards}
    assert folded_keys(data) == [
        ("a/x", "1"),
        ("a/y", "2"),
        ("progress", "run r1 fetching"),
        ("run", '{"run_id": "r1"}'),
        ("run/board/*", "500 keys (--json shows them)"),
    ]
    service = StateService(home)
    try:
        StateManager(service, "jira", "Ingestion State").set(data)
    finally:
        service.close()
    out = CliRunner().invoke(cli, ["state", "show"], env={"COLUMNS": "120"}).stdout
    assert len([line for line in out.splitlines() if line.strip()]) == 3 + 5, out
    assert "run/board/*" in out and "500 keys" in out


def test_state_show_prints_short_prose_whole_and_cuts_documents(home: Path) -> None:
    progress = "run 20261127T1 done; board list complete (10 boards: 10 listed, 0 skipped, 0 failed); 0 pending"
    service = StateService(home)
    try:
        StateManager(service, "jira", "Ingestion State").set({"progress": progress, "run": json.dumps(JIRA_LIKE_RUN)})
    finally:
        service.close()
    out = CliRunner().invoke(cli, ["state", "show"], env={"COLUMNS": "80"}).stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert " ".join(out.split()).count(progress) == 1  # wrapped over lines, but every word of it is there
    assert "chars)" in next(line for line in out.splitlines() if '{"' in line)  # the JSON document is cut


def test_state_show_json_is_the_full_state_for_jq(home: Path, tmp_path: Path) -> None:
    empty = CliRunner().invoke(cli, ["state", "show", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == {}
    seed_jira_like_state(home)
    result = CliRunner().invoke(cli, ["state", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "jira": {
            "flow": {"version": 1, "data": {"cursor": "42"}},
            "components": {
                "Ingestion State": {
                    "version": 1,
                    "data": {"count": "7", "last_run": "[earlier]", "run": JIRA_LIKE_RUN},  # JSON decoded
                }
            },
        }
    }
    flow = write_flow(tmp_path, "flowkit: 1\nprocess_group: {name: Other, id: other}\nprocessors: []\n")
    assert json.loads(CliRunner().invoke(cli, ["state", "show", str(flow), "--json"]).stdout) == {}


def test_log_level_prints_records_to_stderr(home: Path) -> None:
    result = flowkit(home, "--log-level", "info", "run", str(EXAMPLE), "--once")
    assert result.returncode == 0, result.stderr
    records = [line for line in result.stderr.splitlines() if "flowkit.flow.example-flow.Log: example: " in line]
    assert len(records) == 5 and all(" INFO " in line for line in records)


def test_overrides_are_repeatable_and_win_over_the_parameters_file(tmp_path: Path, home: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("Batch Size: 2\nLanguage: fr\n")
    result = CliRunner().invoke(
        cli, ["run", str(EXAMPLE), "--once", "--parameters", str(values), "-p", "Batch Size=3", "-p", "Greeting=hi"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "unmatched" in line)
    routed = next(line for line in lines if "routed" in line and "│" in line)
    assert [cell.strip() for cell in header.split("┃")[1:3]] == ["flowfiles", "unmatched"]  # Language=fr: file
    assert [cell.strip() for cell in routed.split("│")[1:3]] == ["routed", "3"]  # Batch Size=3 from -p


def test_sensitive_values_are_never_echoed_logged_or_stored(
    tmp_path: Path, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: Secrets, parameter_context: P}
        parameter_contexts:
          - name: P
            parameters: [{name: Token, sensitive: true}]
        controller_services:
          - {name: store, type: Store, properties: {Token: "#{Token}"}}
        processors:
          - {name: Use, type: UseStore, properties: {Store: store}, auto_terminate: [success]}
          - {name: Generate, type: GenerateFlowFile}
          - {name: Count, type: CountFlowFiles, auto_terminate: [success]}
          - name: Fail
            type: FailTimes
            properties: {Failures: "9"}
            scheduling: {penalty_duration: 10 millis}
            auto_terminate: [success]
        connections:
          - {source: Generate, relationships: [success], destination: Count}
          - {source: Generate, relationships: [success], destination: Fail}
        """,
    )
    caplog.set_level(logging.DEBUG)
    secret = "918273645"
    runner = CliRunner()
    flowkit_logger = logging.getLogger("flowkit")
    level = flowkit_logger.level
    try:
        run = runner.invoke(cli, ["--log-level", "DEBUG", "run", str(flow), "--once", "-p", f"Token={secret}"])
    finally:
        flowkit_logger.setLevel(level)  # the CLI configures logging process-wide
    assert run.exit_code == 1, run.output  # FailTimes: ERROR bulletins, tracebacks at DEBUG
    assert "simulated failure" in run.stdout
    valid = runner.invoke(cli, ["validate", str(flow), "-p", f"Token={secret}"])
    shown = runner.invoke(cli, ["state", "show", "--json"])
    assert "total" in shown.stdout
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for text in (run.output, valid.output, shown.output, logged):
        assert secret not in text
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_flowkit_home_defaults_to_dot_flowkit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWKIT_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["run", str(EXAMPLE), "--once"]).exit_code == 0
    assert (tmp_path / ".flowkit" / "state.db").is_file()
    assert (tmp_path / ".flowkit" / "locks" / "example-flow.lock").is_file()
