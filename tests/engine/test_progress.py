"""Live status and what `flowkit run` prints while it works: TTY view, plain lines, JSON, --quiet."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from flowkit.cli import cli
from flowkit.engine import ConfigurationContext, ControllerService, PropertyDescriptor, load_flow, register, run_flow
from flowkit.engine.progress import FlowStatus
from flowkit.terminal import JsonFormatter, Redactor, gauge_pairs, progress_line
from tests.engine.helpers import write_flow


@register
class GaugeService(ControllerService):
    """Publishes a phase and a done/total pair as gauges."""

    NOTE = PropertyDescriptor("Note", "text", default="x")
    properties = (NOTE,)

    def on_enabled(self, context: ConfigurationContext) -> None:
        self.started = time.monotonic()

    def status_gauges(self) -> dict[str, object]:
        return {"phase": "working", "items.done": 1, "items.total": 2}


@register
class BrokenGaugeService(ControllerService):
    """Its gauges raise: the status must carry on without them."""

    def status_gauges(self) -> dict[str, object]:
        raise RuntimeError("no gauges today")


SLOW_ONCE = """\
    flowkit: 1
    process_group: {name: Slow Once}
    controller_services:
      - {name: Gauges, type: GaugeService}
      - {name: Broken, type: BrokenGaugeService}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 8}}
      - {name: Hold, type: DelayFlowFile, properties: {Delay: 120 millis}}
      - {name: Count, type: CountFlowFiles, properties: {Counter Name: held}, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Hold}
      - {source: Hold, relationships: [success], destination: Count}
    """


# For subprocesses: only the standard processor types (the test services above exist in this process only).
SLOW_PLAIN = """\
    flowkit: 1
    process_group: {name: Slow Once}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 8}}
      - {name: Hold, type: DelayFlowFile, properties: {Delay: 120 millis}}
      - {name: Note, type: LogMessage, properties: {Log Level: INFO, Message: held one}}
      - {name: Count, type: CountFlowFiles, properties: {Counter Name: held}, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Hold}
      - {source: Hold, relationships: [success], destination: Note}
      - {source: Note, relationships: [success], destination: Count}
    """


def test_status_listener_sees_the_run_progress(tmp_path: Path, home: Path) -> None:
    seen: list[FlowStatus] = []
    report = run_flow(
        load_flow(write_flow(tmp_path, SLOW_ONCE)), once=True, home=home, on_status=seen.append, status_interval=0.2
    )
    assert report.exit_code == 0 and len(seen) >= 3
    held = [s.processor("Hold").flowfiles_out for s in seen]
    assert held == sorted(held) and held[0] < 8  # it moved while we watched
    assert any(s.processor("Hold").queued > 0 for s in seen)
    assert seen[0].gauges == {"phase": "working", "items.done": 1, "items.total": 2}  # the broken one is skipped
    final = report.status
    assert final is not None
    assert (final.processor("Generate").flowfiles_out, final.processor("Hold").flowfiles_in) == (8, 8)
    assert final.processor("Count").flowfiles_out == 8 and final.counters["held"] == 8
    assert {(c.source, c.destination, c.threshold) for c in final.connections} == {
        ("Generate", "Hold", 10_000),
        ("Hold", "Count", 10_000),
    }


def test_gauges_render_done_of_total_and_phase_first() -> None:
    pairs = gauge_pairs({"jira.requests": 5, "boards.done": 3, "boards.total": 9, "phase": "fetching", "wait": 1.25})
    assert pairs == [("phase", "fetching"), ("boards", "3/9"), ("jira.requests", "5"), ("wait", "1.2")]
    status = FlowStatus("f", 2.0, (), (), {}, {"boards.done": 3, "boards.total": 9}, 1, 0)
    assert progress_line(status).startswith("flowkit: progress flow 'f' 2.0s boards=3/9 warnings=1 errors=0")


def test_redactor_removes_secrets_from_messages_arguments_and_tracebacks() -> None:
    redactor = Redactor(["s3cret-token", "abc"])  # too short to redact: would hit ordinary words
    try:
        raise ValueError("boom s3cret-token")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s in %s", ("s3cret-token", "abc"), None)
        record.exc_info = sys.exc_info()
    assert redactor.filter(record)
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "token *** in abc"
    assert "s3cret" not in json.dumps(document) and document["exception"] == "ValueError (details redacted)"


def _cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_PLAIN)
    result = _cli(home, "run", str(flow), "--once", "--progress-interval", "0.2")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("flowkit: progress flow 'slow-once'")]
    assert len(lines) >= 2, result.stderr
    assert "warnings=0 errors=0 [Generate in=0 out=8 queued=0] [Hold in=" in lines[0]
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log file
    assert "succeeded" in result.stdout  # the summary


def test_json_log_format_is_one_object_per_line(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_PLAIN)
    result = _cli(
        home, "--log-level", "DEBUG", "run", str(flow), "--once", "--log-format", "json", "--progress-interval", "0.2"
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line parses
    kinds = {e["event"] for e in events}
    assert {"log", "progress", "run_started"} <= kinds
    progress = next(e for e in events if e["event"] == "progress")
    assert progress["gauges"] == {} and {p["name"] for p in progress["processors"]} == {
        "Generate",
        "Hold",
        "Note",
        "Count",
    }
    log = next(e for e in events if e["event"] == "log" and e.get("component") == "Note")
    assert (log["level"], log["flow"], log["message"]) == ("INFO", "slow-once", "held one")
    assert all("time" in e for e in events)
    [summary] = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["event"] == "run_finished" and summary["outcome"] == "succeeded" and summary["run_id"] == "1"
    assert summary["counters"]["held"] == 8


def test_quiet_prints_nothing_but_keeps_the_exit_code_and_history(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_PLAIN)
    result = _cli(home, "run", str(flow), "--once", "--quiet", "--progress-interval", "0.2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (
        json.loads(_cli(home, "status", str(flow), "--json").stdout)["slow-once"]["runs"][0]["outcome"] == "succeeded"
    )


def test_quiet_json_keeps_json_log_records(tmp_path: Path, home: Path) -> None:
    flow = write_flow(tmp_path, SLOW_PLAIN)
    result = _cli(home, "--log-level", "INFO", "run", str(flow), "--once", "-q", "--log-format", "json")
    assert result.returncode == 0 and result.stdout == ""
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and {r["event"] for r in records} == {"log"}  # no progress, no run_started


def test_json_errors_are_json_too(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.yaml"), "--log-format", "json"])
    assert result.exit_code == 2
    document = json.loads(result.output)
    assert document == {
        "event": "error",
        "level": "ERROR",
        "message": f"{tmp_path / 'missing.yaml'}: flow file not found",
    }


def test_live_view_on_a_terminal(tmp_path: Path, home: Path) -> None:
    """Under a real pseudo-terminal the run draws rich's live view, redrawn as the run moves."""
    flow = write_flow(tmp_path, SLOW_PLAIN)
    leader, follower = pty.openpty()
    env = {**os.environ, "FLOWKIT_HOME": str(home), "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowkit.cli", "run", str(flow), "--once"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=30) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output.decode(errors="replace"))
    assert output.count(b"\x1b[") > 10  # drawn with terminal control codes
    assert text.count("processor") >= 2, text  # the view was redrawn while the run worked
    for name in ("Generate", "Hold", "Count", "DelayFlowFile", "queued", "tasks"):
        assert name in text
    assert "flow 'slow-once' succeeded" in text  # then the summary
    assert "flowkit: progress" not in text  # not the plain lines
