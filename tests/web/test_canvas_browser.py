"""The canvas end to end in a real headless Chromium, against the Jira flow and the simulator.

The simulator answers slowly (latency) so that a run lasts a few seconds and the page can be seen
moving. Every response body the browser receives is kept and searched for the API token.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from flowkit.engine import load_flow
from flowkit.engine.history import read_history
from flowkit.web import CanvasServer, RunControl
from tests.engine.helpers import write_flow
from tests.jira.flowrun import fast_flow, run_cli

PROCESSORS = (
    "VerifyConnection",
    "ListBoards",
    "FetchSprints",
    "FetchBoardProjects",
    "FetchBoardIssues",
    "PutJournal",
    "MergeTables",
)
SLOW = {"latency_ms": 200, "boards": 16}  # with one task per fetcher (`slow_flow`): a run of about 5 s


def slow_flow(tmp_path: Path) -> Path:
    """The shipped flow (quick retries) with one task per fetcher, so that fetching lasts a few seconds."""
    path = fast_flow(tmp_path)
    doc = yaml.safe_load(path.read_text())
    for processor in doc["processors"]:
        if processor["name"].startswith("Fetch"):
            processor["scheduling"] = {"concurrent_tasks": 1}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _env(home: Path, sim: Any) -> dict[str, str]:
    return {**os.environ, "FLOWKIT_HOME": str(home), "JIRA_API_TOKEN": sim.token}


def _params(sim: Any, db: Path) -> list[str]:
    return ["-p", f"Environment URL={sim.url}", "-p", f"Jira Email={sim.email}", "-p", f"SQLite Path={db}"]


@pytest.fixture
def ui_process(tmp_path: Path, jira_sim_factory: Any) -> Iterator[tuple[str, Any, Path]]:
    """`flowkit ui` on the Jira flow in a real process: (URL, simulator, home)."""
    sim = jira_sim_factory(**SLOW)
    home = tmp_path / "home"
    flow = slow_flow(tmp_path)
    command = [sys.executable, "-m", "flowkit.cli", "ui", str(flow), *_params(sim, tmp_path / "wh.db")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home, sim))
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", first)
        assert match, first + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        yield match.group(1), sim, home
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _bodies(page: Any) -> list[str]:
    kept: list[str] = []

    def keep(response: Any) -> None:
        with contextlib.suppress(Exception):  # a redirect or an aborted body has none
            kept.append(response.text())

    page.on("response", keep)
    return kept


def _total(page: Any) -> int:
    """FlowFiles in + out over every processor, as the canvas shows them."""
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll('[data-processor] [data-field=in],[data-processor] [data-field=out]'
            )]
                .reduce((sum, node) => sum + Number(node.textContent.replace(/,/g, '')), 0)"""
        )
    )


