"""Refusals, rate limits, faults and crashes: the flow either refuses cleanly or ends exact."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flowkit.simulator.ratelimit import RateLimit
from tests.jira.flowrun import FLOW, fast_flow, overrides_for, run_cli, run_once, truth, warehouse


def _p(overrides: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in overrides.items():
        args += ["-p", f"{name}={value}"]
    return args


def _flowkit_run(flow: Path, home: Path, overrides: dict[str, str], *flags: str) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of a real `flowkit run` process; the token travels in the environment."""
    visible = dict(overrides)
    token = visible.pop("Jira API Token")
    args = [sys.executable, "-m", "flowkit.cli", "run", str(flow), *flags, *_p(visible)]
    return args, {"FLOWKIT_HOME": str(home), "JIRA_API_TOKEN": token, "PATH": "/usr/bin:/bin"}


def test_wrong_token_exits_2_before_anything_is_written_and_never_shows_the_token(
    tmp_path: Path, jira_sim: Any
) -> None:
    db = tmp_path / "warehouse.db"
    secret = "wrong-token-Zx81Qp"
    overrides = overrides_for(jira_sim, db)
    del overrides["Jira API Token"]
    result = run_cli(["run", str(FLOW), "--once", *_p(overrides)], tmp_path / "home", env={"JIRA_API_TOKEN": secret})
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "credentials" in lines[0], result.stderr
    assert secret not in result.stdout + result.stderr
    assert not db.exists()
    assert jira_sim.request_log.counts.get("GET /rest/agile/1.0/board", 0) == 0


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("Enabled Tables", "SPRINT, ISSUES", "'ISSUES'"),
        ("Environment URL", "http://jira.example.com", "http"),
        ("Merge Interval", "5 parsecs", "time period"),
        ("Destination Type", "ORACLE", "SQLITE"),
        ("Destination Type", "SNOWFLAKE", "'Destination Database' is required"),
        ("Destination Schema", 'jira"; drop table x', "double quotes"),
    ],
)
def test_bad_parameters_are_refused_in_one_line_naming_the_parameter(
    tmp_path: Path, jira_sim: Any, name: str, value: str, words: str
) -> None:
    db = tmp_path / "warehouse.db"
    overrides = {**overrides_for(jira_sim, db), name: value}
    del overrides["Jira API Token"]
    result = run_cli(["run", str(FLOW), "--once", *_p(overrides)], tmp_path / "home", env={"JIRA_API_TOKEN": "x"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and words in lines[0], lines[0]
    assert not db.exists()
    assert jira_sim.request_log.total == 0


def test_a_429_storm_completes_exact_and_never_retries_early(tmp_path: Path, jira_sim_factory: Any) -> None:
    # one site-wide bucket: 5 requests at once, then 10 per second; the rate manager paces from the first
    # answers, so site-wide 429s with Retry-After are also injected: the storm must happen
    sim = jira_sim_factory(rate_limit=RateLimit(rate=10.0, burst=5, per_endpoint=False, retry_after=True))
    sim.add_fault("status", status=429, rate=0.5, count=4, retry_after=1)
    db = tmp_path / "warehouse.db"
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, db))
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(sim)
    assert sim.request_log.statuses.get(429, 0) > 0, "the storm must actually have happened"
    assert sim.request_log.early_retries == 0


def test_server_faults_are_retried_and_the_result_is_exact(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    jira_sim.add_fault(kind="503", path=r"/rest/agile/1\.0/board/\d+/sprint", count=3, retry_after=None)
    jira_sim.add_fault(kind="reset", path=r"/rest/api/3/search/jql", count=2)
    jira_sim.add_fault(kind="truncated", path=r"/rest/agile/1\.0/board/\d+/project", count=2)
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(jira_sim, db))
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(jira_sim)


