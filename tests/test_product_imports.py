"""The product path never imports the simulator (it stays a command, loaded only when called)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FLOW = Path(__file__).resolve().parents[1] / "flows" / "jira_agile.yaml"

PROBE = """
import sys
from flowkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("SIMULATOR MODULES:", sorted(m for m in sys.modules if m.startswith("flowkit.simulator")))
"""


def _loaded(*args: str, home: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={"FLOWKIT_HOME": str(home), "PATH": "/usr/bin:/bin", "JIRA_API_TOKEN": "x"},
        timeout=60,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("SIMULATOR MODULES:"))
    return line.split(":", 1)[1].strip()


def test_product_commands_do_not_import_the_simulator(tmp_path: Path) -> None:
    assert _loaded("--help", home=tmp_path) == "[]"
    assert _loaded("validate", str(FLOW), home=tmp_path) == "[]"
    assert _loaded("state", "show", str(FLOW), home=tmp_path) == "[]"


def test_the_simulator_command_loads_it_when_called(tmp_path: Path) -> None:
    assert "flowkit.simulator.cli" in _loaded("simulator", "--help", home=tmp_path)
