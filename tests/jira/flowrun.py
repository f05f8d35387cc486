"""Helpers for end-to-end tests: run the shipped flow against a simulator and read the warehouse."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from flowkit.destinations.sqlite import read_rows
from flowkit.engine import RunReport, load_flow, run_flow
from flowkit.jira.tables import TABLES

FLOW = Path(__file__).resolve().parents[2] / "flows" / "jira_agile.yaml"
# Fast retries for tests: the simulator's faults and 429s must not make the suite slow.
FAST_RETRIES = {"Max Retries": "4", "Initial Retry Delay": "50 millis", "Max Retry Delay": "200 millis"}


def overrides_for(sim: Any, db: Path, **extra: str) -> dict[str, str]:
    return {
        "Environment URL": sim.url,
        "Jira Email": sim.email,
        "Jira API Token": sim.token,
        "SQLite Path": str(db),
        **extra,
    }


def fast_flow(tmp_path: Path, **client_properties: str) -> Path:
    """A copy of the shipped flow with quicker client retries (tests only; users keep the defaults)."""
    import yaml

    doc = yaml.safe_load(FLOW.read_text())
    for service in doc["controller_services"]:
        if service["type"] == "JiraCloudClientService":
            service["properties"].update({**FAST_RETRIES, **client_properties})
    path = tmp_path / "jira_agile_fast.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_once(flow: Path, home: Path, overrides: Mapping[str, str]) -> RunReport:
    return run_flow(load_flow(flow, overrides=dict(overrides), env={}), once=True, home=home)


def run_cli(
    args: Sequence[str], home: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "FLOWKIT_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def read_table(db: Path, table: str) -> list[dict[str, Any]]:
    """Business columns of a warehouse table in the ground-truth row format, sorted by primary key."""
    with closing(sqlite3.connect(db)) as conn:
        return read_rows(conn, TABLES[table])


def read_metadata(db: Path, table: str) -> dict[tuple[Any, ...], tuple[str, str, str]]:
    """Primary key -> (_SNOWFLAKE_INSERTED_AT, _SNOWFLAKE_UPDATED_AT, _SNOWFLAKE_HASH)."""
    keys = TABLES[table].primary_key
    metadata = ("_SNOWFLAKE_INSERTED_AT", "_SNOWFLAKE_UPDATED_AT", "_SNOWFLAKE_HASH")
    with closing(sqlite3.connect(db)) as conn:
        rows = read_rows(conn, TABLES[table], metadata=True)
    return {tuple(r[k] for k in keys): (r[metadata[0]], r[metadata[1]], r[metadata[2]]) for r in rows}


def sort_rows(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = TABLES[table].primary_key
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def truth(sim: Any, tables: Sequence[str] = tuple(TABLES)) -> dict[str, list[dict[str, Any]]]:
    gt = sim.ground_truth()
    return {t: sort_rows(t, [dict(r) for r in gt[t]]) for t in tables}


def warehouse(db: Path, tables: Sequence[str] = tuple(TABLES)) -> dict[str, list[dict[str, Any]]]:
    return {t: read_table(db, t) for t in tables}
