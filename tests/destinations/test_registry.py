"""Destination types are found through their entry points; the Snowflake connector loads only for Snowflake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations import DestinationError, destination_type, destination_types
from flowkit.destinations.snowflake import SnowflakeDestinationType
from flowkit.destinations.sqlite import SQLiteDestinationType
from flowkit.jira.services import WarehouseDestinationService
from tests.jira.flowrun import FLOW

ROOT = Path(__file__).resolve().parents[2]


def test_both_destinations_are_registered_by_entry_point() -> None:
    types = destination_types()
    assert types["SQLITE"] is SQLiteDestinationType and types["SNOWFLAKE"] is SnowflakeDestinationType
    assert destination_type(" snowflake ") is SnowflakeDestinationType
    with pytest.raises(DestinationError, match="expected one of SNOWFLAKE, SQLITE"):
        destination_type("ORACLE")


def test_the_warehouse_service_declares_every_destinations_properties_once() -> None:
    names = [p.name for p in WarehouseDestinationService.properties]
    assert len(names) == len(set(names))
    for kind in destination_types().values():
        assert {p.name for p in kind.properties} <= set(names)
    assert names[:2] == ["Destination Type", "Oversized Value Strategy"]


def _modules_after(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


CLI = """
import runpy, sys
sys.argv = {argv!r}
try:
    runpy.run_module("flowkit.cli", run_name="__main__")
except SystemExit as exc:
    print("exit", exc.code)
print("connector loaded:", "snowflake.connector" in sys.modules)
"""


def test_help_and_a_sqlite_run_never_load_the_snowflake_connector(tmp_path: Path, jira_sim: Any) -> None:
    out = _modules_after(CLI.format(argv=["flowkit", "--help"]))
    assert "connector loaded: False" in out
    argv = [
        "flowkit",
        "run",
        str(FLOW),
        "--once",
        "-p",
        f"Environment URL={jira_sim.url}",
        "-p",
        f"Jira Email={jira_sim.email}",
        "-p",
        f"Jira API Token={jira_sim.token}",
        "-p",
        f"SQLite Path={tmp_path / 'w.db'}",
    ]
    out = _modules_after(
        f"import os; os.environ['FLOWKIT_HOME'] = {str(tmp_path / 'home')!r}\n" + CLI.format(argv=argv)
    )
    assert "exit 0" in out and "connector loaded: False" in out
    assert (tmp_path / "w.db").exists()


def test_identity_names_the_warehouse_not_the_credentials(tmp_path: Path) -> None:
    relative = SQLiteDestinationType.identity({"SQLite Path": "flowkit-data/warehouse.db"})
    assert relative == f"SQLITE:{(Path.cwd() / 'flowkit-data' / 'warehouse.db').resolve()}"
    values = {"Snowflake Account Identifier": "acme-prod", "Destination Database": "RAW", "Destination Schema": "jira"}
    same = {**values, "Snowflake Role": "OTHER", "Snowflake Private Key": "-----BEGIN PRIVATE KEY-----x"}
    assert SnowflakeDestinationType.identity(values) == SnowflakeDestinationType.identity(same)
    assert "BEGIN" not in SnowflakeDestinationType.identity(same)
    assert SnowflakeDestinationType.identity(values) != SnowflakeDestinationType.identity(
        {**values, "Destination Schema": "JIRA"}
    )