def test_the_canvas_runs_the_flow_shows_it_move_and_keeps_its_history(page: Any, ui_process: Any) -> None:
    url, sim, _home = ui_process
    bodies = _bodies(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    for name in PROCESSORS:  # the graph drawn from the flow file
        assert page.locator(f'[data-processor="{name}"]').is_visible()
    queue = page.locator('[data-connection="FetchBoardIssues|success|PutJournal"] [data-field="queue"]')
    assert queue.text_content() == "0 / 8"  # queued / back-pressure threshold
    assert page.locator('[data-service="Jira Client"]').is_visible()
    assert page.locator('[data-parameter="Jira API Token"] td').nth(2).text_content() == "***"
    assert page.locator("#run-state").text_content() == "no run yet"

    page.click("#run-now")
    page.wait_for_selector("#run-state.running")
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while page.locator("#run-state.running").count() and time.monotonic() < deadline:
        seen.append(_total(page))
        page.wait_for_timeout(150)
    assert page.locator("#run-state.running").count() == 0, "the run did not finish in 30 s"
    # updated without reloading: the counts grew while the run was in progress, and again by its end
    assert len({t for t in seen if t > 1}) >= 2, f"counts did not move during the run: {seen}"
    assert _total(page) >= max(seen)

    row = page.locator('#runs tbody tr[data-run="1"]')
    row.wait_for()
    assert row.locator("td.outcome").text_content() == "succeeded"
    assert page.locator("#phase").text_content() == "done"
    row.click()
    detail = page.locator("#run-detail")
    detail.locator('[data-table="BOARD"]').wait_for()
    boards = len(sim.ground_truth()["BOARD"])
    assert detail.locator('[data-table="BOARD"] td').nth(1).text_content() == str(boards)  # inserted
    assert page.locator('#chart [data-chart-run="1"]').count() == 1

    page.click("#clear-state")
    page.wait_for_selector("#message.done")
    assert re.fullmatch(
        r"cleared \d+ state map\(s\) of flow 'atlassian-jira-cloud-agile'", page.text_content("#message")
    )
    everything = "\n".join(bodies)
    assert "Jira API Token" in everything and sim.token not in everything


def test_clear_state_is_refused_mid_run_with_the_cli_message(page: Any, ui_process: Any) -> None:
    url, _sim, _home = ui_process
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    page.click("#run-now")
    page.wait_for_selector("#run-state.running")
    page.click("#clear-state")
    page.wait_for_selector("#message.refused")
    message = page.text_content("#message")
    assert message.startswith("cannot clear the state of flow 'atlassian-jira-cloud-agile' while it is running (pid ")
    assert message.endswith("); stop it first")
    again = page.evaluate(  # one run at a time (the button is disabled meanwhile; the server refuses too)
        """async () => { const r = await fetch('/api/actions/run', {method: 'POST', headers: {'Content-Type':
             'application/json', 'X-Flowkit-CSRF': document.querySelector('meta[name="flowkit-csrf"]').content},
             body: '{}'}); return [r.status, await r.json()]; }"""
    )
    assert again[0] == 409 and "is already running (pid " in again[1]["message"]
    page.click("#stop")
    page.wait_for_selector('#runs tbody tr[data-run="1"] td.outcome-interrupted', timeout=30_000)


def test_the_canvas_watches_and_stops_a_run_of_another_process(
    page: Any, tmp_path: Path, jira_sim_factory: Any
) -> None:
    # slower still (about 10 s unstopped): the other process's counts reach the canvas through the
    # run history, refreshed every 2 s, and the run must still be going when the page acts on it
    sim = jira_sim_factory(latency_ms=400, boards=16)
    home = tmp_path / "home"
    flow = slow_flow(tmp_path)
    control = RunControl(home, "atlassian-jira-cloud-agile", None)
    server = CanvasServer(flow, home, control).start()
    command = [sys.executable, "-m", "flowkit.cli", "run", str(flow), "--once", "--quiet"]
    process = subprocess.Popen([*command, *_params(sim, tmp_path / "wh.db")], env=_env(home, sim))
    try:
        page.goto(server.url)
        page.wait_for_selector("#run-state.running", timeout=30_000)
        page.click("#clear-state")
        page.wait_for_selector("#message.refused")
        assert "cannot clear the state of flow" in page.text_content("#message")
        assert process.poll() is None, "the run ended before the page could act on it"
        page.wait_for_function(  # the other process's counts, without reloading
            '() => Number(document.querySelector(\'[data-processor="ListBoards"] [data-field="out"]\').textContent) > 0'
        )
        page.click("#stop")  # another process's run: SIGTERM, as `kill` would
        page.wait_for_selector("#message.done")
        assert page.text_content("#message").startswith(
            f"sent SIGTERM to flow 'atlassian-jira-cloud-agile' (pid {process.pid})"
        )
        assert process.wait(timeout=60) == 1  # an interrupted --once run
        page.wait_for_selector('#runs tbody tr[data-run="1"] td.outcome-interrupted')
    finally:
        if process.poll() is None:
            process.kill()
        server.stop()


WARNING_FLOW = """\
    flowkit: 1
    process_group: {name: Warned}
    parameter_contexts:
      - name: P
        parameters:
          - {name: Secret, sensitive: true}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 2}}
      - {name: Warn, type: LogMessage, properties: {Log Level: WARNING, Message: "careful hush-hush-value"}}
      - {name: Log, type: LogAttribute, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Warn}
      - {source: Warn, relationships: [success], destination: Log}
    """


@pytest.fixture
def warned(tmp_path: Path) -> tuple[Path, Path, Any]:
    """A flow whose Warn processor logs a secret parameter's value, run once by the CLI (which redacts its output).

    Returns (flow file, home, loaded flow)."""
    path = write_flow(
        tmp_path,
        WARNING_FLOW.replace("process_group: {name: Warned}", "process_group: {name: Warned, parameter_context: P}"),
    )
    home = tmp_path / "home"
    loaded = load_flow(path, overrides={"Secret": "hush-hush-value"}, env={})
    done = run_cli(["run", str(path), "--once", "--quiet", "-p", "Secret=hush-hush-value"], home)
    assert done.returncode == 0, done.stderr
    return path, home, loaded


def test_a_non_loopback_bind_refuses_requests_without_its_token(page: Any, warned: Any) -> None:
    path, home, loaded = warned
    # 127.0.0.2 stands for any address other than 127.0.0.1 (tests only use loopback addresses)
    server = CanvasServer(path, home, RunControl(home, loaded.flow_id, loaded), host="127.0.0.2", flow=loaded).start()
    try:
        assert server.generated_token and server.token and server.token in server.access_url
        refused = page.goto(server.url)
        assert refused.status == 401 and "access token" in page.text_content("body")
        assert requests.get(server.url + "api/status", timeout=5).status_code == 401
        bodies = _bodies(page)
        page.goto(server.access_url)  # the printed URL: the token becomes a cookie
        page.wait_for_selector("body[data-ready=true]")
        assert page.url == server.url
        # bulletins sit on the component that raised them, the secret masked
        badge = page.locator('[data-bulletins="Warn"]')
        assert badge.get_attribute("visibility") == "visible" and badge.text_content() == "⚠ 2"
        page.click('[data-processor="Warn"]')
        assert "careful ***" in page.text_content("#component-detail")
        assert "hush-hush-value" not in "\n".join(bodies)
    finally:
        server.stop()


def test_actions_need_the_pages_csrf_token_and_origin(page: Any, warned: Any) -> None:
    path, home, loaded = warned
    server = CanvasServer(path, home, RunControl(home, loaded.flow_id, loaded), flow=loaded).start()
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]")
        without = page.evaluate(
            """async () => { const r = await fetch('/api/actions/clear-state', {method: 'POST',
                 headers: {'Content-Type': 'application/json'}, body: '{}'}); return [r.status, await r.json()]; }"""
        )
        assert without[0] == 403 and "CSRF" in without[1]["message"]
        csrf = page.get_attribute('meta[name="flowkit-csrf"]', "content")
        headers = {"X-Flowkit-CSRF": csrf, "Content-Type": "application/json"}
        forged = requests.post(
            server.url + "api/actions/clear-state", headers={**headers, "Origin": "http://evil.example"}, timeout=5
        )
        assert forged.status_code == 403
        rebound = requests.get(server.url, headers={"Host": f"evil.example:{server.port}"}, timeout=5)
        assert rebound.status_code == 421
        form = requests.post(
            server.url + "api/actions/clear-state", headers={**headers, "Content-Type": "text/plain"}, timeout=5
        )
        assert form.status_code == 415
        ok = requests.post(server.url + "api/actions/clear-state", headers=headers, data="{}", timeout=5)
        assert ok.status_code == 200 and ok.json()["message"].startswith("cleared ")
    finally:
        server.stop()


def test_run_with_ui_serves_the_canvas_of_its_own_run_and_its_stop_button_stops_it(
    page: Any, tmp_path: Path, jira_sim_factory: Any
) -> None:
    sim = jira_sim_factory(**SLOW)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "flowkit.cli", "run", str(slow_flow(tmp_path)), "--once", "--quiet", "--ui"]
    process = subprocess.Popen(
        [*command, *_params(sim, tmp_path / "wh.db")], stderr=subprocess.PIPE, text=True, env=_env(home, sim)
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", first)
        assert match, first
        page.goto(match.group(1))
        page.wait_for_selector("#run-state.running")
        page.wait_for_function("() => ['listing', 'fetching'].includes(document.querySelector('#phase').textContent)")
        page.click("#stop")
        page.wait_for_selector("#message.done")
        assert page.text_content("#message") == "stopping flow 'atlassian-jira-cloud-agile'"
        assert process.wait(timeout=60) == 1  # an interrupted --once run, as after Ctrl+C
    finally:
        if process.poll() is None:
            process.kill()
    [run] = read_history(home, "atlassian-jira-cloud-agile")
    assert run["outcome"] == "interrupted"
