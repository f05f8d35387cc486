"""PutJournal: appends record batches to the destination's journal tables."""

from __future__ import annotations

import logging
from collections import defaultdict

from flowkit.destinations.base import Destination, DestinationError, JournalBatch, OversizedValueError
from flowkit.destinations.rows import apply_oversized_strategy
from flowkit.engine import FlowFile, ProcessContext, Processor, ProcessSession, PropertyDescriptor, validators
from flowkit.jira.processors.common import (
    ATTEMPT,
    BOARD_ID,
    DESTINATION,
    FRAGMENT_COUNT,
    FRAGMENT_INDEX,
    INGESTION_STATE,
    REL_SUCCESS,
    RUN_ID,
    TABLE,
)
from flowkit.jira.run_state import RunState
from flowkit.jira.services import WarehouseDestinationService
from flowkit.jira.state_service import StandardJiraIngestionStateService
from flowkit.jira.tables import SCHEMA

BATCH_SIZE = PropertyDescriptor(
    "Batch Size", "Most FlowFiles journaled per trigger", default="100", validator=validators.POSITIVE_INTEGER
)
BATCH_ROWS = PropertyDescriptor(
    "Batch Rows",
    "Stop taking FlowFiles for a trigger once this many rows are in hand (bounds memory: an issue page has 5000)",
    default="10000",
    validator=validators.POSITIVE_INTEGER,
)


class PutJournal(Processor):
    """Journals each record batch, then records the page in the ingestion state.

    The order matters for crash safety: a page is marked in the state only after its rows are
    durably in the journal, and a board counts as journaled only when every page of one attempt
    is. Values over 16 MB follow `Oversized Value Strategy`. Emits one small FlowFile per trigger
    to tell MergeTables that new journal data arrived.
    """

    properties = (DESTINATION, INGESTION_STATE, BATCH_SIZE, BATCH_ROWS)
    relationships = (REL_SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        batch = _take(session, context.property(BATCH_SIZE).as_int(), context.property(BATCH_ROWS).as_int())
        if not batch:
            return
        destination_service = context.property(DESTINATION).as_service(WarehouseDestinationService)
        state = context.property(INGESTION_STATE).as_service(StandardJiraIngestionStateService)
        by_run: dict[str, list[FlowFile]] = defaultdict(list)
        for flowfile in batch:
            by_run[flowfile.attributes[RUN_ID]].append(flowfile)
        journaled = 0
        for run_id, flowfiles in by_run.items():
            run = state.current()
            if run is None or run.run_id != run_id:
                continue  # pages of a run that no longer exists (state cleared): drop them
            destination = destination_service.ensure_tables(run.tables)
            pages: list[tuple[int, str, str, int, int | None]] = []
            batches: list[JournalBatch] = []
            failed_tables: dict[str, str] = {}
            for flowfile in flowfiles:
                attrs = flowfile.attributes
                table, board_id = attrs[TABLE], int(attrs[BOARD_ID])
                if table in run.failed_tables or table in failed_tables:
                    continue
                try:
                    rows, warnings = apply_oversized_strategy(
                        SCHEMA[table],
                        flowfile.records or (),
                        destination_service.oversized_strategy,
                        destination.max_value_bytes,
                    )
                except OversizedValueError as exc:
                    context.logger.error("table %s stops being replicated in this run: %s", table, exc)
                    failed_tables[table] = str(exc)
                    continue
                for warning in warnings:
                    context.logger.warning("%s", warning)
                batches.append(JournalBatch(table, run_id, board_id, attrs[ATTEMPT], rows))
                journaled += len(rows)
                count = attrs.get(FRAGMENT_COUNT)
                pages.append((board_id, table, attrs[ATTEMPT], int(attrs[FRAGMENT_INDEX]), _int(count)))
            refused = _append(destination, batches, context.logger)
            pages = [page for page in pages if (page[0], page[1]) not in refused]
            where = destination_service.identity
            state.update(
                run_id,
                lambda r, p=pages, f=failed_tables, b=refused, w=where: _record(  # type: ignore[misc]
                    r.with_destination(w), p, f, b
                ),
            )
            signal = session.create(attributes={RUN_ID: run_id})
            session.transfer(signal, REL_SUCCESS)
        for flowfile in batch:
            session.remove(flowfile)
        session.adjust_counter("journal.rows", journaled)


def _take(session: ProcessSession, most: int, rows: int) -> list[FlowFile]:
    """Up to `most` FlowFiles, stopping early once `rows` records are in hand (one trigger's transaction)."""
    batch: list[FlowFile] = []
    held = 0
    while len(batch) < most and held < rows:
        flowfile = session.get()
        if flowfile is None:
            break
        batch.append(flowfile)
        held += len(flowfile.records or ())
    return batch


def _append(
    destination: Destination, batches: list[JournalBatch], logger: logging.Logger
) -> dict[tuple[int, str], str]:
    """Append the trigger's pages in one transaction; if the destination refuses one, journal the others
    one by one and return the refused (board, table) pairs with the reason, so only those boards fail."""
    try:
        destination.append_journal_many(batches)  # one transaction (one fsync) for the trigger's pages
        return {}
    except DestinationError:
        pass
    refused: dict[tuple[int, str], str] = {}
    for batch in batches:
        try:
            destination.append_journal(batch.table, batch.run_id, batch.partition, batch.attempt, batch.rows)
        except DestinationError as exc:
            logger.error(
                "board %s: %s could not be journaled (%s); its rows are kept", batch.partition, batch.table, exc
            )
            refused[(batch.partition, batch.table)] = str(exc)
    return refused


def _record(
    run: RunState,
    pages: list[tuple[int, str, str, int, int | None]],
    failed: dict[str, str],
    failed_boards: dict[tuple[int, str], str],
) -> RunState:
    for board_id, table, attempt, index, count in pages:
        run = run.with_page(board_id, table, attempt, index, count)
    for table, reason in failed.items():
        run = run.with_failed_table(table, reason)
    for (board_id, table), reason in failed_boards.items():
        run = run.with_settled(board_id, table, "failed", reason)
    return run


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None
