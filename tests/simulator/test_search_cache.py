"""The search endpoints' cached match sets and the id/key-only fast path, over HTTP.

Pages are served from a match set per query that lives until the next mutation. These tests hold it to what
the uncached reference (``DataModel.search``, which the ground truth uses) and ``json.dumps`` of
``issue_json`` give, and show that a mutation between two pages is visible on the next page the way Jira's
``nextPageToken`` paging shows it: the cursor is the last issue id served, so issues deleted, hidden or moved
away after it disappear, and issues created (higher ids) or moved in after it appear.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from flowkit.simulator import JiraSimulator
from flowkit.simulator.api import _decode_token, _encode_token
from flowkit.simulator.generate import generate
from flowkit.simulator.model import BaseIssueView, mix
from flowkit.simulator.views import issue_json

SEARCH = "/rest/api/3/search/jql"


def post(sim: JiraSimulator, body: dict[str, Any]) -> requests.Response:
    return requests.post(sim.url + SEARCH, json=body, auth=sim.auth, timeout=30)


def pages(sim: JiraSimulator, jql: str, size: int, fields: list[str]) -> list[requests.Response]:
    out: list[requests.Response] = []
    token = None
    while True:
        body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": size}
        if token:
            body["nextPageToken"] = token
        r = post(sim, body)
        assert r.status_code == 200, r.text
        out.append(r)
        token = r.json().get("nextPageToken")
        if token is None:
            return out


def reference_page(sim: JiraSimulator, jql: str, after: int, size: int, fields: set[str]) -> bytes:
    """The page as the simulator built it before the cache: the reference search, issue_json, json.dumps."""
    d = sim.data
    found = []
    for issue in d.search(d.parse(jql), after):
        found.append(issue)
        if len(found) > size:
            break
    page, more = found[:size], len(found) > size
    out: dict[str, Any] = {"issues": [issue_json(d, i, fields) for i in page]}
    if more:
        out["nextPageToken"] = _encode_token(page[-1].id, qhash(jql))
    out["isLast"] = not more
    return json.dumps(out, separators=(",", ":")).encode()


def qhash(jql: str) -> str:
    return hashlib.sha1(jql.encode()).hexdigest()[:12]


def cursor(jql: str, r: requests.Response) -> int:
    """The issue id a page's nextPageToken continues after."""
    return _decode_token(r.json()["nextPageToken"], qhash(jql))


