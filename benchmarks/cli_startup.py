"""Start-up cost of the `flowkit` command. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/cli_startup.py              # 10 repeats each, then 5 small `flowkit run`s
    .venv/bin/python benchmarks/cli_startup.py -n 20 --runs 0

Each command runs as its own process, exactly as typed, in this checkout's root and with it first on
PYTHONPATH (so the numbers belong to this checkout even when the venv's editable install points at another):

  python -c pass                 the interpreter alone (the floor)
  python -c "import flowkit.cli"
  flowkit --help
  flowkit run --help

For each: the median wall time of N runs (min and max too), the median CPU time (user + system; less
sensitive than wall time to other load on the machine) and the peak RSS (ru_maxrss of the child).

Then `flowkit run flows/jira_agile.yaml --once --quiet` against an in-process Jira simulator with a tiny
data set (4 boards x 20 issues, 20 ms latency, SQLite warehouse in a temp dir), --runs times: how long
after the process started the simulator saw its first request, the process's RSS at that moment (read
from /proc/<pid>/status as soon as the request arrives), how long after the simulator's last answer the
process ended (a merge of 80 rows, shutdown, the interpreter's exit), its peak RSS, wall and CPU time over
the whole (tiny, so mostly start-up) run. The simulator runs in this process, not in the flow's; other load on the
machine shows in the min-max spread (CPU times move much less than wall times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "flows" / "jira_agile.yaml"


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _flowkit() -> list[str]:
    """The console script next to this interpreter, as a user runs it; else `python -m flowkit.cli`."""
    script = Path(sys.executable).parent / "flowkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flowkit.cli"]


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one run of `cmd`."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _line(label: str, walls: list[float], cpus: list[float], rss: list[float]) -> None:
    print(
        f"{label:<32} wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f})"
        f"  CPU {statistics.median(cpus):.3f} s  peak RSS {statistics.median(rss):5.1f} MB"
    )


def commands(repeats: int) -> None:
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ('python -c "import flowkit.cli"', [sys.executable, "-c", "import flowkit.cli"]),
        ("flowkit --help", [*_flowkit(), "--help"]),
        ("flowkit run --help", [*_flowkit(), "run", "--help"]),
    ]
    env = _env()
    results: dict[str, tuple[list[float], list[float], list[float]]] = {label: ([], [], []) for label, _ in cases}
    for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits every case alike
        for label, cmd in cases:
            for into, value in zip(results[label], _once(cmd, env), strict=True):
                into.append(value)
    for label, (walls, cpus, rss) in results.items():
        _line(label, walls, cpus, rss)


def _vm_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def flow_runs(runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    from flowkit.simulator import JiraSimulator

    firsts: list[float] = []
    afters: list[float] = []
    at_first: list[float] = []
    peaks: list[float] = []
    walls: list[float] = []
    cpus: list[float] = []
    with JiraSimulator(boards=4, issues_per_board=20, latency_ms=20) as sim:
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="flowkit-startup-") as tmp:
                cmd = [*_flowkit(), "run", str(FLOW), "--once", "--quiet"]
                for name, value in (
                    ("Environment URL", sim.url),
                    ("Jira Email", sim.email),
                    ("SQLite Path", f"{tmp}/warehouse.db"),
                ):
                    cmd += ["-p", f"{name}={value}"]
                env = _env(FLOWKIT_HOME=tmp, JIRA_API_TOKEN=sim.token)
                sim.reset_log()
                started = time.monotonic()
                child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                rss = float("nan")
                while child.poll() is None:
                    if sim.request_log.total:
                        rss = _vm_rss_mb(child.pid)
                        break
                    time.sleep(0.001)
                _pid, status, usage = os.wait4(child.pid, 0)
                walls.append(time.monotonic() - started)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise SystemExit(f"flowkit run failed: {child.stderr.read().decode() if child.stderr else ''}")
                firsts.append(min(e.at for e in sim.request_log.entries) - started)
                afters.append(started + walls[-1] - max(sim.request_log.finished.values()))
                at_first.append(rss)
                peaks.append(usage.ru_maxrss / 1024)
                cpus.append(usage.ru_utime + usage.ru_stime)
    print(
        f"flowkit run (jira_agile, --once, 4 boards x 20 issues, 20 ms), {runs} runs:\n"
        f"  first Jira request at +{statistics.median(firsts):.3f} s after process start "
        f"(min {min(firsts):.3f}, max {max(firsts):.3f})\n"
        f"  process exit at +{statistics.median(afters):.3f} s after the last Jira answer "
        f"(min {min(afters):.3f}, max {max(afters):.3f}; merge of 4 x 20 rows, shutdown, exit)\n"
        f"  RSS at the first request {statistics.median(at_first):5.1f} MB; the whole run: peak RSS "
        f"{statistics.median(peaks):5.1f} MB, wall {statistics.median(walls):.2f} s, "
        f"CPU {statistics.median(cpus):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--repeats", type=int, default=10, help="runs of each command (median reported)")
    parser.add_argument("--runs", type=int, default=5, help="`flowkit run`s against the simulator (0: none)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not (ROOT / "flowkit" / "__pycache__").is_dir():
        print(
            "note: PYTHONDONTWRITEBYTECODE is set and flowkit/ has no __pycache__: every process compiles "
            f"flowkit's sources (~0.15 s); `{sys.executable} -m compileall -q flowkit` first to measure an install"
        )
    commands(args.repeats)
    if args.runs:
        flow_runs(args.runs)


if __name__ == "__main__":
    main()
