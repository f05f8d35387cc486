"""`flowkit ui` as a command: what it prints, its token, its one-line errors (no browser needed)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from flowkit.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "flows" / "example.yaml"


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["ui", str(EXAMPLE), "--port", str(port)], env={"FLOWKIT_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"flowkit: error: --host 127.0.0.1 --port {port}: cannot listen there (Address already in use)"
    ]


def test_a_bad_flow_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ui", str(tmp_path / "missing.yaml")], env={"FLOWKIT_HOME": str(tmp_path)})
    assert result.exit_code == 2 and "flow file not found" in result.output


def test_a_non_loopback_host_gets_a_generated_token_printed_once(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWKIT_HOME": str(tmp_path)}
    env.pop("FLOWKIT_UI_TOKEN", None)
    command = [sys.executable, "-m", "flowkit.cli", "ui", str(EXAMPLE), "--host", "127.0.0.2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first, second = process.stdout.readline(), process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.2:\d+/)", first)
        token = re.search(r"open (http://127\.0\.0\.2:\d+/)\?token=([\w-]+)$", second.strip())
        assert url and token, first + second
        assert requests.get(url.group(1) + "api/status", timeout=5).status_code == 401
        wrong = requests.get(url.group(1) + "api/status", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        bearer = {"Authorization": f"Bearer {token.group(2)}"}
        assert requests.get(url.group(1) + "api/status", headers=bearer, timeout=5).json()["flow_id"] == "example-flow"
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0 and token.group(2) not in out  # printed once only


def test_a_given_token_is_never_printed(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWKIT_HOME": str(tmp_path), "FLOWKIT_UI_TOKEN": "given-token-123456"}
    command = [sys.executable, "-m", "flowkit.cli", "ui", str(EXAMPLE), "--host", "127.0.0.2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.2:\d+/)", first)
        assert url, first
        cookie = requests.get(url.group(1) + "?token=given-token-123456", allow_redirects=False, timeout=5)
        assert cookie.status_code == 303 and "HttpOnly" in cookie.headers["Set-Cookie"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert "given-token-123456" not in out + err


def test_watch_only_needs_no_secret_and_has_no_run_now(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWKIT_HOME": str(tmp_path)}
    env.pop("JIRA_API_TOKEN", None)
    flow = EXAMPLE.parent / "jira_agile.yaml"
    command = [sys.executable, "-m", "flowkit.cli", "ui", str(flow), "--watch-only"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", first)
        assert url, first
        page = requests.get(url.group(1), timeout=5).text
        csrf = re.search(r'name="flowkit-csrf" content="([^"]+)"', page)
        assert csrf
        headers = {"X-Flowkit-CSRF": csrf.group(1), "Content-Type": "application/json"}
        refused = requests.post(url.group(1) + "api/actions/run", headers=headers, data="{}", timeout=5)
        assert refused.status_code == 409 and "only watches" in refused.json()["message"]
        shown = requests.get(url.group(1) + "api/flow", timeout=5).json()["parameters"]
        assert {p["name"]: p["value"] for p in shown}["Jira API Token"] == "***"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_watch_only_takes_no_parameters(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["ui", str(EXAMPLE), "--watch-only", "-p", "Greeting=hi"], env={"FLOWKIT_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert (
        result.output.strip() == "flowkit: error: --watch-only: -p / --parameters are for runs started from the canvas"
    )
