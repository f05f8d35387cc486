"""What the canvas's API costs: milliseconds per request of /api/status, /api/runs and /api/runs/<id>.

The canvas polls /api/status once a second per open page (and /api/runs while a run works), so these
must stay small next to a second. A history of `--runs` finished runs of a small flow (each with a
bulletin) is written first under a temporary $FLOWKIT_HOME; then each endpoint is fetched `--repeat`
times over real HTTP on loopback. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/ui_requests.py
    .venv/bin/python benchmarks/ui_requests.py --runs 100 --repeat 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from flowkit.engine import load_flow, run_flow
from flowkit.web import CanvasServer, RunControl

FLOW = """\
    flowkit: 1
    process_group: {name: Bench}
    processors:
      - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 20}}
      - {name: Count, type: CountFlowFiles, properties: {Counter Name: rows.BOARD.inserted}}
      - {name: Warn, type: LogMessage, properties: {Log Level: WARNING, Message: careful}}
      - {name: Log, type: LogAttribute, auto_terminate: [success]}
    connections:
      - {source: Generate, relationships: [success], destination: Count}
      - {source: Count, relationships: [success], destination: Warn}
      - {source: Warn, relationships: [success], destination: Log}
    """


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="finished runs in the history")
    parser.add_argument("--repeat", type=int, default=100, help="requests per endpoint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flow.yaml"
        path.write_text(textwrap.dedent(FLOW))
        home = Path(tmp) / "home"
        flow = load_flow(path, env={})
        started = time.perf_counter()
        for _ in range(args.runs):
            run_flow(flow, once=True, home=home, keep_runs=args.runs)
        print(f"history: {args.runs} runs written in {time.perf_counter() - started:.1f} s")
        server = CanvasServer(path, home, RunControl(home, flow.flow_id, flow), flow=flow).start()
        try:
            with requests.Session() as session:
                for endpoint in ("api/status", "api/runs", f"api/runs/{args.runs}", "api/flow", ""):
                    times = []
                    size = 0
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        response = session.get(server.url + endpoint, timeout=10)
                        times.append((time.perf_counter() - t0) * 1000)
                        size = len(response.content)
                    times.sort()
                    print(
                        f"GET /{endpoint:<16} median {statistics.median(times):6.2f} ms  "
                        f"p95 {times[int(len(times) * 0.95) - 1]:6.2f} ms  {size:>7,} bytes"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
