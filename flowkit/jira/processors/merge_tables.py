"""MergeTables: applies a finished run's journal to the destination tables, one transaction per table."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from flowkit.destinations.base import MergePlan
from flowkit.destinations.locking import warehouse_merge_lock
from flowkit.engine import ProcessContext, Processor, ProcessSession
from flowkit.jira.processors.common import DESTINATION, INGESTION_STATE, JIRA_CLIENT, REL_SUCCESS, services
from flowkit.jira.services import JiraCloudClientService, WarehouseDestinationService

if TYPE_CHECKING:
    from flowkit.destinations.base import Destination
    from flowkit.jira.run_state import RunState


#: How often a run still fetching gets a head start on its merge (destination.prepare_merge).
HEAD_START_EVERY_S = 0.25


class MergeTables(Processor):
    """Every `Merge Interval` (its run schedule), merges the journal of a run whose fetches have all settled.

    Nothing new since the last merge means nothing to do: the trigger returns at once. Tables are
    merged in order (SPRINT after BOARD_SPRINT); each table's merge is one transaction and is
    recorded in the state, so a crash between tables resumes with the next one, and the
    destination's merge ledger makes a repeated merge a no-op. At the end of a `--once` run
    (the final pass) a board that never settled counts as failed and keeps its rows.
    """

    properties = (DESTINATION, INGESTION_STATE, JIRA_CLIENT)
    relationships = (REL_SUCCESS,)
    trigger_when_empty = True

    def __init__(self) -> None:
        self._row_counts: dict[str, int] = {}
        self._next_head_start = 0.0  # time.monotonic() before which no head start is given again
        self._head_start_thread: threading.Thread | None = None

    def row_counts(self) -> dict[str, int]:
        """Rows per destination table, counted after this process last finished merging a run."""
        return dict(self._row_counts)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        for signal in session.get_batch(10_000):  # "new journal data" signals; the state says what to do
            session.remove(signal)
        client_service, state = services(context)
        run = state.current()
        if run is None or run.phase == "done":
            return
        if context.final_pass and run.pending():
            unsettled = ", ".join(f"board {b} {t}" for b, t in run.pending()[:10])
            context.logger.error("the run ended before these were fetched: %s; their rows are kept", unsettled)
            run = state.update(run.run_id, lambda r: r.with_unsettled_as_failed("not fetched before the run ended"))
            if run is None:
                return
        warehouse = context.property(DESTINATION).as_service(WarehouseDestinationService)
        if not run.ready_to_merge():
            self._head_start(context, warehouse, run)
            return
        if run.destination and run.destination != warehouse.identity:
            # Its journal is in another warehouse: merging here would find the journaled boards empty and
            # delete their rows. Give the run up; the next one fetches everything into this destination.
            context.logger.error(
                "run %s journaled into another destination (%s) than the flow now uses (%s); it is given up "
                "without merging, and the next run fetches everything again",
                run.run_id,
                run.destination,
                warehouse.identity,
            )
            state.update(run.run_id, lambda r: r.with_phase("done"))
            return
        merging = state.update(run.run_id, lambda r: r.with_phase("merging"))
        if merging is None:
            return
        run = merging
        destination = warehouse.ensure_tables(run.tables)
        # One merge at a time per warehouse file, even for flows with different $FLOWKIT_HOMEs.
        with warehouse_merge_lock(getattr(destination, "path", None), on_wait=context.logger.info):
            listed = run.listed_boards()
            tables = run.tables_to_merge()
            for table in tables:
                plan = MergePlan(run_id=run.run_id, accepted=run.accepted(table), listed_partitions=listed)
                result = destination.merge(table, plan)
                for name in ("inserted", "updated", "deleted", "unchanged"):
                    session.adjust_counter(f"rows.{table}.{name}", getattr(result, name))
                if table == tables[-1]:
                    # Prune earlier runs' leftovers BEFORE the run is marked done: only then may the next run
                    # start journaling, so nothing a newer run needs is deleted. This run's own journal and
                    # merge log stay: a crash before the state records this last merge replays it, and the
                    # merge log turns that replay into a no-op (with both pruned, it would find an empty
                    # journal and empty every accepted board). The next run's prune removes them.
                    destination.prune_journal(run.run_id)
                updated = state.update(run.run_id, lambda r, t=table: r.with_merged(t))  # type: ignore[misc]
                if updated is None:
                    return
                run = updated
            if not tables:  # every table failed in this run: nothing to merge, but the run must still end
                destination.prune_journal(run.run_id)
                run = state.update(run.run_id, lambda r: r.with_phase("done")) or run
        session.adjust_counter("jira.requests", client_service.client.request_count - client_service.run_start_requests)
        self._report_run(context, session, client_service, destination, run.run_id)
        for table, reason in run.failed_tables.items():
            context.logger.error("table %s was not merged: %s", table, reason)
        context.logger.info("run %s merged: %s", run.run_id, ", ".join(run.merged))

    def _head_start(self, context: ProcessContext, warehouse: WarehouseDestinationService, run: RunState) -> None:
        """While the run still fetches, let the destination unpack what was journaled so far for the merge
        (prepare_merge), so the run's last transactions have less to do. It runs on its own thread: this
        trigger never waits for it (a merge waits for one in progress, which does work the merge needs). The
        SQLite destination does it without holding up journal appends, on the spare core (SQLite works without
        Python's GIL). One at a time, at most every HEAD_START_EVERY_S: this trigger runs for every batch."""
        now = time.monotonic()
        if run.phase != "fetching" or run.destination not in ("", warehouse.identity) or now < self._next_head_start:
            return
        if self._head_start_thread is not None and self._head_start_thread.is_alive():
            return
        self._next_head_start = now + HEAD_START_EVERY_S
        destination = warehouse.ensure_tables(run.tables)

        def prepare() -> None:
            try:
                for table in run.tables:
                    destination.prepare_merge(table, run.run_id)
            except Exception as exc:  # only a head start: the merge does all of it anyway
                context.logger.debug("head start on the merge failed: %s", type(exc).__name__)

        self._head_start_thread = threading.Thread(target=prepare, name="MergeTables-head-start", daemon=True)
        self._head_start_thread.start()

    def on_stopped(self, context: ProcessContext) -> None:
        if self._head_start_thread is not None:
            self._head_start_thread.join()  # before the destination is closed

    def _report_run(
        self,
        context: ProcessContext,
        session: ProcessSession,
        client_service: JiraCloudClientService,
        destination: Destination,
        run_id: str,
    ) -> None:
        """What the run history keeps of a finished run: retries (a bulletin) and rows per table."""
        try:
            self._row_counts = destination.counts()  # once per run; `flowkit status` shows them
        except Exception as exc:  # informative only: a merged run never fails over it
            context.logger.info("row counts not available this run (%s)", type(exc).__name__)
        requests, retries, waited = client_service.run_usage()
        session.adjust_counter("jira.retries", retries)
        if retries:  # a bulletin, so the run history shows it with the run
            context.logger.warning(
                "run %s: %d of %d Jira requests were retries; tasks waited %.1f s in total for rate limits",
                run_id,
                retries,
                requests,
                waited,
            )
