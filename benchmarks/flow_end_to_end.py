"""The shipped flows/jira_agile.yaml, `--once`, against an in-process Jira simulator. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/flow_end_to_end.py                  # scenarios a, b, c, d (< 3 minutes on 2 cores)
    .venv/bin/python benchmarks/flow_end_to_end.py --scenarios a,b  # only some of them
    .venv/bin/python benchmarks/flow_end_to_end.py --c-boards 20 --c-issues 20000 --budget 240 --json out.json

Scenarios:
  a  first run: 100 boards x 500 issues, simulator latency 20 ms
  b  a second run on a's warehouse and state, nothing changed in Jira (every row must be "unchanged")
  c  a bigger issue count: 20 boards x 20,000 issues (about 400k BOARD_ISSUE rows), latency 5 ms
  d  rate limited: 50 boards x 100 issues, one site-wide token bucket (20 req/s, burst 10, Retry-After)

Each scenario group (a+b, c, d) runs in its own child process, so the peak RSS printed
(resource.getrusage ru_maxrss) belongs to that group only; it includes the in-process simulator
(the same process serves Jira and runs the flow, and both share the GIL). A sampled peak RSS
(/proc/self/statm every 20 ms) is also given per scenario, since ru_maxrss never goes down.

Per scenario: wall time of run_flow, Jira requests (RunReport.counters["jira.requests"] and the
simulator's request_log.total), requests by endpoint, HTTP statuses, rows per table (warehouse
and merge counters), rows/s, peak RSS, and whether the warehouse equals sim.ground_truth()
(compared like tests/jira/flowrun.py does). For scenario a the minimum number of requests the
data allows is computed and set against what the flow made.

The flow runs with its shipped client settings (retries, delays, concurrency); only the Source
parameters and `SQLite Path` are overridden. FLOWKIT_HOME and the warehouse live in a temp dir.
Every run is bounded by --budget seconds (a stop event ends it; the run is then "interrupted").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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
TABLE_ORDER = ("BOARD", "SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")
GROUPS = {"a": "ab", "b": "ab", "c": "c", "d": "d"}


# --------------------------------------------------------------------------- memory


def maxrss_mb() -> float:
    """Peak resident set of this process so far (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Samples the current RSS every `interval` seconds; `.peak_mb` is the highest seen."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        try:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * self._page / 2**20
        except OSError:
            return
        self.peak_mb = max(self.peak_mb, rss)

    def _sample_now(self) -> float:
        self._sample()
        return self.peak_mb

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# --------------------------------------------------------------------------- where the time goes


class PhaseTimer:
    """Wraps a few product methods (class attributes, this process only; no product file is touched) to sum
    the seconds spent in them, over all threads. `--no-phases` switches it off."""

    TARGETS = (
        ("flowkit.destinations.sqlite", "SQLiteDestination", "append_journal"),
        ("flowkit.destinations.sqlite", "SQLiteDestination", "merge"),
        ("flowkit.destinations.sqlite", "SQLiteDestination", "prune_journal"),
        ("flowkit.destinations.sqlite", "SQLiteDestination", "ensure_tables"),
        ("flowkit.jira.state_service", "StandardJiraIngestionStateService", "update"),
        ("flowkit.jira.state_service", "StandardJiraIngestionStateService", "current"),
    )

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        import functools
        import importlib

        for module, cls_name, method in self.TARGETS:
            cls = getattr(importlib.import_module(module), cls_name)
            original = getattr(cls, method)
            name = f"{cls_name}.{method}"

            def wrapper(*a: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return _original(*a, **kw)
                finally:
                    with self._lock:
                        self.seconds[_name] += time.perf_counter() - t
                        self.calls[_name] += 1

            setattr(cls, method, functools.wraps(original)(wrapper))

    def take(self) -> dict[str, dict[str, float]]:
        with self._lock:
            out = {k: {"s": round(self.seconds[k], 3), "calls": self.calls[k]} for k in sorted(self.seconds)}
            self.seconds.clear()
            self.calls.clear()
        return out


PHASES: PhaseTimer | None = None


# --------------------------------------------------------------------------- warehouse vs ground truth
def sort_rows(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from flowkit.jira.tables import TABLES

    keys = TABLES[table].primary_key
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def read_table(db: Path, table: str) -> list[dict[str, Any]]:
    from flowkit.destinations.sqlite import read_rows
    from flowkit.jira.tables import TABLES

    with closing(sqlite3.connect(db)) as conn:
        return read_rows(conn, TABLES[table])


def truth(sim: Any) -> dict[str, list[dict[str, Any]]]:
    gt = sim.ground_truth()
    return {t: sort_rows(t, [dict(r) for r in gt[t]]) for t in TABLE_ORDER}


def compare(db: Path, expected: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """{"equal": bool, "tables": {table: {"missing", "extra", "different"}}} (keys by primary key)."""
    from flowkit.jira.tables import TABLES

    out: dict[str, Any] = {"equal": True, "tables": {}}
    for table in TABLE_ORDER:
        got = read_table(db, table)
        want = expected[table]
        if got == want:
            continue
        out["equal"] = False
        keys = TABLES[table].primary_key
        g = {tuple(r[k] for k in keys): r for r in got}
        w = {tuple(r[k] for k in keys): r for r in want}
        different = [k for k in g.keys() & w.keys() if g[k] != w[k]]
        example = None
        if different:
            k = sorted(different)[0]
            example = {c: (g[k][c], w[k][c]) for c in g[k] if g[k][c] != w[k].get(c)}
        out["tables"][table] = {
            "missing": len(w.keys() - g.keys()),
            "extra": len(g.keys() - w.keys()),
            "different": len(different),
            "first_missing": [list(k) for k in sorted(w.keys() - g.keys())[:3]],
            "first_extra": [list(k) for k in sorted(g.keys() - w.keys())[:3]],
            "first_difference (got, want)": example,
        }
    return out


def table_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        out = {}
        for table in TABLE_ORDER:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
            out[table] = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] if exists else 0
        return out
    finally:
        conn.close()


# --------------------------------------------------------------------------- minimum requests


def minimum_requests(expected: dict[str, list[dict[str, Any]]], page: int = 50, jql_page: int = 5000) -> dict[str, int]:
    """Fewest Jira calls that can read this data with the flow's endpoints and the simulator's page sizes.

    1 myself + ceil(boards/50) board pages + per board: configuration + filter + sprint pages
    (>= 1; a kanban board's single 400 counts) + project pages (>= 1) + JQL pages (>= 1, 5000 keys each).
    Only boards the flow can see are counted (ground truth BOARD rows = what GET /board lists).
    """
    boards = [b["ID"] for b in expected["BOARD"]]
    sprints = Counter(r["BOARD_ID"] for r in expected["BOARD_SPRINT"])
    projects = Counter(r["BOARD_ID"] for r in expected["BOARD_PROJECT"])
    issues = Counter(r["BOARD_ID"] for r in expected["BOARD_ISSUE"])

    def pages(n: int, size: int) -> int:
        return max(1, math.ceil(n / size))

    out = {
        "GET /rest/api/3/myself": 1,
        "GET /rest/agile/1.0/board": pages(len(boards), page),
        "GET /rest/agile/1.0/board/{id}/configuration": len(boards),
        "GET /rest/api/3/filter/{id}": len(boards),
        "GET /rest/agile/1.0/board/{id}/sprint": sum(pages(sprints[b], page) for b in boards),
        "GET /rest/agile/1.0/board/{id}/project": sum(pages(projects[b], page) for b in boards),
        "POST /rest/api/3/search/jql": sum(pages(issues[b], jql_page) for b in boards),
    }
    out["total"] = sum(out.values())
    return out


# --------------------------------------------------------------------------- one run


def run_scenario(name: str, sim: Any, home: Path, db: Path, budget: float) -> dict[str, Any]:
    from flowkit.engine import load_flow, run_flow

    overrides = {
        "Environment URL": sim.url,
        "Jira Email": sim.email,
        "Jira API Token": sim.token,
        "SQLite Path": str(db),
    }
    flow = load_flow(FLOW, overrides=overrides, env={})
    sim.reset_log()
    stop = threading.Event()
    timer = threading.Timer(budget, stop.set)
    timer.daemon = True
    error = None
    report = None
    rss_before = RssSampler()._sample_now()
    with RssSampler() as rss:
        timer.start()
        t0m = time.monotonic()
        t0 = time.perf_counter()
        try:
            report = run_flow(flow, once=True, home=home, stop=stop)
        except Exception as exc:  # a benchmark reports, it does not crash
            error = f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - t0
        timer.cancel()
    log = sim.request_log.snapshot()
    phases = PHASES.take() if PHASES else {}
    arrivals = [e.at - t0m for e in list(sim.request_log.entries)]
    t1 = time.perf_counter()
    expected = truth(sim)
    truth_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    comparison = compare(db, expected)
    compare_s = time.perf_counter() - t1
    counts = table_counts(db)
    counters = report.counters if report else {}
    merged = {
        t: {c: counters.get(f"rows.{t}.{c}", 0) for c in ("inserted", "updated", "deleted", "unchanged")}
        for t in TABLE_ORDER
    }
    total_rows = sum(counts.values())
    bulletins = [str(b) for b in report.bulletins] if report else []
    result: dict[str, Any] = {
        "scenario": name,
        "wall_s": wall,
        "run_duration_s": report.duration_s if report else None,
        "exit_code": report.exit_code if report else None,
        "interrupted": report.interrupted if report else None,
        "error": error,
        "jira_requests_counter": counters.get("jira.requests"),
        "sim_requests_total": log["total"],
        "requests_by_endpoint": dict(sorted(log["counts"].items())),
        "statuses": log["statuses"],
        "http_429": log["statuses"].get("429", 0),
        "early_retries": log["early_retries"],
        "warehouse_rows": counts,
        "merge_counters": merged,
        "journal_rows": counters.get("journal.rows", 0),
        "boards_listed": counters.get("boards.listed", 0),
        "boards_skipped": counters.get("boards.skipped", 0),
        "boards_failed": counters.get("boards.failed", 0),
        "rows_total": total_rows,
        "rows_per_s": total_rows / wall if wall else 0.0,
        "journal_rows_per_s": counters.get("journal.rows", 0) / wall if wall else 0.0,
        "phases": phases,
        "first_request_s": min(arrivals) if arrivals else None,
        "last_request_s": max(arrivals) if arrivals else None,
        "rss_before_mb": rss_before,
        "maxrss_mb": maxrss_mb(),
        "sampled_peak_rss_mb": rss.peak_mb,
        "equals_ground_truth": comparison["equal"],
        "ground_truth_diff": comparison["tables"],
        "warnings": sum(b.startswith("WARNING") for b in bulletins),
        "errors": sum(b.startswith("ERROR") for b in bulletins),
        "first_bulletins": bulletins[:5],
        "ground_truth_s": truth_s,
        "compare_s": compare_s,
    }
    if name == "a":
        minimum = minimum_requests(expected)
        result["minimum_requests"] = minimum
        result["excess_by_endpoint"] = {k: log["counts"].get(k, 0) - v for k, v in minimum.items() if k != "total"}
        kanban = sum(1 for b in expected["BOARD"] if b["TYPE"] == "kanban")
        result["kanban_boards"] = kanban
        result["minimum_requests_kanban_known"] = minimum["total"] - kanban
    return result


def run_group(group: str, args: argparse.Namespace, wanted: set[str]) -> list[dict[str, Any]]:
    from flowkit.simulator import JiraSimulator
    from flowkit.simulator.ratelimit import RateLimit

    results = []
    with tempfile.TemporaryDirectory(prefix="flowkit-bench-") as tmp:
        home, db = Path(tmp) / "home", Path(tmp) / "warehouse.db"
        os.environ["FLOWKIT_HOME"] = str(home)
        if group == "ab":
            with JiraSimulator(seed=1, boards=args.a_boards, issues_per_board=args.a_issues,
                               latency_ms=args.a_latency) as sim:  # fmt: skip
                results.append(run_scenario("a", sim, home, db, args.budget))
                if "b" in wanted:
                    results.append(run_scenario("b", sim, home, db, args.budget))
        elif group == "c":
            with JiraSimulator(seed=1, boards=args.c_boards, issues_per_board=args.c_issues,
                               latency_ms=args.c_latency) as sim:  # fmt: skip
                results.append(run_scenario("c", sim, home, db, args.budget))
        elif group == "d":
            limit = RateLimit(rate=args.d_rate, burst=args.d_burst, per_endpoint=False, retry_after=True)
            with JiraSimulator(seed=1, boards=args.d_boards, issues_per_board=args.d_issues,
                               latency_ms=args.d_latency, rate_limit=limit) as sim:  # fmt: skip
                results.append(run_scenario("d", sim, home, db, args.budget))
    return results


# --------------------------------------------------------------------------- printing

DESCRIPTIONS = {
    "a": "first run, {a_boards} boards x {a_issues} issues, {a_latency:g} ms",
    "b": "second run, nothing changed",
    "c": "{c_boards} boards x {c_issues} issues, {c_latency:g} ms",
    "d": "{d_boards} boards x {d_issues} issues, site-wide {d_rate:g} req/s burst {d_burst}",
}


def print_result(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n=== scenario {r['scenario']}: {DESCRIPTIONS[r['scenario']].format(**vars(args))}")
    state = "interrupted (budget)" if r["interrupted"] else f"exit {r['exit_code']}"
    print(f"wall {r['wall_s']:.2f} s ({state}); error: {r['error']}")
    if r["last_request_s"] is not None:
        tail = r["wall_s"] - r["last_request_s"]
        print(f"Jira requests arrived {r['first_request_s']:.2f}..{r['last_request_s']:.2f} s after the start;"
              f" {tail:.2f} s after the last one (journal tail + merge + prune + stop)")  # fmt: skip
    print(f"Jira requests: RunReport {r['jira_requests_counter']}, simulator {r['sim_requests_total']}"
          f"; statuses {r['statuses']}; 429s {r['http_429']}; early retries {r['early_retries']}")  # fmt: skip
    for endpoint, n in r["requests_by_endpoint"].items():
        print(f"  {n:>7}  {endpoint}")
    print("rows (warehouse | inserted/updated/deleted/unchanged):")
    for t in TABLE_ORDER:
        m = r["merge_counters"][t]
        print(f"  {t:<14}{r['warehouse_rows'][t]:>9} | {m['inserted']}/{m['updated']}/{m['deleted']}/{m['unchanged']}")
    print(f"rows total {r['rows_total']}, {r['rows_per_s']:.0f} rows/s (journal {r['journal_rows']} rows, "
          f"{r['journal_rows_per_s']:.0f}/s); boards listed {r['boards_listed']}, skipped {r['boards_skipped']}, "
          f"failed {r['boards_failed']}")  # fmt: skip
    print(f"peak RSS {r['maxrss_mb']:.0f} MB (ru_maxrss of the process so far, incl. ground-truth check); sampled"
          f" during the run {r['sampled_peak_rss_mb']:.0f} MB, {r['rss_before_mb']:.0f} MB before it")  # fmt: skip
    print(f"warehouse == ground truth: {r['equals_ground_truth']}"
          f" (ground truth {r['ground_truth_s']:.1f} s, compare {r['compare_s']:.1f} s)")  # fmt: skip
    if r["ground_truth_diff"]:
        print("  diff:", json.dumps(r["ground_truth_diff"], default=str)[:2000])
    if r["phases"]:
        print("time inside (summed over threads): " + ", ".join(
            f"{k} {v['s']:.2f} s/{v['calls']}" for k, v in r["phases"].items()))  # fmt: skip
    if r["warnings"] or r["errors"]:
        print(f"bulletins: {r['warnings']} warnings, {r['errors']} errors; first: {r['first_bulletins']}")
    if "minimum_requests" in r:
        minimum = r["minimum_requests"]
        print(f"minimum requests the data allows: {minimum['total']} with one /sprint call per board"
              f" ({r['minimum_requests_kanban_known']} when the {r['kanban_boards']} kanban boards, known from the"
              f" board list, are not asked); made {r['sim_requests_total']}"
              f" (excess {r['sim_requests_total'] - r['minimum_requests_kanban_known']})")  # fmt: skip
        for endpoint, need in minimum.items():
            if endpoint != "total":
                print(f"  {need:>7} needed, {r['excess_by_endpoint'][endpoint]:>+5} extra  {endpoint}")


def print_table(results: list[dict[str, Any]]) -> None:
    print("\n| scenario | wall s | requests (report / sim) | 429 | early retries | rows | rows/s | peak RSS MB "
          "| = ground truth |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['wall_s']:.1f} | {r['jira_requests_counter']} / {r['sim_requests_total']} "
              f"| {r['http_429']} | {r['early_retries']} | {r['rows_total']} | {r['rows_per_s']:.0f} "
              f"| {r['maxrss_mb']:.0f} | {r['equals_ground_truth']} |")  # fmt: skip


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d (b needs a: a runs too)")
    p.add_argument("--budget", type=float, default=240.0, help="seconds before a run is stopped (default 240)")
    p.add_argument("--a-boards", type=int, default=100)
    p.add_argument("--a-issues", type=int, default=500)
    p.add_argument("--a-latency", type=float, default=20.0, help="ms")
    p.add_argument("--c-boards", type=int, default=20)
    p.add_argument("--c-issues", type=int, default=20_000)
    p.add_argument("--c-latency", type=float, default=5.0, help="ms")
    p.add_argument("--d-boards", type=int, default=50)
    p.add_argument("--d-issues", type=int, default=100)
    p.add_argument("--d-latency", type=float, default=0.0, help="ms")
    p.add_argument("--d-rate", type=float, default=20.0, help="site-wide req/s")
    p.add_argument("--d-burst", type=int, default=10)
    p.add_argument("--no-phases", action="store_true", help="do not time journal/merge/state calls")
    p.add_argument("--in-process", action="store_true", help="run every group in this process (RSS then cumulative)")
    p.add_argument("--json", type=Path, help="also write every result to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one group, print JSON
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = wanted - set(GROUPS)
    if unknown:
        sys.exit(f"unknown scenarios: {sorted(unknown)}")
    if not args.no_phases:
        global PHASES
        PHASES = PhaseTimer()
        PHASES.install()
    if args.worker:
        print("RESULT " + json.dumps(run_group(args.worker, args, wanted)))
        return 0
    groups = list(dict.fromkeys(GROUPS[s] for s in sorted(wanted)))
    print(f"flow {FLOW.relative_to(ROOT)}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
          f"scenarios {','.join(sorted(wanted))}")  # fmt: skip
    results: list[dict[str, Any]] = []
    for group in groups:
        first = len(results)
        if args.in_process:
            results.extend(run_group(group, args, wanted))
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), *(argv if argv is not None else sys.argv[1:])]
            cmd = [c for c in cmd if not c.startswith("--json")]  # the parent writes the JSON
            if args.json:
                cmd = [c for c in cmd if c != str(args.json)]
            cmd += ["--worker", group]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=args.budget * 2 + 120)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                print(f"group {group} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                continue
            results.extend(json.loads(lines[-1][len("RESULT ") :]))
            noise = proc.stderr.strip().splitlines()
            if noise:
                print(f"[group {group}: {len(noise)} stderr lines; last: {noise[-1][:300]}]")
        for r in results[first:]:
            print_result(r, args)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
