"""What an operator sees of a Jira run: JSON logs without secrets, gauges, retries as bulletins, status."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from tests.jira.flowrun import FLOW, fast_flow, read_table, run_cli


def _params(sim: Any, db: Path) -> list[str]:
    return ["-p", f"Environment URL={sim.url}", "-p", f"Jira Email={sim.email}", "-p", f"SQLite Path={db}"]


def test_json_logs_progress_and_history_of_a_rate_limited_run_hold_no_secret(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/configuration$", status=429, count=2, retry_after=1)
    db, home = tmp_path / "w.db", tmp_path / "home"
    flow = fast_flow(tmp_path)
    env = {"JIRA_API_TOKEN": jira_sim.token}
    args = ["--log-level", "DEBUG", "run", str(flow), "--once", "--log-format", "json", "--progress-interval", "0.2"]
    result = run_cli([*args, *_params(jira_sim, db)], home, env=env)
    assert result.returncode == 0, result.stderr
    basic = base64.b64encode(f"{jira_sim.email}:{jira_sim.token}".encode()).decode()
    status = run_cli(["status", str(flow), "--json"], home, env=env).stdout
    for text in (result.stdout, result.stderr, status, (home / "state.db").read_bytes().decode("latin-1")):
        assert jira_sim.token not in text and basic not in text
    events = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and {"phase", "boards.done", "boards.total", "jira.requests"} <= set(progress[-1]["gauges"])
    retries = [e for e in events if e["event"] == "log" and "retry" in e["message"]]
    assert retries, "the 429s were logged"
    [summary] = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["counters"]["jira.retries"] == 2 and summary["gauges"]["phase"] == "done"
    assert summary["gauges"]["jira.rate_limit_wait_s"] >= 1.0  # Retry-After: 1, twice; tasks waited at the gate
    assert summary["gauges"]["boards.done"] == summary["gauges"]["boards.total"] > 0
    assert any("were retries" in b["message"] and b["component"] == "MergeTables" for b in summary["bulletins"])
    entry = json.loads(status)["atlassian-jira-cloud-agile"]
    [run] = entry["runs"]
    assert run["outcome"] == "succeeded" and run["counters"]["jira.requests"] == summary["counters"]["jira.requests"]
    assert any("were retries" in b["message"] for b in run["bulletins"])
    assert entry["tables"] == {table: len(read_table(db, table)) for table in entry["tables"]}
    assert set(entry["tables"]) == {"BOARD", "BOARD_SPRINT", "SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"}


def test_status_text_names_the_skipped_board_and_row_counts(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/board/2/project$", status=403)
    db, home = tmp_path / "w.db", tmp_path / "home"
    env = {"JIRA_API_TOKEN": jira_sim.token, "COLUMNS": "160"}
    assert run_cli(["run", str(FLOW), "--once", "-q", *_params(jira_sim, db)], home, env=env).returncode == 0
    shown = run_cli(["status", str(FLOW)], home, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "flow 'atlassian-jira-cloud-agile': not running; last run succeeded" in shown.stdout
    assert "board 2" in shown.stdout and "WARNING" in shown.stdout  # the skipped board's bulletin
    assert re.search(rf"BOARD_ISSUE +{len(read_table(db, 'BOARD_ISSUE'))}\n", shown.stdout)
