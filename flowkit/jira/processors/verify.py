"""VerifyConnection: the flow's source. Checks credentials, then starts (or resumes) a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowkit.engine import ConfigurationError, ProcessContext, Processor, ProcessSession, PropertyDescriptor
from flowkit.jira.errors import JiraAuthError, JiraRequestError
from flowkit.jira.processors.common import INGESTION_STATE, JIRA_CLIENT, REL_SUCCESS, RUN_ID, services
from flowkit.jira.run_state import tables_for
from flowkit.jira.services import JiraCloudClientService
from flowkit.jira.validators import enabled_tables, parse_enabled_tables

if TYPE_CHECKING:
    from flowkit.engine.verification import ConfigVerificationResult, VerificationContext

ENABLED_TABLES = PropertyDescriptor(
    "Enabled Tables",
    "Optional tables to replicate: BOARD_ISSUE, BOARD_PROJECT, SPRINT (BOARD is always on; blank: BOARD only)."
    " The flow's parameter defaults to all three.",
    validator=enabled_tables,
)


class VerifyConnection(Processor):
    """Calls GET /rest/api/3/myself at every scheduled run, then emits one FlowFile that starts the run.

    A run left unfinished by an earlier process is resumed rather than restarted, so boards
    already journaled are not fetched again. While this process is still busy with a run, a
    scheduled trigger does nothing (runs never overlap).
    """

    properties = (JIRA_CLIENT, INGESTION_STATE, ENABLED_TABLES)
    relationships = (REL_SUCCESS,)

    def verify(self, context: VerificationContext) -> list[ConfigVerificationResult]:
        """Preflight (`flowkit validate --check-connection`): /myself, then on one board each endpoint an
        enabled table needs; a refusal names the table it breaks and what to grant. Reads only."""
        from flowkit.engine.verification import ConfigVerificationResult, Outcome  # only for validate
        from flowkit.jira.preflight import TABLE_LABELS, preflight

        client = context.property(JIRA_CLIENT).as_service(JiraCloudClientService).client
        enabled = parse_enabled_tables(context.property(ENABLED_TABLES).value or "")
        outcome = {True: Outcome.SUCCESSFUL, False: Outcome.FAILED, None: Outcome.SKIPPED}
        return [
            ConfigVerificationResult(
                f"{TABLE_LABELS.get(check.table, check.table)}: {check.step}", outcome[check.ok], check.explanation
            )
            for check in preflight(client, enabled)
        ]

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        client_service, state = services(context)
        current = state.current()
        if current is not None and current.phase != "done" and state.run_is_active_here(current.run_id):
            context.yield_()
            return
        usage_before = client_service.usage()  # the run's request count includes /myself
        try:
            me = client_service.client.myself()
        except JiraAuthError as exc:
            raise ConfigurationError(
                f"Jira refused the credentials for 'Environment URL' with 'Jira Email' and 'Jira API Token' ({exc})"
            ) from exc
        except JiraRequestError as exc:  # a 404/redirect/TLS failure here: not a Jira site we can talk to
            raise ConfigurationError(
                f"'Environment URL' {client_service.client.base_url} did not answer like Jira Cloud ({exc})"
            ) from exc
        enabled = parse_enabled_tables(context.property(ENABLED_TABLES).value or "")
        started = state.begin_run(enabled)
        if started is None:
            context.yield_()
            return
        run, resumed = started
        client_service.mark_run_start(usage_before)
        wanted = tables_for(enabled)
        if resumed and run.tables != wanted:
            # A resumed run keeps its tables, so what it merges is one consistent snapshot.
            context.logger.warning(
                "resuming run %s with the tables it started with (%s); 'Enabled Tables' now gives (%s),"
                " which applies from the next run",
                run.run_id,
                ", ".join(run.tables),
                ", ".join(wanted),
            )
        context.logger.info(
            "%s run %s (site time zone %s, tables %s)",
            "resuming" if resumed else "starting",
            run.run_id,
            me.get("timeZone") or "unknown",
            ", ".join(run.tables),
        )
        attributes = {RUN_ID: run.run_id, "jira.run.resumed": str(resumed).lower()}
        if me.get("timeZone"):
            attributes["jira.site.timezone"] = str(me["timeZone"])
        session.transfer(session.create(attributes=attributes), REL_SUCCESS)