def mutate(sim: JiraSimulator, name: str, **args: Any) -> Any:
    r = requests.post(f"{sim.url}/_sim/mutate/{name}", json=args, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def assert_pages_are_the_reference(sim: JiraSimulator, jqls: list[str]) -> None:
    for jql in jqls:
        for fields, size in ((["key"], 50), (["id", "key"], 5000), ([], 37), (["summary", "status"], 100)):
            wanted = set() if set(fields) <= {"id", "key"} else set(fields)
            after = 0
            for r in pages(sim, jql, size, fields):
                assert r.content == reference_page(sim, jql, after, min(size, 100 if wanted else 5000), wanted), jql
                if "nextPageToken" in r.json():
                    after = cursor(jql, r)
                else:
                    assert r.json()["isLast"] is True


# queries whose residual reads every field a JQL clause can read (evaluated on BaseIssueView when untouched)
FIELD_QUERIES = [
    'project = OPS AND (resolution = EMPTY OR resolved >= "2026-01-01")',
    'project in (PLAT, OPS) AND status != Done AND created >= "2025-11-01 10:00"',
    'project = PLAT AND (issuetype = Bug OR statusCategory = "In Progress") AND key != PLAT-5',
    'project = WEB AND updated < "2026-02-01" AND id != 10001 AND resolution is not EMPTY',
    "project = OPS AND issuekey in (OPS-3, OPS-4, OPS-200) AND resolutiondate is EMPTY",
]


def test_fast_key_only_pages_are_byte_for_byte_the_reference(jira_sim_factory: Any) -> None:
    sim: JiraSimulator = jira_sim_factory(boards=14, issues_per_board=120)
    d = sim.data
    jqls = [d.board_issue_jql(b) for b in d.boards.values()] + FIELD_QUERIES
    assert_pages_are_the_reference(sim, jqls)  # untouched data: the visible-runs and BaseIssueView paths
    # overlays of every kind, so the fast path meets added, moved, hidden, revealed and deleted issues
    added = d.add_issue("OPS", "late", "Done")
    d.add_issue("PLAT", "hidden new", hidden=True)
    d.move_issue(d.projects["PLAT"].base_start + 3, "OPS")
    d.move_issue(added, "PLAT")
    d.delete_issue(d.projects["OPS"].base_start + 7)
    d.set_issue_hidden(d.projects["OPS"].base_start + 8)
    revealed = next(i.id for i in d.search(d.parse("project = WEB"), include_hidden=True) if i.hidden)
    d.set_issue_hidden(revealed, False)
    assert_pages_are_the_reference(sim, jqls)
    keys = [i["key"] for r in pages(sim, "project = WEB", 5000, ["key"]) for i in r.json()["issues"]]
    assert d.issue(revealed).key in keys  # type: ignore[union-attr]


def test_base_issue_view_reads_what_the_issue_holds() -> None:
    d = generate(seed=5, boards=8, issues_per_board=3000)
    p = d.projects["OPS"]
    for i in range(p.base_start, p.base_start + p.base_count):
        issue, view = d._base_issue(i, p), BaseIssueView(i, mix(d.seed * 0x100000001B3 + i), p)
        for name in ("id", "key", "project_key", "status", "status_category", "resolution", "issuetype"):
            assert getattr(view, name) == getattr(issue, name), (i, name)
        for name in ("created", "updated", "resolved"):
            assert getattr(view, name) == getattr(issue, name), (i, name)
            assert getattr(view, name) is None or getattr(view, name).tzinfo is getattr(issue, name).tzinfo


def test_a_mutation_between_two_pages_shows_on_the_next_page(jira_sim_factory: Any) -> None:
    sim: JiraSimulator = jira_sim_factory(boards=8, issues_per_board=300)
    d = sim.data
    jql = "project = PLAT ORDER BY Rank ASC"
    first = post(sim, {"jql": jql, "fields": ["key"], "maxResults": 100})
    at = cursor(jql, first)
    ahead = [i.id for i in d.search(d.parse(jql), at)][:10]
    behind = first.json()["issues"][0]
    # over the admin API, as a test driving a flow from outside would
    mutate(sim, "delete_issue", issue_id=ahead[0])
    mutate(sim, "set_issue_hidden", issue_id=ahead[1])
    mutate(sim, "move_issue", issue_id=ahead[2], project_key="OPS")
    mutate(sim, "delete_issue", issue_id=int(behind["id"]))  # already served: the cursor is past it
    new_id = mutate(sim, "add_issue", project_key="PLAT", summary="created mid-run")
    moved_in_key = mutate(sim, "move_issue", issue_id=d.projects["OPS"].base_start + 1, project_key="PLAT")
    rest = []
    body = {"jql": jql, "fields": ["key"], "maxResults": 100, "nextPageToken": first.json()["nextPageToken"]}
    while True:
        r = post(sim, body)
        assert r.status_code == 200
        rest += r.json()["issues"]
        if r.json()["isLast"]:
            assert "nextPageToken" not in r.json()
            break
        body["nextPageToken"] = r.json()["nextPageToken"]
    ids = [int(i["id"]) for i in rest]
    assert ids == sorted(ids) and ids[0] > at
    assert not {ahead[0], ahead[1], ahead[2]} & set(ids)
    assert ids[0] == ahead[3]
    assert rest[-1] == {**rest[-1], "id": str(new_id), "key": f"PLAT-{d.projects['PLAT'].base_count + 1}"}
    # moved into PLAT: OPS's base ids come after PLAT's, so after the cursor too
    assert moved_in_key in [i["key"] for i in rest]
    # what a client paging from scratch now sees agrees with the reference search
    now = [i["key"] for r in pages(sim, jql, 70, ["key"]) for i in r.json()["issues"]]
    assert now == [i.key for i in d.search(d.parse(jql))]


def test_agile_board_issues_total_follows_mutations(jira_sim_factory: Any) -> None:
    sim: JiraSimulator = jira_sim_factory(boards=8, issues_per_board=40)
    url = f"{sim.url}/rest/agile/1.0/board/1/issue"
    before = requests.get(url, params={"maxResults": 5}, auth=sim.auth, timeout=10).json()
    sim.data.add_issue("PLAT", "one more")
    sim.data.delete_issue(int(before["issues"][0]["id"]))
    sim.data.delete_issue(int(before["issues"][1]["id"]))
    after = requests.get(url, params={"maxResults": 5}, auth=sim.auth, timeout=10).json()
    assert after["total"] == before["total"] - 1
    assert after["issues"][0]["id"] == before["issues"][2]["id"]


def test_kanban_sub_query_pages_follow_field_mutations(jira_sim_factory: Any) -> None:
    """A residual query (the kanban sub-query reads status and resolution date) re-evaluated after a change."""
    sim: JiraSimulator = jira_sim_factory(boards=8, issues_per_board=200)
    d = sim.data
    jql = d.board_issue_jql(d.boards[3])
    keys = [i["key"] for r in pages(sim, jql, 25, ["key"]) for i in r.json()["issues"]]
    new = d.add_issue("OPS", "open work")  # To Do: resolution EMPTY, so the sub-query keeps it
    gone = next(d.search(d.parse(jql)))
    d.delete_issue(gone.id)
    again = [i["key"] for r in pages(sim, jql, 25, ["key"]) for i in r.json()["issues"]]
    assert again == [k for k in keys if k != gone.key] + [d.issue(new).key]  # type: ignore[union-attr]
    assert again == [i.key for i in d.search(d.parse(jql))]
