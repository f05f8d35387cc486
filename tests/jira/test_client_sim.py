"""JiraClient against the local Jira Cloud simulator: a full read of the site must match its ground truth."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flowkit.jira.client import JiraClient
from flowkit.jira.errors import JiraAuthError, JiraBoardUnavailable
from flowkit.jira.retry import RateGate, RetryPolicy

FAST = RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.05)


@pytest.fixture
def sim_factory(request: pytest.FixtureRequest) -> Callable[..., Any]:
    try:
        factory: Callable[..., Any] = request.getfixturevalue("jira_sim_factory")
    except pytest.FixtureLookupError:  # pragma: no cover - simulator not available
        pytest.skip("the Jira simulator fixtures are not available")
    return factory


def _client(sim: Any, **kwargs: Any) -> JiraClient:
    kwargs.setdefault("retry", FAST)
    return JiraClient(sim.url, sim.email, sim.token, **kwargs)


def _read_site(client: JiraClient, workers: int = 1) -> dict[str, set[tuple[Any, ...]]]:
    """What the flow reads: boards, and per board its sprints, projects and issue ids."""
    boards = [b for page in client.iter_board_pages() for b in page]
    out: dict[str, set[tuple[Any, ...]]] = {
        "BOARD": {(b["id"],) for b in boards},
        "BOARD_SPRINT": set(),
        "BOARD_PROJECT": set(),
        "BOARD_ISSUE": set(),
    }
    lock = threading.Lock()

    def one(board: dict[str, Any]) -> None:
        bid = board["id"]
        try:
            config = client.board_configuration(bid)
            flt = client.filter(config["filter"]["id"], board_id=bid)
            sprints = [(bid, s["id"]) for page in client.iter_sprint_pages(bid) for s in page]
            projects = [(bid, int(p["id"])) for page in client.iter_board_project_pages(bid) for p in page]
            jql = JiraClient.board_issue_jql(flt["jql"], (config.get("subQuery") or {}).get("query"))
            issues = [(bid, int(i["id"])) for page in client.iter_jql_pages(jql, board_id=bid) for i in page]
        except JiraBoardUnavailable:
            return
        with lock:
            out["BOARD_SPRINT"].update(sprints)
            out["BOARD_PROJECT"].update(projects)
            out["BOARD_ISSUE"].update(issues)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, boards))
    return out


def _truth(sim: Any) -> dict[str, set[tuple[Any, ...]]]:
    gt = sim.ground_truth(["BOARD", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"])
    return {
        "BOARD": {(r["ID"],) for r in gt["BOARD"]},
        "BOARD_SPRINT": {(r["BOARD_ID"], r["SPRINT_ID"]) for r in gt["BOARD_SPRINT"]},
        "BOARD_PROJECT": {(r["BOARD_ID"], r["PROJECT_ID"]) for r in gt["BOARD_PROJECT"]},
        "BOARD_ISSUE": {(r["BOARD_ID"], r["ISSUE_ID"]) for r in gt["BOARD_ISSUE"]},
    }


def test_full_read_matches_ground_truth(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=8, issues_per_board=30)
    with _client(sim) as client:
        me = client.myself()
        assert me.get("accountId")
        assert _read_site(client) == _truth(sim)
        assert client.retry_count == 0
        eps = client.requests_by_endpoint
        assert eps["GET /rest/agile/1.0/board/{boardId}/configuration"] == len(_truth(sim)["BOARD"])
        assert client.request_count == sum(eps.values())


def test_small_page_cap_is_followed(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=12, issues_per_board=5, sprints_per_board=9)
    sim.page_cap = 4
    with _client(sim) as client:
        assert _read_site(client) == _truth(sim)
        assert client.requests_by_endpoint["GET /rest/agile/1.0/board"] >= 3


def test_wrong_token_is_auth_error(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory()
    with JiraClient(sim.url, sim.email, "not-the-token-123", retry=FAST) as client:
        with pytest.raises(JiraAuthError) as info:
            client.myself()
        assert "not-the-token-123" not in str(info.value)
        assert client.request_count == 1


def test_faults_are_retried_and_the_read_stays_exact(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=6, issues_per_board=20)
    sim.add_fault("reset", count=2)
    sim.add_fault("malformed", path="/sprint", count=1)
    sim.add_fault("truncated", path="/project", count=1)
    sim.add_fault("500", path="/configuration", count=1)
    sim.add_fault("503", path="/search/jql", count=1, retry_after=None)
    with _client(sim) as client:
        assert _read_site(client, workers=3) == _truth(sim)
        assert client.retry_count == 6


def test_rate_limited_concurrent_read_never_retries_early(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=6, issues_per_board=10, rate_limit=40.0)
    sim.set_rate_limit(40.0, burst=5, per_endpoint=False)
    gate = RateGate()
    with _client(sim, gate=gate, pool_size=4) as client:
        assert _read_site(client, workers=4) == _truth(sim)
        assert client.retry_count >= 1 and gate.deferrals >= 1
    assert sim.request_log.early_retries == 0
