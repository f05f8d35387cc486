"""Jira Cloud REST client (Agile 1.0 + platform v3) used by the Jira (Agile) flow.

Thread-safe: one :class:`JiraClient` is shared by every concurrent task of a flow. It never follows
redirects, only sends credentials to the configured site, pages with :mod:`flowkit.jira.pagination`,
classifies answers with :func:`flowkit.jira.http.classify_response` and retries with
:mod:`flowkit.jira.retry` (a shared :class:`RateGate` slows every thread down together on a 429/503).
See docs/jira-client.md.
"""

from __future__ import annotations

import base64
import logging
import os
import random as _random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from flowkit.jira.endpoints import (
    BOARD_CONFIGURATION,
    BOARD_ISSUES_SEARCH,
    BOARD_PROJECTS,
    BOARD_SPRINTS,
    BOARDS,
    FILTER,
    MYSELF,
    Endpoint,
)
from flowkit.jira.errors import (
    JiraAuthError,
    JiraBoardUnavailable,
    JiraError,
    JiraPaginationError,
    JiraRedirectError,
    JiraRequestError,
    JiraResponseTooLarge,
    JiraRetriesExhausted,
)
from flowkit.jira.http import (
    Classification,
    Outcome,
    build_session,
    classify_exception,
    classify_response,
    environment_proxies,
    loads,
    origin,
    read_bounded,
    validate_base_url,
)
from flowkit.jira.pagination import IssuesPaginator, Paginator, TokenPaginator, ValuesPaginator, iter_pages
from flowkit.jira.rate_manager import RateSignal, RequestRateManager, read_signal
from flowkit.jira.retry import Feedback, RateGate, RetryPolicy, compute_delay

__all__ = [
    "JiraAuthError",
    "JiraBoardUnavailable",
    "JiraClient",
    "JiraError",
    "JiraPaginationError",
    "JiraRedirectError",
    "JiraRequestError",
    "JiraResponseTooLarge",
    "JiraRetriesExhausted",
    "RateGate",
    "RetryPolicy",
    "validate_base_url",
]

logger = logging.getLogger("flowkit.jira.client")

_KEY_ONLY_FIELDS = frozenset({"id", "key"})
_JQL_FULL_FIELDS_PAGE = 100
_TRANSPORT_ERRORS = (requests.exceptions.RequestException, ConnectionError)
#: Default bound on one answer's (decoded) body. Jira pages are a few MB at most; a board configuration
#: with a column of 240,000 statuses is ~20 MB. Anything far beyond is refused, not held in memory.
MAX_BODY_BYTES = 128 * 1024 * 1024
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B|bytes?)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def parse_data_size(text: str) -> int:
    """NiFi-style data size -> bytes: ``"128 MB"``, ``"512 KB"``, ``"1000000"`` (binary units). ``ValueError``
    with one line otherwise."""
    m = _SIZE.fullmatch(text or "")
    if m is None:
        raise ValueError(f"{text!r} is not a data size (e.g. 128 MB)")
    size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if size < 1:
        raise ValueError(f"{text!r} must be at least 1 byte")
    return size


