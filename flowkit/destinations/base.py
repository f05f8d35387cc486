"""The destination contract (architecture.md section 2): Protocol, merge plan/result, errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class DestinationError(Exception):
    """A destination operation failed (unknown table, missing table, bad row, SQL error...)."""


class OversizedValueError(DestinationError):
    """A value is over the size limit and ``Oversized Value Strategy`` is ``Fail Table``."""

    def __init__(self, table: str, pk: tuple[Any, ...], column: str, *, limit: int = 16 * 1024 * 1024):
        self.table = table
        self.pk = pk
        self.column = column
        self.limit = limit
        key = ", ".join(repr(v) for v in pk)
        super().__init__(
            f"{table}: value of column {column} in row with primary key ({key}) is over {limit} bytes; "
            f"table {table} stops being replicated (Oversized Value Strategy = Fail Table)"
        )


@dataclass(frozen=True)
class JournalBatch:
    """Rows fetched for one `partition` in one fetch `attempt` of a run, bound for one table's journal."""

    table: str
    run_id: str
    partition: int
    attempt: str
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class MergePlan:
    """What a merge applies.

    A *partition* is the unit one completed fetch owns (for the Jira flow: a board).

    - ``run_id``: the run whose journal rows are merged.
    - ``accepted``: partition -> attempt id whose journal rows are authoritative for this table
      (journal rows of other (partition, attempt) pairs are ignored).
    - ``listed_partitions``: every partition of this run's complete listing; ``None`` = the
      listing is incomplete, so nothing is deleted because a partition vanished.
    """

    run_id: str
    accepted: Mapping[int, str]
    listed_partitions: frozenset[int] | None = None

    def __post_init__(self) -> None:
        # Accept any iterable for listed_partitions and a plain dict for accepted; keep them immutable.
        if self.listed_partitions is not None and not isinstance(self.listed_partitions, frozenset):
            object.__setattr__(self, "listed_partitions", frozenset(self.listed_partitions))
        object.__setattr__(self, "accepted", dict(self.accepted))

    @classmethod
    def of(cls, run_id: str, accepted: Mapping[int, str], listed: Iterable[int] | None = None) -> MergePlan:
        return cls(run_id, accepted, None if listed is None else frozenset(listed))


@dataclass
class MergeResult:
    """Row counts of one merge (or the sum of several, with ``+``).

    ``unchanged``: accepted journal rows whose hash equals the stored row's (left untouched).
    ``skipped_partitions``: accepted (partition, attempt) pairs already merged earlier (replays).
    """

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped_partitions: int = 0

    def __add__(self, other: MergeResult) -> MergeResult:
        if not isinstance(other, MergeResult):
            return NotImplemented
        return MergeResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.deleted + other.deleted,
            self.unchanged + other.unchanged,
            self.skipped_partitions + other.skipped_partitions,
        )

    @property
    def changed(self) -> int:
        """Rows inserted, updated or deleted (0 = the merge changed nothing)."""
        return self.inserted + self.updated + self.deleted

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
        }


@runtime_checkable
class Destination(Protocol):
    """Where records land: journal tables + merge into the destination tables.

    A destination is opened with the flow's `Schema` (the tables it may be asked about) and knows
    nothing else of the flow. Rules every implementation follows: docs/destinations.md, checked by
    the conformance suite in tests/destinations/test_conformance.py.
    """

    #: Largest value (UTF-8 bytes of text; of canonical JSON for VARIANT) the destination stores.
    max_value_bytes: int

    def ensure_tables(self, tables: Sequence[str]) -> None:
        """Create the destination and journal tables if absent (idempotent)."""
        ...

    def append_journal(
        self, table: str, run_id: str, partition: int, attempt: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Append rows (row format of architecture.md section 2) to the table's journal, atomically."""
        ...

    def append_journal_many(self, batches: Sequence[JournalBatch]) -> None:
        """Append several batches, possibly to several journals, in one transaction: all or none."""
        ...

    def prepare_merge(self, table: str, run_id: str) -> None:
        """Optional head start on a later ``merge`` of this run (e.g. unpack the journal appended so far) while
        the rest is still being fetched. Changes nothing a reader can see; a merge that follows must give the
        same result with or without it. May do nothing."""
        ...

    def merge(self, table: str, plan: MergePlan) -> MergeResult:
        """Apply the plan's accepted journal rows in one transaction; prunes the merged journal rows."""
        ...

    def prune_journal(self, keep_run_id: str | None) -> int:
        """Drop journal rows of every run but ``keep_run_id`` (all when None); returns rows deleted."""
        ...

    def counts(self) -> dict[str, int]:
        """Row count of every existing destination table."""
        ...

    def fetch_rows(self, table: str, *, metadata: bool = False) -> list[dict[str, Any]]:
        """A destination table's rows in row format, ordered by primary key (with the metadata columns
        when asked): what tests, the demo and `flowkit status` read back."""
        ...

    def close(self) -> None: ...
