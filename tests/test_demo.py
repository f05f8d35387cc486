"""The README's first command (`make demo` runs `python -m flowkit.demo`), in a scratch directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def _demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("FLOWKIT_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "flowkit.demo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_demo_mirrors_the_simulator_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "succeeded" in first.stdout and (tmp_path / "flowkit-data" / "warehouse.db").exists()
    assert (tmp_path / ".flowkit" / "state.db").exists()
    assert "BOARD_ISSUE (" in first.stdout  # a few rows of each table are shown

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stderr
    rows = re.findall(r"│ (BOARD\w*|SPRINT)\s*│\s*(\d+) │\s*(\d+) │\s*(\d+) │\s*(\d+) │", second.stdout)
    assert len(rows) == 5, second.stdout
    assert [r[0] for r in rows] == ["BOARD", "BOARD_SPRINT", "SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"]  # merge order
    for table, inserted, updated, deleted, unchanged in rows:  # the columns in the order the issue names them
        assert (inserted, updated, deleted) == ("0", "0", "0"), table
        assert int(unchanged) > 0, table
