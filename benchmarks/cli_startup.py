"""Start-up cost of the `flowkit` command. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/cli_startup.py              # 10 repeats each, then 5 small `flowkit run`s
    .venv/bin/python benchmarks/cli_startup.py -n 20 --runs 0
    .venv/bin/python benchmarks/cli_startup.py -n 0 --runs 30 --compare /tmp/before   # A/B: another checkout

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
after the process started the simulator saw its first request, the CPU time and RSS the process had used by
then (read from /proc/<pid> as soon as the request arrives; CPU time is less sensitive to other load), how
long after the simulator's last answer the process ended (a merge of 80 rows, shutdown, the interpreter's
exit), its peak RSS, wall and CPU time over the whole (tiny, so mostly start-up) run. The simulator runs in
this process, not in the flow's; other load on the machine shows in the min-max spread (CPU times move much
less than wall times).

--compare DIR alternates those runs with the same runs of another checkout (e.g. `git archive <commit> | tar -x
-C DIR`; compile both, see the note printed below), DIR's code first on PYTHONPATH, and prints the median of the
paired differences of the first request's arrival: on a noisy machine it moves much less than either median.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _env(root: Path = ROOT, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
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


def _cpu_s(pid: int) -> float:
    """CPU time of every thread of `pid` so far (nanoseconds on CPU, /proc/<pid>/task/*/schedstat)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return total / 1e9


def flow_runs(runs: int, compare: Path | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    from flowkit.simulator import JiraSimulator

    roots = [ROOT] if compare is None else [ROOT, compare]
    keys = ("first", "cpu_first", "after", "at_first", "peak", "wall", "cpu")
    seen: dict[Path, dict[str, list[float]]] = {root: {key: [] for key in keys} for root in roots}
    with JiraSimulator(boards=4, issues_per_board=20, latency_ms=20) as sim:
        for index in range(runs):
            for root in roots if index % 2 == 0 else roots[::-1]:  # alternating: load elsewhere hits both alike
                _flow_run(sim, root, seen[root])
    for root in roots:
        into = seen[root]
        firsts, afters = into["first"], into["after"]
        print(
            f"flowkit run (jira_agile, --once, 4 boards x 20 issues, 20 ms), {runs} runs"
            f"{'' if compare is None else f' of {root}'}:\n"
            f"  first Jira request at +{statistics.median(firsts):.3f} s after process start "
            f"(min {min(firsts):.3f}, max {max(firsts):.3f}), having used {statistics.median(into['cpu_first']):.3f} s "
            f"of CPU (min {min(into['cpu_first']):.3f}, max {max(into['cpu_first']):.3f})\n"
            f"  process exit at +{statistics.median(afters):.3f} s after the last Jira answer "
            f"(min {min(afters):.3f}, max {max(afters):.3f}; merge of 4 x 20 rows, shutdown, exit)\n"
            f"  RSS at the first request {statistics.median(into['at_first']):5.1f} MB; the whole run: peak RSS "
            f"{statistics.median(into['peak']):5.1f} MB, wall {statistics.median(into['wall']):.2f} s, "
            f"CPU {statistics.median(into['cpu']):.2f} s"
        )
    if compare is not None:
        for key, what in (("first", "first request"), ("cpu_first", "CPU by the first request")):
            diffs = sorted(a - b for a, b in zip(seen[ROOT][key], seen[compare][key], strict=True))
            print(
                f"{what}, this checkout minus {compare}, paired by round: median {statistics.median(diffs):+.3f} s"
                f" (quartiles {diffs[len(diffs) // 4]:+.3f} / {diffs[3 * len(diffs) // 4]:+.3f} s)"
            )


def _flow_run(sim: Any, root: Path, into: dict[str, list[float]]) -> None:
    """One `flowkit run --once --quiet` of `root`'s code and flow against `sim`; appends its numbers to `into`."""
    with tempfile.TemporaryDirectory(prefix="flowkit-startup-") as tmp:
        cmd = [*_flowkit(), "run", str(root / "flows" / "jira_agile.yaml"), "--once", "--quiet"]
        for name, value in (("Environment URL", sim.url), ("Jira Email", sim.email), ("SQLite Path", f"{tmp}/wh.db")):
            cmd += ["-p", f"{name}={value}"]
        env = _env(root, FLOWKIT_HOME=tmp, JIRA_API_TOKEN=sim.token)
        sim.reset_log()
        started = time.monotonic()
        child = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rss = cpu = float("nan")
        while child.poll() is None:
            if sim.request_log.total:
                rss, cpu = _vm_rss_mb(child.pid), _cpu_s(child.pid)
                break
            time.sleep(0.001)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"flowkit run failed: {child.stderr.read().decode() if child.stderr else ''}")
        into["first"].append(min(e.at for e in sim.request_log.entries) - started)
        into["after"].append(started + wall - max(sim.request_log.finished.values()))
        into["cpu_first"].append(cpu)
        into["at_first"].append(rss)
        into["peak"].append(usage.ru_maxrss / 1024)
        into["wall"].append(wall)
        into["cpu"].append(usage.ru_utime + usage.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--repeats", type=int, default=10, help="runs of each command (median reported)")
    parser.add_argument("--runs", type=int, default=5, help="`flowkit run`s against the simulator (0: none)")
    parser.add_argument(
        "--compare", type=Path, metavar="DIR", help="alternate the runs with another checkout's (its code and flow)"
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for root in (ROOT, args.compare):
        if root and os.environ.get("PYTHONDONTWRITEBYTECODE") and not (root / "flowkit" / "__pycache__").is_dir():
            print(
                f"note: PYTHONDONTWRITEBYTECODE is set and {root / 'flowkit'} has no __pycache__: every process "
                f"compiles its sources (~0.15 s); `{sys.executable} -m compileall -q {root / 'flowkit'}` first to "
                "measure an install"
            )
    if args.repeats:
        commands(args.repeats)
    if args.runs:
        flow_runs(args.runs, args.compare.resolve() if args.compare else None)


if __name__ == "__main__":
    main()
