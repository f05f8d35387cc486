"""RunState: the pure progress model behind StandardJiraIngestionStateService."""

from __future__ import annotations

import json

from flowkit.jira.run_state import (
    BoardInfo,
    RunState,
    decode_run,
    encode_changes,
    encode_run,
    stored_as_one_document,
    tables_for,
)


def _run(tables: tuple[str, ...] = tables_for(("SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"))) -> RunState:
    return RunState(run_id="r1", started_at="2026-11-27T00:00:00+00:00", tables=tables)


def test_tables_for_adds_board_and_board_sprint_in_merge_order() -> None:
    assert tables_for(()) == ("BOARD",)
    assert tables_for(("SPRINT",)) == ("BOARD", "BOARD_SPRINT", "SPRINT")
    assert tables_for(("BOARD_ISSUE", "SPRINT", "BOARD_PROJECT")) == (
        "BOARD",
        "BOARD_SPRINT",
        "SPRINT",
        "BOARD_PROJECT",
        "BOARD_ISSUE",
    )


def test_attempt_completes_only_when_every_page_is_journaled_in_any_order() -> None:
    run = _run()
    run = run.with_page(7, "BOARD_ISSUE", "a", 2, 3)  # the last page arrives first
    assert not run.is_settled(7, "BOARD_ISSUE")
    run = run.with_page(7, "BOARD_ISSUE", "a", 0, None)
    assert not run.is_settled(7, "BOARD_ISSUE")
    run = run.with_page(7, "BOARD_ISSUE", "a", 1, None)
    assert run.board_status(7, "BOARD_ISSUE") == ("journaled", "a")
    assert "7:BOARD_ISSUE" not in run.attempts


def test_a_new_attempt_supersedes_an_unfinished_one_and_late_pages_are_ignored() -> None:
    run = _run().with_page(7, "BOARD_PROJECT", "old", 0, None)
    run = run.with_page(7, "BOARD_PROJECT", "new", 0, 1)
    assert run.board_status(7, "BOARD_PROJECT") == ("journaled", "new")
    assert run.with_page(7, "BOARD_PROJECT", "old", 1, 2) == run


def test_pending_and_ready_to_merge() -> None:
    run = _run(tables_for(("BOARD_PROJECT",)))
    assert run.pending() == [(-1, "BOARD")]  # still listing
    run = run.with_listing("complete", [1, 2, 3])
    assert run.pending() == [(1, "BOARD"), (2, "BOARD"), (3, "BOARD")]
    run = run.with_page(1, "BOARD", "b1", 0, 1).with_settled(2, "BOARD", "skipped", "HTTP 404")
    run = run.with_page(3, "BOARD", "b3", 0, 1)
    # board 2 was refused: nothing more to fetch for it; boards 1 and 3 still need their projects
    assert run.pending() == [(1, "BOARD_PROJECT"), (3, "BOARD_PROJECT")]
    run = run.with_page(1, "BOARD_PROJECT", "p1", 0, 1).with_settled(3, "BOARD_PROJECT", "failed", "503")
    assert run.ready_to_merge()


def test_accepted_and_listed_boards() -> None:
    run = _run(tables_for(("BOARD_PROJECT",))).with_listing("complete", [1, 2])
    run = run.with_page(1, "BOARD_PROJECT", "p1", 0, 1).with_settled(2, "BOARD_PROJECT", "skipped", "403")
    assert run.accepted("BOARD_PROJECT") == {1: "p1"}
    assert run.listed_boards() == frozenset({1, 2})
    assert run.with_listing("incomplete", [1]).listed_boards() is None


def test_unsettled_work_becomes_failed_at_the_end_of_a_once_run() -> None:
    run = _run(tables_for(("BOARD_ISSUE",))).with_listing("complete", [1]).with_page(1, "BOARD", "b", 0, 1)
    assert run.pending() == [(1, "BOARD_ISSUE")]
    ended = run.with_unsettled_as_failed("not fetched")
    assert ended.ready_to_merge()
    assert ended.accepted("BOARD_ISSUE") == {}
    assert "board 1 BOARD_ISSUE: not fetched" in ended.problems()
    still_listing = _run().with_unsettled_as_failed("x")
    assert still_listing.listing == "incomplete" and still_listing.listed_boards() is None


