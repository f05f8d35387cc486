"""Throughput and memory of the Jira simulator. Prints numbers; asserts nothing.

.venv/bin/python benchmarks/simulator_throughput.py                 # req/s, 8 threads, 5 s
.venv/bin/python benchmarks/simulator_throughput.py --threads 4 --seconds 10
.venv/bin/python benchmarks/simulator_throughput.py --million       # + memory with 1,000,000 issues
.venv/bin/python benchmarks/simulator_throughput.py --paging        # keys/s + simulator CPU, 20 x 50,000 issues
.venv/bin/python benchmarks/simulator_throughput.py --paging --issues-per-board 10000 --latency-ms 0 --py-spy out.txt

--paging starts `flowkit simulator jira --boards B --issues-per-board N --latency-ms L` as its own process, reads
every visible board's JQL the way the flow does (configuration, saved filter, kanban sub-query), then pages every
board's issue keys through POST /rest/api/3/search/jql with the flow's request body ({"jql", "fields": ["key"],
"maxResults": 5000, "nextPageToken"}) from --threads client threads (one board per thread at a time, its pages in
sequence). It prints keys/s, the CPU seconds the simulator process spent while paging (/proc/<pid>/stat), i.e.
how much of a core the simulator needs per 100,000 keys/s, and the CPU of the client (this process), which bounds
keys/s once the simulator is cheap. --py-spy OUT samples the simulator with py-spy (--gil) meanwhile.
"""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from flowkit.simulator import JiraSimulator
from flowkit.simulator.generate import CALLER_EMAIL, CALLER_TOKEN


def throughput(threads: int, seconds: float) -> None:
    with JiraSimulator(seed=1, boards=20, issues_per_board=500) as sim:
        paths = [
            ("GET", "/rest/agile/1.0/board?maxResults=5", None),
            ("GET", "/rest/agile/1.0/board/1/sprint?maxResults=5", None),
            ("GET", "/rest/agile/1.0/board/2/project", None),
            ("GET", "/rest/api/3/myself", None),
            ("POST", "/rest/api/3/search/jql", {"jql": "project = PLAT ORDER BY Rank ASC", "fields": ["key"],
                                                "maxResults": 10}),
        ]  # fmt: skip
        counts = [0] * threads
        errors = [0] * threads
        stop = time.monotonic() + seconds

        def worker(n: int) -> None:
            s = requests.Session()
            s.auth = sim.auth
            for method, path, body in itertools.cycle(paths):
                if time.monotonic() >= stop:
                    return
                r = s.request(method, sim.url + path, json=body, timeout=10)
                counts[n] += 1
                errors[n] += r.status_code != 200

        t0 = time.monotonic()
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - t0
        total = sum(counts)
        rate = total / elapsed
        print(
            f"throughput: {total} requests in {elapsed:.1f} s with {threads} client threads = {rate:.0f} req/s"
            f" (errors: {sum(errors)}; server log total {sim.request_log.total})"
        )


