"""What the Jira processors share: FlowFile attribute names, service properties, record batches."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flowkit.engine import ProcessContext, ProcessSession, PropertyDescriptor, Relationship
from flowkit.jira.services import JiraCloudClientService, WarehouseDestinationService
from flowkit.jira.state_service import StandardJiraIngestionStateService

# FlowFile attributes (NiFi's fragment.* convention marks the pages of one fetch attempt).
RUN_ID = "jira.run.id"
BOARD_ID = "jira.board.id"
BOARD_NAME = "jira.board.name"
BOARD_TYPE = "jira.board.type"
FILTER_JQL = "jira.filter.jql"
FILTER_ID = "jira.filter.id"
SUB_QUERY = "jira.board.subquery"
TABLE = "jira.table"
ATTEMPT = "jira.attempt"
FRAGMENT_INDEX = "fragment.index"
FRAGMENT_COUNT = "fragment.count"

JIRA_CLIENT = PropertyDescriptor(
    "Jira Client", "The Jira client service", required=True, controller_service=JiraCloudClientService
)
INGESTION_STATE = PropertyDescriptor(
    "Ingestion State Service",
    "The flow's StandardJiraIngestionStateService",
    required=True,
    controller_service=StandardJiraIngestionStateService,
)
DESTINATION = PropertyDescriptor(
    "Destination",
    "The warehouse destination service",
    required=True,
    controller_service=WarehouseDestinationService,
)

REL_SUCCESS = Relationship("success", "FlowFiles for the next step")
REL_JOURNAL = Relationship("journal", "record batches to append to the journal")


def new_attempt() -> str:
    return uuid.uuid4().hex[:12]


def board_label(attributes: Mapping[str, str]) -> str:
    name = attributes.get(BOARD_NAME, "")
    return f"board {attributes.get(BOARD_ID)} '{name}'" if name else f"board {attributes.get(BOARD_ID)}"


def warn_problems(context: ProcessContext, label: str, what: str, problems: Sequence[str]) -> None:
    """One warning naming the board for optional values Jira sent with the wrong type (stored as NULL)."""
    if problems:
        unique = list(dict.fromkeys(problems))
        more = f" (and {len(unique) - 5} more)" if len(unique) > 5 else ""
        context.logger.warning(
            "%s: %s: Jira sent values of the wrong type, stored as NULL: %s%s", label, what, "; ".join(unique[:5]), more
        )


def emit_records(
    session: ProcessSession,
    relationship: Relationship,
    *,
    run_id: str,
    board_id: int,
    table: str,
    attempt: str,
    index: int,
    last: bool,
    records: Sequence[Mapping[str, Any]],
) -> None:
    """One page of rows for PutJournal; the last page carries fragment.count so the attempt can complete."""
    attributes = {
        RUN_ID: run_id,
        BOARD_ID: str(board_id),
        TABLE: table,
        ATTEMPT: attempt,
        FRAGMENT_INDEX: str(index),
    }
    if last:
        attributes[FRAGMENT_COUNT] = str(index + 1)
    child = session.create(attributes=attributes, records=tuple(records))
    session.transfer(child, relationship)


def services(context: ProcessContext) -> tuple[JiraCloudClientService, StandardJiraIngestionStateService]:
    return (
        context.property(JIRA_CLIENT).as_service(JiraCloudClientService),
        context.property(INGESTION_STATE).as_service(StandardJiraIngestionStateService),
    )
