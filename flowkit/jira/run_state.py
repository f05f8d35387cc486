"""The progress of one ingestion run, as a plain value with pure transitions.

StandardJiraIngestionStateService stores a `RunState` as JSON in the engine's state service
and changes it only through the functions here, under compare-and-set. Keeping the logic pure
means crash and resume behaviour can be unit-tested on hand-built states.

A run moves through three phases:
  fetching  boards are listed and their tables fetched and journaled;
  merging   every board is settled, MergeTables is applying the journal table by table;
  done      every enabled table was merged (or failed), the journal is pruned.

Per board and table the status is one of:
  journaled  every page of one attempt is in the journal (the attempt is authoritative);
  skipped    Jira refused the board (403/404/422): its old rows are kept, with a warning;
  failed     retries ran out or the response was unusable: old rows kept, the run reports it.
Pages of an attempt that never completed are ignored by the merge (see MergePlan).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from flowkit.jira.tables import ENABLED_TABLE_GROUPS, tables_for_enabled

# The `Enabled Tables` values (product.md §3); the destination schema says what each one fills.
OPTIONAL_TABLES = tuple(sorted(ENABLED_TABLE_GROUPS))

Phase = Literal["fetching", "merging", "done"]
Listing = Literal["listing", "complete", "incomplete"]
Status = Literal["journaled", "skipped", "failed"]
SETTLED: frozenset[str] = frozenset({"journaled", "skipped", "failed"})


def tables_for(enabled: Iterable[str]) -> tuple[str, ...]:
    """Destination tables a run fills, in merge order (SPRINT after BOARD_SPRINT), for `Enabled Tables`."""
    return tuple(tables_for_enabled(enabled))


@dataclass(frozen=True)
class Attempt:
    """Pages journaled so far for one board and table in one fetch attempt."""

    attempt: str
    pages: frozenset[int] = frozenset()
    count: int | None = None  # known once the last page has been journaled

    @property
    def complete(self) -> bool:
        return self.count is not None and len(self.pages) >= self.count


@dataclass(frozen=True)
class BoardInfo:
    """What the Fetch* processors need to know about a board, kept so a resumed run need not re-list."""

    name: str = ""
    type: str = ""
    filter_jql: str | None = None
    sub_query: str | None = None
    filter_id: int | None = None  # None: the board's configuration names no saved filter


@dataclass(frozen=True)
class RunState:
    run_id: str
    started_at: str
    tables: tuple[str, ...]
    phase: Phase = "fetching"
    listing: Listing = "listing"
    listed: tuple[int, ...] = ()
    info: Mapping[int, BoardInfo] = field(default_factory=dict)
    attempts: Mapping[str, Attempt] = field(default_factory=dict)  # "board:TABLE" -> pages in flight
    status: Mapping[str, tuple[Status, str]] = field(default_factory=dict)  # "board:TABLE" -> (status, attempt/reason)
    failed_tables: Mapping[str, str] = field(default_factory=dict)  # TABLE -> reason (e.g. oversized value)
    merged: tuple[str, ...] = ()
    destination: str = ""  # the warehouse this run journals into (set with its first page)

    # ---- queries -------------------------------------------------------------------------------------

    def board_status(self, board_id: int, table: str) -> tuple[Status, str] | None:
        return self.status.get(_key(board_id, table))

    def is_settled(self, board_id: int, table: str) -> bool:
        return _key(board_id, table) in self.status

    def pending(self) -> list[tuple[int, str]]:
        """(board, table) pairs not yet settled; empty once the run can be merged."""
        if self.listing == "listing":
            return [(-1, "BOARD")]
        # A table that failed as a whole (e.g. an oversized value) waits for nothing more: PutJournal
        # stops journaling it, so its boards would otherwise never settle and the run never merge.
        mapping = [t for t in self.tables if t != "BOARD" and t not in self.failed_tables]
        out: list[tuple[int, str]] = []
        for board in self.listed:
            board_state = self.board_status(board, "BOARD")
            if board_state is None and "BOARD" not in self.failed_tables:
                out.append((board, "BOARD"))
                continue
            if board_state is not None and board_state[0] != "journaled":
                continue  # a board Jira refused has no mapping tables to fetch this run
            out.extend((board, t) for t in mapping if not self.is_settled(board, t))
        return out

    def ready_to_merge(self) -> bool:
        return self.phase != "done" and not self.pending()

    def accepted(self, table: str) -> dict[int, str]:
        """Board id -> the attempt whose journal rows are authoritative for `table`."""
        listed = set(self.listed)
        out: dict[int, str] = {}
        for key, (status, attempt) in self.status.items():
            board, tbl = _split(key)
            if tbl == table and status == "journaled" and board in listed:
                out[board] = attempt
        return out

    def listed_boards(self) -> frozenset[int] | None:
        """The complete board list, or None when it could not be read completely (delete no board)."""
        return frozenset(self.listed) if self.listing == "complete" else None

    def tables_to_merge(self) -> list[str]:
        return [t for t in self.tables if t not in self.merged and t not in self.failed_tables]

    def problems(self) -> list[str]:
        """Human-readable list of what failed in this run (for the summary)."""
        out = [f"table {t}: {why}" for t, why in self.failed_tables.items()]
        if self.listing == "incomplete":
            out.append("the board list could not be read completely; no board was deleted")
        for key, (status, reason) in sorted(self.status.items()):
            if status == "failed":
                board, table = _split(key)
                out.append(f"board {board} {table}: {reason}")
        return out

    def progress(self) -> str:
        """One line for `flowkit state show`: where the run stands."""
        counts = {"journaled": 0, "skipped": 0, "failed": 0}
        for board in self.listed:
            state = self.board_status(board, "BOARD")
            if state is not None:
                counts[state[0]] += 1
        fetched = sum(1 for status, _ in self.status.values() if status == "journaled")
        parts = [
            f"run {self.run_id} {self.phase}",
            f"board list {self.listing} ({len(self.listed)} boards: {counts['journaled']} listed,"
            f" {counts['skipped']} skipped, {counts['failed']} failed)",
            f"{fetched} board tables journaled, {len(self.pending())} pending",
        ]
        if self.merged:
            parts.append("merged " + " ".join(self.merged))
        if self.failed_tables:
            parts.append("failed tables " + " ".join(self.failed_tables))
        return "; ".join(parts)

    def gauges(self) -> dict[str, object]:
        """Where the run stands, for the live status: phase (listing, fetching, merging, done) and boards done of total.

        A board is done when it is settled for BOARD and, if it was journaled, for every mapping table.
        """
        phase = "listing" if self.phase == "fetching" and self.listing == "listing" else self.phase
        pending_boards = {board for board, _ in self.pending() if board >= 0}
        settled = [b for b in self.listed if self.board_status(b, "BOARD") is not None or "BOARD" in self.failed_tables]
        return {
            "run": self.run_id,
            "phase": phase,
            "boards.total": len(self.listed),
            "boards.done": sum(1 for b in settled if b not in pending_boards),
            "tables.done": len(self.merged),
            "tables.total": len(self.tables),
        }

    # ---- transitions (each returns a new RunState) ---------------------------------------------------

    def with_listing(self, listing: Listing, listed: Iterable[int]) -> RunState:
        return replace(self, listing=listing, listed=tuple(dict.fromkeys(listed)))

    def with_info(self, board_id: int, info: BoardInfo) -> RunState:
        return replace(self, info={**self.info, board_id: info})

    def with_page(self, board_id: int, table: str, attempt: str, index: int, count: int | None) -> RunState:
        """Record one journaled page; the board/table becomes `journaled` when its attempt is complete."""
        key = _key(board_id, table)
        if key in self.status:
            return self  # settled already (a late page of a superseded attempt): ignore
        current = self.attempts.get(key)
        if current is None or current.attempt != attempt:
            current = Attempt(attempt)  # a newer attempt supersedes an unfinished older one
        current = Attempt(attempt, current.pages | {index}, count if count is not None else current.count)
        attempts = {**self.attempts, key: current}
        status = dict(self.status)
        if current.complete:
            del attempts[key]
            status[key] = ("journaled", attempt)
        return replace(self, attempts=attempts, status=status)

    def with_settled(self, board_id: int, table: str, status: Status, reason: str) -> RunState:
        key = _key(board_id, table)
        attempts = {k: v for k, v in self.attempts.items() if k != key}
        return replace(self, attempts=attempts, status={**self.status, key: (status, reason)})

    def with_failed_table(self, table: str, reason: str) -> RunState:
        if table in self.failed_tables:
            return self
        return replace(self, failed_tables={**self.failed_tables, table: reason})

    def with_unsettled_as_failed(self, reason: str) -> RunState:
        """End of a --once run: whatever never settled is failed, so the run can still merge safely."""
        state = self
        if state.listing == "listing":
            state = replace(state, listing="incomplete")
        for board, table in state.pending():
            state = state.with_settled(board, table, "failed", reason)
        return state

    def with_merged(self, table: str) -> RunState:
        merged = (*self.merged, table) if table not in self.merged else self.merged
        phase: Phase = "merging"
        if all(t in merged or t in self.failed_tables for t in self.tables):
            phase = "done"
        return replace(self, merged=merged, phase=phase)

    def with_destination(self, identity: str) -> RunState:
        """Record where the run journals; the first page decides (later calls change nothing)."""
        return self if self.destination else replace(self, destination=identity)

    def with_phase(self, phase: Phase) -> RunState:
        return replace(self, phase=phase)

    # ---- JSON ----------------------------------------------------------------------------------------

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "tables": list(self.tables),
            "phase": self.phase,
            "listing": self.listing,
            "listed": list(self.listed),
            "info": {str(b): vars(i) for b, i in self.info.items()},
            "attempts": {
                k: {"attempt": a.attempt, "pages": sorted(a.pages), "count": a.count} for k, a in self.attempts.items()
            },
            "status": {k: list(v) for k, v in self.status.items()},
            "failed_tables": dict(self.failed_tables),
            "merged": list(self.merged),
            "destination": self.destination,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunState:
        doc = json.loads(text)
        return cls(
            run_id=doc["run_id"],
            started_at=doc["started_at"],
            tables=tuple(doc["tables"]),
            phase=doc["phase"],
            listing=doc["listing"],
            listed=tuple(doc["listed"]),
            info={int(b): BoardInfo(**i) for b, i in doc["info"].items()},
            attempts={k: Attempt(a["attempt"], frozenset(a["pages"]), a["count"]) for k, a in doc["attempts"].items()},
            status={k: (v[0], v[1]) for k, v in doc["status"].items()},
            failed_tables=dict(doc["failed_tables"]),
            merged=tuple(doc["merged"]),
            destination=doc.get("destination", ""),
        )


def _key(board_id: int, table: str) -> str:
    return f"{board_id}:{table}"


def _split(key: str) -> tuple[int, str]:
    board, table = key.split(":", 1)
    return int(board), table
