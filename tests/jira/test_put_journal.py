"""PutJournal's append: one transaction per trigger, and one bad page fails only its own board."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flowkit.destinations import JournalBatch, SQLiteDestination
from flowkit.jira.processors.put_journal import _append
from flowkit.jira.tables import SCHEMA


def test_a_page_the_destination_refuses_fails_only_its_board(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    destination = SQLiteDestination(tmp_path / "warehouse.db", schema=SCHEMA)
    destination.ensure_tables(["BOARD_ISSUE"])
    good = JournalBatch("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_ID": 10, "ISSUE_KEY": "P-10"}])
    bad = JournalBatch("BOARD_ISSUE", "r", 2, "b", [{"BOARD_ID": 2, "ISSUE_ID": None, "ISSUE_KEY": "P-?"}])
    also_good = JournalBatch("BOARD_ISSUE", "r", 3, "c", [{"BOARD_ID": 3, "ISSUE_ID": 30, "ISSUE_KEY": "P-30"}])
    with caplog.at_level(logging.ERROR):
        refused = _append(destination, [good, bad, also_good], logging.getLogger("test.PutJournal"))
    assert list(refused) == [(2, "BOARD_ISSUE")] and "NULL primary key" in refused[(2, "BOARD_ISSUE")]
    assert destination.journal_counts("r") == {"BOARD_ISSUE": 2}
    assert "board 2: BOARD_ISSUE could not be journaled" in caplog.text
    assert _append(destination, [good], logging.getLogger("test.PutJournal")) == {}
    destination.close()
