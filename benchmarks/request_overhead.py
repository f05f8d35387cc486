"""What one Jira request costs the client, by HTTP layer. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/request_overhead.py              # 2,000 requests per layer, then 8 x 20 at 100 ms
    .venv/bin/python benchmarks/request_overhead.py -n 500 --latency-ms 100

The Jira simulator runs in a child process (`flowkit simulator jira`, started by simulator_throughput.py's
helper), so this process's CPU time is the client's alone. Two measurements of GET /rest/api/3/myself:

  sequential, no latency  wall and client CPU per request through http.client (the floor), a plain
                          requests.Session (trust_env off and on: on, requests reads the proxy variables and
                          ~/.netrc again for every request) and flowkit's JiraClient (requests plus the rate
                          manager, classification and rate-limit headers).
  8 in flight, latency L  8 threads in lockstep, each sending 20 requests one after another, as the flow's
                          tasks do at the default Max Requests In Flight: the median time per request, i.e. what
                          the ideal (requests x L / 8) leaves out for this client and this simulator.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import resource
import statistics
import threading
import time
import urllib.request
from collections.abc import Callable

import requests
from simulator_throughput import start_simulator_process  # a script beside this one

from flowkit.jira.client import JiraClient
from flowkit.simulator.generate import CALLER_EMAIL, CALLER_TOKEN

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{CALLER_EMAIL}:{CALLER_TOKEN}".encode()).decode()}
PATH = "/rest/api/3/myself"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _layers(url: str, port: int) -> dict[str, Callable[[], Callable[[], object]]]:
    """Each layer as a factory of a 'send one request' function (one connection or session per thread)."""

    def plain(trust_env: bool) -> Callable[[], object]:
        session = requests.Session()
        session.trust_env = trust_env
        return lambda: session.get(url + PATH, headers=AUTH, allow_redirects=False).content

    def raw() -> Callable[[], object]:
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def send() -> object:
            conn.request("GET", PATH, headers=AUTH)
            return conn.getresponse().read()

        return send

    client = JiraClient(url, CALLER_EMAIL, CALLER_TOKEN)
    return {
        "http.client": raw,
        "requests (trust_env off)": lambda: plain(False),
        "requests (trust_env on)": lambda: plain(True),
        "flowkit JiraClient": lambda: client.myself,
    }


def sequential(layers: dict[str, Callable[[], Callable[[], object]]], n: int) -> None:
    print(f"sequential, no latency, {n} requests each: wall and client CPU per request")
    for name, make in layers.items():
        send = make()
        send()  # connect first
        wall, cpu = time.perf_counter(), _cpu()
        for _ in range(n):
            send()
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        print(f"  {name:26s} {wall / n * 1e6:6.0f} us wall  {cpu / n * 1e6:6.0f} us CPU")


def lockstep(layers: dict[str, Callable[[], Callable[[], object]]], latency_ms: float, rounds: int) -> None:
    print(f"8 threads x {rounds} requests at {latency_ms:g} ms: median and mean time per request")
    for name, make in layers.items():
        if "trust_env on" in name:
            continue
        sends = [make() for _ in range(8)]
        for send in sends:
            send()
        took: list[float] = []
        start = threading.Barrier(8)
        threads = [threading.Thread(target=_sender, args=(send, rounds, start, took)) for send in sends]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        median, mean = statistics.median(took) * 1e3, statistics.mean(took) * 1e3
        print(f"  {name:26s} {median:6.1f} ms median  {mean:6.1f} ms mean")


def _sender(send: Callable[[], object], rounds: int, start: threading.Barrier, took: list[float]) -> None:
    start.wait()
    for _ in range(rounds):
        t = time.perf_counter()
        send()
        took.append(time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="sequential requests per layer")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=20, help="requests per thread in the 8-thread measurement")
    args = ap.parse_args()
    sim, url = start_simulator_process("--boards", "1", "--issues-per-board", "1")
    port = int(url.rsplit(":", 1)[1])
    try:
        layers = _layers(url, port)
        sequential(layers, args.n)
        body = json.dumps({"ms": args.latency_ms}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/_sim/latency", data=body, method="POST"))
        lockstep(layers, args.latency_ms, args.rounds)
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    main()
