"""Merges that must not happen as they would: a replay after the prune, a run resumed into another warehouse.

A crash after the journal was pruned but before the last table was recorded as merged.

MergeTables prunes the journal before it marks the last table merged (so the next run never loses
journal rows to a late prune). If the process dies in between, the resumed run merges that table
again: the replay must change nothing, in every destination, rather than find an empty journal and
empty every accepted board.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from flowkit.engine import Scope, StateService, flow_id_of
from flowkit.jira.run_state import decode_run, encode_run
from flowkit.jira.state_service import PROGRESS_KEY
from tests.jira.flowrun import fast_flow, overrides_for, run_once, truth, warehouse
from tests.jira.test_flow_resilience import _flowkit_run, _journaled_boards


def _undo_last_merge(home: Path, flow: Path) -> str:
    """Put the stored run back to 'merging' with its last table not yet merged (the crash window)."""
    service = StateService(home)
    flow_id = flow_id_of(flow)
    stored = service.get(flow_id, "Ingestion State", Scope.COMPONENT)
    run = decode_run(stored.data)
    assert run is not None and run.phase == "done"
    rewound = replace(run, merged=run.merged[:-1], phase="merging")
    data = {**stored.data, **encode_run(rewound), PROGRESS_KEY: rewound.progress()}
    assert service.replace(flow_id, "Ingestion State", Scope.COMPONENT, stored, data)
    return run.merged[-1]


def test_a_replayed_last_merge_after_the_prune_changes_nothing(tmp_path: Path, jira_sim: Any) -> None:
    flow, home, db = fast_flow(tmp_path), tmp_path / "home", tmp_path / "warehouse.db"
    assert run_once(flow, home, overrides_for(jira_sim, db)).exit_code == 0
    assert warehouse(db) == truth(jira_sim)
    table = _undo_last_merge(home, flow)

    report = run_once(flow, home, overrides_for(jira_sim, db))
    assert report.exit_code == 0, report.bulletins
    assert report.counters.get(f"rows.{table}.deleted", 0) == 0
    assert warehouse(db) == truth(jira_sim)


def test_a_run_resumed_into_another_destination_is_given_up_and_deletes_nothing(
    tmp_path: Path, jira_sim_factory: Any
) -> None:
    """A run killed while journaling into warehouse A, resumed with `SQLite Path` pointing at B: merging
    it into B would empty the boards journaled into A. It is given up instead (exit 1), B keeps its rows,
    and the next run fills B exactly."""
    sim = jira_sim_factory(boards=24, issues_per_board=40, latency_ms=25)
    flow, home = fast_flow(tmp_path), tmp_path / "home"
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert run_once(flow, home, overrides_for(sim, b)).exit_code == 0
    before = warehouse(b)
    assert before == truth(sim)

    args, env = _flowkit_run(flow, home, overrides_for(sim, a), "--once")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _journaled_boards(a) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run into A finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    given_up = run_once(flow, home, overrides_for(sim, b))
    assert given_up.exit_code == 1
    assert any("another destination" in m.message for m in given_up.bulletins if m.level == "ERROR")
    assert warehouse(b) == before

    fresh = run_once(flow, home, overrides_for(sim, b))
    assert fresh.exit_code == 0, fresh.bulletins
    assert warehouse(b) == truth(sim)
