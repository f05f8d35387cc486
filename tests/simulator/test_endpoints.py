"""The simulator's endpoints against jira-api.md: envelopes, paging, errors."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from flowkit.simulator import JiraSimulator
from flowkit.simulator.api import BOARD_NOT_VIEWABLE

AGILE = "/rest/agile/1.0"


def get(sim: JiraSimulator, path: str, **params: object) -> requests.Response:
    return requests.get(sim.url + path, params=params, auth=sim.auth, timeout=10)  # type: ignore[arg-type]


def search(sim: JiraSimulator, **body: object) -> requests.Response:
    return requests.post(sim.url + "/rest/api/3/search/jql", json=body, auth=sim.auth, timeout=10)


def test_myself_and_auth(jira_sim: JiraSimulator) -> None:
    r = get(jira_sim, "/rest/api/3/myself")
    assert r.status_code == 200
    me = r.json()
    assert me["emailAddress"] == jira_sim.email and me["accountId"] and me["timeZone"] == "Europe/Berlin"
    for auth in [(jira_sim.email, "wrong"), ("someone@else", jira_sim.token), None]:
        r = requests.get(jira_sim.url + "/rest/api/3/myself", auth=auth, timeout=10)
        assert r.status_code == 401
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.text == "Client must be authenticated to access this resource."
        assert r.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert get(jira_sim, AGILE + "/board").status_code == 200
    assert requests.get(jira_sim.url + AGILE + "/board", timeout=10).status_code == 401


def test_board_list_envelope_and_visibility(jira_sim: JiraSimulator) -> None:
    page = get(jira_sim, AGILE + "/board").json()
    assert set(page) == {"maxResults", "startAt", "total", "isLast", "values"}
    assert page["maxResults"] == 50 and page["startAt"] == 0 and page["isLast"] is True
    ids = [b["id"] for b in page["values"]]
    assert ids == [1, 2, 3, 4, 6, 8] and page["total"] == 6
    for b in page["values"]:
        assert {"id", "self", "name", "type", "location", "isPrivate"} <= set(b)
    own = page["values"][4]
    assert own["isPrivate"] is True and own["location"]["userAccountId"] == "5b10ac8d82e05b22cc7d4ef5"
    assert "projectId" not in own["location"]
    loc = page["values"][0]["location"]
    assert set(loc) == {
        "projectId",
        "displayName",
        "projectName",
        "projectKey",
        "projectTypeKey",
        "avatarURI",
        "name",
    }

    with_private = get(jira_sim, AGILE + "/board", includePrivate="true").json()
    assert [b["id"] for b in with_private["values"]] == [1, 2, 3, 4, 6, 8, 5, 7]
    for hidden in with_private["values"][-2:]:
        assert "name" not in hidden and "type" not in hidden
    assert with_private["values"][-2]["isPrivate"] is True


def test_board_list_filters(jira_sim: JiraSimulator) -> None:
    def ids(**params: object) -> list[int]:
        return [b["id"] for b in get(jira_sim, AGILE + "/board", **params).json()["values"]]

    assert ids(type="kanban") == [3]
    assert ids(type="scrum,simple") == [1, 2, 4, 6, 8]
    assert ids(name="plat") == [1, 2]
    assert ids(projectKeyOrId="OPS") == [2, 3]
    assert ids(projectKeyOrId="10001") == [2, 3]


def test_max_results_clamped_echoed_and_paging(jira_sim_factory) -> None:  # type: ignore[no-untyped-def]
    sim = jira_sim_factory(boards=60, issues_per_board=2)
    p1 = get(sim, AGILE + "/board", maxResults=500).json()
    assert p1["maxResults"] == 50 and len(p1["values"]) == 50 and p1["isLast"] is False
    total = p1["total"]
    p2 = get(sim, AGILE + "/board", startAt=50, maxResults=500).json()
    assert p2["startAt"] == 50 and p2["isLast"] is True and len(p2["values"]) == total - 50
    small = get(sim, AGILE + "/board", maxResults=7, startAt=3).json()
    assert small["maxResults"] == 7 and [b["id"] for b in small["values"]] == [b["id"] for b in p1["values"][3:10]]
    sprints = get(sim, AGILE + "/board/1/sprint", maxResults=2).json()
    assert sprints["maxResults"] == 2 and sprints["total"] == 4 and sprints["isLast"] is False
    assert get(sim, AGILE + "/board", maxResults="x").status_code == 400

    sim.page_cap = 10
    assert get(sim, AGILE + "/board", maxResults=50).json()["maxResults"] == 10


def test_board_details_configuration_and_filter(jira_sim: JiraSimulator) -> None:
    b = get(jira_sim, AGILE + "/board/1").json()
    assert b["id"] == 1 and b["type"] == "scrum" and b["isPrivate"] is False
    cfg = get(jira_sim, AGILE + "/board/1/configuration").json()
    assert cfg["location"]["type"] == "project" and isinstance(cfg["filter"]["id"], str)
    assert cfg["estimation"]["type"] == "field" and cfg["ranking"]["rankCustomFieldId"] == 10019
    assert "subQuery" not in cfg
    assert cfg["columnConfig"]["columns"][0]["statuses"][0]["self"].startswith(jira_sim.url)
    kanban = get(jira_sim, AGILE + "/board/3/configuration").json()
    assert kanban["subQuery"]["query"] and "estimation" not in kanban
    assert get(jira_sim, AGILE + "/board/6/configuration").json()["location"]["type"] == "user"
    f = get(jira_sim, f"/rest/api/3/filter/{cfg['filter']['id']}").json()
    assert f["id"] == cfg["filter"]["id"] and f["jql"] == "project = PLAT ORDER BY Rank ASC" and f["name"]
    assert get(jira_sim, "/rest/api/3/filter/99999").status_code == 404


@pytest.mark.parametrize("board", [5, 7, 999])
@pytest.mark.parametrize("sub", ["", "/configuration", "/sprint", "/issue", "/project"])
def test_unviewable_board_404(jira_sim: JiraSimulator, board: int, sub: str) -> None:
    r = get(jira_sim, f"{AGILE}/board/{board}{sub}")
    assert r.status_code == 404
    assert r.json() == {"errorMessages": [BOARD_NOT_VIEWABLE], "errors": {}}


def test_unshared_filter_404(jira_sim: JiraSimulator) -> None:
    fid = jira_sim.data.boards[7].filter_id
    assert get(jira_sim, f"/rest/api/3/filter/{fid}").status_code == 404


def test_sprints(jira_sim: JiraSimulator) -> None:
    r = get(jira_sim, AGILE + "/board/3/sprint")
    assert r.status_code == 400
    assert r.json() == {"errorMessages": ["The board does not support sprints"], "errors": {}}
    values = get(jira_sim, AGILE + "/board/1/sprint").json()["values"]
    assert [s["state"] for s in values] == ["closed", "closed", "active", "future"]
    assert values[0]["startDate"].endswith("+10:00")
    future = values[-1]
    assert "startDate" not in future and "endDate" not in future and "completeDate" not in future
    assert set(values[0]) == {
        "id", "self", "state", "name", "startDate", "endDate", "completeDate", "createdDate", "originBoardId", "goal",
    }  # fmt: skip
    active = get(jira_sim, AGILE + "/board/1/sprint", state="active").json()["values"]
    assert [s["state"] for s in active] == ["active"]
    shared = active[0]["id"]
    assert shared in [s["id"] for s in get(jira_sim, AGILE + "/board/2/sprint").json()["values"]]
    assert get(jira_sim, AGILE + "/board/1/sprint", state="bogus").status_code == 400
    assert get(jira_sim, AGILE + "/board/6/sprint").json()["values"] == []
    assert get(jira_sim, AGILE + "/board/4/sprint").json()["total"] == 4  # simple boards have sprints


def test_board_projects(jira_sim: JiraSimulator) -> None:
    page = get(jira_sim, AGILE + "/board/2/project").json()
    assert page["total"] == 2 and page["isLast"] is True
    assert [p["key"] for p in page["values"]] == ["OPS", "PLAT"]  # ordered by name
    p = page["values"][0]
    assert isinstance(p["id"], str) and p["projectTypeKey"] == "software" and p["style"] == "classic"
    web = get(jira_sim, AGILE + "/board/4/project").json()["values"][0]
    assert web["simplified"] is True and web["style"] == "next-gen"


def test_board_issues_envelope(jira_sim: JiraSimulator) -> None:
    page = get(jira_sim, AGILE + "/board/1/issue", maxResults=500).json()
    assert set(page) == {"expand", "startAt", "maxResults", "total", "issues"}
    assert page["maxResults"] == 50 and "isLast" not in page
    issue = page["issues"][0]
    assert issue["key"].startswith("PLAT-") and {"sprint", "closedSprints", "flagged", "epic"} <= set(issue["fields"])
    keys = [i["key"] for i in page["issues"]]
    assert page["total"] == len(keys)
    narrowed = get(jira_sim, AGILE + "/board/1/issue", jql="status = Done", fields="status").json()
    assert narrowed["total"] < page["total"]
    assert all(i["fields"] == {"status": i["fields"]["status"]} for i in narrowed["issues"])
    assert get(jira_sim, AGILE + "/board/1/issue", jql="nope = 1").status_code == 400


def _all_search(sim: JiraSimulator, jql: str, **extra: object) -> tuple[list[str], list[dict]]:
    keys: list[str] = []
    pages: list[dict] = []
    token = None
    while True:
        body: dict[str, object] = {"jql": jql, **extra}
        if token:
            body["nextPageToken"] = token
        page = search(sim, **body).json()
        pages.append(page)
        keys += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            return keys, pages
        token = page["nextPageToken"]


def test_search_jql_paging_and_caps(jira_sim_factory) -> None:  # type: ignore[no-untyped-def]
    sim = jira_sim_factory(boards=4, issues_per_board=6000, hidden_rate=10**9)
    keys, pages = _all_search(sim, "project = PLAT ORDER BY Rank ASC", fields=["key"], maxResults=10000)
    assert len(keys) == 6000 and [len(p["issues"]) for p in pages] == [5000, 1000]
    assert pages[-1]["isLast"] is True and pages[0]["isLast"] is False
    _, pages = _all_search(sim, "project = PLAT", fields=["id", "key"], maxResults=10000)
    assert len(pages[0]["issues"]) == 5000
    page = search(sim, jql="project = PLAT", fields=["summary"], maxResults=1000).json()
    assert len(page["issues"]) == 100 and set(page["issues"][0]["fields"]) == {"summary"}
    assert len(search(sim, jql="project = PLAT").json()["issues"]) == 50  # default page
    issue = page["issues"][0]
    assert issue["id"].isdigit() and issue["key"] == "PLAT-1" and issue["self"].endswith("/issue/" + issue["id"])
    # GET form
    r = requests.get(
        sim.url + "/rest/api/3/search/jql",
        params={"jql": "project = OPS", "fields": "key", "maxResults": 3},
        auth=sim.auth,
        timeout=10,
    ).json()
    assert [i["key"] for i in r["issues"]] == ["OPS-1", "OPS-2", "OPS-3"] and r["nextPageToken"]


def test_search_jql_exact_last_page_and_tokens(jira_sim_factory) -> None:  # type: ignore[no-untyped-def]
    sim = jira_sim_factory(boards=4, issues_per_board=10, hidden_rate=10**9)
    page = search(sim, jql="project = PLAT", fields=["key"], maxResults=10).json()
    assert len(page["issues"]) == 10 and page["isLast"] is True and "nextPageToken" not in page
    page = search(sim, jql="project = PLAT", fields=["key"], maxResults=5).json()
    token = page["nextPageToken"]
    r = search(sim, jql="project = OPS", fields=["key"], nextPageToken=token)
    assert r.status_code == 400  # a token belongs to its query
    assert search(sim, jql="project = PLAT", nextPageToken="garbage!").status_code == 400
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert "after" in raw


def test_search_jql_errors_and_hidden_issues(jira_sim: JiraSimulator) -> None:
    for bad in [
        "project = NOPE",
        "foo = bar",
        "project = PLAT ORDER BY summary",
        "assignee = currentUser()",
        "",
    ]:
        r = search(jira_sim, jql=bad)
        assert r.status_code == 400, bad
        body = r.json()
        assert set(body) == {"errorMessages", "errors"} and body["errorMessages"][0]
    assert "Error in the JQL Query" in search(jira_sim, jql="foo = bar").json()["errorMessages"][0]
    r = requests.post(jira_sim.url + "/rest/api/3/search/jql", data=b"{", auth=jira_sim.auth, timeout=10)
    assert r.status_code == 400
    keys, _ = _all_search(jira_sim, "project = PLAT", fields=["key"])
    data = jira_sim.data
    p = data.projects["PLAT"]
    everything = list(data.search(data.parse("project = PLAT"), include_hidden=True))
    hidden = [i.key for i in everything if i.hidden]
    assert hidden and not set(hidden) & set(keys)
    assert len(keys) + len(hidden) == p.base_count
    kanban_jql = data.board_issue_jql(data.boards[3])
    assert kanban_jql.startswith("(project = OPS) AND (") and kanban_jql.endswith(") ORDER BY Rank ASC")
    kanban, _ = _all_search(jira_sim, kanban_jql, fields=["key"])
    ops, _ = _all_search(jira_sim, "project = OPS", fields=["key"])
    assert 0 < len(kanban) < len(ops) and set(kanban) < set(ops)


def test_unknown_paths_and_methods(jira_sim: JiraSimulator) -> None:
    assert get(jira_sim, "/rest/api/3/nothing").status_code == 404
    r = requests.delete(jira_sim.url + AGILE + "/board/1", auth=jira_sim.auth, timeout=10)
    assert r.status_code == 405
