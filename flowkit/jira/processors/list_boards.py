"""ListBoards: every board the token owner can see, enriched with configuration and saved filter."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from flowkit.engine import (
    ConfigurationError,
    ProcessContext,
    Processor,
    ProcessSession,
    PropertyDescriptor,
    validators,
)
from flowkit.jira.client import JiraClient
from flowkit.jira.errors import JiraAuthError, JiraBoardUnavailable, JiraError
from flowkit.jira.processors.common import (
    BOARD_ID,
    BOARD_NAME,
    BOARD_TYPE,
    FILTER_ID,
    FILTER_JQL,
    INGESTION_STATE,
    JIRA_CLIENT,
    REL_JOURNAL,
    REL_SUCCESS,
    RUN_ID,
    SUB_QUERY,
    emit_records,
    new_attempt,
    services,
    warn_problems,
)
from flowkit.jira.records import board_row, key_id, opt_int
from flowkit.jira.run_state import BoardInfo, RunState, Status

CONCURRENT_REQUESTS = PropertyDescriptor(
    "Concurrent Requests",
    "Boards enriched at once (configuration and filter calls)",
    default="4",
    validator=validators.POSITIVE_INTEGER,
)


COALESCE_S = 0.03  # boards finishing this close together share one state update and one commit


@dataclass(frozen=True)
class _Enriched:
    board: Mapping[str, Any]
    row: dict[str, Any] | None = None
    info: BoardInfo | None = None
    skipped: str | None = None  # Jira refused the board (403/404/422): keep its rows
    failed: str | None = None  # retries ran out or the answer was unusable
    problems: tuple[str, ...] = ()  # optional values of the wrong type, stored as NULL


class ListBoards(Processor):
    """Pages GET /rest/agile/1.0/board, enriches each board, emits a BOARD row and a board FlowFile.

    Relationships: `journal` gets one BOARD record batch per board (for PutJournal); `success`
    gets one FlowFile per board for the Fetch* processors. The session is committed as soon as boards
    are enriched (whatever finished together: one state update and one commit), so fetching starts while
    listing and enriching go on. When a resumed run already has the
    complete board list and every BOARD row, no board call is made at all.
    """

    properties = (JIRA_CLIENT, INGESTION_STATE, CONCURRENT_REQUESTS)
    relationships = (REL_SUCCESS, REL_JOURNAL)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        trigger = session.get()
        if trigger is None:
            return
        client_service, state = services(context)
        run = state.current()
        session.remove(trigger)
        if run is None or run.run_id != trigger.attributes.get(RUN_ID) or run.phase != "fetching":
            return  # a stale trigger, or a resumed run that is already merging
        if run.listing == "complete" and all(run.is_settled(b, "BOARD") for b in run.listed):
            for board_id in run.listed:
                self._emit_board(session, run, board_id)
            return
        workers = context.property(CONCURRENT_REQUESTS).as_int()
        listed: list[int] = []
        complete = False
        unusable = 0  # list items without a usable id: the list cannot be trusted to delete boards
        pending: set[Future[_Enriched]] = set()

        def settle(run: RunState, block: bool) -> RunState:
            """Send on every board whose configuration and filter are known (waiting for one when ``block``):
            one state update and one commit for what finished together, so a board goes downstream as soon
            as it is enriched, not when its whole page is."""
            if not pending:
                return run
            done, _ = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
            if not done:
                return run
            if block and len(done) < len(pending):
                # gather what finishes in the next few ms too: each state update rewrites the run's state
                done, _ = wait(pending, timeout=COALESCE_S)
            pending.difference_update(done)
            enriched = [f.result() for f in done]
            # one state update for them: what was refused, and the facts the fetchers need
            run = state.update(run.run_id, functools.partial(_record_page, enriched)) or run
            for item in enriched:
                self._emit(context, session, run, item)
            session.commit()  # these boards go downstream now
            return run

        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ListBoards") as pool:
                filters = _FilterCache(client_service.client)
                enrich = functools.partial(_enrich, client_service.client, filters, run)
                try:
                    for raw_page in client_service.client.iter_board_pages():
                        page, bad = _with_int_ids(raw_page)
                        if bad:
                            unusable += len(bad)
                            context.logger.error(
                                "the board list holds %d item(s) without a usable id (first: %s); "
                                "no board will be deleted by this run",
                                len(bad),
                                bad[0],
                            )
                        listed.extend(int(board["id"]) for board in page)
                        pending.update(pool.submit(enrich, board) for board in page)
                        run = settle(run, block=False)  # the next page is asked for while this one is enriched
                finally:
                    while pending:  # also after a failed page: the boards already listed are finished
                        run = settle(run, block=True)
            complete = unusable == 0
        except JiraAuthError as exc:
            raise ConfigurationError(f"Jira refused the credentials while listing boards ({exc})") from exc
        except JiraError as exc:
            context.logger.error("the board list could not be read completely: %s; no board will be deleted", exc)
        finally:
            session.adjust_counter("boards.listed", len(listed))
            state.update(run.run_id, lambda r: r.with_listing("complete" if complete else "incomplete", listed))

    def _emit(self, context: ProcessContext, session: ProcessSession, run: RunState, item: _Enriched) -> None:
        """The BOARD row for PutJournal and the board FlowFile for the fetchers (or the warning)."""
        board_id, name = int(item.board["id"]), item.board.get("name") or ""
        if item.row is None and not (item.skipped or item.failed):  # resumed run: row journaled already
            self._emit_board(session, run, board_id)
        elif item.skipped:
            context.logger.warning(
                "board %s '%s' skipped: %s; its existing rows are kept", board_id, name, item.skipped
            )
            session.adjust_counter("boards.skipped", 1)
        elif item.failed:
            context.logger.error("board %s '%s' failed: %s; its existing rows are kept", board_id, name, item.failed)
            session.adjust_counter("boards.failed", 1)
        elif item.row is not None:
            warn_problems(context, f"board {board_id} '{name}'", "BOARD", item.problems)
            emit_records(
                session,
                REL_JOURNAL,
                run_id=run.run_id,
                board_id=board_id,
                table="BOARD",
                attempt=new_attempt(),
                index=0,
                last=True,
                records=[item.row],
            )
            self._emit_board(session, run, board_id)

    @staticmethod
    def _emit_board(session: ProcessSession, run: RunState, board_id: int) -> None:
        info = run.info.get(board_id)
        if info is None:
            return
        attributes = {
            RUN_ID: run.run_id,
            BOARD_ID: str(board_id),
            BOARD_NAME: info.name,
            BOARD_TYPE: info.type,
        }
        if info.filter_jql is not None:
            attributes[FILTER_JQL] = info.filter_jql
        if info.filter_id is not None:
            attributes[FILTER_ID] = str(info.filter_id)
        if info.sub_query:
            attributes[SUB_QUERY] = info.sub_query
        flowfile = session.create(attributes=attributes)
        session.transfer(flowfile, REL_SUCCESS)


def _with_int_ids(page: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Pure: the page's boards with their ids as ints ("84" -> 84), and a short description of any item
    without a usable id."""
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    for board in page:
        try:
            good.append({**board, "id": key_id(board.get("id") if isinstance(board, Mapping) else None, "board id")})
        except ValueError as exc:
            bad.append(str(exc))
    return good, bad


