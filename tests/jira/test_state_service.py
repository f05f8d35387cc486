"""StandardJiraIngestionStateService on a real SQLite state store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowkit.engine import StateManager, StateService
from flowkit.engine.testing import TestRunner
from flowkit.jira.run_state import BoardInfo, RunState, decode_run, encode_run
from flowkit.jira.state_service import LAST_RUN_KEY, PROGRESS_KEY, RUN_KEY, StandardJiraIngestionStateService

FLOW = "atlassian-jira-cloud-agile"
NAME = "Ingestion State"
Enabler = Callable[[], StandardJiraIngestionStateService]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateService]:
    service = StateService(tmp_path)
    yield service
    service.close()


@pytest.fixture
def enabled(tmp_path: Path) -> Iterator[Callable[[], StandardJiraIngestionStateService]]:
    """Services as the engine enables them, each in its own runner (a process of its own) on one home."""
    runners: list[TestRunner] = []

    def make() -> StandardJiraIngestionStateService:
        runner = TestRunner(None, home=tmp_path, flow_id=FLOW)
        runner.add_service(NAME, StandardJiraIngestionStateService)
        runners.append(runner)
        return runner.service(NAME, StandardJiraIngestionStateService)

    yield make
    for runner in runners:
        runner.close()


def test_a_new_run_records_its_tables_and_a_busy_process_does_not_start_another(
    store: StateService, enabled: Enabler
) -> None:
    service = enabled()
    started = service.begin_run(("SPRINT",))
    assert started is not None
    run, resumed = started
    assert not resumed and run.tables == ("BOARD", "BOARD_SPRINT", "SPRINT")
    assert service.begin_run(("SPRINT",)) is None  # still busy with that run in this process
    stored = StateManager(store, FLOW, NAME).get()
    assert decode_run(stored.data) == run
    assert "fetching" in (stored.get(PROGRESS_KEY) or "")


def test_an_unfinished_run_is_resumed_by_the_next_process_with_its_original_tables(
    store: StateService, enabled: Enabler
) -> None:
    first = enabled()
    started = first.begin_run(("BOARD_ISSUE",))
    assert started is not None
    run = started[0]
    first.update(run.run_id, lambda r: r.with_listing("complete", [1, 2]))
    # the process dies; a new one starts with other tables enabled
    second = enabled()
    resumed = second.begin_run(("SPRINT",))
    assert resumed is not None
    again, was_resumed = resumed
    assert was_resumed and again.run_id == run.run_id
    assert again.tables == ("BOARD", "BOARD_ISSUE") and again.listed == (1, 2)


def test_a_finished_run_is_followed_by_a_new_one(store: StateService, enabled: Enabler) -> None:
    service = enabled()
    started = service.begin_run(())
    assert started is not None
    run = started[0]
    done = service.update(run.run_id, lambda r: r.with_listing("complete", []).with_merged("BOARD"))
    assert done is not None and done.phase == "done"
    following = service.begin_run(())
    assert following is not None and following[0].run_id != run.run_id and not following[1]


def test_updates_retry_when_another_writer_moved_the_version(store: StateService, enabled: Enabler) -> None:
    service = enabled()
    started = service.begin_run(("BOARD_PROJECT",))
    assert started is not None
    run_id = started[0].run_id
    other = StateManager(store, FLOW, NAME)
    calls = 0

    def change(run: RunState) -> RunState:
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer sneaks in between our read and our compare-and-set
            seen = other.get()
            sneaky = decode_run(seen.data)
            assert sneaky is not None
            assert other.replace(seen, {**seen.data, **encode_run(sneaky.with_page(9, "BOARD", "x", 0, 1))})
        return run.with_page(1, "BOARD", "y", 0, 1)

    result = service.update(run_id, change)
    assert calls == 2  # the first compare-and-set failed and was retried on fresh state
    assert result is not None and result.is_settled(9, "BOARD") and result.is_settled(1, "BOARD")


def test_updates_for_a_run_that_is_gone_are_dropped(store: StateService, enabled: Enabler) -> None:
    service = enabled()
    started = service.begin_run(())
    assert started is not None
    StateManager(store, FLOW, NAME).clear()  # `flowkit state clear`
    assert service.update(started[0].run_id, lambda r: r.with_listing("complete", [])) is None


def test_an_update_writes_only_the_board_it_changed(store: StateService, enabled: Enabler) -> None:
    service = enabled()
    started = service.begin_run(("BOARD_ISSUE",))
    assert started is not None
    run_id = started[0].run_id
    service.update(run_id, lambda r: r.with_listing("complete", range(1, 201)))
    for board in range(1, 201):
        service.update(run_id, lambda r, b=board: r.with_info(b, BoardInfo(f"board {b}")))  # type: ignore[misc]
    before = StateManager(store, FLOW, NAME).get()
    after_run = service.update(run_id, lambda r: r.with_page(7, "BOARD_ISSUE", "a1", 0, None))
    after = StateManager(store, FLOW, NAME).get()
    assert after.version == (before.version or 0) + 1
    changed = {k for k in {*before.data, *after.data} if before.data.get(k) != after.data.get(k)}
    assert changed - {PROGRESS_KEY} == {"run/board/7"}
    assert decode_run(after.data) == after_run


def test_a_run_stored_as_one_document_by_an_older_version_is_resumed_and_rewritten_as_keys(
    store: StateService, enabled: Enabler
) -> None:
    old = (
        RunState("r-old", "2026-01-01T00:00:00+00:00", ("BOARD", "BOARD_ISSUE"))
        .with_listing("complete", [1, 2])
        .with_info(1, BoardInfo("one", "scrum", filter_id=5))
        .with_page(1, "BOARD", "a", 0, 1)
        .with_page(1, "BOARD_ISSUE", "b", 0, None)
    )
    StateManager(store, FLOW, NAME).set({RUN_KEY: old.to_json(), LAST_RUN_KEY: "r-before"})
    service = enabled()
    resumed = service.begin_run(("SPRINT",))
    assert resumed is not None and resumed == (old, True)
    new = service.update("r-old", lambda r: r.with_page(2, "BOARD", "c", 0, 1))
    stored = StateManager(store, FLOW, NAME).get()
    assert set(stored.data) == {RUN_KEY, "run/board/1", "run/board/2", PROGRESS_KEY, LAST_RUN_KEY}
    assert decode_run(stored.data) == new == old.with_page(2, "BOARD", "c", 0, 1)


def test_a_new_run_drops_every_key_of_the_previous_run(store: StateService, enabled: Enabler) -> None:
    service = enabled()
    started = service.begin_run(())
    assert started is not None
    run_id = started[0].run_id
    service.update(run_id, lambda r: r.with_listing("complete", [1, 2]).with_page(1, "BOARD", "a", 0, 1))
    service.update(run_id, lambda r: r.with_page(2, "BOARD", "b", 0, 1).with_merged("BOARD"))
    assert {"run/board/1", "run/board/2"} <= set(StateManager(store, FLOW, NAME).get().data)
    following = service.begin_run(())
    assert following is not None
    stored = StateManager(store, FLOW, NAME).get()
    assert set(stored.data) == {RUN_KEY, PROGRESS_KEY, LAST_RUN_KEY} and stored.get(LAST_RUN_KEY) == run_id
