"""The warehouse merge lock, across real processes and across flows with different $FLOWKIT_HOMEs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations.locking import WarehouseLockTimeout, merge_lock_path, warehouse_merge_lock
from tests.jira.flowrun import fast_flow, overrides_for, run_once, truth, warehouse

HOLD = """
import sys, time
from pathlib import Path
from flowkit.destinations.locking import warehouse_merge_lock
with warehouse_merge_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_in_child(db: Path, seconds: float) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_waits_and_then_times_out_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.db"
    child = _hold_in_child(db, 5)
    told: list[str] = []
    try:
        with (
            pytest.raises(WarehouseLockTimeout, match=f"pid {child.pid}"),
            warehouse_merge_lock(db, wait_s=0.3, on_wait=told.append),
        ):
            pass
        assert len(told) == 1 and str(db) in told[0]
    finally:
        child.kill()
        child.wait()
    with warehouse_merge_lock(db, wait_s=1):  # the kernel dropped the dead holder's lock
        assert merge_lock_path(db).exists()


def test_the_lock_is_taken_as_soon_as_the_holder_lets_go(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.db"
    child = _hold_in_child(db, 0.5)
    started = time.monotonic()
    with warehouse_merge_lock(db, wait_s=10):
        waited = time.monotonic() - started
    child.wait()
    assert 0.2 < waited < 5


def test_no_warehouse_file_means_no_lock() -> None:
    with warehouse_merge_lock(None):
        pass


def test_a_flow_in_another_home_does_not_merge_while_the_warehouse_is_locked(tmp_path: Path, jira_sim: Any) -> None:
    db = tmp_path / "warehouse.db"
    flow = fast_flow(tmp_path)
    # Flow A (home a) merged already; flow B (home b) runs while a merge of "another flow" holds the lock.
    assert run_once(flow, tmp_path / "a", overrides_for(jira_sim, db)).exit_code == 0
    board = truth(jira_sim)["BOARD"][0]
    jira_sim.data.rename_board(board["ID"], "Renamed while locked")
    reports: list[Any] = []
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with warehouse_merge_lock(db):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    runner = threading.Thread(
        target=lambda: reports.append(run_once(flow, tmp_path / "b", overrides_for(jira_sim, db)))
    )
    runner.start()
    time.sleep(1.0)
    assert runner.is_alive()  # waiting at the lock, not merging
    names = {b["ID"]: b["NAME"] for b in warehouse(db)["BOARD"]}
    assert names[board["ID"]] == board["NAME"]
    release.set()
    holder.join()
    runner.join(60)
    (report,) = reports
    assert report.exit_code == 0, report.bulletins
    assert warehouse(db) == truth(jira_sim)