def _record_page(enriched: list[_Enriched], run: RunState) -> RunState:
    """Pure: a page of enriched boards into the run state."""
    for item in enriched:
        board_id = int(item.board["id"])
        if item.skipped or item.failed:
            status: Status = "skipped" if item.skipped else "failed"
            run = run.with_settled(board_id, "BOARD", status, item.skipped or item.failed or "")
        elif item.info is not None:
            run = run.with_info(board_id, item.info)
    return run


class _FilterCache:
    """Saved filters by id for one listing: boards that share a filter cost one call, not one each."""

    def __init__(self, client: JiraClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._per_filter: dict[int, threading.Lock] = {}  # boards enriched at once wait for one call
        self._filters: dict[int, dict[str, Any]] = {}

    def get(self, filter_id: int, board_id: int) -> dict[str, Any]:
        with self._lock:
            one_filter = self._per_filter.setdefault(filter_id, threading.Lock())
        with one_filter:
            if filter_id not in self._filters:
                # asked as this board's sub-resource: a filter not shared with us skips the board
                self._filters[filter_id] = self._client.filter(filter_id, board_id=board_id)
            return self._filters[filter_id]


def _enrich(client: JiraClient, filters: _FilterCache, run: RunState, board: Mapping[str, Any]) -> _Enriched:
    """Configuration + saved filter of one board (runs on the enrichment pool; no session use here)."""
    board_id = int(board["id"])
    if run.is_settled(board_id, "BOARD"):
        return _Enriched(board)
    try:
        configuration = client.board_configuration(board_id)
        # A configuration without a filter is not a permission problem: the board row is kept with
        # FILTER_* NULL, and FetchBoardIssues says why it cannot select the board's issues.
        filter_part = configuration.get("filter")
        filter_id = opt_int(filter_part.get("id"), "FILTER_ID") if isinstance(filter_part, Mapping) else None
        saved_filter = filters.get(filter_id, board_id) if filter_id is not None else None
    except JiraAuthError:
        raise
    except JiraBoardUnavailable as exc:
        return _Enriched(board, skipped=str(exc))
    except JiraError as exc:
        return _Enriched(board, failed=str(exc))
    problems: list[str] = []
    try:
        row = board_row(board, configuration, saved_filter, problems)
    except (KeyError, TypeError, ValueError) as exc:  # an answer of the wrong shape: fail this board only
        return _Enriched(board, failed=f"unexpected answer ({type(exc).__name__}: {exc})")
    info = BoardInfo(
        name=str(row["NAME"] or ""),
        type=str(row["TYPE"] or ""),
        filter_jql=row["FILTER_JQL"],
        sub_query=row["SUB_QUERY"],
        filter_id=row["FILTER_ID"],
    )
    return _Enriched(board, row=row, info=info, problems=tuple(problems))
