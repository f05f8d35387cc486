"""The canvas's web server: one page, its local script and style sheet, a JSON API and three POST actions.

Standard library only (`http.server.ThreadingHTTPServer`): a handful of routes, no templates.

Safe by default:
- binds ``127.0.0.1``; any other address (``0.0.0.0``, a LAN address, even another ``127.x``) needs an
  access token, given or generated (`needs_token`); without it every request is refused (401). The
  token travels once in the URL (``/?token=...``), then in an HttpOnly, SameSite=Strict cookie;
- on a loopback bind the Host header must name the loopback address and port (DNS rebinding);
- every action is a POST that must carry the page's per-server CSRF token in ``X-Flowkit-CSRF``, a
  JSON content type, and (when the browser sends one) an Origin equal to the server's own;
- responses pass through `Redact`: the flow's sensitive parameter values never leave the process,
  whatever a component wrote; a strict Content-Security-Policy allows only this server's files.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flowkit.engine.flow import Flow
from flowkit.engine.graph import describe
from flowkit.engine.history import read_history
from flowkit.engine.locking import LOCKS_DIR, RunLock
from flowkit.engine.state import STATE_DB, StateService
from flowkit.web import documents
from flowkit.web.control import ActionRefused, RunControl

logger = logging.getLogger("flowkit.web")

LOOPBACK = ("127.0.0.1", "::1", "localhost")
COOKIE = "flowkit_ui_token"
CSRF_HEADER = "X-Flowkit-CSRF"
RUNS_SHOWN = 30
STATIC = {  # file name -> content type; nothing else is served from disk
    "canvas.js": "text/javascript; charset=utf-8",
    "canvas.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def needs_token(host: str) -> bool:
    """True unless `host` is the loopback address itself (``127.0.0.1``, ``::1``, ``localhost``)."""
    return host.strip("[]").lower() not in LOOPBACK


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """Host header values a loopback bind answers (DNS-rebinding defence); None: any (a token guards it)."""
    if needs_token(host):
        return None
    return frozenset(f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Redact:
    """Replaces the flow's sensitive values in everything the server sends."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, documents.MASK)
        return text


def _page() -> str:
    return (resources.files("flowkit.web") / "static" / "index.html").read_text(encoding="utf-8")


def _static(name: str) -> bytes:
    return (resources.files("flowkit.web") / "static" / name).read_bytes()


