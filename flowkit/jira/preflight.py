"""Preflight: can this token read what each enabled table needs? Checked on one board, before any row moves.

`preflight(client, enabled)` calls ``/myself``, the first page of boards, and then, on one board,
each endpoint an enabled table needs (first page only, one issue at most), and returns one
`Check` per step with, for a refusal, what to grant. It reads and never writes. Behind
`flowkit validate FLOW --check-connection` through `VerifyConnection.verify` (the engine's
verification hook).

What each table needs (Jira Cloud permissions; an API token acts as its user):
  BOARD          browse boards (``GET /rest/agile/1.0/board``), read a board's configuration and its
                 saved filter (``GET .../board/{id}/configuration``, ``GET /rest/api/3/filter/{id}``)
  SPRINT         read a scrum board's sprints (``GET .../board/{id}/sprint``); fills SPRINT and BOARD_SPRINT
  BOARD_PROJECT  read a board's projects (``GET .../board/{id}/project``)
  BOARD_ISSUE    search issues with the board's filter (``POST /rest/api/3/search/jql``)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flowkit.jira.client import JiraClient
from flowkit.jira.errors import JiraAuthError, JiraBoardUnavailable, JiraError, JiraRequestError

# What to grant when Jira refuses a step (shown after "grant:").
GRANT_CREDENTIALS = (
    "check 'Jira Email' and 'Jira API Token' (an API token from id.atlassian.com, created by that account)"
)
GRANT_BROWSE_BOARDS = (
    "Jira Software access for the account and 'Browse projects' on the projects whose boards you mirror"
)
GRANT_CONFIGURATION = "'Browse projects' on the board's location project (the board must be visible to the account)"
GRANT_FILTER = "share the board's saved filter with the account (or a group/the organisation it belongs to)"
GRANT_SPRINTS = "'Browse projects' on the projects of the board's filter (sprints are read through the board)"
GRANT_PROJECTS = "'Browse projects' on the board's projects"
GRANT_SEARCH = "'Browse projects' on the projects the board's filter selects (issue search)"

TABLE_LABELS = {
    "BOARD": "BOARD",
    "SPRINT": "SPRINT and BOARD_SPRINT",
    "BOARD_PROJECT": "BOARD_PROJECT",
    "BOARD_ISSUE": "BOARD_ISSUE",
}


@dataclass(frozen=True)
class Check:
    """One preflight step. ``ok`` is None when the step could not be tried (skipped)."""

    table: str  # "connection", "BOARD", "SPRINT", "BOARD_PROJECT" or "BOARD_ISSUE"
    step: str  # e.g. "GET /rest/agile/1.0/board/{boardId}/sprint (board 1 'PLAT board')"
    ok: bool | None
    detail: str
    grant: str = ""

    @property
    def explanation(self) -> str:
        """`detail`, plus what to grant when it failed."""
        return f"{self.detail}; grant: {self.grant}" if self.ok is False and self.grant else self.detail


def _first(pages: Iterator[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """The first non-empty page (one request for a list that fits a page), or None for an empty list."""
    try:
        return next(pages, None)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _refused(exc: JiraError) -> str:
    status = getattr(exc, "status", None)
    return f"refused (HTTP {status}): {exc}" if status else f"failed: {exc}"


def preflight(client: JiraClient, enabled: tuple[str, ...]) -> list[Check]:
    """Checks for BOARD (always) and each enabled optional table (`Enabled Tables` values)."""
    checks: list[Check] = []
    try:
        me = client.myself()
    except JiraAuthError as exc:
        return [Check("connection", "GET /rest/api/3/myself", False, f"credentials refused: {exc}", GRANT_CREDENTIALS)]
    except JiraError as exc:
        return [Check("connection", "GET /rest/api/3/myself", False, f"Jira not reachable: {exc}", "")]
    who = me.get("displayName") or me.get("accountId") or "the token's user"
    checks.append(Check("connection", "GET /rest/api/3/myself", True, f"authenticated as {who}"))

    try:
        boards = _first(client.iter_board_pages()) or []
    except JiraError as exc:
        checks.append(
            Check(
                "BOARD", "GET /rest/agile/1.0/board", False, f"cannot list boards: {_refused(exc)}", GRANT_BROWSE_BOARDS
            )
        )
        return checks + _skipped(enabled, "the board list could not be read")
    if not boards:
        checks.append(
            Check("BOARD", "GET /rest/agile/1.0/board", False, "the account sees no boards", GRANT_BROWSE_BOARDS)
        )
        return checks + _skipped(enabled, "no board to check with")
    checks.append(Check("BOARD", "GET /rest/agile/1.0/board", True, f"{len(boards)} boards on the first page"))

    board = boards[0]
    board_id = int(board["id"])
    label = f"board {board_id} '{board.get('name') or ''}'"
    jql: str | None = None
    try:
        configuration = client.board_configuration(board_id)
        checks.append(Check("BOARD", f"GET /rest/agile/1.0/board/{board_id}/configuration ({label})", True, "read"))
        filter_id = (configuration.get("filter") or {}).get("id")
        sub_query = (configuration.get("subQuery") or {}).get("query")
        if filter_id is None:
            checks.append(
                Check(
                    "BOARD", f"saved filter ({label})", False, "the configuration names no saved filter", GRANT_FILTER
                )
            )
        else:
            saved = client.filter(int(filter_id), board_id=board_id)
            checks.append(Check("BOARD", f"GET /rest/api/3/filter/{filter_id} (saved filter of {label})", True, "read"))
            jql = client.board_issue_jql(str(saved.get("jql") or ""), sub_query)
    except JiraBoardUnavailable as exc:
        step = exc.endpoint or "board configuration"
        grant = GRANT_FILTER if "/filter/" in step else GRANT_CONFIGURATION
        checks.append(
            Check(
                "BOARD",
                f"{step} ({'saved filter of ' if '/filter/' in step else ''}{label})",
                False,
                _refused(exc),
                grant,
            )
        )
    except JiraError as exc:
        checks.append(Check("BOARD", f"board configuration ({label})", False, _refused(exc), GRANT_CONFIGURATION))

    if "SPRINT" in enabled:
        checks.append(_sprints(client, boards))
    if "BOARD_PROJECT" in enabled:
        checks.append(
            _call(
                "BOARD_PROJECT",
                f"GET /rest/agile/1.0/board/{board_id}/project ({label})",
                lambda: _first(client.iter_board_project_pages(board_id)),
                GRANT_PROJECTS,
            )
        )
    if "BOARD_ISSUE" in enabled:
        step = f"POST /rest/api/3/search/jql (the filter of {label}, one issue)"
        if jql is None:
            checks.append(Check("BOARD_ISSUE", step, None, "skipped: needs the board's saved filter (see BOARD)"))
        else:
            checks.append(
                _call(
                    "BOARD_ISSUE",
                    step,
                    lambda: _first(client.iter_jql_pages(jql, page_size=1, board_id=board_id)),
                    GRANT_SEARCH,
                )
            )
    return checks


def _sprints(client: JiraClient, boards: list[dict[str, Any]]) -> Check:
    """Sprints are asked of a board that can have them (kanban boards cannot)."""
    scrum = next((b for b in boards if str(b.get("type") or "").lower() != "kanban"), None)
    if scrum is None:
        return Check(
            "SPRINT",
            "GET /rest/agile/1.0/board/{boardId}/sprint",
            None,
            "skipped: no scrum board on the first page of boards to check with",
        )
    board_id = int(scrum["id"])
    step = f"GET /rest/agile/1.0/board/{board_id}/sprint (board {board_id} '{scrum.get('name') or ''}')"
    return _call("SPRINT", step, lambda: _first(client.iter_sprint_pages(board_id)), GRANT_SPRINTS)


def _call(table: str, step: str, call: Any, grant: str) -> Check:
    try:
        page = call()
    except (JiraBoardUnavailable, JiraRequestError) as exc:
        return Check(table, step, False, _refused(exc), grant)
    except JiraError as exc:
        return Check(table, step, False, _refused(exc), "")
    return Check(table, step, True, f"read ({len(page or [])} on the first page)")


def _skipped(enabled: tuple[str, ...], why: str) -> list[Check]:
    return [Check(table, "-", None, f"skipped: {why}") for table in enabled]


def problems(checks: list[Check]) -> dict[str, list[Check]]:
    """Failed checks by table (empty: everything enabled is reachable)."""
    out: dict[str, list[Check]] = {}
    for check in checks:
        if check.ok is False:
            out.setdefault(check.table, []).append(check)
    return out
