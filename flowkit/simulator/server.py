"""The HTTP layer: a threaded HTTP/1.1 keep-alive server on 127.0.0.1 plus the knobs applied per request."""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flowkit.simulator.api import BOARD_NOT_VIEWABLE, ApiError, RawJson, Request, Response
from flowkit.simulator.ratelimit import take_all
from flowkit.simulator.requestlog import Entry

if TYPE_CHECKING:
    from flowkit.simulator.faults import Fault
    from flowkit.simulator.simulator import JiraSimulator

RATE_LIMITED = "The request has been rate-limited. Please try again later."
UNAUTHORIZED = "Client must be authenticated to access this resource."
_FAULT_MESSAGES = {
    403: "You do not have permission to view this resource.",
    404: BOARD_NOT_VIEWABLE,
    422: "The request could not be processed.",
    500: "Internal server error",
    503: "Service Unavailable",
}


def rate_limit_headers(limit: int, retry_after: int | None, reason: str = "jira-burst-based") -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "RateLimit-Reason": reason,
    }
    if retry_after is not None:
        # Jira's format has minutes only: round up, so the reset is never before the real one
        reset = datetime.now(UTC) + timedelta(seconds=retry_after + 59)
        headers["Retry-After"] = str(retry_after)
        headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%MZ")
    return headers


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, sim: JiraSimulator, port: int) -> None:
        self.sim = sim
        super().__init__(("127.0.0.1", port), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "JiraSimulator/1.0"
    server: SimServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing -------------------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if url.path.startswith("/_sim/") or url.path == "/_sim":
            from flowkit.simulator.admin import handle_admin

            self._send(handle_admin(sim, method, url.path, query, body))
            return
        template, fn, params = sim.api.match(method, url.path)
        endpoint = f"{method} {template or '<unknown>'}"
        client = f"{self.client_address[0]}|{self.headers.get('Authorization', '')}"
        arrived = time.monotonic()
        early = sim.request_log.arrive(client, endpoint, arrived)
        # the entry is completed (with its status) just before the response leaves, so a client that has
        # its answer always finds the request in the log
        self._pending: Entry | None = Entry(arrived, client, method, url.path, endpoint, 0, early)
        try:
            self._serve(Request(method, url.path, query, body, params), fn, template, endpoint, client)
        finally:
            self._record(0)

    def _record(self, status: int) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None:
            self._pending = None
            self.server.sim.request_log.done(replace(pending, status=status))

    def _serve(self, req: Request, fn: Any, template: str, endpoint: str, client: str) -> int:
        sim = self.server.sim
        if sim.latency_ms > 0:
            time.sleep(sim.latency_ms / 1000.0)
        fault = sim.faults.pick(req.method, req.path)
        post = None
        if fault is not None:
            if fault.kind == "reset":
                self._record(0)
                self._reset()
                return 0
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
            elif fault.kind in ("malformed", "truncated", "shape"):
                post = fault.kind
            else:
                return self._send(self._fault_response(fault, client, endpoint))
        decision = take_all(sim.limiters, endpoint) if sim.limiters else None
        if decision is not None and not decision.allowed:
            config = next(lim.config for lim in sim.limiters if lim.config.applies(endpoint))
            ra = decision.retry_after if config.retry_after else None
            if ra is not None:
                sim.request_log.told_retry_after(client, decision.scope, ra)
            body = {"errorMessages": [RATE_LIMITED], "errors": {}, "status": 429}
            return self._send(Response(429, body, rate_limit_headers(decision.limit, ra, decision.reason)))
        if not self._authorized():
            headers = {
                "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                "WWW-Authenticate": 'Basic realm="protected-area"',
            }
            return self._send(Response(401, UNAUTHORIZED, headers, "text/plain;charset=UTF-8"))
        if not template:
            return self._send(Response(404, {"errorMessages": [f"null for uri: {sim.url}{req.path}"], "errors": {}}))
        if fn is None:
            return self._send(Response(405, {"errorMessages": ["Method Not Allowed"], "errors": {}}))
        try:
            resp = Response(200, fn(req))
        except ApiError as exc:
            resp = Response(exc.status, exc.body)
        if decision is not None:
            resp.headers["X-RateLimit-Limit"] = str(decision.limit)
            resp.headers["X-RateLimit-Remaining"] = str(decision.remaining)
            if decision.remaining < 0.2 * decision.limit:
                resp.headers["X-RateLimit-NearLimit"] = "true"
        return self._send(resp, post)

    def _fault_response(self, fault: Fault, client: str, endpoint: str) -> Response:
        sim = self.server.sim
        status = fault.status
        headers: dict[str, str] = {}
        scope = "*"
        if status == 429:
            body: dict[str, Any] = {"errorMessages": [RATE_LIMITED], "errors": {}, "status": 429}
            # a site-wide refusal unless the fault says it is a burst limit (then its scope is the endpoint)
            reason = (fault.headers or {}).get("RateLimit-Reason", "jira-cost-based")
            limit = sim.limiters[0].config.limit if sim.limiters else 100
            headers = rate_limit_headers(limit, fault.retry_after, reason)
            scope = endpoint if reason == "jira-burst-based" else "*"
        else:
            msg = fault.message or _FAULT_MESSAGES.get(status, "Request failed")
            body = {"errorMessages": [msg], "errors": {}}
            if status == 503 and fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
        if status in (429, 503) and fault.retry_after is not None:
            sim.request_log.told_retry_after(client, scope, fault.retry_after)
        headers.update(fault.headers or {})
        return Response(status, body, headers)

    def _authorized(self) -> bool:
        sim = self.server.sim
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except ValueError:
            return False
        return raw == f"{sim.email}:{sim.token}"

    def _reset(self) -> None:
        """Close the connection with a TCP RST and no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(self, resp: Response, post: str | None = None) -> int:
        body = resp.body
        if post == "shape" and resp.status == 200:
            body = _without_ids(json.loads(body.data) if isinstance(body, RawJson) else body)
        if isinstance(body, RawJson):
            data = body.data
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body, separators=(",", ":")).encode()
        declared = len(data)
        if post == "malformed":
            data = data[: max(1, len(data) // 2)]
            declared = len(data)
        elif post == "truncated":
            data = data[: max(1, len(data) // 2)]
        self._record(resp.status)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(declared))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if post == "truncated":
            self.send_header("Connection", "close")
            self.close_connection = True
        # headers and body in one segment: avoids a Nagle / delayed-ACK stall per response
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffer.append(b"\r\n" + data)
        try:
            self.flush_headers()
        except OSError:
            self.close_connection = True
        return resp.status


def _without_ids(body: Any) -> Any:
    """The ``shape`` fault: the same page, but its items (``values`` or ``issues``) have no ``id``."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key in ("values", "issues"):
        if isinstance(out.get(key), list):
            out[key] = [{k: v for k, v in item.items() if k != "id"} for item in out[key]]
    return out
