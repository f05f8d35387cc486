"""Pure tests of the three paginators on hand-built page dicts."""

from __future__ import annotations

from typing import Any

import pytest

from flowkit.jira.errors import JiraPaginationError
from flowkit.jira.pagination import (
    IssuesPaginator,
    TokenPaginator,
    ValuesPaginator,
    iter_pages,
)


def _values(
    start: int, n: int, *, max_results: int = 50, total: int | None = None, is_last: Any = None
) -> dict[str, Any]:
    page: dict[str, Any] = {
        "startAt": start,
        "maxResults": max_results,
        "values": [{"id": start + i} for i in range(n)],
    }
    if total is not None:
        page["total"] = total
    if is_last is not None:
        page["isLast"] = is_last
    return page


def _drive(pager: Any, pages: list[dict[str, Any]]) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    requests: list[dict[str, Any]] = []
    it = iter(pages)

    def fetch(req: dict[str, Any]) -> Any:
        requests.append(dict(req))
        return next(it)

    out = list(iter_pages(pager, fetch))
    return out, requests


# ---------------------------------------------------------------- values pages


def test_values_single_page_is_last() -> None:
    pager = ValuesPaginator(50)
    assert pager.first_request() == {"startAt": 0, "maxResults": 50}
    page = pager.advance(_values(0, 2, total=2, is_last=True))
    assert [b["id"] for b in page.items] == [0, 1]
    assert page.next_request is None and page.is_last


def test_values_multi_page_uses_start_plus_len() -> None:
    pages = [_values(0, 50, total=120, is_last=False), _values(50, 50, total=120, is_last=False)]
    pages.append(_values(100, 20, total=120, is_last=True))
    out, reqs = _drive(ValuesPaginator(50), pages)
    assert [len(p) for p in out] == [50, 50, 20]
    assert [r["startAt"] for r in reqs] == [0, 50, 100]


def test_values_is_last_true_stops_even_if_total_says_more() -> None:
    pager = ValuesPaginator(50)
    pager.first_request()
    assert pager.advance(_values(0, 3, total=99, is_last=True)).next_request is None


def test_values_empty_page_stops() -> None:
    pager = ValuesPaginator(50)
    pager.first_request()
    page = pager.advance(_values(0, 0, total=10, is_last=False))
    assert page.items == [] and page.next_request is None


def test_values_stop_when_next_reaches_total_without_is_last() -> None:
    pager = ValuesPaginator(50)
    pager.first_request()
    assert pager.advance(_values(0, 10, total=10)).next_request is None


def test_echoed_lower_max_results_is_honoured() -> None:
    # asked for 50, the server silently serves 20 per page: a short page is NOT the end
    pages = [
        _values(0, 20, max_results=20, total=45, is_last=False),
        _values(20, 20, max_results=20, total=45, is_last=False),
        _values(40, 5, max_results=20, total=45, is_last=True),
    ]
    out, reqs = _drive(ValuesPaginator(50), pages)
    assert sum(len(p) for p in out) == 45
    assert reqs == [
        {"startAt": 0, "maxResults": 50},
        {"startAt": 20, "maxResults": 20},
        {"startAt": 40, "maxResults": 20},
    ]


def test_short_page_without_total_or_is_last_ends_only_below_echoed_size() -> None:
    pager = ValuesPaginator(50)
    pager.first_request()
    # 20 items with echoed maxResults 20: full page, keep going
    nxt = pager.advance(_values(0, 20, max_results=20)).next_request
    assert nxt == {"startAt": 20, "maxResults": 20}
    # 7 < 20: the last page
    assert pager.advance(_values(20, 7, max_results=20)).next_request is None


def test_repeated_start_at_raises() -> None:
    pager = ValuesPaginator(10)
    pager.first_request()
    pager.advance(_values(0, 10, max_results=10, total=100, is_last=False))
    # the server ignores startAt and serves page 0 again
    with pytest.raises(JiraPaginationError, match="startAt=10"):
        pager.advance(_values(0, 10, max_results=10, total=100, is_last=False))


def test_values_bad_shape_raises() -> None:
    pager = ValuesPaginator(10)
    pager.first_request()
    with pytest.raises(JiraPaginationError):
        pager.advance({"values": {"not": "a list"}})
    with pytest.raises(JiraPaginationError):
        pager.advance(["not", "an", "object"])


def test_first_request_resets_state() -> None:
    pager = ValuesPaginator(10)
    pager.first_request()
    pager.advance(_values(0, 10, max_results=5, total=100, is_last=False))
    assert pager.first_request() == {"startAt": 0, "maxResults": 10}


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ValuesPaginator(0)
    with pytest.raises(ValueError):
        TokenPaginator(0)


# ---------------------------------------------------------------- issues pages


