"""Determinism, ground truth (against an HTTP walk), mutations, and the lazy 1M-issue data set."""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from flowkit.simulator import JiraSimulator, SimulatorError, generate
from flowkit.simulator.jql import JqlError
from flowkit.simulator.model import strip_order_by
from flowkit.simulator.views import OVERSIZED_STATUSES

AGILE = "/rest/agile/1.0"


def _utc(value: str | None) -> str | None:
    if value is None:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def walk(sim: JiraSimulator) -> dict[str, list[dict[str, Any]]]:
    """Read everything through HTTP like the flow does, and build the rows."""
    s = requests.Session()
    s.auth = sim.auth

    def pages(path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            page = s.get(sim.url + path, params={"startAt": start, "maxResults": 50}, timeout=10).json()
            out += page["values"]
            start += len(page["values"])
            if page["isLast"] or not page["values"]:
                return out

    rows: dict[str, list[dict[str, Any]]] = {
        t: [] for t in ("BOARD", "SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")
    }
    sprints: dict[int, dict[str, Any]] = {}
    for b in pages(AGILE + "/board"):
        cfg = s.get(f"{sim.url}{AGILE}/board/{b['id']}/configuration", timeout=10).json()
        flt = s.get(f"{sim.url}/rest/api/3/filter/{cfg['filter']['id']}", timeout=10).json()
        loc = b["location"]
        rows["BOARD"].append(
            {
                "ID": b["id"], "NAME": b["name"], "TYPE": b["type"], "SELF": b["self"], "IS_PRIVATE": b["isPrivate"],
                "LOCATION_TYPE": cfg["location"]["type"], "LOCATION_PROJECT_ID": loc.get("projectId"),
                "LOCATION_PROJECT_KEY": loc.get("projectKey"), "LOCATION_PROJECT_NAME": loc.get("projectName"),
                "LOCATION_PROJECT_TYPE_KEY": loc.get("projectTypeKey"),
                "LOCATION_USER_ACCOUNT_ID": loc.get("userAccountId"), "LOCATION_DISPLAY_NAME": loc.get("displayName"),
                "FILTER_ID": int(cfg["filter"]["id"]), "FILTER_NAME": flt["name"], "FILTER_JQL": flt["jql"],
                "SUB_QUERY": cfg.get("subQuery", {}).get("query"), "COLUMN_CONFIG": cfg["columnConfig"],
                "ESTIMATION": cfg.get("estimation"), "RANK_CUSTOM_FIELD_ID": cfg["ranking"]["rankCustomFieldId"],
            }
        )  # fmt: skip
        r = s.get(f"{sim.url}{AGILE}/board/{b['id']}/sprint", timeout=10)
        if r.status_code == 200:
            for sp in pages(f"{AGILE}/board/{b['id']}/sprint"):
                rows["BOARD_SPRINT"].append({"BOARD_ID": b["id"], "SPRINT_ID": sp["id"]})
                sprints[sp["id"]] = {
                    "ID": sp["id"], "SELF": sp["self"], "STATE": sp["state"], "NAME": sp["name"],
                    "START_DATE": _utc(sp.get("startDate")), "END_DATE": _utc(sp.get("endDate")),
                    "COMPLETE_DATE": _utc(sp.get("completeDate")), "CREATED_DATE": _utc(sp.get("createdDate")),
                    "ORIGIN_BOARD_ID": sp["originBoardId"], "GOAL": sp["goal"],
                }  # fmt: skip
        else:
            assert r.status_code == 400 and b["type"] == "kanban"
        for p in pages(f"{AGILE}/board/{b['id']}/project"):
            rows["BOARD_PROJECT"].append(
                {"BOARD_ID": b["id"], "PROJECT_ID": int(p["id"]), "PROJECT_KEY": p["key"],
                 "PROJECT_NAME": p["name"], "PROJECT_TYPE_KEY": p["projectTypeKey"]}
            )  # fmt: skip
        jql = flt["jql"]
        if cfg.get("subQuery"):
            jql = f"({strip_order_by(jql)}) AND ({cfg['subQuery']['query']}) ORDER BY Rank ASC"
        token = None
        while True:
            body: dict[str, Any] = {"jql": jql, "fields": ["key"], "maxResults": 5000}
            if token:
                body["nextPageToken"] = token
            page = s.post(sim.url + "/rest/api/3/search/jql", json=body, timeout=10).json()
            rows["BOARD_ISSUE"] += [
                {"BOARD_ID": b["id"], "ISSUE_ID": int(i["id"]), "ISSUE_KEY": i["key"]} for i in page["issues"]
            ]
            token = page.get("nextPageToken")
            if page["isLast"]:
                break
    rows["SPRINT"] = [sprints[k] for k in sorted(sprints)]
    for name, key in (
        ("BOARD_SPRINT", "SPRINT_ID"),
        ("BOARD_PROJECT", "PROJECT_ID"),
        ("BOARD_ISSUE", "ISSUE_ID"),
    ):
        rows[name].sort(key=lambda r, k=key: (r["BOARD_ID"], r[k]))  # type: ignore[misc]
    rows["BOARD"].sort(key=lambda r: r["ID"])
    return rows


def test_ground_truth_matches_http_walk(jira_sim_factory) -> None:  # type: ignore[no-untyped-def]
    sim = jira_sim_factory(boards=14, issues_per_board=60)
    truth = sim.ground_truth()
    assert walk(sim) == truth
    assert {b["ID"] for b in truth["BOARD"]} == {1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14}
    assert {r["BOARD_ID"] for r in truth["BOARD_SPRINT"]}.isdisjoint({3, 9})  # kanban boards
    shared = [r["SPRINT_ID"] for r in truth["BOARD_SPRINT"]]
    assert len(shared) > len(set(shared))  # some sprint is on two boards
    assert {s["STATE"] for s in truth["SPRINT"]} == {"closed", "active", "future"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s["CREATED_DATE"]) for s in truth["SPRINT"])
    future = next(s for s in truth["SPRINT"] if s["STATE"] == "future")
    assert future["START_DATE"] is None and future["COMPLETE_DATE"] is None
    own = next(b for b in truth["BOARD"] if b["ID"] == 6)
    assert own["LOCATION_TYPE"] == "user" and own["LOCATION_PROJECT_ID"] is None and own["LOCATION_USER_ACCOUNT_ID"]
    kanban = next(b for b in truth["BOARD"] if b["ID"] == 3)
    assert kanban["SUB_QUERY"] and kanban["ESTIMATION"] is None