def million() -> None:
    sim = JiraSimulator(seed=1, boards=4, issues_per_board=250_000)
    with sim:
        s = requests.Session()
        s.auth = sim.auth
        t0 = time.monotonic()
        seen = 0
        token = None
        for key in ("PLAT", "OPS", "WEB", "DATA"):
            token = None
            while True:
                body = {"jql": f"project = {key} ORDER BY Rank ASC", "fields": ["key"], "maxResults": 5000}
                if token:
                    body["nextPageToken"] = token
                page = s.post(sim.url + "/rest/api/3/search/jql", json=body, timeout=60).json()
                seen += len(page["issues"])
                token = page.get("nextPageToken")
                if page["isLast"]:
                    break
        elapsed = time.monotonic() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"1,000,000 issues: {sim.data.total_issues()} generated lazily; paged {seen} visible issue keys over HTTP "
          f"(5000/page) in {elapsed:.1f} s")  # fmt: skip
    print(f"  max RSS of this process (simulator + client): {rss_mb:.0f} MB")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator_process(*options: str) -> tuple[subprocess.Popen[str], str]:
    """`flowkit simulator jira --port 0 <options>` in a child process (this checkout's flowkit), and its URL
    once it listens. The caller stops it (terminate, wait)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "flowkit.cli", "simulator", "jira", "--port", "0", *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    proc.wait()
    raise SystemExit("the simulator did not start")


def paging(boards: int, issues_per_board: int, latency_ms: float, threads: int, py_spy: str | None) -> None:
    from flowkit.jira.client import JiraClient  # the flow's own JQL composition (filter AND kanban sub-query)

    proc, url = start_simulator_process(
        "--boards", str(boards), "--issues-per-board", str(issues_per_board), "--latency-ms", str(latency_ms)
    )
    spy = None
    try:
        s = requests.Session()
        s.auth = (CALLER_EMAIL, CALLER_TOKEN)
        jqls: list[str] = []
        start = 0
        while True:
            page = s.get(f"{url}/rest/agile/1.0/board", params={"startAt": start, "maxResults": 50}).json()
            for b in page["values"]:
                conf = s.get(f"{url}/rest/agile/1.0/board/{b['id']}/configuration").json()
                filt = s.get(f"{url}/rest/api/3/filter/{conf['filter']['id']}").json()
                jqls.append(JiraClient.board_issue_jql(filt["jql"], (conf.get("subQuery") or {}).get("query")))
            start += len(page["values"])
            if page["isLast"]:
                break
        todo: queue.Queue[str] = queue.Queue()
        for jql in jqls:
            todo.put(jql)
        keys = [0] * threads
        pages = [0] * threads

        def worker(n: int) -> None:
            ws = requests.Session()
            ws.auth = s.auth
            while True:
                try:
                    jql = todo.get_nowait()
                except queue.Empty:
                    return
                token = None
                while True:
                    body: dict[str, object] = {"jql": jql, "fields": ["key"], "maxResults": 5000}
                    if token:
                        body["nextPageToken"] = token
                    r = ws.post(f"{url}/rest/api/3/search/jql", json=body, timeout=120)
                    r.raise_for_status()
                    page = r.json()
                    keys[n] += len(page["issues"])
                    pages[n] += 1
                    token = page.get("nextPageToken")
                    if not token:
                        break

        if py_spy:
            spy = subprocess.Popen(["py-spy", "record", "--gil", "--pid", str(proc.pid), "-r", "100", "-f", "raw", "-o",
                                    py_spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(1.0)
        cpu0, t0, own0 = _cpu_seconds(proc.pid), time.monotonic(), time.process_time()
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed, cpu, own = time.monotonic() - t0, _cpu_seconds(proc.pid) - cpu0, time.process_time() - own0
        total = sum(keys)
        print(f"paging: {len(jqls)} boards, {total:,} keys in {sum(pages)} pages over HTTP in {elapsed:.1f} s with "
              f"{threads} client threads = {total / elapsed:,.0f} keys/s (latency {latency_ms:g} ms)")  # fmt: skip
        print(f"  simulator CPU: {cpu:.1f} s = {cpu / elapsed:.0%} of one core on average; "
              f"{cpu / total * 100_000:.2f} CPU s per 100,000 keys")  # fmt: skip
        print(f"  client CPU (this process: HTTP + JSON decoding): {own:.1f} s = {own / elapsed:.0%} of one core")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--million", action="store_true", help="also measure memory with 1,000,000 issues")
    ap.add_argument("--paging", action="store_true", help="only: page every board's keys from a separate simulator")
    ap.add_argument("--boards", type=int, default=20, help="--paging: boards (default 20)")
    ap.add_argument("--issues-per-board", type=int, default=50_000, help="--paging: issues per board (50,000)")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="--paging: simulator latency (default 20)")
    ap.add_argument("--py-spy", metavar="OUT", help="--paging: sample the simulator with py-spy into OUT (raw)")
    args = ap.parse_args()
    if args.paging:
        paging(args.boards, args.issues_per_board, args.latency_ms, args.threads, args.py_spy)
        return
    throughput(args.threads, args.seconds)
    if args.million:
        million()


if __name__ == "__main__":
    main()
