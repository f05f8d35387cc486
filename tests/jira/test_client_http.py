"""JiraClient over real loopback HTTP against a tiny scripted server (precise timing and fault control)."""

from __future__ import annotations

import base64
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from flowkit import __version__
from flowkit.jira.client import JiraClient
from flowkit.jira.errors import (
    JiraAuthError,
    JiraBoardUnavailable,
    JiraError,
    JiraPaginationError,
    JiraRedirectError,
    JiraRequestError,
    JiraRetriesExhausted,
)
from flowkit.jira.retry import RateGate, RetryPolicy

EMAIL = "dev@acme.io"
TOKEN = "ATATT3xFfGF0-super-secret-token-value"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
FAST = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)


# ---------------------------------------------------------------- scripted server


@dataclass
class Req:
    t: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""  # "reset" (RST the connection), "truncate" (short body), "sleep:<s>"


Script = Callable[[Req, int], Reply]


class ScriptedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[Req] = []
        self.lock = threading.Lock()
        self.script: Script = lambda req, n: Reply(200, {})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body writes meet delayed ACKs: ~40 ms a request

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Req(
                    time.monotonic(),
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    dict(self.headers),
                    body,
                )
                with outer.lock:
                    outer.requests.append(req)
                    n = sum(1 for r in outer.requests if r.path == req.path)
                reply = outer.script(req, n)
                if reply.action.startswith("sleep:"):
                    time.sleep(float(reply.action.split(":", 1)[1]))
                if reply.action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if isinstance(reply.body, dict | list):
                    payload = json.dumps(reply.body).encode()
                    ctype = "application/json;charset=UTF-8"
                elif isinstance(reply.body, str):
                    payload = reply.body.encode()
                    ctype = "text/plain;charset=UTF-8"
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                    ctype = "application/json"
                else:
                    payload, ctype = b"", "application/json"
                self.send_response(reply.status)
                headers = {"Content-Type": ctype, **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                if reply.action == "truncate":
                    self.send_header("Content-Length", str(len(payload) + 100))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets are deliberate

        self.httpd = Server((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def make_client(server: ScriptedServer) -> Iterator[Callable[..., JiraClient]]:
    clients: list[JiraClient] = []

    def make(**kwargs: Any) -> JiraClient:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("connect_timeout", 2.0)
        kwargs.setdefault("read_timeout", 5.0)
        c = JiraClient(server.url, EMAIL, TOKEN, **kwargs)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def values_page(items: list[dict[str, Any]], start: int, total: int, max_results: int = 50) -> dict[str, Any]:
    return {
        "startAt": start,
        "maxResults": max_results,
        "total": total,
        "isLast": start + len(items) >= total,
        "values": items,
    }


MYSELF = {"accountId": "abc", "displayName": "Dana Dev", "timeZone": "Europe/Berlin"}
RATE_LIMITED = {
    "errorMessages": ["The request has been rate-limited. Please try again later."],
    "status": 429,
}


# ---------------------------------------------------------------- headers, auth, counters


def test_myself_sends_auth_and_headers(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF)
    client = make_client()
    assert client.myself() == MYSELF
    (req,) = server.requests
    h = {k.lower(): v for k, v in req.headers.items()}
    assert h["authorization"] == f"Basic {BASIC}"
    assert h["accept"] == "application/json"
    assert h["accept-language"] == "en"
    assert h["x-force-accept-language"] == "true"
    assert h["user-agent"] == f"flowkit/{__version__}"
    assert "cookie" not in h
    assert client.request_count == 1 and client.retry_count == 0
    assert client.requests_by_endpoint == {"GET /rest/api/3/myself": 1}
    assert TOKEN not in repr(client)


def test_cookies_are_not_kept(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF, {"Set-Cookie": "JSESSIONID=abc; Path=/"})
    client = make_client()
    client.myself()
    client.myself()
    assert "cookie" not in {k.lower() for k in server.requests[1].headers}


def test_401_text_plain_is_auth_error_without_token(
    server: ScriptedServer, make_client: Callable[..., JiraClient], caplog: pytest.LogCaptureFixture
) -> None:
    def script(req: Req, n: int) -> Reply:
        echo = f"Client must be authenticated to access this resource. You sent: {req.headers}"
        return Reply(401, echo, {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED", "WWW-Authenticate": "Basic"})

    server.script = script
    client = make_client()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(JiraAuthError) as info:
        client.myself()
    err = info.value
    assert err.status == 401 and err.endpoint == "GET /rest/api/3/myself"
    assert "refused the credentials" in str(err)
    for text in (str(err), repr(err), repr(err.args), caplog.text):
        assert TOKEN not in text and BASIC not in text
    assert client.request_count == 1  # never retried


def test_server_error_echoing_credentials_is_redacted(
    server: ScriptedServer, make_client: Callable[..., JiraClient], caplog: pytest.LogCaptureFixture
) -> None:
    server.script = lambda req, n: Reply(500, f"boom {req.headers.get('Authorization')} token={TOKEN}")
    client = make_client(retry=RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01))
    caplog.set_level(logging.DEBUG, logger="flowkit.jira.client")
    with pytest.raises(JiraRetriesExhausted) as info:
        client.myself()
    assert info.value.last_status == 500 and info.value.attempts == 2
    assert "boom" in str(info.value)
    assert "retry 1/1" in caplog.text
    for text in (str(info.value), info.value.last_reason, caplog.text):
        assert TOKEN not in text and BASIC not in text


@pytest.mark.parametrize("offset", range(270, 320, 7))
def test_a_credential_straddling_the_quoted_snippet_is_redacted_whole(
    server: ScriptedServer, make_client: Callable[..., JiraClient], offset: int
) -> None:
    # A proxy error page that echoes the request headers, placed so the quoted snippet (300 characters)
    # would cut the credential in half: no prefix of it may survive either.
    server.script = lambda req, n: Reply(400, "x" * offset + f" Authorization: {req.headers.get('Authorization')}")
    client = make_client(retry=RetryPolicy(max_retries=0, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraError) as info:
        client.myself()
    assert BASIC[:8] not in str(info.value) and TOKEN[:8] not in str(info.value)


# ---------------------------------------------------------------- redirects


def test_redirect_to_another_host_is_not_followed(make_client: Callable[..., JiraClient]) -> None:
    other = ScriptedServer(host="127.0.0.2")
    try:
        main = ScriptedServer()
        main.script = lambda req, n: Reply(302, "", {"Location": f"{other.url}/rest/api/3/myself"})
        client = JiraClient(main.url, EMAIL, TOKEN, retry=FAST)
        with pytest.raises(JiraRedirectError) as info:
            client.myself()
        assert info.value.location_host == "127.0.0.2"
        assert "127.0.0.2" in str(info.value) and info.value.status == 302
        assert len(main.requests) == 1
        assert other.requests == []  # nothing, let alone credentials, reached the other host
        client.close()
        main.close()
    finally:
        other.close()


def test_redirect_to_same_host_is_not_followed_either(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(301, "", {"Location": "/login.jsp"}) if n == 1 else Reply(200, MYSELF)
    with pytest.raises(JiraRedirectError):
        make_client().myself()
    assert server.paths() == ["/rest/api/3/myself"]


def test_credentials_never_sent_off_origin(make_client: Callable[..., JiraClient]) -> None:
    client = make_client()
    with pytest.raises(JiraRequestError, match="refusing"):
        client._send("GET", "http://127.0.0.2:1/rest/api/3/myself", None, None)


# ---------------------------------------------------------------- retry timing and the shared gate


def test_429_retry_after_is_respected(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "1"}) if n == 1 else Reply(200, MYSELF)
    client = make_client()
    assert client.myself() == MYSELF
    first, second = server.requests
    assert second.t - first.t >= 1.0  # never sooner than Retry-After
    assert second.t - first.t < 1.3 + 0.3  # jitter adds at most +30%
    assert client.request_count == 2 and client.retry_count == 1
    assert client.requests_by_endpoint == {"GET /rest/api/3/myself": 2}


def test_beta_retry_after_is_respected(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(503, "busy", {"Beta-Retry-After": "1"}) if n == 1 else Reply(200, MYSELF)
    make_client(random=lambda: 0.0).myself()
    first, second = server.requests
    assert second.t - first.t >= 1.0


def test_three_threads_share_the_gate(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    blocked_until: list[float] = []
    early: list[Req] = []

    def script(req: Req, n: int) -> Reply:
        with server.lock:
            if not blocked_until:
                blocked_until.append(req.t + 1.0)
                return Reply(429, RATE_LIMITED, {"Retry-After": "1"})
            if req.t < blocked_until[0]:
                early.append(req)
                return Reply(429, RATE_LIMITED, {"Retry-After": "1"})
        return Reply(200, MYSELF)

    server.script = script
    gate = RateGate()
    client = make_client(gate=gate, random=lambda: 0.0)
    results: list[Any] = []

    def call() -> None:
        results.append(client.myself())

    first = threading.Thread(target=call)
    first.start()
    deadline = time.monotonic() + 5
    while gate.deferrals == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert gate.deferrals == 1
    others = [threading.Thread(target=call) for _ in range(2)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert results == [MYSELF] * 3
    assert early == []  # nobody sent while the gate was closed
    assert len(server.requests) == 4
    assert all(r.t >= blocked_until[0] for r in server.requests[1:])


def test_second_client_sharing_a_gate_also_waits(server: ScriptedServer) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "0.5"}) if n == 1 else Reply(200, MYSELF)
    gate = RateGate()
    a = JiraClient(server.url, EMAIL, TOKEN, retry=FAST, gate=gate, random=lambda: 0.0)
    b = JiraClient(server.url, EMAIL, TOKEN, retry=FAST, gate=gate, random=lambda: 0.0)
    try:
        t = threading.Thread(target=a.myself)
        t.start()
        while gate.deferrals == 0:
            time.sleep(0.005)
        b.myself()
        t.join(5)
        t429 = server.requests[0].t
        assert all(r.t >= t429 + 0.5 for r in server.requests[1:])
    finally:
        a.close()
        b.close()


def test_retry_after_beyond_limit_fails_fast(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "3600"})
    client = make_client(retry=RetryPolicy(max_retries=4, max_retry_after=60))
    t0 = time.monotonic()
    with pytest.raises(JiraRetriesExhausted, match="3600s") as info:
        client.myself()
    assert time.monotonic() - t0 < 1
    assert info.value.attempts == 1 and info.value.last_status == 429


def test_backoff_without_retry_after(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    statuses = {1: 500, 2: 503, 3: 200}
    server.script = lambda req, n: Reply(statuses[n], MYSELF if statuses[n] == 200 else "err")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    policy = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=1.0, jitter=(0.5, 1.5))
    gate = RateGate(sleep=sleep)
    client = make_client(retry=policy, gate=gate, sleep=sleep, random=lambda: 0.5)
    assert client.myself() == MYSELF
    # 500: own backoff 0.01; 503 (throttle): 0.02 through the gate (the gate may slice its wait)
    assert sleeps[0] == pytest.approx(0.01)
    assert sum(sleeps[1:]) == pytest.approx(0.02, abs=0.005)
    assert gate.deferrals == 1
    assert client.retry_count == 2 and client.request_count == 3


# ---------------------------------------------------------------- transport faults


def test_connection_reset_is_retried_then_succeeds(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(action="reset") if n == 1 else Reply(200, MYSELF)
    client = make_client()
    assert client.myself() == MYSELF
    assert client.request_count == 2 and client.retry_count == 1


def test_connection_reset_exhausts(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(action="reset")
    client = make_client(retry=RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraRetriesExhausted) as info:
        client.board_configuration(7)
    err = info.value
    assert err.attempts == 3 and err.last_status is None and "connection error" in err.last_reason
    assert err.board_id == 7 and err.endpoint == "GET /rest/agile/1.0/board/7/configuration"
    assert len(server.requests) == 3


def test_connection_refused_exhausts() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = JiraClient(f"http://127.0.0.1:{port}", EMAIL, TOKEN, retry=RetryPolicy(1, 0.01, 0.01))
    with pytest.raises(JiraRetriesExhausted) as info:
        client.myself()
    assert info.value.attempts == 2 and client.request_count == 2
    client.close()


def test_malformed_json_is_retried_then_exhausted(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(200, b'{"maxResults":50,"values":[{"id":1},')
    client = make_client(retry=RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraRetriesExhausted, match="malformed or truncated JSON") as info:
        list(client.iter_board_pages())
    assert info.value.last_status == 200 and info.value.attempts == 3


def test_truncated_body_is_retried(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF, action="truncate") if n == 1 else Reply(200, MYSELF)
    client = make_client()
    assert client.myself() == MYSELF
    assert client.retry_count == 1


def test_read_timeout_is_retried_then_exhausted(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF, action="sleep:0.6")
    client = make_client(read_timeout=0.2, retry=RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraRetriesExhausted, match="timeout"):
        client.myself()
    assert client.request_count == 2


# ---------------------------------------------------------------- paging over HTTP


def test_board_pages_honour_lower_echoed_max_results(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    boards = [{"id": i, "name": f"B{i}", "type": "scrum"} for i in range(1, 46)]

    def script(req: Req, n: int) -> Reply:
        start = int(req.query["startAt"][0])
        size = min(int(req.query["maxResults"][0]), 20)  # server clamps silently
        return Reply(200, values_page(boards[start : start + size], start, len(boards), max_results=size))

    server.script = script
    client = make_client()
    pages = list(client.iter_board_pages())
    assert [len(p) for p in pages] == [20, 20, 5]
    assert [b["id"] for p in pages for b in p] == list(range(1, 46))
    q = [(r.query["startAt"][0], r.query["maxResults"][0]) for r in server.requests]
    assert q == [("0", "50"), ("20", "20"), ("40", "20")]
    assert "includePrivate" not in server.requests[0].query
    assert client.requests_by_endpoint == {"GET /rest/agile/1.0/board": 3}


def test_board_pages_loop_detected(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    # a broken server that ignores startAt and always serves the first page
    server.script = lambda req, n: Reply(
        200, {"startAt": 0, "maxResults": 2, "total": 10, "isLast": False, "values": [{"id": 1}, {"id": 2}]}
    )
    with pytest.raises(JiraPaginationError):
        list(make_client().iter_board_pages())


def test_retry_mid_paging_resumes_same_page(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    boards = [{"id": i} for i in range(1, 4)]
    calls = {"n": 0}

    def script(req: Req, n: int) -> Reply:
        calls["n"] += 1
        if calls["n"] == 2:
            return Reply(502, "<html>Bad gateway</html>")
        start = int(req.query["startAt"][0])
        return Reply(200, values_page(boards[start : start + 2], start, 3, max_results=2))

    server.script = script
    pages = list(make_client().iter_board_pages())
    assert [b["id"] for p in pages for b in p] == [1, 2, 3]
    assert [r.query["startAt"][0] for r in server.requests] == ["0", "2", "2"]


def test_sprints_of_kanban_board_are_empty(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(400, {"errorMessages": ["The board does not support sprints"], "errors": {}})
    client = make_client()
    assert list(client.iter_sprint_pages(2)) == []
    assert client.request_count == 1
    assert client.requests_by_endpoint == {"GET /rest/agile/1.0/board/{boardId}/sprint": 1}


def test_sprint_pages(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    sprints = [{"id": 12, "state": "closed"}, {"id": 13, "state": "future"}]
    server.script = lambda req, n: Reply(200, values_page(sprints, 0, 2))
    assert list(make_client().iter_sprint_pages(1)) == [sprints]
    assert server.paths() == ["/rest/agile/1.0/board/1/sprint"]


NOT_VIEWABLE = {
    "errorMessages": [],
    "errors": {
        "rapidViewId": "The requested board cannot be viewed because it either does not exist "
        "or you do not have permission to view it."
    },
}


@pytest.mark.parametrize("status", [403, 404, 422])
def test_board_sub_resource_unavailable(
    status: int, server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(status, NOT_VIEWABLE)
    client = make_client()
    for call in (
        lambda: client.board_configuration(9),
        lambda: list(client.iter_sprint_pages(9)),
        lambda: list(client.iter_board_project_pages(9)),
    ):
        with pytest.raises(JiraBoardUnavailable) as info:
            call()
        assert info.value.board_id == 9 and info.value.status == status
        assert "board 9" in str(info.value) and "cannot be viewed" in str(info.value)
    assert client.retry_count == 0


def test_404_on_board_list_is_fatal(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(403, {"errorMessages": ["No Jira Software license"], "errors": {}})
    with pytest.raises(JiraRequestError) as info:
        list(make_client().iter_board_pages())
    assert not isinstance(info.value, JiraBoardUnavailable)
    assert info.value.status == 403 and info.value.error_messages == ("No Jira Software license",)


def test_filter_board_scoped(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    def script(req: Req, n: int) -> Reply:
        if req.path.endswith("/10010"):
            return Reply(200, {"id": "10010", "jql": "project = PLAT ORDER BY Rank ASC"})
        return Reply(400, {"errorMessages": ["The selected filter is not available to you."], "errors": {}})

    server.script = script
    client = make_client()
    assert client.filter(10010, board_id=1)["jql"].startswith("project")
    assert client.filter("10010")["id"] == "10010"
    with pytest.raises(JiraBoardUnavailable) as info:
        client.filter(10099, board_id=4)
    assert info.value.board_id == 4 and info.value.status == 400
    assert client.requests_by_endpoint == {"GET /rest/api/3/filter/{filterId}": 3}


def test_other_400_is_request_error(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(400, {"errorMessages": ["Error in the JQL Query: x"], "errors": {}})
    with pytest.raises(JiraRequestError, match="Error in the JQL Query") as info:
        list(make_client().iter_jql_pages("bad ((", board_id=3))
    assert info.value.status == 400


def test_jql_pages_post_token_paging(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    def script(req: Req, n: int) -> Reply:
        body = json.loads(req.body)
        token = body.get("nextPageToken")
        if token is None:
            return Reply(200, {"issues": [{"id": "1", "key": "P-1"}], "nextPageToken": "t1", "isLast": False})
        assert token == "t1"
        return Reply(200, {"issues": [{"id": "2", "key": "P-2"}], "isLast": True})

    server.script = script
    client = make_client()
    pages = list(client.iter_jql_pages("project = P ORDER BY Rank", fields=("id", "key")))
    assert pages == [[{"id": "1", "key": "P-1"}], [{"id": "2", "key": "P-2"}]]
    bodies = [json.loads(r.body) for r in server.requests]
    assert bodies[0] == {"jql": "project = P ORDER BY Rank", "fields": ["id", "key"], "maxResults": 5000}
    assert bodies[1]["nextPageToken"] == "t1"
    assert all(r.method == "POST" for r in server.requests)
    h = {k.lower(): v for k, v in server.requests[0].headers.items()}
    assert h["content-type"] == "application/json"
    assert client.requests_by_endpoint == {"POST /rest/api/3/search/jql": 2}


def test_jql_page_size_for_more_fields(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, {"issues": [], "isLast": True})
    client = make_client()
    list(client.iter_jql_pages("x = 1", fields=("key", "summary")))
    list(client.iter_jql_pages("x = 1", page_size=7))
    assert [json.loads(r.body)["maxResults"] for r in server.requests] == [100, 7]


def test_ids_must_be_integers(make_client: Callable[..., JiraClient]) -> None:
    client = make_client()
    with pytest.raises(ValueError):
        client.board_configuration("1/../../myself")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.filter("abc")


def test_closed_client_refuses(make_client: Callable[..., JiraClient]) -> None:
    client = make_client()
    client.close()
    with pytest.raises(Exception, match="closed"):
        client.myself()


def test_concurrent_counters_are_exact(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF)
    client = make_client(pool_size=4)
    threads = [threading.Thread(target=lambda: [client.myself() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert client.request_count == 40 == len(server.requests)
    assert client.requests_by_endpoint == {"GET /rest/api/3/myself": 40}


def test_close_wakes_threads_waiting_to_retry(server: ScriptedServer) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "30"})
    client = JiraClient(server.url, EMAIL, TOKEN, retry=RetryPolicy(max_retries=4))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.myself()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    while client.gate.deferrals == 0:
        time.sleep(0.005)
    t0 = time.monotonic()
    client.close()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 2
    assert len(errors) == 1 and "closed" in str(errors[0])
    assert len(server.requests) == 1  # nothing was sent early


def test_exhausted_429_still_slows_the_other_threads(server: ScriptedServer) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "0.3"})
    gate = RateGate()
    policy = RetryPolicy(max_retries=0, max_throttle_retries=0)
    client = JiraClient(server.url, EMAIL, TOKEN, retry=policy, gate=gate)
    with pytest.raises(JiraRetriesExhausted) as info:
        client.myself()
    assert info.value.attempts == 1 and info.value.last_status == 429
    assert gate.remaining() > 0.2
    client.close()


# ---------------------------------------------------------------- two retry budgets, the window, near-limit pacing


def test_throttle_retries_have_their_own_budget(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    # six 429s with Retry-After, then success: more than max_retries, within max_throttle_retries
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "0"}) if n <= 6 else Reply(200, MYSELF)
    client = make_client(retry=RetryPolicy(max_retries=1, initial_delay=0.01, max_throttle_retries=10))
    assert client.myself() == MYSELF
    assert client.request_count == 7 and client.retry_count == 6


def test_throttle_budget_is_bounded(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "0"})
    client = make_client(retry=RetryPolicy(max_retries=4, initial_delay=0.01, max_throttle_retries=3))
    with pytest.raises(JiraRetriesExhausted, match=r"gave up after 4 attempts \(4 of them rate-limited\)") as info:
        client.myself()
    assert info.value.attempts == 4 and info.value.last_status == 429


def test_errors_do_not_spend_the_throttle_budget(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    replies = {1: Reply(429, RATE_LIMITED, {"Retry-After": "0"}), 2: Reply(500, "boom"), 3: Reply(500, "boom")}
    server.script = lambda req, n: replies.get(n, Reply(200, MYSELF))
    client = make_client(retry=RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraRetriesExhausted, match="gave up after 3 attempts") as info:
        client.myself()  # 429 (throttle budget), 500 (error retry 1/1), 500: errors exhausted
    assert info.value.last_status == 500 and client.request_count == 3


def test_429_without_retry_after_spends_the_error_budget(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED)
    client = make_client(retry=RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.01))
    with pytest.raises(JiraRetriesExhausted) as info:
        client.myself()
    assert info.value.attempts == 3


def test_429_halves_the_window_and_successes_grow_it(
    server: ScriptedServer, make_client: Callable[..., JiraClient]
) -> None:
    server.script = lambda req, n: Reply(429, RATE_LIMITED, {"Retry-After": "0"}) if n == 1 else Reply(200, MYSELF)
    gate = RateGate()
    client = make_client(gate=gate, pool_size=8)
    assert gate.max_concurrency == 8 and gate.concurrency_limit == 8
    client.myself()
    assert gate.concurrency_limit == 4 and gate.window_decreases == 1
    for _ in range(4):
        client.myself()
    assert gate.concurrency_limit == 5 and gate.in_flight == 0


def test_window_bounds_requests_in_flight(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    lock = threading.Lock()
    active = [0]
    peak = [0]

    def script(req: Req, n: int) -> Reply:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return Reply(200, MYSELF)

    server.script = script
    gate = RateGate(max_concurrency=2)
    client = make_client(gate=gate, pool_size=8)
    threads = [threading.Thread(target=lambda: [client.myself() for _ in range(3)]) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert client.request_count == 18
    assert peak[0] <= 2 and gate.peak_in_flight <= 2


def test_near_limit_paces_every_thread(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    near = {"X-RateLimit-NearLimit": "true"}
    server.script = lambda req, n: Reply(200, MYSELF, near) if n == 1 else Reply(200, MYSELF)
    gate = RateGate()
    client = make_client(gate=gate, pool_size=4, retry=RetryPolicy(near_limit_pause=0.3))
    client.myself()
    assert gate.concurrency_limit == 2 and 0.2 < gate.remaining() <= 0.3
    client.myself()
    first, second = server.requests
    assert second.t - first.t >= 0.29
    assert client.retry_count == 0


def test_near_limit_pacing_can_be_switched_off(server: ScriptedServer, make_client: Callable[..., JiraClient]) -> None:
    server.script = lambda req, n: Reply(200, MYSELF, {"X-RateLimit-NearLimit": "true"})
    gate = RateGate()
    client = make_client(gate=gate, pool_size=4, retry=RetryPolicy(near_limit_pause=0))
    client.myself()
    assert gate.concurrency_limit == 4 and gate.remaining() == 0
