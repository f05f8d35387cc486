"""Paginators for Jira's three page envelopes (pure; no I/O), in the style of dlt/Meltano paginators.

A paginator says what to ask for first (:meth:`first_request`) and, given each page, which items it holds
and what to ask for next (:meth:`advance` -> :class:`Page`; ``next_request`` is None when done). The
returned mappings are merged into the query string (offset) or the JSON body (token) by the caller.

* :class:`ValuesPaginator` - ``{startAt, maxResults, total, isLast, values}`` (boards, sprints, projects)
* :class:`IssuesPaginator` - ``{startAt, maxResults, total, issues}``; no ``isLast`` (board/sprint issues)
* :class:`TokenPaginator` - ``{issues, nextPageToken?, isLast}`` (enhanced JQL search)

Offset rule: ``next = startAt + len(items)``; stop when ``isLast`` is true, the page is empty, or
``next >= total``. The *echoed* ``maxResults`` wins over the requested one (Jira lowers it silently), so a
page shorter than what was asked for is never taken as the last one by itself. Asking for the same
``startAt`` (or token) twice raises :class:`JiraPaginationError` instead of looping forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowkit.jira.errors import JiraPaginationError


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_request: dict[str, Any] | None = field(default=None)

    @property
    def is_last(self) -> bool:
        return self.next_request is None


class Paginator(Protocol):
    items_key: str

    def first_request(self) -> dict[str, Any]: ...

    def advance(self, page: Any) -> Page: ...


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _items(page: Any, key: str, where: str) -> list[dict[str, Any]]:
    if not isinstance(page, Mapping):
        raise JiraPaginationError(f"{where}: expected a JSON object page, got {type(page).__name__}", endpoint=where)
    items = page.get(key)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise JiraPaginationError(f"{where}: page field {key!r} is not a list", endpoint=where)
    return items


class OffsetPaginator:
    """``startAt``/``maxResults`` paging. ``items_key`` is ``"values"`` or ``"issues"``."""

    items_key = "values"

    def __init__(self, page_size: int = 50, *, start_at: int = 0, where: str = "page") -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.page_size = page_size
        self.where = where
        self._initial_start = start_at
        self._start_at = start_at
        self._max_results = page_size
        self._seen: set[int] = set()
        self.pages = 0

    def first_request(self) -> dict[str, Any]:
        self._start_at = self._initial_start
        self._seen = {self._start_at}
        self.pages = 0
        self._max_results = self.page_size
        return {"startAt": self._start_at, "maxResults": self.page_size}

    def advance(self, page: Any) -> Page:
        items = _items(page, self.items_key, self.where)
        self.pages += 1
        requested = self._start_at
        start_at = _int_or_none(page.get("startAt"))
        if start_at is None or start_at < 0:
            start_at = requested
        echoed_max = _int_or_none(page.get("maxResults"))
        if echoed_max is not None and echoed_max > 0:
            self._max_results = echoed_max
        total = _int_or_none(page.get("total"))
        is_last = page.get("isLast")

        if is_last is True or not items:
            return Page(items, None)
        next_start = start_at + len(items)
        if total is not None and next_start >= total:
            return Page(items, None)
        if total is None and is_last is None and len(items) < self._max_results:
            # Nothing else tells us there is more; a page shorter than the echoed page size is the last.
            return Page(items, None)
        if next_start in self._seen:
            raise JiraPaginationError(
                f"{self.where}: the server's paging does not progress (startAt={next_start} requested twice; "
                f"page startAt={start_at}, {len(items)} items, total={total})",
                endpoint=self.where,
            )
        self._seen.add(next_start)
        self._start_at = next_start
        return Page(items, {"startAt": next_start, "maxResults": self._max_results})


class ValuesPaginator(OffsetPaginator):
    """``{startAt, maxResults, total, isLast, values}`` pages."""

    items_key = "values"


class IssuesPaginator(OffsetPaginator):
    """``{startAt, maxResults, total, issues}`` pages (no ``isLast``)."""

    items_key = "issues"


class TokenPaginator:
    """``nextPageToken`` paging: stop when the token is absent or ``isLast`` is true; a repeated token fails.

    ``isLast: false`` without a token is an error too (the result would be silently incomplete).
    """

    items_key = "issues"

    def __init__(self, page_size: int = 50, *, where: str = "page") -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.page_size = page_size
        self.where = where
        self._seen: set[str] = set()
        self.pages = 0

    def first_request(self) -> dict[str, Any]:
        self._seen = set()
        self.pages = 0
        return {"maxResults": self.page_size}

    def advance(self, page: Any) -> Page:
        items = _items(page, self.items_key, self.where)
        self.pages += 1
        token = page.get("nextPageToken")
        is_last = page.get("isLast")
        if is_last is True:
            return Page(items, None)
        if token is None or token == "":
            if is_last is False:
                raise JiraPaginationError(
                    f"{self.where}: isLast is false but the page has no nextPageToken", endpoint=self.where
                )
            return Page(items, None)
        if not isinstance(token, str):
            raise JiraPaginationError(f"{self.where}: nextPageToken is not a string", endpoint=self.where)
        if token in self._seen:
            raise JiraPaginationError(
                f"{self.where}: the server returned the same nextPageToken twice", endpoint=self.where
            )
        self._seen.add(token)
        return Page(items, {"maxResults": self.page_size, "nextPageToken": token})


class PageStream(Iterator[list[dict[str, Any]]]):
    """Drive a paginator: ``fetch(request_fields) -> page JSON``; iterate over each non-empty page's items.

    ``last`` says whether the page just returned is the final one (no next request), so a consumer can hand
    the page on at once instead of holding it until the next one shows whether it was the last. Nothing is
    sent until the first page is pulled, and no page is kept once returned (a page can hold 5000 issues).
    """

    def __init__(self, paginator: Paginator, fetch: Callable[[dict[str, Any]], Any]) -> None:
        self._paginator = paginator
        self._fetch = fetch
        self._request: dict[str, Any] | None = paginator.first_request()
        self.last = False

    def __iter__(self) -> PageStream:
        return self

    def __next__(self) -> list[dict[str, Any]]:
        while self._request is not None:
            page = self._paginator.advance(self._fetch(self._request))
            self._request = page.next_request
            if page.items:
                self.last = self._request is None
                return page.items
        raise StopIteration


def iter_pages(paginator: Paginator, fetch: Callable[[dict[str, Any]], Any]) -> PageStream:
    """The non-empty pages' items, in order (see PageStream)."""
    return PageStream(paginator, fetch)
