"""The shipped flow into Snowflake (the local emulator, through the real connector) by parameters alone.

What is checked on the emulator's side (its own log of the statements it received, not our client's):
a first run lands exactly the simulator's ground truth; a run in which nothing changed in Jira sends
no statement that needs a warehouse; after k changes the rows sent are those k rows.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from flowkit.destinations.snowflake.destination import SnowflakeDestination
from flowkit.destinations.snowflake.sql import needs_warehouse
from flowkit.jira.tables import SCHEMA, TABLES
from tests.destinations.test_snowflake_auth import _start_recorder
from tests.jira.flowrun import fast_flow, run_cli, run_once, sort_rows, truth
from tests.snowflake_emulator import SnowflakeEmulator, unique_name
from tests.snowflake_keys import pem

ALL = tuple(TABLES)


class HiddenKey(str):
    """Key text whose repr stays out of pytest's failure output."""

    def __repr__(self) -> str:
        return "<test private key>"


def pkcs8_pem(password: str | None = None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return HiddenKey(pem(key, serialization.PrivateFormat.PKCS8, password))


@pytest.fixture(scope="module")
def key_text() -> str:
    return pkcs8_pem("correct horse")


def snowflake_overrides(sim: Any, host: str, database: str, schema: str, key: str) -> dict[str, str]:
    return {
        "Environment URL": sim.url,
        "Jira Email": sim.email,
        "Jira API Token": sim.token,
        "Destination Type": "SNOWFLAKE",
        "Destination Database": database,
        "Destination Schema": schema,
        "Snowflake Authentication Strategy": "KEY_PAIR",
        "Snowflake Account Identifier": "acme-flowkit",
        "Snowflake Username": "FLOWKIT_SVC",
        "Snowflake Role": "FLOWKIT_ROLE",
        "Snowflake Warehouse": "FLOWKIT_WH",
        "Snowflake Private Key": key,
        "Snowflake Private Key Password": "correct horse",
        "Snowflake Host": host,
    }


def emulator_url(emulator: SnowflakeEmulator) -> str:
    return f"http://{emulator.host}:{emulator.port}"


def read_snowflake(emulator: SnowflakeEmulator, home: Path, database: str, schema: str) -> dict[str, list[Any]]:
    """Every table as Snowflake holds it (read through a second destination on a throwaway mirror)."""
    reader = SnowflakeDestination(emulator.settings(database, schema), schema=SCHEMA, home=home / "reader")
    try:
        return {t: sort_rows(t, reader.fetch_rows(t)) for t in ALL}
    finally:
        reader.close()


@pytest.fixture
def landing(tmp_path: Path, jira_sim: Any, snowflake_emulator: SnowflakeEmulator, key_text: str) -> Any:
    database, schema = unique_name("RAW"), "Jira Agile"  # a quoted, mixed-case name with a space
    snowflake_emulator.create_schema(database, schema)
    overrides = snowflake_overrides(jira_sim, emulator_url(snowflake_emulator), database, schema, key_text)
    return jira_sim, fast_flow(tmp_path), tmp_path / "home", overrides, database, schema


def test_first_run_lands_the_ground_truth_and_a_no_change_run_needs_no_warehouse(
    landing: Any, snowflake_emulator: SnowflakeEmulator, tmp_path: Path, key_text: str
) -> None:
    sim, flow, home, overrides, database, schema = landing
    report = run_once(flow, home, overrides)
    assert report.exit_code == 0, report.bulletins
    assert read_snowflake(snowflake_emulator, tmp_path, database, schema) == truth(sim)

    mark = snowflake_emulator.mark()
    again = run_once(flow, home, overrides)
    assert again.exit_code == 0, again.bulletins
    for table in ALL:
        assert again.counters.get(f"rows.{table}.unchanged", 0) == len(truth(sim)[table])
    sent = snowflake_emulator.statements_since(mark)
    assert sent, "the no-change run still checks each table's row count"
    assert [s for s in sent if needs_warehouse(s)] == []
    assert read_snowflake(snowflake_emulator, tmp_path, database, schema) == truth(sim)
    assert key_text not in "\n".join(b.message for b in report.bulletins + again.bulletins)


def test_changes_send_only_the_changed_rows(
    landing: Any, snowflake_emulator: SnowflakeEmulator, tmp_path: Path
) -> None:
    sim, flow, home, overrides, database, schema = landing
    assert run_once(flow, home, overrides).exit_code == 0
    board = truth(sim)["BOARD"][0]["ID"]
    sim.data.rename_board(board, "Renamed in Jira")
    issue = truth(sim)["BOARD_ISSUE"][0]["ISSUE_ID"]
    sim.data.delete_issue(issue)

    mark = snowflake_emulator.mark()
    report = run_once(flow, home, overrides)
    assert report.exit_code == 0, report.bulletins
    assert read_snowflake(snowflake_emulator, tmp_path, database, schema) == truth(sim)
    changed = {t: sum(report.counters.get(f"rows.{t}.{c}", 0) for c in ("inserted", "updated", "deleted")) for t in ALL}
    assert changed["BOARD"] == 1 and changed["BOARD_ISSUE"] >= 1
    entries = [e for e in snowflake_emulator.entries_since(mark, "query") if not e["describeOnly"]]
    warehouse = [e for e in entries if needs_warehouse(e["sqlText"])]
    # Only the tables that changed were touched, each in one MERGE + one DELETE after its stage load.
    touched = {t for t in ALL for e in warehouse if f'"{t}"' in e["sqlText"] and e["sqlText"].startswith("MERGE")}
    assert touched == {t for t, n in changed.items() if n}
    bound = sum(int(e.get("rows") or 0) for e in entries if e["sqlText"].startswith("INSERT INTO"))
    assert bound == sum(changed.values())


def _commits(emulator: SnowflakeEmulator, mark: int) -> int:
    return sum(1 for s in emulator.statements_since(mark) if s == "COMMIT")


def test_kills_while_fetching_and_between_snowflake_transactions_still_end_exact(
    tmp_path: Path, jira_sim_factory: Any, snowflake_emulator: SnowflakeEmulator, key_text: str
) -> None:
    """A real `flowkit run` process killed (SIGKILL) while fetching and at several points of the sync into
    Snowflake; Jira keeps changing meanwhile. The next run ends with Snowflake exactly as Jira is."""
    sim = jira_sim_factory(boards=10, issues_per_board=20, latency_ms=40)
    database = unique_name("RAW")
    snowflake_emulator.create_schema(database, "JIRA")
    overrides = snowflake_overrides(sim, emulator_url(snowflake_emulator), database, "JIRA", key_text)
    secrets = {
        k: overrides.pop(k) for k in ("Jira API Token", "Snowflake Private Key", "Snowflake Private Key Password")
    }
    flow, home = fast_flow(tmp_path), tmp_path / "home"
    args = [sys.executable, "-m", "flowkit.cli", "run", str(flow), "--once"]
    for name, value in overrides.items():
        args += ["-p", f"{name}={value}"]
    env = {
        "FLOWKIT_HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "JIRA_API_TOKEN": secrets["Jira API Token"],
        "SNOWFLAKE_PRIVATE_KEY": secrets["Snowflake Private Key"],
        "SNOWFLAKE_PRIVATE_KEY_PASSWORD": secrets["Snowflake Private Key Password"],
    }
    # 0 commits seen: killed while listing/fetching; then each resumed run is killed right after its first
    # Snowflake COMMIT, i.e. between the tables of one merge, at a different table every time.
    for commits in (0, 1, 1, 1):
        mark = snowflake_emulator.mark()
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        if commits == 0:
            time.sleep(0.8)
        while commits and _commits(snowflake_emulator, mark) < commits and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before the kill at commit {commits}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sim.data.rename_board(1, f"Renamed after a kill at commit {commits}")

    resumed = run_once(flow, home, {**overrides, **secrets})  # finishes the interrupted run
    assert resumed.exit_code == 0, resumed.bulletins
    fresh = run_once(flow, home, {**overrides, **secrets})  # a new run sees the last rename
    assert fresh.exit_code == 0, fresh.bulletins
    assert fresh.counters.get("rows.BOARD.updated", 0) == 1
    assert read_snowflake(snowflake_emulator, tmp_path, database, "JIRA") == truth(sim)


def test_a_lost_mirror_is_rebuilt_from_snowflake_so_a_failed_board_keeps_its_rows(
    landing: Any, snowflake_emulator: SnowflakeEmulator, tmp_path: Path
) -> None:
    """$FLOWKIT_HOME (and with it the local mirror) is gone, and in the next run one board's projects
    cannot be read: that board's BOARD_PROJECT rows must stay in Snowflake, as with any failed fetch."""
    sim, flow, home, overrides, database, schema = landing
    assert run_once(flow, home, overrides).exit_code == 0
    before = read_snowflake(snowflake_emulator, tmp_path, database, schema)
    shutil.rmtree(home)
    board = before["BOARD_PROJECT"][0]["BOARD_ID"]
    sim.add_fault(kind="status", status=403, path=rf"/rest/agile/1\.0/board/{board}/project")

    report = run_once(flow, home, overrides)
    assert report.exit_code == 0, report.bulletins  # a 403 skips the board with a warning
    after = read_snowflake(snowflake_emulator, tmp_path, database, schema)
    assert [r for r in after["BOARD_PROJECT"] if r["BOARD_ID"] == board] == [
        r for r in before["BOARD_PROJECT"] if r["BOARD_ID"] == board
    ]
    assert after == before


def test_snowflake_refusing_the_login_stops_the_run_in_one_line(tmp_path: Path, jira_sim: Any, key_text: str) -> None:
    """A key Snowflake does not accept (say, its public half never set on the user): exit 2 with one
    line naming the settings, instead of retrying for ever; no secret in the output."""
    recorder = _start_recorder(socket.AF_INET, "127.0.0.1")
    try:
        overrides = snowflake_overrides(jira_sim, f"http://127.0.0.1:{recorder.port}", "RAW", "JIRA", key_text)
        secrets = {k: overrides.pop(k) for k in ("Jira API Token", "Snowflake Private Key")}
        args = ["run", str(fast_flow(tmp_path)), "--once"]
        for name, value in overrides.items():
            args += ["-p", f"{name}={value}"]
        env = {"JIRA_API_TOKEN": secrets["Jira API Token"], "SNOWFLAKE_PRIVATE_KEY": secrets["Snowflake Private Key"]}
        result = run_cli(args, tmp_path / "home", env=env)
    finally:
        recorder.server.shutdown()
        recorder.server.server_close()
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "cannot connect to Snowflake" in lines[0] and "Incorrect username or password" in lines[0]
    ), lines
    body = key_text.splitlines()[1]
    assert body not in result.stdout + result.stderr and "correct horse" not in result.stdout + result.stderr
    assert recorder.logins(), "the connector did try to log in"
