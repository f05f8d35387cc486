"""What the product commands import, seen from a real `flowkit` process.

- The simulator stays a command, loaded only when called; the product path never imports it.
- `flowkit --help` (and every command's --help) imports click and nothing heavy: the engine's loader and
  scheduler (pydantic, networkx, sqlite-utils, PyYAML), rich, requests, the Jira flow and the web UI are
  imported inside the commands that use them (start-up cost: benchmarks/cli_startup.py).
- rich is loaded only to print something with it: a --quiet or JSON run never imports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import flowkit.engine
from flowkit.engine import graph

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "flows" / "jira_agile.yaml"
EXAMPLE = ROOT / "flows" / "example.yaml"

PROBE = """
import json, sys
from flowkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("MODULES:", json.dumps(sorted(sys.modules)))
"""

# top-level packages and flowkit modules that `flowkit --help` must not load (each costs 10-150 ms)
HEAVY = (
    "pydantic",
    "networkx",
    "sqlite_utils",
    "yaml",
    "rich",
    "requests",
    "urllib3",
    "flowkit.engine.loader",
    "flowkit.engine.scheduler",
    "flowkit.engine.state",
    "flowkit.jira",
    "flowkit.destinations",
    "flowkit.web",
    "flowkit.simulator",
    "flowkit.terminal",
    "flowkit.views",
)


def _probe(code: str, args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args...`` from the repository with a minimal environment (a real process)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"FLOWKIT_HOME": str(home), "PATH": "/usr/bin:/bin", "JIRA_API_TOKEN": "x"},
        timeout=60,
    )


def _modules(*args: str, home: Path) -> list[str]:
    """Every module loaded by a `flowkit <args>` process (real process, real sys.modules)."""
    result = _probe(PROBE, list(args), home)
    line = next((x for x in result.stdout.splitlines() if x.startswith("MODULES:")), None)
    assert line is not None, result.stderr
    modules: list[str] = json.loads(line.split(":", 1)[1])
    return modules


def _loaded(modules: list[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_product_commands_do_not_import_the_simulator(tmp_path: Path) -> None:
    assert _loaded(_modules("--help", home=tmp_path), "flowkit.simulator") == []
    assert _loaded(_modules("validate", str(FLOW), home=tmp_path), "flowkit.simulator") == []
    assert _loaded(_modules("state", "show", str(FLOW), home=tmp_path), "flowkit.simulator") == []


def test_the_simulator_command_loads_it_when_called(tmp_path: Path) -> None:
    assert "flowkit.simulator.cli" in _modules("simulator", "--help", home=tmp_path)


@pytest.mark.parametrize("command", ["", "run", "validate", "ui", "status", "graph", "state", "state show"])
def test_help_imports_nothing_heavy(command: str, tmp_path: Path) -> None:
    modules = _modules(*command.split(), "--help", home=tmp_path)
    assert "click" in modules  # the probe saw a real start-up
    assert _loaded(modules, *HEAVY) == []


def test_a_quiet_or_json_run_does_not_load_rich(tmp_path: Path) -> None:
    for extra in (["--quiet"], ["--log-format", "json"]):
        modules = _modules("run", str(EXAMPLE), "--once", "-p", "Example Token=t0ken", *extra, home=tmp_path)
        assert "flowkit.engine.scheduler" in modules  # it ran
        assert _loaded(modules, "rich") == [], extra


def test_loading_and_running_a_flow_without_a_cycle_does_not_import_networkx(tmp_path: Path) -> None:
    """networkx (~0.1 s) is only needed to name a cycle in an error message (flowkit/engine/dag.py)."""
    run = _modules("run", str(EXAMPLE), "--once", "--quiet", "-p", "Example Token=t0ken", home=tmp_path)
    assert "flowkit.engine.scheduler" in run  # it ran, final pass (topological order) included
    validate = _modules("validate", str(FLOW), home=tmp_path)
    assert "flowkit.jira.services" in validate  # the Jira flow's types were loaded and checked
    assert _loaded(run, "networkx") == [] and _loaded(validate, "networkx") == []


METADATA_PROBE = """
import importlib.metadata, sys
reads = []
distributions = importlib.metadata.distributions
def counting(**params):
    reads.append(params)
    return distributions(**params)
