"""Throughput and memory of the Jira simulator. Prints numbers; asserts nothing.

.venv/bin/python benchmarks/simulator_throughput.py                 # req/s, 8 threads, 5 s
.venv/bin/python benchmarks/simulator_throughput.py --threads 4 --seconds 10
.venv/bin/python benchmarks/simulator_throughput.py --million       # + memory with 1,000,000 issues
"""

from __future__ import annotations

import argparse
import itertools
import resource
import threading
import time

import requests

from flowkit.simulator import JiraSimulator


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--million", action="store_true", help="also measure memory with 1,000,000 issues")
    args = ap.parse_args()
    throughput(args.threads, args.seconds)
    if args.million:
        million()


if __name__ == "__main__":
    main()
