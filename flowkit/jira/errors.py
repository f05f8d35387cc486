"""Exceptions raised by the Jira Cloud REST client.

Every exception derives from :class:`JiraError`. Messages are single lines, never contain the API token
or the ``Authorization`` header, and name the endpoint (``METHOD /path``) they came from.
"""

from __future__ import annotations


class JiraError(Exception):
    """Base class of every error raised by :mod:`flowkit.jira.client`.

    ``endpoint`` is ``"METHOD /path"`` (e.g. ``"GET /rest/agile/1.0/board/7/sprint"``) or ``None``.
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint

    def __str__(self) -> str:
        return self.message


class JiraAuthError(JiraError):
    """HTTP 401: Jira refused the credentials (fatal, never retried)."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int = 401) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status


class JiraRequestError(JiraError):
    """A fatal, non-retriable answer: 400 (other than "no sprints"), 403/404 outside a board, a redirect, ...

    ``status`` is the HTTP status (``None`` for client-side failures such as a TLS error);
    ``error_messages`` holds Jira's ``errorMessages`` plus the values of ``errors``, when the body had them.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        error_messages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.error_messages = error_messages


class JiraRedirectError(JiraRequestError):
    """A 3xx answer. Redirects are never followed (credentials must not leave the configured host)."""

    def __init__(
        self, message: str, *, endpoint: str | None = None, status: int | None = None, location_host: str = ""
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.location_host = location_host


class JiraResponseTooLarge(JiraRequestError):
    """An answer larger than the client's ``max_body_bytes``: refused (not read whole), never retried."""


class JiraBoardUnavailable(JiraError):
    """403/404/422 on one board's sub-resource (or its saved filter): skip this board, keep its old rows."""

    def __init__(self, board_id: int | None, status: int, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.board_id = board_id
        self.status = status


class JiraRetriesExhausted(JiraError):
    """A retriable failure (429, 5xx, timeout, reset, malformed JSON) persisted past the retry budget.

    ``attempts`` counts the requests sent for this call; ``last_status`` is the last HTTP status
    (``None`` when the last failure was a timeout or connection error); ``last_reason`` says what failed.
    ``board_id`` is set when the call was a board sub-resource (the caller treats it as a failed board).
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        attempts: int = 0,
        last_status: int | None = None,
        last_reason: str = "",
        board_id: int | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.attempts = attempts
        self.last_status = last_status
        self.last_reason = last_reason
        self.board_id = board_id


class JiraPaginationError(JiraError):
    """The server's paging does not progress (same startAt/token twice) or a page has the wrong shape."""