importlib.metadata.distributions = counting
from flowkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("READS:", len(reads))
"""


def test_loading_the_jira_flow_reads_the_installed_metadata_once(tmp_path: Path) -> None:
    """Every read of the installed distributions' entry points costs ~4 ms before a run's first request: the
    processor, service and destination types come from one, and pydantic's plugin discovery makes none."""
    args = ["validate", str(FLOW), "-p", "Environment URL=http://127.0.0.1:1", "-p", "Jira Email=a@example.com"]
    result = _probe(METADATA_PROBE, args, tmp_path)
    assert "valid: flow" in result.stdout, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "READS: 1", result.stdout


def test_a_run_that_prints_a_summary_loads_rich_for_it(tmp_path: Path) -> None:
    modules = _modules("run", str(EXAMPLE), "--once", "-p", "Example Token=t0ken", home=tmp_path)
    assert "flowkit.views" in modules and "rich.table" in modules


def test_every_public_engine_name_resolves() -> None:
    """flowkit.engine imports its names on first use (PEP 562): each one of __all__ must be found."""
    for name in flowkit.engine.__all__:
        assert getattr(flowkit.engine, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from flowkit.engine import *", namespace)
    assert set(flowkit.engine.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = flowkit.engine.no_such_name  # type: ignore[attr-defined]


def test_the_graph_command_offers_the_formats_the_library_draws() -> None:
    from flowkit.cli import GRAPH_FORMATS

    assert GRAPH_FORMATS == graph.FORMATS


@pytest.mark.parametrize("argv", [["--version"], ["validate", str(FLOW)], ["no-such-command"]])
def test_the_command_leaves_its_objects_frozen_for_a_prompt_exit(argv: list[str], tmp_path: Path) -> None:
    """main() freezes what is left when a command ends (success, error or usage error alike), so the
    interpreter's clean-up at exit does not walk it with the garbage collector (0.1-0.17 s after a run)."""
    probe = (
        "import gc, sys\nfrom flowkit.cli import main\n"
        "assert gc.get_freeze_count() == 0\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    print('EXIT', exc.code, gc.get_freeze_count())\n"
    )
    result = _probe(probe, argv, tmp_path)
    _, code, frozen = result.stdout.strip().splitlines()[-1].split()
    assert code == ("2" if argv[0] == "no-such-command" else "0"), result.stderr
    assert int(frozen) > 1000


def test_the_summary_module_is_imported_while_the_run_works_unless_it_stops() -> None:
    """`run` imports what prints its summary (rich) on a background thread after a short pause, so the
    import is not between the last merge and the exit; a stopping run leaves it to the main thread."""
    code = (
        "import sys, threading, time\nfrom flowkit.cli import _import_in_background\n"
        "stopped = threading.Event(); stopped.set()\n"
        "_import_in_background('colorsys', stopped); time.sleep(0.3)\n"
        "print('stopped', 'colorsys' in sys.modules)\n"
        "_import_in_background('colorsys', threading.Event()); time.sleep(0.3)\n"
        "print('running', 'colorsys' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.split("\n")[:2] == ["stopped False", "running True"], out.stderr


def test_the_state_database_is_opened_without_sqlite_utils(tmp_path: Path) -> None:
    """state.db is plain sqlite3: sqlite-utils' Database wrapper discovered its plugins (a read of every installed
    distribution's metadata) before a run's first request, and loaded sqlite-utils for `status` and `state`."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom flowkit.engine.state import StateService\n"
        "service = StateService(Path(sys.argv[1]))\nservice.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlite_utils', 'pluggy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr
    assert (tmp_path / "state.db").exists()


FREEZE_PROBE = """
import gc, sys
from flowkit.cli import main
from flowkit.engine import Processor, register

seen = []

@register
class FreezeProbe(Processor):
    def on_trigger(self, context, session):
        seen.append(gc.get_freeze_count())

try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("EXIT", exc.code, seen)
"""

FREEZE_FLOW = """\
flowkit: 1
process_group: {name: Freeze Probe Flow}
processors:
  - {name: Probe, type: FreezeProbe}
"""


def test_a_run_freezes_what_start_up_created_before_its_first_trigger(tmp_path: Path) -> None:
    """The collector's full collections during a run do not walk the modules, classes and loaded flow again
    (at 850k rows they cost 1.05 s of CPU instead of 0.35 s)."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(FREEZE_FLOW, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE, "run", str(flow), "--once", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"FLOWKIT_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("EXIT 0 ["), result.stderr
    frozen = json.loads(line.split(" ", 2)[2])
    assert len(frozen) == 1 and frozen[0] > 10_000, line