def resolve_ca_bundle(ca_bundle: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> str | bool:
    """What ``requests`` verifies the site's certificate with: the given PEM file (or directory of CAs), else
    ``$REQUESTS_CA_BUNDLE`` / ``$CURL_CA_BUNDLE``, else True (certifi's public CAs).

    The environment is read here, not left to requests, so it also applies to loopback sites (where the
    session ignores the environment for proxies) and an explicit bundle always wins. A path that does not
    exist is a ``ValueError`` with one line.
    """
    environ = os.environ if env is None else env
    chosen: str | None = os.fspath(ca_bundle) if ca_bundle not in (None, "") else None
    source = "the CA bundle"
    if chosen is None:
        for name in CA_BUNDLE_ENV:
            if environ.get(name, "").strip():
                chosen, source = environ[name].strip(), f"${name}"
                break
    if chosen is None:
        return True
    if not Path(chosen).exists():
        raise ValueError(f"{source} {chosen!r} does not exist (expected a PEM file of trusted CA certificates)")
    return chosen


# --------------------------------------------------------------------------------------------- JQL helpers


def _order_by_position(jql: str) -> int | None:
    """Index of the top-level ``ORDER BY`` (outside quotes and parentheses), or None."""
    depth = 0
    quote: str | None = None
    i = 0
    found: int | None = None
    n = len(jql)
    while i < n:
        ch = jql[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and ch in "oO" and (i == 0 or not (jql[i - 1].isalnum() or jql[i - 1] == "_")):
            m = re.match(r"order\s+by(?![\w])", jql[i:], re.IGNORECASE)
            if m:
                found = i
                i += m.end()
                continue
        i += 1
    return found


def split_order_by(jql: str) -> tuple[str, str | None]:
    """``"a = 1 ORDER BY Rank ASC"`` -> ``("a = 1", "Rank ASC")``; no ORDER BY -> ``(jql.strip(), None)``."""
    pos = _order_by_position(jql)
    if pos is None:
        return jql.strip(), None
    m = re.match(r"order\s+by\s*", jql[pos:], re.IGNORECASE)
    assert m is not None
    return jql[:pos].strip(), jql[pos + m.end() :].strip()


# --------------------------------------------------------------------------------------------- the client


_BASIC_CREDENTIALS = re.compile(r"Basic\s+[A-Za-z0-9+/=]{8,}")


class JiraClient:
    """Jira Cloud REST client with pooled HTTP, Basic auth, paging, classification and bounded retries.

    ``sleep``/``clock``/``random`` are injectable for tests (``clock`` must be monotonic; ``random``
    returns a float in [0, 1)). ``gate`` is shared between clients/threads talking to the same site;
    when None a private gate is created.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        gate: RateGate | None = None,
        page_size: int = 50,
        jql_page_size: int = 5000,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        random: Callable[[], float] | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        self.max_body_bytes = max_body_bytes
        self.verify = resolve_ca_bundle(ca_bundle)
        if page_size < 1 or jql_page_size < 1:
            raise ValueError("page sizes must be >= 1")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be > 0")
        self.email = email
        basic = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        self.__authorization = f"Basic {basic}"
        self._secrets = tuple(s for s in (api_token, basic) if s and len(s) >= 4)
        self._origin = origin(self.base_url)
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retry = retry if retry is not None else RetryPolicy()
        self._stop = threading.Event()  # set by close(): wakes threads waiting to retry
        self._sleep: Callable[[float], None] = sleep if sleep is not None else self._interruptible_sleep
        self._clock = clock if clock is not None else time.monotonic
        self._random = random if random is not None else _random.random
        if pool_size < 1:
            raise ValueError("pool_size must be >= 1")
        if gate is None:
            gate = RateGate(max_concurrency=pool_size, clock=self._clock, sleep=sleep)
        else:
            gate.adopt_pool_size(pool_size)
        self.gate = gate
        self.page_size = page_size
        self.jql_page_size = jql_page_size
        self.pool_size = pool_size
        self._session = build_session(pool_size, proxies=environment_proxies(self.base_url))
        self._lock = threading.Lock()
        self._request_count = 0
        self._retry_count = 0
        self._by_endpoint: dict[str, int] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"JiraClient(base_url={self.base_url!r}, email={self.email!r})"

    # ------------------------------------------------------------------ counters

    @property
    def request_count(self) -> int:
        """HTTP requests sent (every attempt, retries included)."""
        with self._lock:
            return self._request_count

    @property
    def retry_count(self) -> int:
        """Retries scheduled (each retry is also counted in ``request_count`` once sent)."""
        with self._lock:
            return self._retry_count

    @property
    def requests_by_endpoint(self) -> dict[str, int]:
        """A copy of ``{"GET /rest/agile/1.0/board/{boardId}/sprint": n, ...}`` (templated paths)."""
        with self._lock:
            return dict(self._by_endpoint)

    # ------------------------------------------------------------------ lifecycle

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def close(self) -> None:
        """Close the connection pool. Threads waiting to retry wake up and raise :class:`JiraError`."""
        self._closed = True
        self._stop.set()
        self._session.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ API

    def myself(self) -> dict[str, Any]:
        """``GET /rest/api/3/myself``: the token owner's user object (401, or 403 = a denied login ->
        :class:`JiraAuthError`)."""
        return self.get_object(MYSELF)

    def iter_board_pages(self) -> Iterator[list[dict[str, Any]]]:
        """``GET /rest/agile/1.0/board``, paged; every board the token owner can see (no private boards)."""
        return self.iter_pages(BOARDS)

    def board_configuration(self, board_id: int) -> dict[str, Any]:
        """``GET /rest/agile/1.0/board/{id}/configuration`` (403/404/422 -> :class:`JiraBoardUnavailable`)."""
        return self.get_object(BOARD_CONFIGURATION, board_id=board_id)

    def filter(self, filter_id: int | str, *, board_id: int | None = None) -> dict[str, Any]:
        """``GET /rest/api/3/filter/{id}``: a board's saved filter, with board-scoped errors.

        400/403/404/422 (the filter is gone or not shared with the caller) -> :class:`JiraBoardUnavailable`
        carrying ``board_id`` (:class:`JiraRequestError` when no board is given).
        """
        return self.get_object(FILTER, board_id=board_id, filterId=_as_id(filter_id, "filter_id"))

    def iter_sprint_pages(self, board_id: int) -> Iterator[list[dict[str, Any]]]:
        """``GET /rest/agile/1.0/board/{id}/sprint``, paged; nothing for a board without sprints."""
        return self.iter_pages(BOARD_SPRINTS, board_id=board_id)

    def iter_board_project_pages(self, board_id: int) -> Iterator[list[dict[str, Any]]]:
        """``GET /rest/agile/1.0/board/{id}/project``, paged."""
        return self.iter_pages(BOARD_PROJECTS, board_id=board_id)

    def iter_jql_pages(
        self,
        jql: str,
        fields: tuple[str, ...] | list[str] = ("key",),
        page_size: int | None = None,
        *,
        board_id: int | None = None,
        decode: Callable[[str | bytes], Any] = loads,
    ) -> Iterator[list[Any]]:
        """``POST /rest/api/3/search/jql`` paged by ``nextPageToken``.

        Page size: ``page_size``, else ``jql_page_size`` when only id/key are requested, else 100.
        With ``board_id`` the call is board-scoped (403/404/422 -> :class:`JiraBoardUnavailable`,
        exhausted retries carry the board id). Issues are dicts; ``decode=loads_key_only_search`` (for an
        id/key-only search) makes them :class:`~flowkit.jira.http.KeyOnlyIssue` objects, which is faster.
        """
        field_list = [str(f) for f in fields]
        if page_size is None:
            page_size = self.jql_page_size if set(field_list) <= _KEY_ONLY_FIELDS else _JQL_FULL_FIELDS_PAGE
        return self.iter_pages(
            BOARD_ISSUES_SEARCH,
            board_id=board_id,
            body={"jql": jql, "fields": field_list},
            page_size=page_size,
            decode=decode,
        )

    # ------------------------------------------------------------------ declared endpoints

    def get_object(self, endpoint: Endpoint, *, board_id: int | None = None, **ids: int) -> dict[str, Any]:
        """One call of a non-paged endpoint; the answer must be a JSON object."""
        path, bid = self._path(endpoint, board_id, ids)
        result = self._call(endpoint, path, board_id=bid)
        if not isinstance(result.data, dict):
            raise JiraRequestError(
                f"{endpoint.method} {path}: expected a JSON object, got {type(result.data).__name__}",
                endpoint=f"{endpoint.method} {path}",
                status=result.status,
            )
        return result.data

    def iter_pages(
        self,
        endpoint: Endpoint,
        *,
        board_id: int | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        decode: Callable[[str | bytes], Any] = loads,
        **ids: int,
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of a paged endpoint (a generator: nothing is sent until the first page is pulled).

        ``params`` go into every query string (GET), ``body`` into every JSON body (POST); the paginator adds
        its own fields. An EMPTY answer of the endpoint's error policy ends the iteration with no page.
        ``decode`` parses each answer (``loads_key_only_search`` for id/key-only searches).
        """
        path, bid = self._path(endpoint, board_id, ids)
        where = f"{endpoint.method} {path}"
        size = page_size or self.page_size
        pager: Paginator
        if endpoint.paging == "token":
            pager = TokenPaginator(size, where=where)
        elif endpoint.paging == "issues":
            pager = IssuesPaginator(size, where=where)
        elif endpoint.paging == "values":
            pager = ValuesPaginator(size, where=where)
        else:
            raise ValueError(f"{endpoint.name} is not a paged endpoint")
        key = pager.items_key

        def fetch(req: dict[str, Any]) -> Any:
            if endpoint.method == "GET":
                result = self._call(endpoint, path, params={**(params or {}), **req}, board_id=bid, decode=decode)
            else:
                result = self._call(endpoint, path, json_body={**(body or {}), **req}, board_id=bid, decode=decode)
            if result.outcome is Outcome.EMPTY:
                return {key: [], "isLast": True}
            return result.data

        return iter_pages(pager, fetch)

    @staticmethod
    def _path(endpoint: Endpoint, board_id: int | None, ids: Mapping[str, int]) -> tuple[str, int | None]:
        bid = _as_id(board_id, "board_id") if board_id is not None else None
        values = {name: _as_id(v, name) for name, v in ids.items()}
        if "{boardId}" in endpoint.path:
            if bid is None:
                raise ValueError(f"{endpoint.name} needs a board_id")
            values["boardId"] = bid
        return endpoint.url_path(**values), bid

    @staticmethod
    def board_issue_jql(filter_jql: str, sub_query: str | None) -> str:
        """The JQL selecting a board's issues: its filter, ANDed with the kanban sub-query when there is one.

        ``(<filter without ORDER BY>) AND (<sub_query>) ORDER BY <filter's order>``; the ORDER BY is found
        case-insensitively and only outside quotes/parentheses. No sub-query -> the filter JQL unchanged.
        """
        if sub_query is None or not sub_query.strip():
            return filter_jql
        where, order = split_order_by(filter_jql)
        sub_where, _sub_order = split_order_by(sub_query)
        if not sub_where:
            return filter_jql
        jql = f"({where}) AND ({sub_where})" if where else f"({sub_where})"
        if order:
            jql += f" ORDER BY {order}"
        return jql

    # ------------------------------------------------------------------ internals

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _BASIC_CREDENTIALS.sub("Basic ***", text)  # any echoed Authorization header, ours or not

    def _tls_hint(self, exc: BaseException) -> str:
        text = self._redact(str(exc))
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
            trusted = f"the CA bundle {self.verify!r}" if isinstance(self.verify, str) else "the public CAs"
            return (
                f"TLS certificate verification failed (the site's certificate is not signed by {trusted}); "
                "behind a TLS-inspecting proxy, set 'CA Bundle' (or REQUESTS_CA_BUNDLE) to its CA certificate"
            )
        return f"TLS error ({type(exc).__name__})"

    def _count(self, endpoint: str) -> None:
        with self._lock:
            self._request_count += 1
            self._by_endpoint[endpoint] = self._by_endpoint.get(endpoint, 0) + 1

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None, json_body: Any) -> tuple[int, Any, str]:
        """One HTTP exchange -> (status, headers, redacted body text); the body is read up to the bound."""
        if origin(url) != self._origin:  # defence in depth: every URL is built from the base URL
            raise JiraRequestError(f"refusing to send credentials to {origin(url)[1]!r}")
        headers = {"Authorization": self.__authorization}
        response = self._session.request(
            method,
            url,
            params=params,
            json=json_body,
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
            verify=self.verify,
        )
        with response:
            content = read_bounded(response, self.max_body_bytes, f"{method} {urlsplit(url).path}")
        # Redact the whole body first: messages quote a truncated snippet of it, and a
        # secret cut in half by the truncation would no longer match.
        return response.status_code, response.headers, self._redact(content.decode("utf-8", errors="replace"))

    def _call(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        board_id: int | None = None,
        decode: Callable[[str | bytes], Any] = loads,
    ) -> Classification:
        """Send one logical request with bounded retries; return the OK (or EMPTY) classification.

        What an error answer means comes from the endpoint's error policy (see flowkit/jira/endpoints.py);
        ``decode`` parses a successful answer's JSON.
        """
        if self._closed:
            raise JiraError("the Jira client is closed")
        method = endpoint.method
        url = self.base_url + path
        where = f"{method} {path}"
        policy = self.retry
        errors = 0  # retries spent from policy.max_retries
        throttles = 0  # retries spent from policy.max_throttle_retries
        while True:
            slot = self.gate.acquire(self._stop, endpoint.key)
            if slot is None or self._closed:
                if slot is not None:
                    self.gate.release(slot)
                raise JiraError(f"{where}: the Jira client was closed", endpoint=where)
            try:
                self._count(endpoint.key)
                signal: RateSignal | None = None
                try:
                    status, headers, body = self._send(method, url, params, json_body)
                    result = classify_response(status, headers, body, endpoint.errors, decode)
                    signal = read_signal(status, headers)
                except _TRANSPORT_ERRORS as exc:
                    result = classify_exception(exc)
                    if result.outcome is Outcome.FATAL and isinstance(exc, requests.exceptions.SSLError):
                        result = replace(result, message=self._tls_hint(exc))

                outcome = result.outcome
                if result.near_limit and policy.near_limit_pause > 0:
                    # proactive pacing: less than 20% of a budget is left, so slow down before the 429
                    self.gate.release(slot, Feedback.NEAR_LIMIT, defer=policy.near_limit_pause, signal=signal)
                elif outcome is not Outcome.RETRY:
                    # the server answered without throttling (2xx, or a 4xx it meant): one more request fits
                    self.gate.release(slot, Feedback.SUCCESS, signal=signal)
                elif not result.throttle:
                    self.gate.release(slot)  # resets, timeouts, plain 5xx say nothing about load
                if outcome is Outcome.OK:
                    return result
                if outcome is Outcome.EMPTY:
                    if endpoint.paging != "none":
                        return result
                    outcome = Outcome.FATAL  # "nothing here" has no meaning for a single object
                if outcome is Outcome.SKIP_BOARD and board_id is None:
                    outcome = Outcome.FATAL  # asked outside any board: there is no board to skip
                message = self._redact(result.message)

                if outcome is Outcome.AUTH:
                    raise JiraAuthError(f"{where}: {message}", endpoint=where, status=result.status or 401)
                if outcome is Outcome.SKIP_BOARD:
                    status = result.status or 0
                    subject = f"board {board_id}" if board_id is not None else "board"
                    raise JiraBoardUnavailable(
                        board_id, status, f"{subject} unavailable: {where} -> {message}", endpoint=where
                    )
                if outcome is Outcome.FATAL:
                    if result.location_host is not None or (result.status and 300 <= result.status < 400):
                        raise JiraRedirectError(
                            f"{where}: {message}",
                            endpoint=where,
                            status=result.status,
                            location_host=result.location_host or "",
                        )
                    raise JiraRequestError(
                        f"{where}: {message}",
                        endpoint=where,
                        status=result.status,
                        error_messages=tuple(self._redact(m) for m in result.error_messages),
                    )

                # Outcome.RETRY: a rate-limit answer that says when to come back spends the throttle budget,
                # anything else (errors, 429/503 without Retry-After) the error budget
                retry_after = result.retry_after
                told_when = result.throttle and retry_after is not None
                used, budget = (throttles, policy.max_throttle_retries) if told_when else (errors, policy.max_retries)
                too_long = retry_after is not None and retry_after > policy.max_retry_after
                if used >= budget or too_long:
                    attempts = errors + throttles + 1
                    why = (
                        f"server asked to wait {retry_after:g}s (more than {policy.max_retry_after:g}s)"
                        if too_long and retry_after is not None
                        else f"gave up after {attempts} attempts"
                        + (f" ({throttles + 1} of them rate-limited)" if told_when else "")
                    )
                    logger.warning("Jira %s failed: %s; %s", where, message, why)
                    if result.throttle:
                        # we give up, but the other threads still honour the wait (and the window shrinks)
                        pause = retry_after if told_when and not too_long else None
                        self.gate.release(slot, Feedback.THROTTLED, defer=pause, signal=signal)
                    raise JiraRetriesExhausted(
                        f"{where}: {why}; last error: {message}",
                        endpoint=where,
                        attempts=attempts,
                        last_status=result.status,
                        last_reason=message,
                        board_id=board_id,
                    )
                delay = compute_delay(policy, errors, retry_after, self._random())
                with self._lock:
                    self._retry_count += 1
                logger.log(
                    logging.WARNING if result.throttle else logging.INFO,
                    "Jira %s: %s; %sretry %d/%d in %.2fs%s",
                    where,
                    message,
                    "rate-limit " if told_when else "",
                    used + 1,
                    budget,
                    delay,
                    ""
                    if not result.throttle
                    else " (requests to this endpoint paused)"
                    if signal is not None and signal.burst and isinstance(self.gate, RequestRateManager)
                    else " (all requests to this site paused)",
                )
                if told_when:
                    throttles += 1
                else:
                    errors += 1
                if result.throttle:
                    # move the gate and halve the window in one step, before anyone can take this slot
                    self.gate.release(slot, Feedback.THROTTLED, defer=delay, signal=signal)
                else:
                    self._sleep(delay)
            finally:
                self.gate.release(slot)  # a no-op when the answer already released it


def _as_id(value: int | str, name: str) -> int:
    """Ids go into URL paths: accept ints and digit strings only."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer id")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be >= 0")
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{name} must be an integer id, got {value!r}")
