"""What live status and the run history cost a run. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/status_overhead.py

- `snapshot(runtime)` of the shipped Jira flow (7 processors, 9 connections): taken every 0.5 s on a
  terminal, every --progress-interval otherwise, and every 2 s for the run history;
- `RunHistory.update` with a full bulletin list (200 bulletins of 100 characters): every 2 s;
- a `--once` run of a small flow with and without a status listener at 0.1 s (wall time, median of 5).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from flowkit.engine import load_flow, run_flow
from flowkit.engine.history import MAX_BULLETINS, RunHistory
from flowkit.engine.progress import FlowStatus, snapshot
from flowkit.engine.report import Bulletin
from flowkit.engine.runtime import FlowRuntime
from flowkit.engine.state import StateService

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="flowkit-bench-"))
    flow = load_flow(REPO / "flows" / "jira_agile.yaml", overrides={"Jira API Token": "unused"}, env={})
    state = StateService(home)
    runtime = FlowRuntime(flow, state, home, once=True, stop=threading.Event())
    count = 2000
    started = time.perf_counter()
    for _ in range(count):
        status = snapshot(runtime)
    print(f"snapshot of the Jira flow: {(time.perf_counter() - started) / count * 1e6:.0f} us")

    history = RunHistory(home)
    run_id = history.start(flow.flow_id, once=True)
    bulletins = [Bulletin("WARNING", "ListBoards", "m" * 100)] * MAX_BULLETINS
    count = 200
    started = time.perf_counter()
    for _ in range(count):
        history.update(run_id, status, bulletins)
    print(f"history row refresh ({MAX_BULLETINS} bulletins): {(time.perf_counter() - started) / count * 1e3:.2f} ms")
    history.close()
    state.close()

    example = load_flow(REPO / "flows" / "example.yaml", env={})
    for label, listener in (("without a status listener", None), ("with a listener every 0.1 s", _ignore)):
        walls = []
        for _ in range(5):
            run_home = Path(tempfile.mkdtemp(prefix="flowkit-bench-"))
            begin = time.perf_counter()
            run_flow(example, once=True, home=run_home, on_status=listener, status_interval=0.1)
            walls.append(time.perf_counter() - begin)
        print(f"example flow --once {label}: {statistics.median(walls) * 1e3:.1f} ms (median of 5)")


def _ignore(status: FlowStatus) -> None:
    del status


if __name__ == "__main__":
    main()
