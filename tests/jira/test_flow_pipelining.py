"""Pipelining and the shared request budget, through the shipped flow against the simulator over real sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.jira.flowrun import fast_flow, overrides_for, run_once, truth, warehouse

SLOW_S = 1.5


def test_boards_go_downstream_while_a_slow_board_is_still_being_enriched(tmp_path: Path, jira_sim: Any) -> None:
    """Board 1's configuration takes 1.5 s: other boards' sprints, projects and issues are fetched meanwhile
    (they used to wait until the whole page of boards was enriched)."""
    jira_sim.add_fault("slow", path=r"/board/1/configuration$", delay_s=SLOW_S, count=1)
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(jira_sim, tmp_path / "w.db"))
    assert report.exit_code == 0
    entries = list(jira_sim.request_log.entries)
    slow = next(e for e in entries if e.path == "/rest/agile/1.0/board/1/configuration")
    downstream = [
        e
        for e in entries
        if e.endpoint.endswith(("/sprint", "/project")) or e.endpoint == "POST /rest/api/3/search/jql"
    ]
    early = [e for e in downstream if e.at < slow.at + SLOW_S - 0.2]
    assert len(early) >= 5, "no board was fetched while board 1 was still being enriched"
    assert warehouse(tmp_path / "w.db") == truth(jira_sim)


def test_the_first_boards_are_fetched_while_later_boards_are_still_being_enriched(
    tmp_path: Path, jira_sim_factory: Any
) -> None:
    """No slow board: the budget is simply busy (the shipped flow: 8 requests in flight, 8 enrichment workers).
    A worker asks for its next board as soon as it frees a slot, but the fetchers of the boards already sent
    on asked first and get the slots first (they used to wait until every board was enriched)."""
    sim = jira_sim_factory(boards=40, issues_per_board=10, latency_ms=30)
    report = run_once(fast_flow(tmp_path), tmp_path / "home", overrides_for(sim, tmp_path / "w.db"))
    assert report.exit_code == 0
    entries = list(sim.request_log.entries)
    last_enrichment = max(e.at for e in entries if e.path.endswith("/configuration"))
    search = "POST /rest/api/3/search/jql"
    downstream = [e for e in entries if e.endpoint.endswith(("/sprint", "/project")) or e.endpoint == search]
    early = [e for e in downstream if e.at < last_enrichment]
    assert len(early) >= len(downstream) // 3, f"{len(early)} of {len(downstream)} before the last configuration"
    assert warehouse(tmp_path / "w.db") == truth(sim)


def test_the_flow_keeps_to_the_in_flight_limit_and_is_exact_under_both_kinds_of_limit(
    tmp_path: Path, jira_sim_factory: Any
) -> None:
    """Max Requests In Flight bounds the whole flow; a site-wide bucket plus a burst limit on the search
    endpoint: the run is exact and no request comes before a Retry-After allowed."""
    sim = jira_sim_factory(boards=16, issues_per_board=10, latency_ms=20)
    sim.add_rate_limit(40, burst=10, per_endpoint=False)
    sim.add_rate_limit(8, burst=4, endpoint="POST /rest/api/3/search/jql")
    flow = fast_flow(tmp_path)
    doc = yaml.safe_load(flow.read_text())
    (manager,) = [s for s in doc["controller_services"] if s["type"] == "StandardAtlassianRequestRateManager"]
    manager["properties"]["Max Requests In Flight"] = "3"
    flow.write_text(yaml.safe_dump(doc, sort_keys=False))
    report = run_once(flow, tmp_path / "home", overrides_for(sim, tmp_path / "w.db"))
    assert report.exit_code == 0
    assert sim.request_log.peak_in_flight <= 3
    assert sim.request_log.early_retries == 0
    assert warehouse(tmp_path / "w.db") == truth(sim)