def test_a_board_whose_fetch_keeps_failing_keeps_its_rows_and_the_run_exits_1(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    flow = fast_flow(tmp_path)
    assert run_once(flow, tmp_path / "home", overrides_for(jira_sim, db)).exit_code == 0
    before = warehouse(db)
    board = before["BOARD_SPRINT"][0]["BOARD_ID"]
    jira_sim.add_fault(kind="500", path=rf"/rest/agile/1\.0/board/{board}/sprint")
    sprint = next(s for s in truth(jira_sim)["SPRINT"] if s["ORIGIN_BOARD_ID"] == board)
    jira_sim.data.delete_board(next(b["ID"] for b in before["BOARD"] if b["ID"] != board and b["TYPE"] == "scrum"))
    report = run_once(flow, tmp_path / "home", overrides_for(jira_sim, db))
    assert report.exit_code == 1
    errors = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert any(f"board {board}" in e for e in errors), errors
    after = warehouse(db)
    assert [r for r in after["BOARD_SPRINT"] if r["BOARD_ID"] == board] == [
        r for r in before["BOARD_SPRINT"] if r["BOARD_ID"] == board
    ]
    assert sprint in after["SPRINT"]
    assert after["BOARD"] == truth(jira_sim)["BOARD"]


def _journaled_boards(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(DISTINCT _PARTITION) FROM BOARD_ISSUE_JOURNAL").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_run_killed_part_way_resumes_without_refetching_and_ends_exact(tmp_path: Path, jira_sim_factory: Any) -> None:
    sim = jira_sim_factory(boards=24, issues_per_board=40, latency_ms=25)
    db = tmp_path / "warehouse.db"
    home = tmp_path / "home"
    flow = fast_flow(tmp_path)
    overrides = overrides_for(sim, db)
    args, env = _flowkit_run(flow, home, overrides, "--once")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _journaled_boards(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it slower"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    configuration_calls = sum(v for k, v in sim.request_log.counts.items() if k.endswith("/configuration"))

    report = run_once(flow, home, overrides)
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(sim)
    resumed_calls = sum(v for k, v in sim.request_log.counts.items() if k.endswith("/configuration"))
    boards = len(truth(sim)["BOARD"])
    # boards enriched before the kill are not enriched again
    assert resumed_calls - configuration_calls < boards
    # nothing was left in the journal, nothing duplicated
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM BOARD_ISSUE_JOURNAL").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM BOARD_ISSUE").fetchone()[0] == len(truth(sim)["BOARD_ISSUE"])


def test_state_clear_keeps_tables_and_the_next_run_converges(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    home = tmp_path / "home"
    flow = fast_flow(tmp_path)
    assert run_once(flow, home, overrides_for(jira_sim, db)).exit_code == 0
    shown = run_cli(["state", "show", str(flow)], home)
    assert shown.returncode == 0 and "run" in shown.stdout
    assert jira_sim.token not in shown.stdout
    cleared = run_cli(["state", "clear", str(flow)], home)
    assert cleared.returncode == 0, cleared.stderr
    assert warehouse(db) == truth(jira_sim)  # clearing state never touches the warehouse
    report = run_once(flow, home, overrides_for(jira_sim, db))
    assert report.exit_code == 0
    assert warehouse(db) == truth(jira_sim)
    assert sum(v for k, v in report.counters.items() if k.endswith((".inserted", ".updated", ".deleted"))) == 0


def test_continuous_mode_keeps_the_mirror_exact_and_stops_cleanly_on_sigterm(tmp_path: Path, jira_sim: Any) -> None:
    import yaml

    db = tmp_path / "warehouse.db"
    home = tmp_path / "home"
    flow = fast_flow(tmp_path)
    doc = yaml.safe_load(flow.read_text())
    for processor in doc["processors"]:
        if processor["name"] == "VerifyConnection":
            processor["scheduling"]["run_schedule"] = "1 sec"  # a new run every second instead of every 10 mins
    flow.write_text(yaml.safe_dump(doc, sort_keys=False))
    overrides = {**overrides_for(jira_sim, db), "Merge Interval": "200 millis"}
    args, env = _flowkit_run(flow, home, overrides)
    token = overrides["Jira API Token"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(lambda: warehouse(db) == truth(jira_sim), proc)
        board = truth(jira_sim)["BOARD"][0]["ID"]
        jira_sim.data.rename_board(board, "Renamed while running")
        _wait_until(lambda: warehouse(db) == truth(jira_sim), proc)
        assert run_cli(["state", "clear", str(flow)], home).returncode == 2  # refused while running
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert token not in out + err
    assert run_cli(["state", "clear", str(flow)], home).returncode == 0  # the lock was released


def _wait_until(condition: Any, proc: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if condition():
                return
        except sqlite3.Error:
            pass  # the warehouse is being created
        time.sleep(0.1)
    raise AssertionError("the condition did not become true in time")


def test_when_the_board_list_cannot_be_read_no_board_is_deleted(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    flow = fast_flow(tmp_path)
    assert run_once(flow, tmp_path / "home", overrides_for(jira_sim, db)).exit_code == 0
    before = warehouse(db)
    jira_sim.data.delete_board(before["BOARD"][0]["ID"])  # really gone in Jira...
    jira_sim.add_fault(kind="500", path=r"^/rest/agile/1\.0/board$")  # ...but this run cannot list boards
    report = run_once(flow, tmp_path / "home", overrides_for(jira_sim, db))
    assert report.exit_code == 1
    assert any("board list" in b.message for b in report.bulletins if b.level == "ERROR"), report.bulletins
    assert warehouse(db) == before  # nothing deleted on a partial view


def test_repeated_kills_at_varied_moments_still_end_exact(tmp_path: Path, jira_sim_factory: Any) -> None:
    sim = jira_sim_factory(boards=16, issues_per_board=30, latency_ms=60)  # an unbroken run takes about 2 s
    db = tmp_path / "warehouse.db"
    home = tmp_path / "home"
    flow = fast_flow(tmp_path)
    overrides = overrides_for(sim, db)
    args, env = _flowkit_run(flow, home, overrides, "--once")
    for delay in (0.45, 0.7, 1.0, 1.3, 1.6, 1.9):  # from start-up and listing to fetching and merging
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sim.data.rename_board(1, f"Renamed after a kill at {delay}s")  # Jira keeps changing meanwhile
    # The first run finishes the interrupted one (a snapshot taken before the last rename, when the
    # boards were already listed); the next one is a fresh run and must see Jira as it is now.
    resumed = run_once(flow, home, overrides)
    assert resumed.exit_code == 0, resumed.bulletins
    report = run_once(flow, home, overrides)
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(sim)
    with sqlite3.connect(db) as conn:
        journal = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_JOURNAL'")]
        assert all(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] == 0 for t in journal)
