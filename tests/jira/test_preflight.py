"""`flowkit validate --check-connection`: per table, can the token reach what it needs? (simulator, real HTTP)"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from flowkit.jira.client import JiraClient
from flowkit.jira.preflight import GRANT_FILTER, GRANT_SEARCH, GRANT_SPRINTS, preflight, problems
from tests.jira.flowrun import FLOW, run_cli

ALL = ("BOARD_ISSUE", "BOARD_PROJECT", "SPRINT")


def _check(sim: Any, tmp_path: Path, *extra: str, token: str | None = None) -> Any:
    db = tmp_path / "w.db"
    args = ["validate", str(FLOW), "--check-connection", "-p", f"Environment URL={sim.url}"]
    args += ["-p", f"Jira Email={sim.email}", "-p", f"SQLite Path={db}", *extra]
    result = run_cli(args, tmp_path / "home", env={"JIRA_API_TOKEN": token or sim.token, "COLUMNS": "250"})
    assert not (tmp_path / "home").exists() and not db.exists()  # preflight writes nothing
    secret = token or sim.token
    basic = base64.b64encode(f"{sim.email}:{secret}".encode()).decode()
    assert secret not in result.stdout + result.stderr and basic not in result.stdout + result.stderr
    return result


def _row(stdout: str, prefix: str) -> str:
    return next(line for line in stdout.splitlines() if prefix in line)


def test_everything_reachable_exits_0(jira_sim: Any, tmp_path: Path) -> None:
    result = _check(jira_sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for table in ("connection:", "BOARD:", "SPRINT and BOARD_SPRINT:", "BOARD_PROJECT:", "BOARD_ISSUE:"):
        assert _row(result.stdout, table).startswith("ok ")
    assert "every check passed" in result.stdout


def test_no_sprint_access_names_the_table_and_what_to_grant(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/sprint$", status=403)
    result = _check(jira_sim, tmp_path)
    assert result.returncode == 1
    row = _row(result.stdout, "SPRINT and BOARD_SPRINT:")
    assert "FAILED" in row and "HTTP 403" in row and f"grant: {GRANT_SPRINTS}" in row
    assert _row(result.stdout, "BOARD_PROJECT:").startswith("ok ") and _row(result.stdout, "BOARD_ISSUE:").startswith(
        "ok "
    )
    assert "1 check(s) FAILED" in result.stderr


def test_no_search_access_breaks_board_issue_only(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/search/jql$", status=403)
    result = _check(jira_sim, tmp_path)
    assert result.returncode == 1
    assert f"grant: {GRANT_SEARCH}" in _row(result.stdout, "BOARD_ISSUE:")
    assert _row(result.stdout, "SPRINT and BOARD_SPRINT:").startswith("ok ")


def test_an_unshared_filter_fails_board_and_skips_board_issue(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/rest/api/3/filter/", status=404)
    result = _check(jira_sim, tmp_path)
    assert result.returncode == 1
    assert f"grant: {GRANT_FILTER}" in _row(result.stdout, "BOARD: GET /rest/api/3/filter/")
    assert "skipped" in _row(result.stdout, "BOARD_ISSUE:")


def test_refused_credentials_are_named_without_the_token(jira_sim: Any, tmp_path: Path) -> None:
    result = _check(jira_sim, tmp_path, token="not-the-right-token-123")
    assert result.returncode == 1
    row = _row(result.stdout, "connection:")
    assert "credentials refused" in row and "grant: check 'Jira Email' and 'Jira API Token'" in row


def test_only_enabled_tables_are_checked(jira_sim: Any, tmp_path: Path) -> None:
    jira_sim.add_fault("status", path=r"/sprint$", status=403)  # SPRINT is not enabled: not asked
    result = _check(jira_sim, tmp_path, "-p", "Enabled Tables=BOARD_PROJECT")
    assert result.returncode == 0, result.stdout
    assert "SPRINT" not in result.stdout and "BOARD_ISSUE" not in result.stdout
    assert jira_sim.request_log.counts.get("GET /rest/agile/1.0/board/{id}/sprint", 0) == 0


def test_library_preflight_reads_one_board_with_few_requests(jira_sim: Any) -> None:
    with JiraClient(jira_sim.url, jira_sim.email, jira_sim.token) as client:
        checks = preflight(client, ALL)
        assert problems(checks) == {}
        assert [c.table for c in checks] == [
            "connection",
            "BOARD",
            "BOARD",
            "BOARD",
            "SPRINT",
            "BOARD_PROJECT",
            "BOARD_ISSUE",
        ]
        assert client.request_count == 7  # one request per step: first pages only