def test_merge_progress_and_failed_tables() -> None:
    run = _run(tables_for(("SPRINT",))).with_failed_table("SPRINT", "value over 16 MB")
    assert run.tables_to_merge() == ["BOARD", "BOARD_SPRINT"]
    run = run.with_merged("BOARD")
    assert run.phase == "merging"
    run = run.with_merged("BOARD_SPRINT")
    assert run.phase == "done"


def test_json_round_trip_keeps_everything() -> None:
    run = (
        _run()
        .with_listing("complete", [5, 6])
        .with_info(5, BoardInfo("PLAT", "scrum", "project = PLAT", None))
        .with_page(5, "BOARD", "x", 0, 1)
        .with_page(5, "BOARD_ISSUE", "y", 1, None)
        .with_settled(6, "BOARD", "skipped", "HTTP 404: cannot be viewed")
        .with_failed_table("BOARD_ISSUE", "too big")
    )
    assert RunState.from_json(run.to_json()) == run


def test_progress_is_one_readable_line() -> None:
    run = _run(tables_for(("BOARD_PROJECT",))).with_listing("complete", [1, 2])
    run = run.with_page(1, "BOARD", "b", 0, 1).with_settled(2, "BOARD", "skipped", "404")
    line = run.progress()
    assert "\n" not in line
    assert "board list complete (2 boards: 1 listed, 1 skipped, 0 failed)" in line
    assert "1 pending" in line


def test_a_failed_table_settles_its_boards_so_the_run_can_still_merge() -> None:
    run = _run(tables_for(("SPRINT", "BOARD_ISSUE"))).with_listing("complete", [1, 2])
    run = run.with_page(1, "BOARD", "b1", 0, 1).with_page(2, "BOARD", "b2", 0, 1)
    run = run.with_page(1, "BOARD_ISSUE", "i1", 0, 1).with_page(2, "BOARD_ISSUE", "i2", 0, 1)
    run = run.with_page(1, "SPRINT", "s1", 0, 1)  # board 2's sprints were never journaled...
    run = run.with_failed_table("SPRINT", "value over 16 MB")  # ...because the table failed
    assert run.pending() == [(1, "BOARD_SPRINT"), (2, "BOARD_SPRINT")]
    run = run.with_failed_table("BOARD_SPRINT", "value over 16 MB")
    assert run.ready_to_merge() and run.tables_to_merge() == ["BOARD", "BOARD_ISSUE"]


def test_a_failed_board_table_still_lets_each_board_fetch_its_mappings() -> None:
    run = _run(tables_for(("BOARD_PROJECT",))).with_listing("complete", [1]).with_failed_table("BOARD", "too big")
    assert run.pending() == [(1, "BOARD_PROJECT")]  # the BOARD row never lands, the projects still do
    run = run.with_page(1, "BOARD_PROJECT", "p", 0, 1)
    assert run.ready_to_merge()


def test_gauges_say_the_phase_and_boards_done_of_total() -> None:
    run = _run(tables_for(("BOARD_PROJECT",)))
    assert run.gauges() == {
        "run": "r1",
        "phase": "listing",
        "boards.total": 0,
        "boards.done": 0,
        "tables.done": 0,
        "tables.total": 2,
    }
    run = run.with_listing("complete", [1, 2, 3]).with_page(1, "BOARD", "b1", 0, 1)
    run = run.with_settled(2, "BOARD", "skipped", "HTTP 404").with_page(3, "BOARD", "b3", 0, 1)
    run = run.with_page(1, "BOARD_PROJECT", "p1", 0, 1)
    # 1: listed and its projects fetched; 2: refused (settled, nothing more to do); 3: projects pending
    assert (run.gauges()["phase"], run.gauges()["boards.done"], run.gauges()["boards.total"]) == ("fetching", 2, 3)
    run = run.with_page(3, "BOARD_PROJECT", "p3", 0, 1).with_phase("merging").with_merged("BOARD")
    assert run.gauges()["phase"] == "merging" and run.gauges()["boards.done"] == 3 and run.gauges()["tables.done"] == 1