class CanvasServer:
    """Serves the canvas of one flow until `stop`.

    Args:
        flow_path: the flow file (the picture is drawn from it).
        home: ``$FLOWKIT_HOME`` (state, run history, run locks).
        control: the actions and the live status of runs of this process.
        host / port: where to listen (port 0: a free one).
        token: the access token; required (generated when None) on a non-loopback host.

    Raises:
        OSError: the address cannot be bound.
    """

    def __init__(
        self,
        flow_path: Path,
        home: Path,
        control: RunControl,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        flow: Flow | None = None,
    ) -> None:
        self.flow_path = flow_path
        self.home = home
        self.control = control
        self.flow_id = control.flow_id
        self.host = host
        self.generated_token = token is None and needs_token(host)
        self.token = secrets.token_urlsafe(24) if self.generated_token else token
        self.csrf = secrets.token_urlsafe(24)
        self.redact = Redact(p.value for p in (flow.parameters.values() if flow else ()) if p.sensitive and p.value)
        self.flow_doc = documents.flow_document(describe(flow_path), self.flow_id, flow)
        server_class = _IPv6Server if ":" in host.strip("[]") else ThreadingHTTPServer
        self._httpd = server_class((host.strip("[]"), port), _Handler)
        self._httpd.canvas = self  # type: ignore[attr-defined]
        self.port = int(self._httpd.server_address[1])
        self.hosts = allowed_hosts(host, self.port)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="flowkit-ui", daemon=True)

    @property
    def url(self) -> str:
        """The canvas's address (without the token)."""
        shown = f"[{self.host.strip('[]')}]" if ":" in self.host.strip("[]") else self.host
        return f"http://{shown}:{self.port}/"

    @property
    def access_url(self) -> str:
        """The address to open: with ``?token=`` when a token is needed (print it once, never log it)."""
        return f"{self.url}?token={self.token}" if self.token else self.url

    def start(self) -> CanvasServer:
        """Serve on a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread.is_alive():
            self._thread.join(5)

    # -- documents ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """`documents.status_document` for this flow, read now."""
        runs = read_history(self.home, self.flow_id, limit=1)
        pid = RunLock.holder(self.home, self.flow_id) if (self.home / LOCKS_DIR).exists() else None
        return documents.status_document(
            self.flow_id,
            running=pid is not None,
            pid=pid or None,
            in_process=self.control.in_process(),
            newest=runs[0] if runs else None,
            live=self.control.live(),
            state_maps=self._state_maps(),
        )

    def _state_maps(self) -> int:
        if not (self.home / STATE_DB).exists():
            return 0
        service = StateService(self.home)
        try:
            return len(service.rows(self.flow_id))
        finally:
            service.close()

    def runs(self) -> list[dict[str, Any]]:
        """The newest runs, summarised (newest first)."""
        return [documents.run_summary(r) for r in read_history(self.home, self.flow_id, limit=RUNS_SHOWN)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run in full, or None."""
        found = [r for r in read_history(self.home, self.flow_id, limit=None) if r["run_id"] == run_id]
        return documents.run_detail(found[0]) if found else None


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "flowkit-ui"
    sys_version = ""

    @property
    def canvas(self) -> CanvasServer:
        return self.server.canvas  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        # the method and path only: a query string may hold the access token
        logger.debug(
            "%s %s %s", self.address_string(), getattr(self, "command", ""), urlsplit(getattr(self, "path", "")).path
        )

    # -- checks ----------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        hosts = self.canvas.hosts
        return hosts is None or (self.headers.get("Host") or "").lower() in hosts

    def _presented_token(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        return cookie[COOKIE].value if COOKIE in cookie else None

    def _authorised(self) -> bool:
        token = self.canvas.token
        return token is None or same_token(self._presented_token(), token)

    def _origin_ok(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/").lower() != f"http://{self.headers.get('Host', '')}".lower():
            return False
        fetch_site = self.headers.get("Sec-Fetch-Site")
        return fetch_site in (None, "same-origin", "none")

    # -- replies ---------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        text = self.canvas.redact(json.dumps(document, ensure_ascii=False, default=str))
        self._send(status, text.encode(), "application/json; charset=utf-8")

    def _refuse(self, status: int, message: str) -> None:
        if self.path.startswith("/api/"):
            self._json(status, {"ok": False, "message": message})
        else:
            self._send(status, f"{message}\n".encode(), "text/plain; charset=utf-8")

    def _guard(self) -> bool:
        if not self._host_ok():
            self._refuse(HTTPStatus.MISDIRECTED_REQUEST, "this canvas answers only on its loopback address")
            return False
        if not self._authorised():
            self._refuse(
                HTTPStatus.UNAUTHORIZED,
                "this canvas needs its access token: open the URL flowkit printed (with ?token=...)",
            )
            return False
        return True

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        token = self.canvas.token
        if parts.path == "/" and token is not None and "token" in query and self._host_ok():
            if not same_token(query["token"][0], token):
                self._refuse(HTTPStatus.UNAUTHORIZED, "wrong access token")
                return
            cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
            return
        if not self._guard():
            return
        canvas = self.canvas
        if parts.path == "/":
            page = _page().replace("{{CSRF}}", canvas.csrf).replace("{{TITLE}}", _html(canvas.flow_doc["name"]))
            self._send(HTTPStatus.OK, canvas.redact(page).encode(), "text/html; charset=utf-8")
        elif parts.path.startswith("/static/") and parts.path[len("/static/") :] in STATIC:
            name = parts.path[len("/static/") :]
            self._send(HTTPStatus.OK, _static(name), STATIC[name])
        elif parts.path == "/api/flow":
            self._json(HTTPStatus.OK, canvas.flow_doc)
        elif parts.path == "/api/status":
            self._json(HTTPStatus.OK, canvas.status())
        elif parts.path == "/api/runs":
            self._json(HTTPStatus.OK, canvas.runs())
        elif parts.path.startswith("/api/runs/"):
            found = canvas.run(parts.path[len("/api/runs/") :])
            if found is None:
                self._refuse(HTTPStatus.NOT_FOUND, "no such run")
            else:
                self._json(HTTPStatus.OK, found)
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "not found")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        if not self._guard():
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 4096))
        if not self._origin_ok():
            self._refuse(HTTPStatus.FORBIDDEN, "cross-site request refused")
            return
        if not same_token(self.headers.get(CSRF_HEADER), self.canvas.csrf):
            self._refuse(HTTPStatus.FORBIDDEN, "missing or wrong CSRF token: reload the canvas")
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "actions take application/json")
            return
        actions = {
            "/api/actions/run": self.canvas.control.run_now,
            "/api/actions/stop": self.canvas.control.stop,
            "/api/actions/clear-state": self.canvas.control.clear,
        }
        action = actions.get(urlsplit(self.path).path)
        if action is None:
            self._refuse(HTTPStatus.NOT_FOUND, "no such action")
            return
        try:
            message = action()
        except ActionRefused as exc:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "message": str(exc)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "message": message})


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
