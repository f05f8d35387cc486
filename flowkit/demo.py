"""`make demo`: the whole Jira flow with no Jira site and no Snowflake account.

Starts the local Jira Cloud simulator on a free loopback port, runs the shipped
`flows/jira_agile.yaml --once` against it through the real `flowkit` command (parameter
overrides only, the flow file is not edited) into `flowkit-data/warehouse.db`, prints the
run summary and a few rows of each table, and stops the simulator. A second `make demo`
changes nothing: every row is reported unchanged.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flowkit.jira.tables import TABLES
from flowkit.simulator import JiraSimulator

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "jira_agile.yaml"
WAREHOUSE = Path("flowkit-data") / "warehouse.db"
SHOWN = {
    "BOARD": ("ID", "NAME", "TYPE", "LOCATION_PROJECT_KEY", "FILTER_JQL", "SUB_QUERY"),
    "SPRINT": ("ID", "NAME", "STATE", "START_DATE", "ORIGIN_BOARD_ID"),
    "BOARD_SPRINT": ("BOARD_ID", "SPRINT_ID"),
    "BOARD_PROJECT": ("BOARD_ID", "PROJECT_ID", "PROJECT_KEY", "PROJECT_NAME"),
    "BOARD_ISSUE": ("BOARD_ID", "ISSUE_ID", "ISSUE_KEY"),
}


# A fixed port keeps the simulator's URLs (the SELF columns) the same from one demo to the next,
# so a second `make demo` really changes nothing; a free port is used when this one is taken.
DEMO_PORT = 18089


def start_simulator() -> JiraSimulator:
    for port in (DEMO_PORT, 0):
        sim = JiraSimulator(seed=1, boards=12, issues_per_board=60, latency_ms=5, port=port)
        try:
            return sim.start()
        except OSError:
            continue
    raise RuntimeError("no loopback port for the Jira simulator")


def main() -> int:
    console = Console()
    with start_simulator() as sim:
        console.print(f"[bold]Jira simulator[/] at {sim.url} (user {sim.email})")
        command = [
            sys.executable,
            "-m",
            "flowkit.cli",
            "run",
            str(FLOW.relative_to(ROOT) if Path.cwd() == ROOT else FLOW),
            "--once",
            "-p",
            f"Environment URL={sim.url}",
            "-p",
            f"Jira Email={sim.email}",
            "-p",
            f"SQLite Path={WAREHOUSE}",
        ]
        console.print(
            "$ " + " ".join(f'"{a}"' if " " in a else a for a in command[2:]).replace("flowkit.cli", "flowkit")
        )
        # The token travels in the environment, as flows/jira_agile.yaml's provider expects.
        result = subprocess.run(command, env={**os.environ, "JIRA_API_TOKEN": sim.token}, check=False)
    if result.returncode not in (0, 1):
        return result.returncode
    show_rows(console, WAREHOUSE)
    return result.returncode


def show_rows(console: Console, db: Path, limit: int = 3) -> None:
    with sqlite3.connect(db) as conn:
        for table, columns in SHOWN.items():
            if table not in TABLES:
                continue
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
            if not exists:
                continue
            total = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            grid = Table(title=f"{table} ({total} rows, first {min(limit, total)})", title_justify="left")
            for column in columns:
                grid.add_column(column, overflow="fold")
            order = ", ".join(TABLES[table].primary_key)
            for row in conn.execute(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY {order} LIMIT {limit}'):
                grid.add_row(*("" if v is None else str(v) for v in row))
            console.print(grid)
    console.print(f"Warehouse: {db} — query it with: sqlite3 {db} 'SELECT * FROM BOARD'")


if __name__ == "__main__":
    sys.exit(main())