def test_determinism_from_seed() -> None:
    a, b, c = generate(seed=5, boards=12), generate(seed=5, boards=12), generate(seed=6, boards=12)
    ta, tb, tc = (ground_truth_of(x) for x in (a, b, c))
    assert ta == tb
    assert ta != tc
    assert [x.id for x in a.search(a.parse("project = PLAT"))] == [x.id for x in b.search(b.parse("project = PLAT"))]
    assert a.issue(10001) == b.issue(10001)


def ground_truth_of(data: Any) -> dict[str, Any]:
    from flowkit.simulator import ground_truth

    return ground_truth(data)


def _ids(rows: list[dict[str, Any]], *cols: str) -> set[tuple[Any, ...]]:
    return {tuple(r[c] for c in cols) for r in rows}


def test_mutations_change_ground_truth_exactly(jira_sim: JiraSimulator) -> None:
    sim, data = jira_sim, jira_sim.data
    before = sim.ground_truth()

    data.rename_board(1, "Platform team")
    after = sim.ground_truth()
    changed = [(x, y) for x, y in zip(before["BOARD"], after["BOARD"], strict=True) if x != y]
    assert len(changed) == 1 and changed[0][1]["NAME"] == "Platform team"
    assert {k: v for k, v in after.items() if k != "BOARD"} == {k: v for k, v in before.items() if k != "BOARD"}

    before = after
    data.delete_board(8)
    after = sim.ground_truth()
    own_sprints = {s.id for s in data.sprints.values() if s.origin_board_id == 8}
    assert own_sprints
    for table in after:
        if table == "SPRINT":
            assert after[table] == [r for r in before[table] if r["ID"] not in own_sprints]
        else:
            assert after[table] == [r for r in before[table] if r.get("BOARD_ID", r.get("ID")) != 8]
    assert _ids(after["SPRINT"], "ID") == {(r["SPRINT_ID"],) for r in after["BOARD_SPRINT"]}

    before = after
    sid = data.add_sprint(1, "PLAT Sprint 9", goal="New")
    after = sim.ground_truth()
    assert _ids(after["BOARD_SPRINT"], "BOARD_ID", "SPRINT_ID") - _ids(
        before["BOARD_SPRINT"], "BOARD_ID", "SPRINT_ID"
    ) == {(1, sid)}
    new = next(s for s in after["SPRINT"] if s["ID"] == sid)
    assert new["STATE"] == "future" and new["START_DATE"] is None and new["ORIGIN_BOARD_ID"] == 1

    before = after
    data.close_sprint(sid)
    after = sim.ground_truth()
    closed = next(s for s in after["SPRINT"] if s["ID"] == sid)
    assert closed["STATE"] == "closed" and closed["COMPLETE_DATE"] and closed["START_DATE"]
    assert [s for s in after["SPRINT"] if s["ID"] != sid] == [s for s in before["SPRINT"] if s["ID"] != sid]

    before = after
    iid = data.add_issue("PLAT", "Brand new")
    after = sim.ground_truth()
    added = _ids(after["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID") - _ids(before["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID")
    assert added == {(1, iid), (2, iid)}  # PLAT board and the PLAT+OPS board
    key = data.issue(iid).key  # type: ignore[union-attr]
    assert key == f"PLAT-{data.projects['PLAT'].base_count + 1}"

    before = after
    victim = next(r for r in before["BOARD_ISSUE"] if r["BOARD_ID"] == 1)
    new_key = data.move_issue(victim["ISSUE_ID"], "WEB")
    after = sim.ground_truth()
    old = _ids(before["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID", "ISSUE_KEY")
    now = _ids(after["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID", "ISSUE_KEY")
    assert old - now == {
        (1, victim["ISSUE_ID"], victim["ISSUE_KEY"]),
        (2, victim["ISSUE_ID"], victim["ISSUE_KEY"]),
    }
    assert now - old == {(4, victim["ISSUE_ID"], new_key)} and new_key.startswith("WEB-")

    before = after
    data.delete_issue(iid)
    after = sim.ground_truth()
    assert _ids(before["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID") - _ids(after["BOARD_ISSUE"], "BOARD_ID", "ISSUE_ID") == {
        (1, iid), (2, iid)
    }  # fmt: skip

    before = after
    some = next(r for r in before["BOARD_ISSUE"] if r["BOARD_ID"] == 4)
    data.set_issue_hidden(some["ISSUE_ID"])
    after = sim.ground_truth()
    assert len(after["BOARD_ISSUE"]) == len(before["BOARD_ISSUE"]) - 1

    before = after
    data.unshare_filter(1)
    after = sim.ground_truth()
    assert 1 not in {b["ID"] for b in after["BOARD"]}
    assert all(r["BOARD_ID"] != 1 for t in ("BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE") for r in after[t])
    data.share_filter(1)
    assert sim.ground_truth()["BOARD"] == before["BOARD"]
    assert walk(sim) == sim.ground_truth()


def test_mutation_errors(jira_sim: JiraSimulator) -> None:
    data = jira_sim.data
    with pytest.raises(SimulatorError):
        data.delete_board(999)
    with pytest.raises(SimulatorError):
        data.add_sprint(3)  # kanban
    with pytest.raises(SimulatorError):
        data.move_issue(10001, "NOPE")
    with pytest.raises(SimulatorError):
        data.close_sprint(999)
    bid = data.add_board("kanban", ["PLAT", "WEB"], "New kanban")
    row = next(b for b in jira_sim.ground_truth(["BOARD"])["BOARD"] if b["ID"] == bid)
    assert row["FILTER_JQL"] == "project in (PLAT, WEB) ORDER BY Rank ASC" and row["SUB_QUERY"]


def test_jql_subset() -> None:
    data = generate(boards=8, issues_per_board=50)
    q = data.parse('(project in (PLAT, OPS)) AND (resolution = EMPTY OR resolved >= "2026-01-01") ORDER BY Rank ASC')
    hits = list(data.search(q))
    assert hits and all(i.project_key in ("PLAT", "OPS") for i in hits)
    assert all(i.resolved is None or i.resolved >= datetime(2025, 12, 31, tzinfo=UTC) for i in hits)
    ids = [i.id for i in hits]
    assert ids == sorted(ids)
    assert q.guaranteed_projects() == ["plat", "ops"]
    assert data.parse("project = PLAT OR project = OPS").guaranteed_projects() == []
    not_done = list(data.search(data.parse("project = PLAT AND NOT status = Done")))
    assert not_done and all(i.status != "Done" for i in not_done)
    assert list(data.search(data.parse("project = PLAT AND project = OPS"))) == []
    assert [i.key for i in data.search(data.parse("key in (PLAT-1, OPS-2)"), include_hidden=True)] == [
        "PLAT-1",
        "OPS-2",
    ]
    fid = data.boards[1].filter_id
    assert [i.id for i in data.search(data.parse(f"filter = {fid}"))] == [
        i.id for i in data.search(data.parse("project = PLAT"))
    ]
    for bad in [
        "project = ",
        "project ~ x",
        "created >= -30d",
        "project in (PLAT",
        "status = Done ORDER BY created DESC",
        "a = b",
    ]:
        with pytest.raises(JqlError):
            data.parse(bad)


def test_oversized_value() -> None:
    sim = JiraSimulator(boards=8, issues_per_board=2, oversized_value=True)
    with sim:
        r = requests.get(f"{sim.url}{AGILE}/board/9/configuration", auth=sim.auth, timeout=30)
        assert len(r.content) > 16 * 1024 * 1024
        assert len(r.json()["columnConfig"]["columns"][-1]["statuses"]) == OVERSIZED_STATUSES
        row = next(b for b in sim.ground_truth(["BOARD"])["BOARD"] if b["ID"] == 9)
        assert row["COLUMN_CONFIG"] == r.json()["columnConfig"]


def test_million_issues_are_lazy() -> None:
    tracemalloc.start()
    data = generate(boards=4, issues_per_board=250_000)
    assert data.total_issues() == 1_000_000
    q = data.parse("project = DATA")
    tail = list(data.search(q, after=data.projects["DATA"].base_start + 250_000 - 2001))
    assert 1500 < len(tail) <= 2000 and tail[-1].key == "DATA-250000"
    page = list(__import__("itertools").islice(data.search(data.parse("project = OPS"), after=300_000), 5000))
    assert len(page) > 4000
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, peak


def test_cli_prints_url_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowkit.simulator.cli", "jira", "--port", "0", "--boards", "9",
         "--issues-per-board", "5", "--latency-ms", "1", "--seed", "3"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)  # type: ignore[union-attr]
        email = lines[2].split()[-1]
        token = lines[3].split()[-1]
        r = requests.get(url + AGILE + "/board", auth=(email, token), timeout=10)
        assert r.status_code == 200 and r.json()["total"] == 7
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_simulator_is_apart_from_the_product() -> None:
    code = (
        "import sys, flowkit.simulator, flowkit.simulator.cli, flowkit.simulator.pytest_plugin;"
        "bad = [m for m in sys.modules if m.startswith(('flowkit.engine', 'flowkit.jira', 'flowkit.destinations'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