def _issues(start: int, n: int, *, max_results: int = 50, total: int | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"expand": "schema,names", "startAt": start, "maxResults": max_results}
    page["issues"] = [{"id": str(10000 + start + i), "key": f"P-{start + i}"} for i in range(n)]
    if total is not None:
        page["total"] = total
    return page


def test_issues_pages_have_no_is_last_and_stop_on_total() -> None:
    pages = [_issues(0, 50, total=130), _issues(50, 50, total=130), _issues(100, 30, total=130)]
    out, reqs = _drive(IssuesPaginator(50), pages)
    assert [len(p) for p in out] == [50, 50, 30]
    assert [r["startAt"] for r in reqs] == [0, 50, 100]


def test_issues_pages_server_lowers_max_results() -> None:
    pages = [_issues(0, 25, max_results=25, total=60), _issues(25, 25, max_results=25, total=60)]
    pages.append(_issues(50, 10, max_results=25, total=60))
    out, reqs = _drive(IssuesPaginator(100), pages)
    assert sum(len(p) for p in out) == 60
    assert [r["maxResults"] for r in reqs] == [100, 25, 25]


def test_issues_empty_page_stops_and_is_not_yielded() -> None:
    out, reqs = _drive(IssuesPaginator(50), [_issues(0, 0, total=0)])
    assert out == [] and len(reqs) == 1


def test_issues_loop_detection() -> None:
    pager = IssuesPaginator(2)
    pager.first_request()
    pager.advance(_issues(0, 2, max_results=2, total=10))
    pager.advance(_issues(2, 2, max_results=2, total=10))
    with pytest.raises(JiraPaginationError):
        pager.advance(_issues(0, 2, max_results=2, total=10))  # back to the start: startAt 2 again


# ---------------------------------------------------------------- token pages


def test_token_pages_follow_next_page_token() -> None:
    pages = [
        {"issues": [{"id": "1"}, {"id": "2"}], "nextPageToken": "t1", "isLast": False},
        {"issues": [{"id": "3"}], "nextPageToken": "t2", "isLast": False},
        {"issues": [{"id": "4"}], "isLast": True},
    ]
    out, reqs = _drive(TokenPaginator(2), pages)
    assert [[i["id"] for i in p] for p in out] == [["1", "2"], ["3"], ["4"]]
    assert reqs == [
        {"maxResults": 2},
        {"maxResults": 2, "nextPageToken": "t1"},
        {"maxResults": 2, "nextPageToken": "t2"},
    ]


def test_token_absent_means_last_even_without_is_last() -> None:
    pager = TokenPaginator(5)
    pager.first_request()
    assert pager.advance({"issues": [{"id": "1"}]}).next_request is None


def test_token_is_last_true_wins_over_token() -> None:
    pager = TokenPaginator(5)
    pager.first_request()
    assert pager.advance({"issues": [], "nextPageToken": "x", "isLast": True}).next_request is None


def test_token_repeated_raises() -> None:
    pager = TokenPaginator(5)
    pager.first_request()
    pager.advance({"issues": [{"id": "1"}], "nextPageToken": "same", "isLast": False})
    with pytest.raises(JiraPaginationError, match="same nextPageToken twice"):
        pager.advance({"issues": [{"id": "2"}], "nextPageToken": "same", "isLast": False})


def test_token_missing_with_is_last_false_raises() -> None:
    pager = TokenPaginator(5)
    pager.first_request()
    with pytest.raises(JiraPaginationError, match="no nextPageToken"):
        pager.advance({"issues": [{"id": "1"}], "isLast": False})


def test_token_empty_pages_are_skipped_but_followed() -> None:
    pages = [
        {"issues": [], "nextPageToken": "a", "isLast": False},
        {"issues": [{"id": "9"}], "isLast": True},
    ]
    out, reqs = _drive(TokenPaginator(10), pages)
    assert out == [[{"id": "9"}]] and len(reqs) == 2


def test_the_stream_says_which_page_is_the_last_when_it_is_returned() -> None:
    """A fetcher hands each page on at once: it must know then whether the page ends the attempt."""
    pages = [
        {"issues": [{"id": "1"}], "nextPageToken": "a"},
        {"issues": [{"id": "2"}], "nextPageToken": "b"},
        {"issues": [{"id": "3"}], "isLast": True},
    ]
    stream = iter_pages(TokenPaginator(1), lambda req: pages.pop(0))
    lasts = [stream.last for _ in stream]
    assert lasts == [False, False, True]


def test_a_stream_ending_on_an_empty_page_never_says_last() -> None:
    """The last page was empty, so the previous one went on as not last: the consumer ends the attempt itself."""
    pages = [{"issues": [{"id": "1"}], "nextPageToken": "a"}, {"issues": [], "isLast": True}]
    stream = iter_pages(TokenPaginator(1), lambda req: pages.pop(0))
    assert [(item["id"], stream.last) for page in stream for item in page] == [("1", False)]
    assert not stream.last
