"""FetchSprints, FetchBoardProjects, FetchBoardIssues: one board's mapping tables, page by page.

Each takes the board FlowFiles of ListBoards and emits record batches for PutJournal. A table
that is not enabled for the run, or already settled (a resumed run), costs no Jira call. Pages
are committed as they arrive; they count only once the attempt's last page is journaled, so a
failure half-way leaves the board's old rows exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from flowkit.engine import ConfigurationError, ProcessContext, Processor, ProcessSession, PropertyDescriptor
from flowkit.jira.client import JiraClient
from flowkit.jira.endpoints import BOARD_ISSUES_SEARCH, BOARD_PROJECTS, BOARD_SPRINTS, ENDPOINTS, Endpoint, RowMaker
from flowkit.jira.errors import JiraAuthError, JiraBoardUnavailable, JiraError
from flowkit.jira.http import loads_key_only_search
from flowkit.jira.pagination import PageStream
from flowkit.jira.processors.common import (
    BOARD_ID,
    BOARD_TYPE,
    FILTER_ID,
    FILTER_JQL,
    INGESTION_STATE,
    JIRA_CLIENT,
    REL_SUCCESS,
    RUN_ID,
    SUB_QUERY,
    board_label,
    emit_records,
    new_attempt,
    services,
    warn_problems,
)
from flowkit.jira.run_state import RunState, Status
from flowkit.jira.state_service import StandardJiraIngestionStateService


class _FetchBoardTable(Processor):
    """Shared trigger logic; a subclass names its endpoint (whose declaration holds the tables it fills
    and their row mappings)."""

    properties: ClassVar[tuple[PropertyDescriptor, ...]] = (JIRA_CLIENT, INGESTION_STATE)
    relationships = (REL_SUCCESS,)
    endpoint: ClassVar[Endpoint]
    what: ClassVar[str] = ""

    def endpoint_for(self, context: ProcessContext) -> Endpoint:
        return self.endpoint

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        board_ff = session.get()
        if board_ff is None:
            return
        session.remove(board_ff)
        client_service, state = services(context)
        attributes = board_ff.attributes
        run_id, board_id = attributes[RUN_ID], int(attributes[BOARD_ID])
        run = state.current()
        if run is None or run.run_id != run_id or run.phase != "fetching":
            return
        endpoint = self.endpoint_for(context)
        what = self.what or endpoint.name
        makers = endpoint.rows
        todo = [t for t in makers if t in run.tables and not run.is_settled(board_id, t)]
        if not todo:
            return
        attempt = new_attempt()
        problems: list[str] = []
        try:
            pages = board_pages(client_service.client, endpoint, board_id, attributes)
            index, ended = 0, False
            for page in pages:
                # Each page goes to PutJournal as soon as it arrives: the paginator says whether it is the last.
                ended = isinstance(pages, PageStream) and pages.last
                rows = {table: _map_page(makers[table], board_id, page, problems) for table in todo}
                del page  # the decoded page is not kept while the next one is fetched
                self._emit(session, run_id, board_id, attempt, index, ended, rows)
                session.commit()
                # Back pressure between pages, not only between boards: a board of 100 pages must not
                # pile them all up in memory while PutJournal catches up.
                if not context.wait_for_room():
                    return  # the run is stopping; the attempt never completes, so it counts for nothing
                index += 1
            if not ended:  # no page at all, or the last answer was empty: an empty last page ends the attempt
                self._emit(session, run_id, board_id, attempt, index, True, {table: [] for table in todo})
                session.commit()
            warn_problems(context, board_label(attributes), what, problems)
        except JiraAuthError as exc:
            raise ConfigurationError(f"Jira refused the credentials while fetching {what} ({exc})") from exc
        except JiraBoardUnavailable as exc:
            context.logger.warning(
                "%s: %s skipped (%s); its existing rows are kept", board_label(attributes), what, exc
            )
            session.adjust_counter("boards.skipped", 1)
            self._settle(state, run_id, board_id, todo, "skipped", str(exc))
        except JiraError as exc:
            context.logger.error(
                "%s: %s could not be fetched (%s); its existing rows are kept",
                board_label(attributes),
                what,
                exc,
            )
            session.adjust_counter("boards.failed", 1)
            self._settle(state, run_id, board_id, todo, "failed", str(exc))
        except Exception as exc:  # e.g. an answer of the wrong shape: no retry helps, and the board must
            # still settle, or the run would wait for it forever (its FlowFile left with the first page)
            reason = f"unexpected answer ({type(exc).__name__}: {exc})"
            context.logger.error("%s: %s failed: %s; its existing rows are kept", board_label(attributes), what, reason)
            session.adjust_counter("boards.failed", 1)
            self._settle(state, run_id, board_id, todo, "failed", reason)

    @staticmethod
    def _emit(
        session: ProcessSession,
        run_id: str,
        board_id: int,
        attempt: str,
        index: int,
        last: bool,
        rows: Mapping[str, Sequence[Mapping[str, Any]]],
    ) -> None:
        """One page of each table this trigger fills (`rows` has a list, maybe empty, for each of them)."""
        for table in rows:
            emit_records(
                session,
                REL_SUCCESS,
                run_id=run_id,
                board_id=board_id,
                table=table,
                attempt=attempt,
                index=index,
                last=last,
                records=rows[table],
            )

    @staticmethod
    def _settle(
        state: StandardJiraIngestionStateService,
        run_id: str,
        board_id: int,
        tables: list[str],
        status: Status,
        reason: str,
    ) -> None:
        def change(run: RunState) -> RunState:
            for table in tables:
                run = run.with_settled(board_id, table, status, reason)
            return run

        state.update(run_id, change)


def _map_page(make: RowMaker, board_id: int, page: Sequence[Any], problems: list[str]) -> list[dict[str, Any]]:
    return [make(board_id, item, problems) for item in page]


def board_pages(
    client: JiraClient, endpoint: Endpoint, board_id: int, attributes: Mapping[str, str]
) -> Iterable[Sequence[Any]]:
    """The pages of a board-level endpoint for one board FlowFile (what only the flow knows is added here)."""
    if endpoint is BOARD_SPRINTS and attributes.get(BOARD_TYPE) == "kanban":
        return []  # kanban boards never have sprints: save the call Jira would answer with HTTP 400
    if endpoint is BOARD_ISSUES_SEARCH:
        filter_jql = attributes.get(FILTER_JQL)
        if not filter_jql:
            filter_id = attributes.get(FILTER_ID)
            reason = (
                f"its saved filter {filter_id} has no JQL"
                if filter_id
                else "its configuration names no saved filter, so its issues cannot be selected"
            )
            raise JiraBoardUnavailable(board_id, 0, reason)
        jql = JiraClient.board_issue_jql(filter_jql, attributes.get(SUB_QUERY))
        # id/key only: each issue decoded into its two fields (board_issue_row reads them)
        return client.iter_jql_pages(jql, board_id=board_id, decode=loads_key_only_search)
    return client.iter_pages(endpoint, board_id=board_id)


class FetchSprints(_FetchBoardTable):
    """Sprints of one board (GET /rest/agile/1.0/board/{id}/sprint) into SPRINT and BOARD_SPRINT.

    A board that does not support sprints (HTTP 400 in either wording, or the 500 "no columns with a
    mapped status" some sites send; see the endpoint's error policy) simply has none: not a warning.
    Kanban boards are not even asked.
    """

    endpoint = BOARD_SPRINTS
    what = "sprints"


class FetchBoardProjects(_FetchBoardTable):
    """Projects of one board (GET /rest/agile/1.0/board/{id}/project) into BOARD_PROJECT."""

    endpoint = BOARD_PROJECTS
    what = "projects"


class FetchBoardIssues(_FetchBoardTable):
    """Issue ids and keys of one board into BOARD_ISSUE.

    Runs the board's saved-filter JQL (ANDed with the kanban sub-query when there is one)
    through POST /rest/api/3/search/jql asking for the key only, paging by nextPageToken with
    the largest page Jira allows for id/key-only searches. A board whose configuration names no
    saved filter is skipped for this table with a warning that says so.
    """

    endpoint = BOARD_ISSUES_SEARCH
    what = "issues"


BOARD_TABLE_ENDPOINTS = tuple(
    name for name, e in ENDPOINTS.items() if e.parent == "board" and e.rows and e.paging != "none"
)


class FetchBoardTable(_FetchBoardTable):
    """The tables of any declared board-level endpoint, named by the `Endpoint` property, page by page.

    FetchSprints, FetchBoardProjects and FetchBoardIssues are this with a fixed endpoint; a new
    board-level table needs only its endpoint declaration (flowkit/jira/endpoints.py), its table
    spec, and one FetchBoardTable in the flow YAML.
    """

    ENDPOINT = PropertyDescriptor(
        "Endpoint",
        "Name of a board-level endpoint declared in flowkit/jira/endpoints.py",
        required=True,
        allowable_values=BOARD_TABLE_ENDPOINTS,
    )
    properties = (JIRA_CLIENT, INGESTION_STATE, ENDPOINT)

    def endpoint_for(self, context: ProcessContext) -> Endpoint:
        return ENDPOINTS[context.property(self.ENDPOINT).value or ""]
