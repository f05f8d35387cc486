"""Every Jira endpoint the flow uses, declared once: path, parent, paging, error policy and row mapping.

In the style of the Singer SDK's ``RESTStream`` (``validate_response``: fatal vs retriable) and dlt's
``response_actions``: an endpoint's :class:`ErrorPolicy` is an ordered list of :class:`ErrorRule` s
(status codes, optionally a pattern over Jira's error messages) that say what an error answer means
for *this* endpoint: try again, skip the board, "nothing here" (empty), or stop the run. Answers no
rule matches fall back to :func:`flowkit.jira.http.classify_response`'s defaults (401 stops the run,
429/408/5xx are retried, other 4xx fail the call).

The client (:class:`flowkit.jira.client.JiraClient`) sends and pages whatever is declared here; the
Fetch* processors take their tables and row mappings from here. Adding a board-level table means one
declaration below, its table spec, and its test (docs/architecture.md counts the files).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flowkit.jira.http import Outcome
from flowkit.jira.records import (
    Problems,
    board_issue_row,
    board_project_row,
    board_sprint_row,
    sprint_row,
)

#: ``(parent id, one item of a page, problems) -> row``: how a page item becomes one table's row.
RowMaker = Callable[[int, Mapping[str, Any], Problems], dict[str, Any]]
Paging = Literal["none", "values", "issues", "token"]
Parent = Literal["board", "sprint"] | None


@dataclass(frozen=True)
class ErrorRule:
    """One line of an error policy: ``statuses`` (and, when given, a message ``pattern``) -> ``outcome``.

    ``pattern`` is searched case-insensitively in each of Jira's error messages (``errorMessages`` and the
    values of ``errors``); a rule with a pattern never matches an answer without messages. ``reason``
    replaces Jira's text in the message when set (e.g. "the board does not support sprints").
    """

    statuses: frozenset[int]
    outcome: Outcome
    pattern: str | None = None
    reason: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_regex", re.compile(self.pattern, re.IGNORECASE))

    def matches(self, status: int, messages: tuple[str, ...]) -> bool:
        if status not in self.statuses:
            return False
        if self._regex is None:
            return True
        return any(self._regex.search(m) for m in messages)


def rule(
    statuses: int | tuple[int, ...], outcome: Outcome, pattern: str | None = None, reason: str | None = None
) -> ErrorRule:
    codes = (statuses,) if isinstance(statuses, int) else statuses
    return ErrorRule(frozenset(codes), outcome, pattern, reason)


@dataclass(frozen=True)
class ErrorPolicy:
    """Ordered rules; the first that matches decides. ``policy + other`` appends ``other``'s rules."""

    rules: tuple[ErrorRule, ...] = ()

    def decide(self, status: int, messages: tuple[str, ...]) -> ErrorRule | None:
        for r in self.rules:
            if r.matches(status, messages):
                return r
        return None

    def __add__(self, other: ErrorPolicy) -> ErrorPolicy:
        return ErrorPolicy(self.rules + other.rules)


#: Nothing endpoint-specific: only the defaults of classify_response apply.
DEFAULT_POLICY = ErrorPolicy()

#: A board's sub-resource: Jira refuses the board (no permission, deleted, filter not shared) -> skip it.
BOARD_SCOPED = ErrorPolicy((rule((403, 404, 422), Outcome.SKIP_BOARD),))

#: "This board has no sprints", in the wordings real sites send (jira-api.md §4, §11).
NO_SPRINTS = ErrorPolicy(
    (
        rule(400, Outcome.EMPTY, r"board (does not|doesn.t) support sprints", "the board does not support sprints"),
        # Some sites answer a board without mapped columns with a 500 here; no retry changes it.
        rule(
            500, Outcome.EMPTY, r"has no columns with a mapped status", "the board has no columns with a mapped status"
        ),
    )
)

#: /myself: a 403 is a denied login (e.g. a CAPTCHA lock-out), never "retry" or "skip".
MYSELF_POLICY = ErrorPolicy((rule(403, Outcome.AUTH),))

#: A board's saved filter: gone or not shared with the token owner (Jira also answers 400) -> skip the board.
FILTER_POLICY = ErrorPolicy((rule((400, 403, 404, 422), Outcome.SKIP_BOARD),))


@dataclass(frozen=True)
class Endpoint:
    """One Jira endpoint.

    ``path`` is a template (``{boardId}``, ``{filterId}``); ``parent`` says whose id fills it (and which
    board a SKIP_BOARD refers to); ``paging`` picks the paginator (``none``: one object); ``errors`` is
    the endpoint's error policy; ``rows`` maps each destination table it fills to its row maker.
    """

    name: str
    method: str
    path: str
    parent: Parent
    paging: Paging
    errors: ErrorPolicy = DEFAULT_POLICY
    rows: Mapping[str, RowMaker] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``"GET /rest/agile/1.0/board/{boardId}/sprint"``: how requests are counted."""
        return f"{self.method} {self.path}"

    def url_path(self, **ids: int) -> str:
        return self.path.format(**ids)


MYSELF = Endpoint("myself", "GET", "/rest/api/3/myself", None, "none", MYSELF_POLICY)
BOARDS = Endpoint("boards", "GET", "/rest/agile/1.0/board", None, "values")
BOARD_CONFIGURATION = Endpoint(
    "board_configuration", "GET", "/rest/agile/1.0/board/{boardId}/configuration", "board", "none", BOARD_SCOPED
)
FILTER = Endpoint("filter", "GET", "/rest/api/3/filter/{filterId}", "board", "none", FILTER_POLICY)
BOARD_SPRINTS = Endpoint(
    "board_sprints",
    "GET",
    "/rest/agile/1.0/board/{boardId}/sprint",
    "board",
    "values",
    NO_SPRINTS + BOARD_SCOPED,
    rows={"SPRINT": lambda _board, sprint, problems: sprint_row(sprint, problems), "BOARD_SPRINT": board_sprint_row},
)
BOARD_PROJECTS = Endpoint(
    "board_projects",
    "GET",
    "/rest/agile/1.0/board/{boardId}/project",
    "board",
    "values",
    BOARD_SCOPED,
    rows={"BOARD_PROJECT": board_project_row},
)
#: The board's issues: its saved-filter JQL through the enhanced search (the flow passes the board id).
BOARD_ISSUES_SEARCH = Endpoint(
    "search_jql",
    "POST",
    "/rest/api/3/search/jql",
    "board",
    "token",
    BOARD_SCOPED,
    rows={"BOARD_ISSUE": board_issue_row},
)

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e for e in (MYSELF, BOARDS, BOARD_CONFIGURATION, FILTER, BOARD_SPRINTS, BOARD_PROJECTS, BOARD_ISSUES_SEARCH)
}
