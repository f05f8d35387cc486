"""Throughput of the shipped flow against the ideal the data and the site allow. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/throughput_vs_ideal.py                      # every scenario, default sizes
    .venv/bin/python benchmarks/throughput_vs_ideal.py --scenarios b50,rerun
    .venv/bin/python benchmarks/throughput_vs_ideal.py --full               # the issue's full sizes (slow)
    .venv/bin/python benchmarks/throughput_vs_ideal.py --json out.json

The Jira simulator runs in this process; the flow runs as a separate process exactly as a user runs it
(`flowkit run flows/jira_agile.yaml --once -p ...`), so the peak RSS and CPU printed are the flow
process's alone: CPU from os.wait4's rusage of that child, peak RSS from its VmHWM in /proc (rusage's
ru_maxrss would also count this process's memory, shared with the child between fork and exec: with the
simulator holding a million issues that read 358 MB for a flow that never exceeded 170 MB).

Per scenario:
  requests      what the simulator answered (429s included) and the minimum the data allows:
                minimum = 1 (myself) + ceil(visible boards / 50) (board pages)
                          + per board: 1 (configuration)
                                     + max(1, ceil(sprints / 50)) unless the board is kanban (kanban boards
                                       have no sprints and the board list says which boards are kanban)
                                     + max(1, ceil(projects / 50))
                                     + max(1, ceil(issues / 5000)) (id/key-only JQL pages)
                          + 1 per distinct saved filter
                (visible boards, sprints, projects and issues per board from sim.ground_truth()).
  wall / ideal  wall time of the flow process; ideal = minimum x latency / in-flight limit (8 by default).
  peak in flight  the most requests the simulator was serving at once.
  rows/s        warehouse rows (all tables) / wall.
  peak RSS, CPU   of the flow process.
  rate          requests / (last answer - first arrival) and the share answered 429 (rate-limit scenarios).

Scenarios (default size; --full for the issue's sizes):
  b50     50 boards x 2,000 issues, 100 ms latency
  b50f    the same at 20 ms (add --profile to sample where the flow's CPU goes with py-spy, if installed)
  b500    500 boards x 200 issues, 100 ms (default 200 boards; --full 500)
  big     20 boards x 50,000 issues, 20 ms (default 20 x 10,000; --full 20 x 50,000 = about 1,000,000 rows)
  rerun   b50 again on the same warehouse and state, nothing changed
  site    a site-wide limit of R req/s (--rate, default 20; burst R), 60 boards x 100 issues, 20 ms; run twice:
          without a ceiling, and with Max Requests Per Second = R
  burst   a burst limit of 5 req/s (burst 5) on POST /rest/api/3/search/jql only, 40 boards x 100 issues,
          20 ms; per endpoint: when its last answer left, against a run without the limit
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "flows" / "jira_agile.yaml"
TABLES = ("BOARD", "SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")
SEARCH = "POST /rest/api/3/search/jql"
IN_FLIGHT = 8
FLOW_FILE = FLOW


def minimum_requests(truth: dict[str, list[dict[str, Any]]]) -> int:
    """The fewest requests that read this data (formula in the module docstring)."""
    boards = truth["BOARD"]
    sprints = Counter(r["BOARD_ID"] for r in truth["BOARD_SPRINT"])
    projects = Counter(r["BOARD_ID"] for r in truth["BOARD_PROJECT"])
    issues = Counter(r["BOARD_ID"] for r in truth["BOARD_ISSUE"])
    total = 1 + math.ceil(len(boards) / 50)
    filters = {b["FILTER_ID"] for b in boards if b.get("FILTER_ID") is not None}
    total += len(filters)
    for b in boards:
        bid = b["ID"]
        total += 1
        if b.get("TYPE") != "kanban":  # a board without sprints still answers one (empty) page
            total += max(1, math.ceil(sprints[bid] / 50))
        total += max(1, math.ceil(projects[bid] / 50))
        if b.get("FILTER_ID") is not None:
            total += max(1, math.ceil(issues[bid] / 5000))
    return total


def warehouse_rows(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as db:
        return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in TABLES}


def run_flow(sim: Any, home: Path, extra: dict[str, str], profile: Path | None = None) -> dict[str, Any]:
    """One `flowkit run --once` in a child process; its wall time, rusage and exit code."""
    flowkit = Path(sys.executable).parent / "flowkit"
    params = {
        "Environment URL": sim.url,
        "Jira Email": sim.email,
        "SQLite Path": str(home / "warehouse.db"),
        **extra,
    }
    cmd = [str(flowkit), "run", str(FLOW_FILE), "--once"]
    for name, value in params.items():
        cmd += ["-p", f"{name}={value}"]
    if profile is not None:
        cmd = ["py-spy", "record", "--idle", "-r", "200", "-f", "raw", "-o", str(profile), "--", *cmd]
    env = {**os.environ, "FLOWKIT_HOME": str(home), "JIRA_API_TOKEN": sim.token}
    sim.reset_log()
    t0 = time.monotonic()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = _HighWaterMark(child.pid)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - t0
    peak.stop()
    out = child.stdout.read().decode() if child.stdout else ""
    err = child.stderr.read().decode() if child.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return {
        "exit": code,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        # Not usage.ru_maxrss: the child is forked from this process, which holds the simulator's data,
        # and the kernel counts that shared memory in the child's maximum until it execs.
        "peak_rss_mb": peak.mb if peak.mb else usage.ru_maxrss / 1024,
        "stderr_tail": err.strip().splitlines()[-3:] if code else [],
        "stdout_tail": out.strip().splitlines()[-2:] if code else [],
        "started": t0,
    }


class _HighWaterMark:
    """The child's peak RSS since its exec (``VmHWM`` in /proc/<pid>/status), read every 20 ms until it exits."""

    def __init__(self, pid: int) -> None:
        self.mb = 0.0
        self._path = Path(f"/proc/{pid}/status")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(0.02):
            try:
                text = self._path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.mb = max(self.mb, int(line.split()[1]) / 1024)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def measure(
    sim: Any,
    home: Path,
    truth: dict[str, Any],
    latency_ms: float,
    extra: dict[str, str] | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    res = run_flow(sim, home, extra or {}, profile)
    log = sim.request_log
    minimum = minimum_requests(truth)
    rows = warehouse_rows(home / "warehouse.db")
    expected = {t: len(truth[t]) for t in TABLES}
    entries = list(log.entries)
    first = min((e.at for e in entries), default=res["started"])
    last = max(log.finished.values(), default=first)
    ideal = minimum * latency_ms / 1000 / IN_FLIGHT
    res.update(
        requests=log.total,
        minimum=minimum,
        ratio=log.total / minimum,
        admitted_ratio=(log.total - log.statuses.get(429, 0)) / minimum,
        ideal_s=ideal,
        wall_vs_ideal=res["wall_s"] / ideal if ideal else None,
        peak_in_flight=log.peak_in_flight,
        statuses=dict(log.statuses),
        early_retries=log.early_retries,
        rows=sum(rows.values()),
        rows_per_s=sum(rows.values()) / res["wall_s"],
        exact_counts=rows == expected,
        request_span_s=last - first,
        after_last_request_s=res["started"] + res["wall_s"] - last,
        before_first_request_s=first - res["started"],
        finished_by_endpoint={k: v - res["started"] for k, v in log.finished.items()},
        by_endpoint=dict(log.counts),
    )
    return res


def line(name: str, r: dict[str, Any]) -> str:
    s429 = r["statuses"].get(429, 0)
    return (
        f"{name:<10} exit {r['exit']}  requests {r['requests']:>5} / min {r['minimum']:>5} = {r['ratio']:.2f} "
        f"(without 429s {r['admitted_ratio']:.2f})  "
        f"wall {r['wall_s']:6.2f}s / ideal {r['ideal_s']:6.2f}s = x{r['wall_vs_ideal']:.2f}  "
        f"peak in flight {r['peak_in_flight']:>2}  rows {r['rows']:>8} ({r['rows_per_s']:>8,.0f}/s)  "
        f"RSS {r['peak_rss_mb']:5.0f} MB  CPU {r['cpu_s']:5.1f}s  429 {s429}  early {r['early_retries']}  "
        f"exact {r['exact_counts']}  [first req +{r['before_first_request_s']:.2f}s, "
        f"after last +{r['after_last_request_s']:.2f}s]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="b50,rerun,b50f,b500,big,site,burst")
    ap.add_argument("--full", action="store_true", help="the issue's full sizes (b500: 500 boards, big: 20 x 50,000)")
    ap.add_argument("--rate", type=float, default=20.0, help="site-wide limit R of the 'site' scenario (req/s)")
    ap.add_argument("--profile", action="store_true", help="sample the flow process of b50f/big with py-spy")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--flow",
        type=Path,
        default=FLOW,
        help="flow file to run (e.g. an older checkout's, with PYTHONPATH pointing at that checkout)",
    )
    args = ap.parse_args()
    global FLOW_FILE
    FLOW_FILE = args.flow

    sys.path.insert(0, str(ROOT))
    from flowkit.simulator import JiraSimulator

    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="flowkit-bench-"))
    try:

        def scenario(
            name: str,
            boards: int,
            issues: int,
            latency: float,
            setup: Any = None,
            extra: dict[str, str] | None = None,
            home: Path | None = None,
            profile: bool = False,
        ) -> None:
            with JiraSimulator(boards=boards, issues_per_board=issues, latency_ms=latency) as sim:
                if setup is not None:
                    setup(sim)
                truth = sim.ground_truth()
                home = home or tmp / name
                home.mkdir(parents=True, exist_ok=True)
                prof = tmp / f"{name}.pyspy.txt" if profile and shutil.which("py-spy") else None
                r = measure(sim, home, truth, latency, extra, prof)
                r.update(boards=boards, issues_per_board=issues, latency_ms=latency)
                if prof is not None and prof.exists():
                    r["profile"] = summarize_profile(prof)
                results[name] = r
                print(line(name, r), flush=True)
                if r.get("profile"):
                    print("           CPU samples of the flow process:", r["profile"], flush=True)

        if "b50" in wanted or "rerun" in wanted:
            scenario("b50", 50, 2000, 100)
        if "rerun" in wanted:
            scenario("rerun", 50, 2000, 100, home=tmp / "b50")
        if "b50f" in wanted:
            scenario("b50f", 50, 2000, 20, profile=args.profile)
        if "b500" in wanted:
            scenario("b500", 500 if args.full else 200, 200, 100)
        if "big" in wanted:
            scenario("big", 20, 50_000 if args.full else 10_000, 20, profile=args.profile)
        if "site" in wanted:
            rate = args.rate
            limit = lambda sim: sim.add_rate_limit(rate, int(rate), per_endpoint=False)  # noqa: E731
            for name, extra in (("site", {}), ("site+ceil", {"Max Requests Per Second": f"{rate:g}"})):
                scenario(name, 60, 100, 20, setup=limit, extra=extra)
                r = results[name]
                span = r["request_span_s"]
                steady = (r["requests"] - int(rate)) / span  # without the bucket's initial burst of R tokens
                r.update(
                    sustained=r["requests"] / span, steady=steady, share_429=r["statuses"].get(429, 0) / r["requests"]
                )
                print(
                    f"           sustained {r['requests'] / span:.1f} req/s of R={rate:g} "
                    f"({r['requests'] / span / rate:.0%}; without the initial burst of {int(rate)}: "
                    f"{steady / rate:.0%}); 429s {r['share_429']:.1%}",
                    flush=True,
                )
        if "burst" in wanted:
            scenario("noburst", 40, 100, 20)
            scenario("burst", 40, 100, 20, setup=lambda sim: sim.add_rate_limit(5, 5, endpoint=SEARCH))
            free, limited = results["noburst"], results["burst"]
            for ep in sorted(limited["finished_by_endpoint"]):
                a = free["finished_by_endpoint"].get(ep)
                b = limited["finished_by_endpoint"][ep]
                n = limited["by_endpoint"].get(ep, 0)
                print(f"           {ep:<55} {n:>4} req, last answer +{b:6.2f}s (without the limit +{a or 0:6.2f}s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def summarize_profile(path: Path) -> dict[str, str]:
    """py-spy raw (collapsed) stacks -> share of non-idle samples in fetch / JSON / journal / merge / other."""
    buckets: Counter[str] = Counter()
    for text in path.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if "wait (threading.py" in stack or "select (" in stack or "_wait_for_tstate_lock" in stack:
            buckets["idle"] += n
            continue
        if "merge (flowkit/destinations" in stack:
            buckets["merge"] += n
        elif "append_journal" in stack:
            buckets["journal"] += n
        elif "loads (json" in stack or "decode (json" in stack or "raw_decode" in stack:
            buckets["JSON"] += n
        elif "_send (flowkit/jira/client.py" in stack or "urllib3" in stack:
            buckets["fetch"] += n
        elif "records.py" in stack or "emit_records" in stack:
            buckets["rows"] += n
        else:
            buckets["other"] += n
    busy = sum(v for k, v in buckets.items() if k != "idle") or 1
    return {k: f"{v / busy:.0%}" for k, v in buckets.most_common() if k != "idle"}


if __name__ == "__main__":
    main()
