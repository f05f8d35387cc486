"""Pure tests: validate_base_url, classify_response / classify_exception, board_issue_jql."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from flowkit.jira.client import JiraClient, split_order_by
from flowkit.jira.endpoints import (
    BOARD_SCOPED,
    BOARD_SPRINTS,
    ENDPOINTS,
    FILTER,
    MYSELF,
    ErrorPolicy,
    rule,
)
from flowkit.jira.endpoints import (
    Outcome as EndpointOutcome,
)
from flowkit.jira.http import (
    Outcome,
    classify_exception,
    classify_response,
    loads,
    loads_key_only_search,
    parse_retry_after,
    validate_base_url,
)

# ---------------------------------------------------------------- validate_base_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net/", "https://acme.atlassian.net"),
        ("  https://ACME.atlassian.net/  ", "https://acme.atlassian.net"),
        ("HTTPS://acme.atlassian.net:8443", "https://acme.atlassian.net:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.1.2.3:9/", "http://127.1.2.3:9"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("http://[::1]:5000/", "http://[::1]:5000"),
    ],
)
def test_validate_base_url_accepts(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("acme.atlassian.net", "not an http(s) URL"),
        ("ftp://acme.atlassian.net", "not an http(s) URL"),
        ("http://acme.atlassian.net", "loopback"),
        ("http://10.0.0.1", "loopback"),
        ("http://localhost.evil.com", "loopback"),
        ("https://user:pw@acme.atlassian.net", "credentials"),
        ("https://user@acme.atlassian.net", "credentials"),
        ("https://acme.atlassian.net/jira", "path"),
        ("https://acme.atlassian.net/rest/api/3", "path"),
        ("https://acme.atlassian.net?x=1", "query"),
        ("https://acme.atlassian.net/#frag", "query or fragment"),
        ("https://acme.atlassian.net:99999", "not a valid URL"),
        ("https://", "not an http(s) URL"),
    ],
)
def test_validate_base_url_rejects(url: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_base_url(url)
    msg = str(info.value)
    assert fragment in msg
    assert "\n" not in msg
    assert "pw" not in msg


# ---------------------------------------------------------------- classify_response


def _err(*messages: str, errors: dict | None = None) -> str:
    return json.dumps({"errorMessages": list(messages), "errors": errors or {}})


def test_2xx_ok_parses_json() -> None:
    c = classify_response(200, {}, '{"a": 1}')
    assert c.outcome is Outcome.OK and c.ok and c.data == {"a": 1}
    c = classify_response(200, {}, b'{"a": 2}', BOARD_SCOPED)
    assert c.data == {"a": 2}


def test_2xx_json_is_read_as_json_reads_it() -> None:
    """msgspec decodes the pages; what it is stricter about than json still parses, exactly as json does."""
    body = '{"id": "10001", "big": 123456789012345678901234567890, "n": NaN, "s": "é\\u00e9", "dup": 1, "dup": 2}'
    c = classify_response(200, {}, body.encode("utf-8"))
    assert c.ok and c.data == {
        "id": "10001",
        "big": 123456789012345678901234567890,
        "n": c.data["n"],
        "s": "éé",
        "dup": 2,
    }
    assert c.data["n"] != c.data["n"]  # NaN
    # with nothing else to refuse in the page, an integer over 64 bits is still the integer (orjson made it a float)
    c = classify_response(200, {}, '{"issues": [{"id": 123456789012345678901234567891, "key": "A-1"}]}')
    big = c.data["issues"][0]["id"]
    assert type(big) is int and big == 123456789012345678901234567891


def test_204_is_ok_without_body() -> None:
    c = classify_response(204, {}, "")
    assert c.outcome is Outcome.OK and c.data is None


@pytest.mark.parametrize("body", ['{"values": [', "<html>oops</html>", "", "   ", b"\xff\xfe\x00garbage"])
def test_2xx_malformed_or_empty_json_is_retry(body: str | bytes) -> None:
    c = classify_response(200, {}, body)
    assert c.outcome is Outcome.RETRY
    assert not c.throttle


def test_401_is_auth_and_never_quotes_the_body() -> None:
    body = "Client must be authenticated. Authorization: Basic c2VjcmV0LXRva2Vu secret-token"
    c = classify_response(
        401,
        {"Content-Type": "text/plain", "X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
        body,
        BOARD_SCOPED,
    )
    assert c.outcome is Outcome.AUTH
    assert "refused the credentials" in c.message
    assert "AUTHENTICATED_FAILED" in c.message
    assert "secret" not in c.message and "c2Vj" not in c.message


def test_401_json_body_is_auth_too() -> None:
    body = json.dumps({"message": "Client must be authenticated to access this resource.", "status-code": 401})
    assert classify_response(401, {}, body).outcome is Outcome.AUTH


def test_401_odd_seraph_reason_is_not_echoed() -> None:
    c = classify_response(401, {"X-Seraph-LoginReason": "x<script>" * 3}, "")
    assert "script" not in c.message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "The board does not support sprints"),  # the documented wording
        (400, "The board doesn't support sprints."),  # recorded from real sites
        (400, "The board doesn\u2019t support sprints."),  # typographic apostrophe
        (400, "Error: the board does not support sprints."),  # inside a longer message, any case
        (500, "This board has no columns with a mapped status."),  # some sites: means "no sprints" too
    ],
)
def test_sprint_endpoint_no_sprints_wordings_are_empty(status: int, message: str) -> None:
    c = classify_response(status, {}, _err(message), BOARD_SPRINTS.errors)
    assert c.outcome is Outcome.EMPTY and not c.throttle
    assert str(status) in c.message


def test_no_sprints_wordings_mean_nothing_on_other_endpoints() -> None:
    assert classify_response(400, {}, _err("The board doesn't support sprints."), BOARD_SCOPED).outcome is (
        Outcome.FATAL
    )
    c = classify_response(500, {}, _err("This board has no columns with a mapped status."), BOARD_SCOPED)
    assert c.outcome is Outcome.RETRY  # a 500 elsewhere is still a server error
    c = classify_response(500, {}, _err("Internal server error"), BOARD_SPRINTS.errors)
    assert c.outcome is Outcome.RETRY  # only that message means "no sprints"


def test_sprint_endpoint_still_skips_a_refused_board() -> None:
    c = classify_response(404, {}, _err("The requested board cannot be viewed"), BOARD_SPRINTS.errors)
    assert c.outcome is Outcome.SKIP_BOARD


def test_403_lock_out_on_myself_names_the_header_and_the_fix() -> None:
    headers = {"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE; login-url=https://acme.atlassian.net/login.jsp"}
    for policy in (MYSELF.errors, BOARD_SCOPED, None):  # the header means a denied login wherever it comes
        c = classify_response(403, headers, "", policy)
        assert c.outcome is Outcome.AUTH
        assert "CAPTCHA_CHALLENGE" in c.message and "browser" in c.message
        assert "login-url=https://acme.atlassian.net/login.jsp" in c.message


def test_403_on_myself_without_header_stops_the_run() -> None:
    c = classify_response(403, {}, _err("Forbidden"), MYSELF.errors)
    assert c.outcome is Outcome.AUTH and "HTTP 403" in c.message
    assert classify_response(403, {}, _err("Forbidden")).outcome is Outcome.FATAL


def test_denied_reason_header_is_sanitised() -> None:
    c = classify_response(403, {"X-Authentication-Denied-Reason": "CAPTCHA<script>alert(1)</script>"}, "")
    assert "<" not in c.message and ">" not in c.message


def test_filter_policy_400_skips_the_board() -> None:
    msg = _err("The selected filter is not available to you, perhaps it has been deleted")
    assert classify_response(400, {}, msg, FILTER.errors).outcome is Outcome.SKIP_BOARD


def test_error_policy_first_matching_rule_wins() -> None:
    policy = ErrorPolicy(
        (rule(409, EndpointOutcome.EMPTY, "nothing here", "empty"), rule((409, 410), EndpointOutcome.SKIP_BOARD))
    )
    assert classify_response(409, {}, _err("Nothing here!"), policy).outcome is Outcome.EMPTY
    assert classify_response(409, {}, _err("other"), policy).outcome is Outcome.SKIP_BOARD
    assert classify_response(410, {}, "", policy).outcome is Outcome.SKIP_BOARD
    assert classify_response(411, {}, "", policy).outcome is Outcome.FATAL


def test_every_endpoint_is_declared_once() -> None:
    keys = [e.key for e in ENDPOINTS.values()]
    assert len(keys) == len(set(keys))
    tables = [t for e in ENDPOINTS.values() for t in e.rows]
    assert sorted(tables) == ["BOARD_ISSUE", "BOARD_PROJECT", "BOARD_SPRINT", "SPRINT"]


def test_400_with_damaged_json_body_is_retried() -> None:
    body = '{"errorMessages":["The board does'
    c = classify_response(400, {"Content-Type": "application/json;charset=UTF-8"}, body, BOARD_SCOPED)
    assert c.outcome is Outcome.RETRY and not c.throttle
    # not JSON at all (an HTML page): a plain fatal 400
    c = classify_response(400, {"Content-Type": "text/html"}, "<p>Bad request</p>", BOARD_SCOPED)
    assert c.outcome is Outcome.FATAL and "Bad request" in c.message


def test_other_400_is_fatal_with_jira_messages() -> None:
    c = classify_response(400, {}, _err("Error in the JQL Query: bad", errors={"jql": "nope"}), BOARD_SCOPED)
    assert c.outcome is Outcome.FATAL
    assert "Error in the JQL Query: bad" in c.message and "jql: nope" in c.message
    assert c.error_messages == ("Error in the JQL Query: bad", "jql: nope")


@pytest.mark.parametrize("status", [403, 404, 422])
def test_board_scoped_4xx_skips_the_board(status: int) -> None:
    body = _err(errors={"rapidViewId": "The requested board cannot be viewed because it either does not exist"})
    c = classify_response(status, {}, body, BOARD_SCOPED)
    assert c.outcome is Outcome.SKIP_BOARD
    assert "cannot be viewed" in c.message and str(status) in c.message


@pytest.mark.parametrize("status", [403, 404, 422, 405, 409])
def test_unscoped_4xx_is_fatal(status: int) -> None:
    assert classify_response(status, {}, _err("no")).outcome is Outcome.FATAL


def test_429_with_retry_after_is_throttled_retry() -> None:
    body = _err("The request has been rate-limited. Please try again later.")
    c = classify_response(429, {"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"}, body)
    assert c.outcome is Outcome.RETRY and c.throttle and c.retry_after == 7.0
    assert "rate-limited" in c.message


def test_429_html_body_without_retry_after() -> None:
    c = classify_response(429, {}, "<html><body><h1>Too many requests</h1></body></html>", BOARD_SCOPED)
    assert c.outcome is Outcome.RETRY and c.throttle and c.retry_after is None
    assert "Too many requests" in c.message and "<h1>" not in c.message


def test_beta_retry_after_used_when_retry_after_missing() -> None:
    c = classify_response(429, {"beta-retry-after": "3"}, "")
    assert c.retry_after == 3.0
    c = classify_response(429, {"Retry-After": "2", "Beta-Retry-After": "9"}, "")
    assert c.retry_after == 2.0


def test_retry_after_parsing() -> None:
    assert parse_retry_after({"retry-after": " 5 "}) == 5.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"Retry-After": "-1"}) is None
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "Beta-Retry-After": "4"}) == 4.0
    assert parse_retry_after({"Retry-After": "nan"}) is None
    assert parse_retry_after({}) is None


def test_503_is_throttle_other_5xx_plain_retry() -> None:
    c = classify_response(503, {}, "Service Unavailable")
    assert c.outcome is Outcome.RETRY and c.throttle
    c = classify_response(500, {}, "boom")
    assert c.outcome is Outcome.RETRY and not c.throttle
    c = classify_response(502, {"Retry-After": "2"}, "", BOARD_SCOPED)
    assert c.outcome is Outcome.RETRY and c.throttle and c.retry_after == 2.0
    assert classify_response(408, {}, "").outcome is Outcome.RETRY


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_fatal_and_names_the_host(status: int) -> None:
    c = classify_response(status, {"Location": "https://evil.example.com/login?x=1"}, "")
    assert c.outcome is Outcome.FATAL
    assert c.location_host == "evil.example.com"
    assert "evil.example.com" in c.message and "not followed" in c.message


def test_long_error_body_is_truncated() -> None:
    c = classify_response(500, {}, "x" * 10_000)
    assert len(c.message) < 400


# ---------------------------------------------------------------- classify_exception


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ConnectTimeout("slow"),
        requests.exceptions.ConnectionError("reset"),
        requests.exceptions.ChunkedEncodingError("truncated"),
        ConnectionResetError(104, "reset"),
    ],
)
def test_transport_errors_are_retried(exc: BaseException) -> None:
    assert classify_exception(exc).outcome is Outcome.RETRY


def test_tls_error_is_fatal() -> None:
    assert classify_exception(requests.exceptions.SSLError("bad cert")).outcome is Outcome.FATAL


# ---------------------------------------------------------------- board_issue_jql


def test_board_issue_jql_no_sub_query_returns_filter_unchanged() -> None:
    jql = "project = PLAT ORDER BY Rank ASC"
    assert JiraClient.board_issue_jql(jql, None) == jql
    assert JiraClient.board_issue_jql(jql, "   ") == jql


def test_board_issue_jql_ands_sub_query_and_keeps_order() -> None:
    got = JiraClient.board_issue_jql("project = PLAT ORDER BY Rank ASC", "resolution is EMPTY")
    assert got == "(project = PLAT) AND (resolution is EMPTY) ORDER BY Rank ASC"


def test_board_issue_jql_mixed_case_order_by() -> None:
    got = JiraClient.board_issue_jql("project in (A, B)  order   By  created DESC, key", "fixVersion is EMPTY")
    assert got == "(project in (A, B)) AND (fixVersion is EMPTY) ORDER BY created DESC, key"


def test_board_issue_jql_ignores_order_by_inside_quotes() -> None:
    filt = "summary ~ \"order by the book\" AND labels = 'Order By' ORDER BY Rank"
    got = JiraClient.board_issue_jql(filt, "status != Done")
    assert got == "(summary ~ \"order by the book\" AND labels = 'Order By') AND (status != Done) ORDER BY Rank"


def test_board_issue_jql_escaped_quote_inside_string() -> None:
    filt = 'summary ~ "say \\"order by\\" now" order by rank'
    assert split_order_by(filt) == ('summary ~ "say \\"order by\\" now"', "rank")


def test_board_issue_jql_without_order_by() -> None:
    assert (
        JiraClient.board_issue_jql("project = X OR project = Y", "a = b") == "(project = X OR project = Y) AND (a = b)"
    )


def test_board_issue_jql_words_containing_order_are_not_clauses() -> None:
    filt = "reorder by = x AND cf_orderby = 1"
    assert split_order_by(filt) == (filt, None)
    assert split_order_by("border BY_x = 1")[1] is None


def test_board_issue_jql_filter_that_is_only_an_order_by() -> None:
    assert JiraClient.board_issue_jql("ORDER BY Rank ASC", "status = Open") == "(status = Open) ORDER BY Rank ASC"


def test_board_issue_jql_strips_order_by_from_sub_query() -> None:
    got = JiraClient.board_issue_jql("project = P", "resolved >= -14d ORDER BY created")
    assert got == "(project = P) AND (resolved >= -14d)"


def test_near_limit_header_is_read_on_success_only() -> None:
    ok = classify_response(200, {"x-ratelimit-nearlimit": "True"}, b"{}")
    assert ok.outcome is Outcome.OK and ok.near_limit
    assert not classify_response(200, {}, b"{}").near_limit
    assert not classify_response(200, {"X-RateLimit-NearLimit": "false"}, b"{}").near_limit
    assert classify_response(204, {"X-RateLimit-NearLimit": "true"}, b"").near_limit


@pytest.mark.parametrize(
    "body",
    [
        '{"issues": ["not an object"], "isLast": true}',
        '{"values": [], "isLast": true}',
        '{"issues": [{"id": NaN, "key": "A-1"}]}',
        "[1, 2]",
    ],
)
def test_what_the_key_only_decoder_cannot_read_is_read_as_before(body: str) -> None:
    """loads_key_only_search falls back to loads for any other shape: the same data, the same refusals."""
    assert loads_key_only_search(body) == loads(body)


def test_the_key_only_decoder_reads_integers_over_64_bits_exactly_as_json_does() -> None:
    # (a Jira id is never that big, and the journal refuses it either way)
    body = '{"issues": [{"id": 123456789012345678901234567890, "key": "A-1"}]}'
    assert loads_key_only_search(body)["issues"][0].id == json.loads(body)["issues"][0]["id"]


def test_the_key_only_decoder_refuses_what_loads_refuses() -> None:
    for body in ('{"issues": [', "", "nul"):
        with pytest.raises(ValueError):
            loads(body)
        with pytest.raises(ValueError):
            loads_key_only_search(body)
    result = classify_response(200, {}, '{"issues": [', None, loads_key_only_search)
    assert result.outcome is Outcome.RETRY and "malformed" in result.message


# ---------------------------------------------------------------- headers, the environment


def test_header_lookup_is_case_insensitive_for_dicts_and_requests_headers() -> None:
    from requests.structures import CaseInsensitiveDict

    from flowkit.jira.http import header

    plain = {"retry-after": "3", "X-RateLimit-NearLimit": "true"}
    assert header(plain, "Retry-After") == "3"
    assert header(plain, "x-ratelimit-nearlimit") == "true"
    assert header(plain, "Location") is None
    wire = CaseInsensitiveDict({"retry-after": "3"})
    assert header(wire, "RETRY-AFTER") == "3"
    assert header(wire, "Beta-Retry-After") is None


def test_the_environment_proxies_are_read_once_for_the_site(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowkit.jira.http import environment_proxies

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert environment_proxies("https://acme.atlassian.net")["https"] == "http://proxy.example:3128"
    assert environment_proxies("http://127.0.0.1:8080") == {}  # the local simulator: never through a proxy
    monkeypatch.setenv("NO_PROXY", "atlassian.net")
    assert environment_proxies("https://acme.atlassian.net") == {}


def test_a_netrc_entry_for_the_site_does_not_replace_the_api_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests, reading the environment, would send ~/.netrc's login for the host instead of our header
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine acme.atlassian.net login other@example.com password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    client = JiraClient("https://acme.atlassian.net", "flowkit@example.com", "tok-123")
    try:
        url = "https://acme.atlassian.net/rest/api/3/myself"
        ours = {"Authorization": "Basic Zmxvd2tpdEBleGFtcGxlLmNvbTp0b2stMTIz"}
        prepared = client._session.prepare_request(requests.Request("GET", url, headers=ours))
        assert prepared.headers["Authorization"] == ours["Authorization"]
        assert requests.utils.get_netrc_auth(url) == ("other@example.com", "not-the-token")  # the entry is read
    finally:
        client.close()
