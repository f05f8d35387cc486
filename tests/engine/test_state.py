"""StateService: versions, scopes, compare-and-set (threads and processes), durability, file modes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import threading
from pathlib import Path

from flowkit.engine import Scope, StateManager, StateMap, StateService, clear_state, show_state


def test_versions_and_compare_and_set(tmp_path: Path) -> None:
    service = StateService(tmp_path)
    manager = StateManager(service, "flow", "Component")
    empty = manager.get()
    assert empty == StateMap(None, {})
    assert manager.replace(empty, {"cursor": "1"})
    first = manager.get()
    assert first.version == 1 and first.get("cursor") == "1"
    assert not manager.replace(empty, {"cursor": "stale"})  # version moved
    assert manager.replace(first, {"cursor": "2"})
    assert not manager.replace(first, {"cursor": "stale"})
    manager.clear()
    cleared = manager.get()
    assert cleared.data == {} and cleared.version == 3  # a clear bumps the version: old snapshots lose
    service.close()


def test_scopes(tmp_path: Path) -> None:
    service = StateService(tmp_path)
    a, b = StateManager(service, "flow", "A"), StateManager(service, "flow", "B")
    other_flow = StateManager(service, "other", "A")
    a.set({"k": "a"})
    a.set({"shared": "yes"}, Scope.FLOW)
    assert b.get().data == {}
    assert b.get(Scope.FLOW).data == {"shared": "yes"}
    assert other_flow.get(Scope.FLOW).data == {}
    assert other_flow.get().data == {}
    service.close()


def test_durable_and_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    service = StateService(home)
    StateManager(service, "flow", "A").set({"k": "v"})
    service.close()
    assert stat.S_IMODE((home / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    with sqlite3.connect(home / "state.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = StateService(home)
    assert StateManager(reopened, "flow", "A").get().data == {"k": "v"}
    reopened.close()


def test_concurrent_creators_only_one_wins(tmp_path: Path) -> None:
    service = StateService(tmp_path)
    manager = StateManager(service, "flow", "A")
    snapshot = manager.get()
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def create(i: int) -> None:
        barrier.wait()
        results.append(manager.replace(snapshot, {"winner": str(i)}))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    service.close()


def _increment_many(home: str, times: int) -> None:
    service = StateService(Path(home))
    manager = StateManager(service, "flow", "Counter")
    for _ in range(times):
        while True:
            current = manager.get()
            if manager.replace(current, {"n": str(int(current.get("n") or "0") + 1)}):
                break
    service.close()


def test_compare_and_set_across_processes(tmp_path: Path) -> None:
    processes = [multiprocessing.get_context("spawn").Process(target=_increment_many, args=(str(tmp_path), 25))]
    processes.append(multiprocessing.get_context("spawn").Process(target=_increment_many, args=(str(tmp_path), 25)))
    for process in processes:
        process.start()
    _increment_many(str(tmp_path), 25)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    service = StateService(tmp_path)
    assert StateManager(service, "flow", "Counter").get().get("n") == "75"
    service.close()


def test_show_and_clear(tmp_path: Path) -> None:
    assert show_state(tmp_path / "absent") == {}
    assert not (tmp_path / "absent").exists()
    service = StateService(tmp_path)
    StateManager(service, "one", "A").set({"k": "v"})
    StateManager(service, "two", "A").set({"x": "y"}, Scope.FLOW)
    service.close()
    shown = show_state(tmp_path)
    assert shown["one"] == [{"component": "A", "scope": "component", "version": 1, "data": {"k": "v"}}]
    assert shown["two"][0]["component"] == ""
    assert clear_state(tmp_path, "one") == 1
    assert set(show_state(tmp_path)) == {"two"}
    assert clear_state(tmp_path) == 1
    assert show_state(tmp_path) == {}


def test_patch_changes_some_keys_under_compare_and_set(tmp_path: Path) -> None:
    service = StateService(tmp_path)
    manager = StateManager(service, "flow", "Component")
    assert not manager.patch(3, {"a": "1"})  # never written: only version None matches
    assert manager.patch(None, {"a": "1", "b": "2", "gone": None})
    assert manager.get() == StateMap(1, {"a": "1", "b": "2"})
    assert manager.patch(1, {"b": None, "c": "3"})
    assert manager.get() == StateMap(2, {"a": "1", "c": "3"})
    assert not manager.patch(1, {"a": "stale"})  # the version moved: nothing written
    assert manager.get() == StateMap(2, {"a": "1", "c": "3"})
    assert manager.replace(manager.get(), {"z": "26"})  # a whole-map write drops the patched keys
    assert manager.get() == StateMap(3, {"z": "26"})
    manager.clear()
    assert manager.get() == StateMap(4, {})
    assert manager.patch(4, {"after": "clear"})
    assert show_state(tmp_path)["flow"][0]["data"] == {"after": "clear"}
    assert clear_state(tmp_path, "flow") == 1
    assert manager.get() == StateMap(None, {})
    service.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT COUNT(*) FROM state_entry").fetchone()[0] == 0  # clear left no entries behind


def test_a_map_stored_by_an_older_version_as_json_is_read_and_moved_to_rows(tmp_path: Path) -> None:
    StateService(tmp_path).close()
    with sqlite3.connect(tmp_path / "state.db") as db:  # what flowkit wrote before `state_entry` existed
        db.execute(
            "INSERT INTO state (flow_id, component, scope, version, data, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("flow", "Component", "component", 7, '{"cursor": "41", "other": "x"}', "2026-01-01T00:00:00Z"),
        )
    service = StateService(tmp_path)
    manager = StateManager(service, "flow", "Component")
    assert manager.get() == StateMap(7, {"cursor": "41", "other": "x"})
    assert show_state(tmp_path)["flow"][0]["data"] == {"cursor": "41", "other": "x"}
    assert manager.patch(7, {"cursor": "42", "other": None})
    assert manager.get() == StateMap(8, {"cursor": "42"})
    service.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT data FROM state").fetchall() == [("{}",)]