def test_the_first_page_records_the_destination_and_it_survives_json() -> None:
    from flowkit.jira.run_state import RunState

    run = RunState(run_id="r1", started_at="2026-01-01T00:00:00+00:00", tables=("BOARD",))
    assert run.destination == ""
    placed = run.with_destination("SQLITE:/w/a.db")
    assert placed.with_destination("SQLITE:/w/b.db").destination == "SQLITE:/w/a.db"
    assert RunState.from_json(placed.to_json()) == placed
    legacy = placed.to_json().replace(',"destination":"SQLITE:/w/a.db"', "")
    assert RunState.from_json(legacy).destination == ""  # state written before the field existed


# ---- stored form ---------------------------------------------------------------------------------


def _busy() -> RunState:
    """A run mid-way: listed, one board settled, one in flight, one skipped, a failed table, a destination."""
    return (
        _run()
        .with_listing("complete", [3, 1, 2])
        .with_info(1, BoardInfo("one", "scrum", "project = A", None, 10))
        .with_info(2, BoardInfo("two", "kanban"))
        .with_destination("SQLITE:/w/a.db")
        .with_page(1, "BOARD", "a", 0, 1)
        .with_page(1, "BOARD_ISSUE", "b", 1, None)
        .with_page(1, "BOARD_ISSUE", "b", 3, 4)
        .with_settled(2, "BOARD", "skipped", "403 from Jira")
        .with_failed_table("SPRINT", "value too large")
    )


def test_the_stored_form_is_a_header_and_one_record_per_board_and_reads_back_equal() -> None:
    run = _busy()
    entries = encode_run(run)
    assert set(entries) == {"run", "run/board/1", "run/board/2"}  # board 3 has nothing recorded yet
    assert json.loads(entries["run/board/1"]) == {
        "info": {"name": "one", "type": "scrum", "filter_jql": "project = A", "sub_query": None, "filter_id": 10},
        "tables": {
            "BOARD": {"status": "journaled", "reason": "a"},
            "BOARD_ISSUE": {"attempt": "b", "pages": [1, 3], "count": 4},
        },
    }
    assert json.loads(entries["run"])["listed"] == [3, 1, 2]
    back = decode_run(entries)
    assert back == run and back is not None and back.info == run.info and back.attempts == run.attempts
    assert not stored_as_one_document(entries)
    assert decode_run({}) is None and decode_run({"progress": "x"}) is None


def test_changes_are_only_what_the_transitions_touched() -> None:
    stored = _busy().stored()
    assert encode_changes(stored, stored) == {}
    page = stored.with_page(1, "BOARD_ISSUE", "b", 0, None)
    assert set(encode_changes(stored, page)) == {"run/board/1"}
    settled = page.with_page(1, "BOARD_ISSUE", "b", 2, None)  # the attempt completes: a status now
    assert json.loads(encode_changes(stored, settled)["run/board/1"] or "")["tables"]["BOARD_ISSUE"] == {
        "status": "journaled",
        "reason": "b",
    }
    assert set(encode_changes(stored, stored.with_merged("BOARD"))) == {"run"}
    assert set(encode_changes(stored, stored.with_info(3, BoardInfo("three")).with_phase("merging"))) == {
        "run",
        "run/board/3",
    }
    # applying the changes to the stored entries gives the new run's full encoding
    entries = {**encode_run(stored), **encode_changes(stored, settled)}
    assert entries == encode_run(settled) and decode_run(entries) == settled
    assert encode_changes(None, stored) == encode_run(stored)  # nothing stored in this form yet: all of it


def test_a_late_page_of_a_settled_board_touches_nothing() -> None:
    stored = _busy().stored()
    assert encode_changes(stored, stored.with_page(1, "BOARD", "old", 0, 1)) == {}
    assert encode_changes(stored, stored.with_failed_table("SPRINT", "again")) == {}


def test_a_run_stored_as_one_document_is_still_read() -> None:
    run = _busy()
    entries = {"run": run.to_json(), "progress": run.progress()}
    assert stored_as_one_document(entries) and decode_run(entries) == run
