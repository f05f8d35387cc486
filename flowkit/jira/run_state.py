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

Stored form (`encode_run` / `encode_changes` / `decode_run`): the run is several keys of the state
map, so that recording a page rewrites one board's record rather than the whole run:
  run               the header: id, tables, phase, board list, failed and merged tables, destination;
  run/board/<id>    one board: its BoardInfo and, per table, its in-flight attempt or its status.
Every transition notes the boards it changed (`touched`), so an update encodes only those.
A run stored by an older flowkit as one JSON document under `run` is still read (`RunState.from_json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
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
    # Boards whose stored record (run/board/<id>) this state changed since it was read or written; not
    # part of the value (equality ignores it). The state service encodes only these on update.
    touched: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    # ---- queries -------------------------------------------------------------------------------------

    def board_status(self, board_id: int, table: str) -> tuple[Status, str] | None:
        return self.status.get(_key(board_id, table))

    def is_settled(self, board_id: int, table: str) -> bool:
        return _key(board_id, table) in self.status

    def pending(self) -> list[tuple[int, str]]:
        """(board, table) pairs not yet settled; empty once the run can be merged."""
        if self.listing == "listing":
            return [(-1, "BOARD")]
        return list(self._unsettled(self.listed))

    def _unsettled(self, boards: Iterable[int]) -> Iterator[tuple[int, str]]:
        # A table that failed as a whole (e.g. an oversized value) waits for nothing more: PutJournal
        # stops journaling it, so its boards would otherwise never settle and the run never merge.
        mapping = [t for t in self.tables if t != "BOARD" and t not in self.failed_tables]
        for board in boards:
            board_state = self.board_status(board, "BOARD")
            if board_state is None and "BOARD" not in self.failed_tables:
                yield (board, "BOARD")
                continue
            if board_state is not None and board_state[0] != "journaled":
                continue  # a board Jira refused has no mapping tables to fetch this run
            yield from ((board, t) for t in mapping if not self.is_settled(board, t))

    def ready_to_merge(self) -> bool:
        if self.phase == "done" or self.listing == "listing":
            return False
        # Asked on every journal signal: stop at the first unsettled pair, looking first at the boards
        # listed last (boards settle roughly in list order, so those are the likeliest still pending).
        return next(self._unsettled(reversed(self.listed)), None) is None

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
        return replace(self, info={**self.info, board_id: info}, touched=self.touched | {board_id})

    def with_page(self, board_id: int, table: str, attempt: str, index: int, count: int | None) -> RunState:
        """Record one journaled page; the board/table becomes `journaled` when its attempt is complete."""
        key = _key(board_id, table)
        if key in self.status:
            return self  # settled already (a late page of a superseded attempt): ignore
        current = self.attempts.get(key)
        if current is None or current.attempt != attempt:
            current = Attempt(attempt)  # a newer attempt supersedes an unfinished older one
        current = Attempt(attempt, current.pages | {index}, count if count is not None else current.count)
        if current.complete:
            return self.with_settled(board_id, table, "journaled", attempt)
        # Only the (few) attempts in flight are copied: a page costs what it changes, not the run.
        return replace(self, attempts={**self.attempts, key: current}, touched=self.touched | {board_id})

    def with_settled(self, board_id: int, table: str, status: Status, reason: str) -> RunState:
        key = _key(board_id, table)
        attempts = {k: v for k, v in self.attempts.items() if k != key} if key in self.attempts else self.attempts
        return replace(
            self, attempts=attempts, status={**self.status, key: (status, reason)}, touched=self.touched | {board_id}
        )

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
        return self if phase == self.phase else replace(self, phase=phase)

    def stored(self) -> RunState:
        """This state as written to the store: nothing touched since."""
        return replace(self, touched=frozenset()) if self.touched else self

    # ---- JSON (the single-document form of older flowkit versions; see encode_run for the stored form) ----

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
        return _from_header(
            doc,
            info={int(b): BoardInfo(**i) for b, i in doc["info"].items()},
            attempts={k: Attempt(a["attempt"], frozenset(a["pages"]), a["count"]) for k, a in doc["attempts"].items()},
            status={k: (v[0], v[1]) for k, v in doc["status"].items()},
        )


# ---- stored form: several keys of the state map ------------------------------------------------------

RUN_KEY = "run"
BOARD_KEY_PREFIX = "run/board/"
_HEADER_FIELDS = ("tables", "phase", "listing", "listed", "failed_tables", "merged", "destination")


def is_run_key(key: str) -> bool:
    """Whether a state map key belongs to the stored run (a new run replaces all of them)."""
    return key == RUN_KEY or key.startswith(BOARD_KEY_PREFIX)


def board_key(board_id: int) -> str:
    return f"{BOARD_KEY_PREFIX}{board_id}"


def encode_header(run: RunState) -> str:
    doc = {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "tables": list(run.tables),
        "phase": run.phase,
        "listing": run.listing,
        "listed": list(run.listed),
        "failed_tables": dict(run.failed_tables),
        "merged": list(run.merged),
        "destination": run.destination,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def encode_board(run: RunState, board_id: int) -> str | None:
    """One board's record (its info, and per table of the run its attempt in flight or its status), None if empty."""
    tables: dict[str, dict[str, Any]] = {}
    for table in run.tables:
        key = _key(board_id, table)
        if key in run.status:
            status, reason = run.status[key]
            tables[table] = {"status": status, "reason": reason}
        elif key in run.attempts:
            a = run.attempts[key]
            tables[table] = {"attempt": a.attempt, "pages": sorted(a.pages), "count": a.count}
    info = run.info.get(board_id)
    if info is None and not tables:
        return None
    doc: dict[str, Any] = {"tables": tables}
    if info is not None:
        doc["info"] = vars(info)
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _boards_with_records(run: RunState) -> set[int]:
    return set(run.info) | {_split(k)[0] for k in (*run.status, *run.attempts)}


def encode_run(run: RunState) -> dict[str, str]:
    """The whole run as state map entries (a new run, or the first write of a run read in the old form)."""
    out = {RUN_KEY: encode_header(run)}
    for board in sorted(_boards_with_records(run)):
        record = encode_board(run, board)
        if record is not None:
            out[board_key(board)] = record
    return out


def encode_changes(old: RunState | None, new: RunState) -> dict[str, str | None]:
    """The entries to write for `new`, derived from the stored `old` by transitions (None: write it all).

    Costs what changed: the header when one of its fields did, plus the boards `new` touched
    (None deletes a board's record that became empty).
    """
    if old is None:
        return dict(encode_run(new))
    out: dict[str, str | None] = {}
    if old.run_id != new.run_id or any(_differs(getattr(old, f), getattr(new, f)) for f in _HEADER_FIELDS):
        out[RUN_KEY] = encode_header(new)
    for board in sorted(new.touched):
        out[board_key(board)] = encode_board(new, board)
    return out


def stored_as_one_document(entries: Mapping[str, str]) -> bool:
    """Whether the run in `entries` is the single JSON document of older versions (rewritten whole on first update)."""
    text = entries.get(RUN_KEY)
    return bool(text) and "status" in json.loads(text or "{}")


def _differs(a: object, b: object) -> bool:
    return a is not b and a != b  # most fields are the very same object when unchanged: no element walk


def decode_run(entries: Mapping[str, str]) -> RunState | None:
    """The run stored in a state map (either form), or None when there is none."""
    text = entries.get(RUN_KEY)
    if not text:
        return None
    doc = json.loads(text)
    if "status" in doc:  # the single-document form of older versions
        return RunState.from_json(text)
    info: dict[int, BoardInfo] = {}
    attempts: dict[str, Attempt] = {}
    status: dict[str, tuple[Status, str]] = {}
    for key, value in entries.items():
        if not key.startswith(BOARD_KEY_PREFIX):
            continue
        board = int(key[len(BOARD_KEY_PREFIX) :])
        record = json.loads(value)
        if "info" in record:
            info[board] = BoardInfo(**record["info"])
        for table, entry in record["tables"].items():
            if "status" in entry:
                status[_key(board, table)] = (entry["status"], entry["reason"])
            else:
                attempts[_key(board, table)] = Attempt(entry["attempt"], frozenset(entry["pages"]), entry["count"])
    return _from_header(doc, info=info, attempts=attempts, status=status)


def _from_header(
    doc: Mapping[str, Any],
    *,
    info: dict[int, BoardInfo],
    attempts: dict[str, Attempt],
    status: dict[str, tuple[Status, str]],
) -> RunState:
    """A RunState from the run-wide fields of either stored form and its per-board parts."""
    return RunState(
        run_id=doc["run_id"],
        started_at=doc["started_at"],
        tables=tuple(doc["tables"]),
        phase=doc["phase"],
        listing=doc["listing"],
        listed=tuple(doc["listed"]),
        info=info,
        attempts=attempts,
        status=status,
        failed_tables=dict(doc["failed_tables"]),
        merged=tuple(doc["merged"]),
        destination=doc.get("destination", ""),
    )


def _key(board_id: int, table: str) -> str:
    return f"{board_id}:{table}"


def _split(key: str) -> tuple[int, str]:
    board, table = key.split(":", 1)
    return int(board), table
