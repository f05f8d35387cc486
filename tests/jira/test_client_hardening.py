"""Hardening of the Jira client: bounded response bodies, and a custom CA bundle against a real local TLS
server whose certificate is signed by a CA generated here with the openssl CLI."""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowkit.jira.client import JiraClient, parse_data_size, resolve_ca_bundle
from flowkit.jira.errors import JiraRequestError, JiraResponseTooLarge
from flowkit.jira.retry import RetryPolicy
from tests.jira.flowrun import fast_flow, overrides_for, run_once

FAST = RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.02)
MYSELF = {"accountId": "abc", "displayName": "Dana Dev", "timeZone": "Europe/Berlin"}


# ---------------------------------------------------------------- bounded bodies


class _Server:
    """Loopback HTTP(S) server answering /rest/api/3/myself; ``chunked`` sends no Content-Length."""

    def __init__(self, body: bytes, *, chunked: bool = False, tls: ssl.SSLContext | None = None) -> None:
        outer = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for i in range(0, len(body), 65536):
                            part = body[i : i + 65536]
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_over_the_bound_is_refused_with_a_clear_error(chunked: bool) -> None:
    big = json.dumps({"accountId": "x" * 3_000_000}).encode()
    server = _Server(big, chunked=chunked)
    try:
        with JiraClient(server.url, "a@b.c", "tok", retry=FAST, max_body_bytes=1_000_000) as client:
            with pytest.raises(JiraResponseTooLarge) as info:
                client.myself()
            message = str(info.value)
            assert "GET /rest/api/3/myself" in message and "allowed for one response" in message
            assert "1000000 bytes" in message and "refused" in message
            assert ("(Content-Length)" in message) is not chunked
            assert isinstance(info.value, JiraRequestError)
        assert server.hits == 1  # not retried
        with JiraClient(server.url, "a@b.c", "tok", retry=FAST, max_body_bytes=10_000_000) as client:
            assert len(client.myself()["accountId"]) == 3_000_000
    finally:
        server.close()


def test_a_board_configuration_over_the_bound_fails_only_that_board(tmp_path: Path, jira_sim_factory: Any) -> None:
    # (under the default 128 MB bound this >16 MB configuration is read: tests/jira/test_flow_oversized.py)
    sim = jira_sim_factory(oversized_value=True)
    flow = fast_flow(tmp_path, **{"Max Response Size": "5 MB"})
    report = run_once(flow, tmp_path / "home", overrides_for(sim, tmp_path / "w.db"))
    errors = [b.message for b in report.bulletins if b.level == "ERROR"]
    assert report.exit_code == 1
    (error,) = errors
    assert "/configuration: the answer is" in error and "more than the 5.0 MiB" in error and "refused" in error
    assert sim.request_log.count("GET /rest/agile/1.0/board/{id}/configuration") == len(sim.ground_truth()["BOARD"])


# ---------------------------------------------------------------- custom CA bundle


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=flowkit test proxy CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    run(
        "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf",
    )  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


@pytest.fixture
def tls_server(pki: dict[str, Path]) -> Iterator[_Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server = _Server(json.dumps(MYSELF).encode(), tls=context)
    yield server
    server.close()


def test_a_private_ca_is_refused_by_default_with_a_hint(tls_server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with JiraClient(tls_server.url, "a@b.c", "tok", retry=FAST) as client, pytest.raises(JiraRequestError) as info:
        client.myself()
    assert "certificate verification failed" in str(info.value) and "CA Bundle" in str(info.value)


def test_the_ca_bundle_parameter_trusts_the_proxy_ca(tls_server: _Server, pki: dict[str, Path]) -> None:
    with JiraClient(tls_server.url, "a@b.c", "tok", retry=FAST, ca_bundle=pki["ca"]) as client:
        assert client.myself() == MYSELF


def test_requests_ca_bundle_from_the_environment_is_honoured(
    tls_server: _Server, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    with JiraClient(tls_server.url, "a@b.c", "tok", retry=FAST) as client:
        assert client.myself() == MYSELF


def test_a_missing_ca_bundle_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        resolve_ca_bundle(tmp_path / "nope.pem")
    with pytest.raises(ValueError, match=r"\$REQUESTS_CA_BUNDLE"):
        resolve_ca_bundle(None, env={"REQUESTS_CA_BUNDLE": str(tmp_path / "gone.pem")})
    assert resolve_ca_bundle(None, env={}) is True


def test_service_properties_are_validated_before_anything_runs(tmp_path: Path, jira_sim: Any) -> None:
    from flowkit.engine import ConfigurationError, load_flow

    for prop, value, words in (
        ("CA Bundle", str(tmp_path / "nope.pem"), "does not exist"),
        ("Max Response Size", "lots", "data size"),
    ):
        flow = fast_flow(tmp_path, **{prop: value})
        with pytest.raises(ConfigurationError, match=words) as info:
            load_flow(flow, overrides=overrides_for(jira_sim, tmp_path / "w.db"), env={})
        assert prop in str(info.value)


@pytest.mark.parametrize(
    ("text", "size"), [("128 MB", 128 * 1024**2), ("512 KB", 512 * 1024), ("1000", 1000), ("2 GB", 2 * 1024**3)]
)
def test_parse_data_size(text: str, size: int) -> None:
    assert parse_data_size(text) == size
