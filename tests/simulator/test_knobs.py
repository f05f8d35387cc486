"""Rate limits, faults, latency and the request log."""

from __future__ import annotations

import http.client
import re
import time
from datetime import UTC, datetime

import pytest
import requests

from flowkit.simulator import JiraSimulator
from flowkit.simulator.ratelimit import RateLimit, RateLimiter

BOARDS = "/rest/agile/1.0/board"


def get(sim: JiraSimulator, path: str, timeout: float = 10, **params: object) -> requests.Response:
    return requests.get(sim.url + path, params=params, auth=sim.auth, timeout=timeout)  # type: ignore[arg-type]


def test_token_bucket_unit() -> None:
    limiter = RateLimiter(RateLimit(rate=2, burst=3))
    t = 100.0
    assert [limiter.take("a", t).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take("a", t)
    assert refused.retry_after == 1 and refused.remaining == 0 and refused.limit == 3
    assert limiter.take("b", t).allowed  # per endpoint
    assert limiter.take("a", t + 0.5).allowed  # refilled one token
    slow = RateLimiter(RateLimit(rate=0.25, burst=1, per_endpoint=False))
    assert slow.take("a", t).allowed and slow.take("b", t).retry_after == 4


def test_429_headers_and_early_retries(jira_sim: JiraSimulator) -> None:
    jira_sim.set_rate_limit(1, burst=2)
    assert get(jira_sim, BOARDS).status_code == 200
    near = get(jira_sim, BOARDS)
    assert near.status_code == 200 and near.headers["X-RateLimit-NearLimit"] == "true"
    r = get(jira_sim, BOARDS)
    assert r.status_code == 429
    assert r.json() == {
        "errorMessages": ["The request has been rate-limited. Please try again later."],
        "errors": {},
        "status": 429,
    }
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["X-RateLimit-Limit"] == "2" and r.headers["X-RateLimit-Remaining"] == "0"
    assert r.headers["RateLimit-Reason"] == "jira-burst-based"
    reset = datetime.strptime(r.headers["X-RateLimit-Reset"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    assert abs((reset - datetime.now(UTC)).total_seconds()) < 120
    assert jira_sim.request_log.early_retries == 0
    time.sleep(0.3)  # past the in-flight grace period, well before Retry-After
    assert get(jira_sim, BOARDS).status_code == 429
    assert jira_sim.request_log.early_retries == 1
    assert get(jira_sim, "/rest/agile/1.0/board/1").status_code == 200  # other endpoint: own bucket and scope
    assert jira_sim.request_log.early_retries == 1
    time.sleep(float(r.headers["Retry-After"]) + 0.05)
    before = jira_sim.request_log.early_retries
    assert get(jira_sim, BOARDS).status_code == 200
    assert jira_sim.request_log.early_retries == before
    jira_sim.set_rate_limit(None)
    assert all(get(jira_sim, BOARDS).status_code == 200 for _ in range(5))


def test_429_without_retry_after(jira_sim: JiraSimulator) -> None:
    jira_sim.set_rate_limit(0.5, burst=1, retry_after=False, per_endpoint=False)
    assert get(jira_sim, BOARDS).status_code == 200
    r = get(jira_sim, "/rest/api/3/myself")
    assert r.status_code == 429 and "Retry-After" not in r.headers and "X-RateLimit-Reset" not in r.headers
    time.sleep(0.3)
    get(jira_sim, BOARDS)
    assert jira_sim.request_log.early_retries == 0  # nothing was promised


def test_fault_503_with_and_without_retry_after(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("503", path=r"/board/3/sprint$", count=2, retry_after=2)
    for _ in range(2):
        r = get(jira_sim, "/rest/agile/1.0/board/3/sprint")
        assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json()["errorMessages"]
    assert get(jira_sim, "/rest/agile/1.0/board/3/sprint").status_code == 400  # the fault is used up
    assert get(jira_sim, "/rest/agile/1.0/board/1/sprint").status_code == 200  # (grace period)
    time.sleep(0.3)
    get(jira_sim, "/rest/agile/1.0/board/1/sprint")
    assert jira_sim.request_log.early_retries >= 1  # a 503 Retry-After holds back every endpoint
    jira_sim.clear_faults()
    jira_sim.add_fault("503", retry_after=None, count=1)
    r = get(jira_sim, BOARDS)
    assert r.status_code == 503 and "Retry-After" not in r.headers


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("status", 403), ("status", 404), ("status", 422)])
def test_fault_status(jira_sim: JiraSimulator, kind: str, status: int) -> None:
    jira_sim.add_fault(kind, status=status, path=r"/board/\d+/project$")
    r = get(jira_sim, "/rest/agile/1.0/board/1/project")
    assert r.status_code == status and r.json()["errorMessages"] and r.json()["errors"] == {}
    assert get(jira_sim, "/rest/agile/1.0/board/1").status_code == 200


def test_fault_status_429(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("status", status=429, count=1, retry_after=3)
    r = get(jira_sim, BOARDS)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.headers["RateLimit-Reason"]


def test_fault_reset(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        get(jira_sim, BOARDS)
    assert get(jira_sim, BOARDS).status_code == 200
    assert jira_sim.request_log.statuses[0] == 1


def test_fault_slow_exceeds_client_timeout(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("slow", delay_s=1.0, count=1, method="GET")
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(jira_sim, BOARDS, timeout=0.3)
    t0 = time.monotonic()
    assert get(jira_sim, BOARDS).status_code == 200
    assert time.monotonic() - t0 < 0.5


def test_fault_malformed_and_truncated(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("malformed", count=1)
    r = get(jira_sim, BOARDS)
    assert r.status_code == 200 and len(r.content) == int(r.headers["Content-Length"])
    with pytest.raises(ValueError):
        r.json()
    jira_sim.add_fault("truncated", count=1)
    with pytest.raises(requests.exceptions.RequestException):
        get(jira_sim, BOARDS)
    conn = http.client.HTTPConnection("127.0.0.1", jira_sim.port, timeout=5)
    jira_sim.add_fault("truncated", count=1)
    conn.request("GET", BOARDS, headers=jira_sim.auth_header)
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()
    assert get(jira_sim, BOARDS).json()["values"]


def test_fault_by_rate_is_seeded(jira_sim_factory) -> None:  # type: ignore[no-untyped-def]
    def pattern(seed: int) -> list[int]:
        sim = jira_sim_factory(seed=seed)
        sim.add_fault("500", rate=0.5)
        return [get(sim, BOARDS).status_code for _ in range(20)]

    first = pattern(7)
    assert 500 in first and 200 in first
    assert pattern(7) == first


def test_latency_and_request_log(jira_sim: JiraSimulator) -> None:
    jira_sim.set_latency(100)
    t0 = time.monotonic()
    get(jira_sim, "/rest/agile/1.0/board/2/sprint")
    assert time.monotonic() - t0 >= 0.1
    jira_sim.set_latency(0)
    get(jira_sim, "/rest/agile/1.0/board/3/sprint")
    get(jira_sim, BOARDS)
    log = jira_sim.request_log
    assert log.count("GET /rest/agile/1.0/board/{id}/sprint") == 2
    assert log.count("GET /rest/agile/1.0/board") == 1 and log.total == 3
    assert log.statuses[200] == 2 and log.statuses[400] == 1
    assert [e.path for e in log.entries][-1] == BOARDS
    assert log.counts()["GET /rest/agile/1.0/board"] == 1 and log.status_counts() == {200: 2, 400: 1}
    jira_sim.reset_log()
    assert jira_sim.request_log.total == 0


def test_keep_alive(jira_sim: JiraSimulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", jira_sim.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/rest/api/3/myself", headers=jira_sim.auth_header)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length")
        resp.read()
    conn.close()


def test_admin_endpoints(jira_sim: JiraSimulator) -> None:
    admin = jira_sim.url + "/_sim"
    assert requests.get(admin + "/health", timeout=5).json() == {"ok": True}
    info = requests.get(admin + "/info", timeout=5).json()
    assert info["boards"] == 8 and info["email"] == jira_sim.email
    r = requests.post(admin + "/mutate/rename_board", json={"board_id": 1, "name": "Renamed"}, timeout=5)
    assert r.status_code == 200 and get(jira_sim, "/rest/agile/1.0/board/1").json()["name"] == "Renamed"
    sid = requests.post(admin + "/mutate/add_sprint", json={"board_id": 1, "state": "active"}, timeout=5)
    assert sid.json()["result"] in [s.id for s in jira_sim.data.sprints.values()]
    assert requests.post(admin + "/mutate/delete_board", json={"board_id": 999}, timeout=5).status_code == 404
    assert requests.post(admin + "/mutate/nope", json={}, timeout=5).status_code == 404
    gt = requests.get(admin + "/ground_truth", params={"tables": "BOARD"}, timeout=5).json()
    assert list(gt) == ["BOARD"] and gt["BOARD"][0]["NAME"] == "Renamed"
    requests.post(admin + "/faults", json={"kind": "status", "status": 403, "path": "/project$"}, timeout=5)
    assert get(jira_sim, "/rest/agile/1.0/board/1/project").status_code == 403
    assert len(requests.get(admin + "/faults", timeout=5).json()) == 1
    requests.delete(admin + "/faults", timeout=5)
    assert get(jira_sim, "/rest/agile/1.0/board/1/project").status_code == 200
    requests.post(admin + "/rate_limit", json={"rate": 1, "burst": 1}, timeout=5)
    assert [get(jira_sim, BOARDS).status_code for _ in range(2)] == [200, 429]
    requests.post(admin + "/rate_limit", json={"rate": None}, timeout=5)
    requests.post(admin + "/latency", json={"ms": 5}, timeout=5)
    assert jira_sim.latency_ms == 5
    log = requests.get(admin + "/log", timeout=5).json()
    assert log["counts"]["GET /rest/agile/1.0/board"] == 2 and "early_retries" in log
    requests.post(admin + "/log", timeout=5)
    assert jira_sim.request_log.total == 0


def test_remote_address_is_loopback(jira_sim: JiraSimulator) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", jira_sim.url)


def test_fault_shape_serves_valid_json_whose_items_lost_their_ids(jira_sim: JiraSimulator) -> None:
    jira_sim.add_fault("shape", count=1)
    broken = get(jira_sim, BOARDS).json()
    assert broken["values"] and all("id" not in board for board in broken["values"])
    assert broken["total"] == len(broken["values"])  # the envelope itself is intact
    assert all("id" in board for board in get(jira_sim, BOARDS).json()["values"])  # count=1: the next is fine


def test_site_wide_and_one_endpoint_limits_together(jira_sim: JiraSimulator) -> None:
    """A site-wide bucket (``jira-cost-based``) and a burst limit on the search endpoint only."""
    jira_sim.set_rate_limit(None)
    jira_sim.add_rate_limit(0.5, burst=4, per_endpoint=False)
    jira_sim.add_rate_limit(0.5, burst=1, endpoint="POST /rest/api/3/search/jql")
    search = {"jql": "project = PLAT", "fields": ["key"]}
    first = requests.post(jira_sim.url + "/rest/api/3/search/jql", json=search, auth=jira_sim.auth, timeout=10)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "1" and first.headers["X-RateLimit-Remaining"] == "0"
    assert first.headers["X-RateLimit-NearLimit"] == "true"  # the tightest budget is reported
    second = requests.post(jira_sim.url + "/rest/api/3/search/jql", json=search, auth=jira_sim.auth, timeout=10)
    assert second.status_code == 429 and second.headers["RateLimit-Reason"] == "jira-burst-based"
    ok = get(jira_sim, BOARDS)  # another endpoint: only the site bucket applies (1 of 4 used by search... and 429)
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"] == "4"
    assert "X-RateLimit-NearLimit" not in ok.headers
    statuses = [get(jira_sim, BOARDS).status_code for _ in range(3)]
    assert statuses[-1] == 429
    refused = get(jira_sim, BOARDS)
    assert refused.status_code == 429 and refused.headers["RateLimit-Reason"] == "jira-cost-based"
    assert int(refused.headers["Retry-After"]) >= 1
    reset = datetime.strptime(refused.headers["X-RateLimit-Reset"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    assert reset >= datetime.now(UTC).replace(second=0, microsecond=0)  # rounded up, never before the reset
    assert [r["endpoint"] for r in jira_sim.describe()["rate_limits"]] == [None, "POST /rest/api/3/search/jql"]
