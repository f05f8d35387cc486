"""The `flowkit` command: a thin click shell where each command calls one library function.

Start-up cost: at import this module loads click and `flowkit.engine.errors` only. Everything heavy (the
engine's loader and scheduler with pydantic and PyYAML; rich, through `flowkit.views`; the
Jira flow; the web UI; the simulator) is imported inside the command that needs it, so `flowkit --help` and
`flowkit <command> --help` stay fast (`tests/test_product_imports.py` checks what they load;
`benchmarks/cli_startup.py` measures them).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from flowkit.engine.errors import ConfigurationError, FlowRunningError

if TYPE_CHECKING:
    from flowkit.engine import Flow
    from flowkit.engine.status import FlowStatus
    from flowkit.web import CanvasServer

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
GRAPH_FORMATS = ("mermaid", "dot")  # flowkit.engine.graph.FORMATS (a test keeps them equal): not imported for --help
EXIT_CONFIGURATION = 2


def flowkit_home() -> Path:
    """``$FLOWKIT_HOME`` (default ``./.flowkit``): state database and run locks."""
    return Path(os.environ.get("FLOWKIT_HOME") or ".flowkit")


@contextmanager
def _one_line_errors(as_json: bool = False) -> Iterator[None]:
    """Turn library errors into ``flowkit: error: ...`` (or one JSON object) on stderr and exit code 2."""
    try:
        yield
    except (ConfigurationError, FlowRunningError) as exc:
        if as_json:
            document = {"event": "error", "level": "ERROR", "message": str(exc)}
            click.echo(json.dumps(document, ensure_ascii=False), err=True)
        else:
            click.echo(f"flowkit: error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_CONFIGURATION) from None


def _parameter_options(command: F) -> F:
    """The -p / --parameters options shared by `run` and `validate`."""
    command = click.option(
        "--parameters",
        "parameters_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="YAML or JSON mapping of parameter name to value, for this run only.",
    )(command)
    return click.option(
        "-p",
        "--parameter",
        "overrides",
        multiple=True,
        metavar='"Name=value"',
        help="Override one parameter for this run (repeatable); wins over --parameters.",
    )(command)


def _ui_options(host_flag: str, port_flag: str, token_flag: str) -> Callable[[F], F]:
    """--host / --port / --token of the canvas (named --ui-host ... on `run`)."""

    def decorate(command: F) -> F:
        command = click.option(
            token_flag,
            "token",
            envvar="FLOWKIT_UI_TOKEN",
            metavar="TOKEN",
            help="Access token of the canvas (env FLOWKIT_UI_TOKEN); required on a non-loopback host, "
            "generated and printed once when not given.",
        )(command)
        command = click.option(
            port_flag, "port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: a free port."
        )(command)
        return click.option(
            host_flag,
            "host",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on; any other than 127.0.0.1 / ::1 / localhost needs the access token.",
        )(command)

    return decorate


def _load(flow: Path, overrides: Sequence[str], parameters_file: Path | None) -> Flow:
    from flowkit.engine import load_flow, parse_override

    values = dict(parse_override(text) for text in overrides)
    return load_flow(flow, overrides=values, parameters_file=parameters_file)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Log records at this level and above go to stderr.",
)
@click.version_option(package_name="flowkit")
def cli(log_level: str) -> None:
    """flowkit: a small NiFi-style flow engine.

    \b
    Example:
        flowkit validate flows/example.yaml
        flowkit run flows/example.yaml --once -p "Greeting=hi"
        flowkit status flows/example.yaml
        flowkit graph flows/jira_agile.yaml
        flowkit ui flows/example.yaml
        flowkit state show flows/example.yaml
    """
    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    logging.getLogger("flowkit").setLevel(level)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@click.option("--once", is_flag=True, help="Run every source once, drain every queue, then exit.")
@_parameter_options
@click.option("--quiet", "-q", is_flag=True, help="No live progress and no summary: only log records and errors.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="json: one JSON object per line on stderr (log records, progress) and the summary as JSON on stdout.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How often a progress line is written when stderr is not a terminal (or with --log-format json).",
)
@click.option(
    "--ui", "with_ui", is_flag=True, help="Also serve the flow's canvas (as `flowkit ui`) while this run works."
)
@_ui_options("--ui-host", "--ui-port", "--ui-token")
@click.pass_context
def run(
    ctx: click.Context,
    flow: Path,
    once: bool,
    overrides: tuple[str, ...],
    parameters_file: Path | None,
    quiet: bool,
    log_format: str,
    progress_interval: float,
    with_ui: bool,
    host: str,
    port: int,
    token: str | None,
) -> None:
    """Run a flow until SIGINT/SIGTERM, or one full pass with --once.

    While it runs, a terminal shows live progress (per processor in / out / queued, and what the
    flow's components report: phase, boards done of total, Jira requests, rate-limit waits);
    when stderr is not a terminal a progress line is written every --progress-interval seconds.
    Every run is recorded in the run history (`flowkit status`). With --ui the flow's canvas is
    served while the run works (its URL on stderr; its Stop button does what Ctrl+C does).

    Exit codes: 0 success, 1 the run completed with errors (ERROR bulletins) or was
    interrupted during --once, 2 configuration or usage error (one line on stderr), or the
    flow is already running.

    \b
    Example:
        flowkit run flows/example.yaml --once
        flowkit run flows/example.yaml --once -p "Greeting=hi" --log-format json
        flowkit run flows/example.yaml --once --quiet
        flowkit run flows/example.yaml --once --ui --quiet
    """
    from flowkit.engine import run_flow
    from flowkit.process import tune_gc, tune_malloc
    from flowkit.terminal import Progress, Redactor, summary_document

    tune_malloc()  # before the flow's threads exist (why: flowkit/process.py)
    tune_gc()  # far fewer cyclic garbage collections (why: flowkit/process.py)
    json_mode = log_format == "json"
    with _one_line_errors(json_mode):
        loaded = _load(flow, overrides, parameters_file)
        keep = _keep_runs()
        redactor = Redactor(p.value for p in loaded.parameters.values() if p.sensitive and p.value)
        level = logging.getLogger().getEffectiveLevel()
        mode = "quiet" if quiet else "json" if json_mode else "live" if sys.stderr.isatty() else "lines"
        progress = Progress(mode, redactor, level, progress_interval, log_format=log_format)
        stop = threading.Event()

        def announce() -> None:  # once running: a refused start stays a one-line error on stderr
            if json_mode:
                progress.event({"event": "run_started", "flow": loaded.flow_id, "pid": os.getpid()})
            elif not once and not quiet:
                click.echo(
                    f"flowkit: running flow '{loaded.flow_id}' (pid {os.getpid()}); Ctrl+C or SIGTERM stops it",
                    err=True,
                )
            progress.start()
            if not quiet and not json_mode:
                _import_in_background("flowkit.views", stop)  # the summary's rich tables (see the function)

        canvas = None
        if with_ui:
            canvas = _start_canvas(flow, loaded, keep, host, port, token, stop, progress.event if json_mode else None)
        listeners = [progress.update] if progress.wants_status else []
        if canvas is not None:
            listeners.append(canvas.control.update)

        def on_status(status: FlowStatus) -> None:
            for listener in listeners:
                listener(status)

        # What exists now (modules, classes, the loaded flow: ~40,000 objects) lives until the process ends.
        # Frozen, the collector's full collections during the run no longer walk it again and again: at
        # 850k rows they took 1.05 s of CPU, 0.35 s with this (docs/benchmarks.md, third pass of issue 9).
        # Only a few dozen unreachable objects are left at this point; they stay, too small to matter.
        gc.freeze()
        final = None
        try:
            with _stop_on_signals(stop):
                report = run_flow(
                    loaded,
                    once=once,
                    home=flowkit_home(),
                    stop=stop,
                    on_started=announce,
                    on_status=on_status if listeners else None,
                    status_interval=min(progress.interval, 0.5) if canvas is not None else progress.interval,
                    keep_runs=keep,
                )
            final = report.status
        finally:
            progress.stop(final)
            if canvas is not None:
                canvas.control.detach()
                canvas.stop()
    if quiet:
        pass
    elif json_mode:
        click.echo(redactor.redact(json.dumps(summary_document(report), ensure_ascii=False)))
    else:
        from flowkit.views import print_summary

        print_summary(report)
    ctx.exit(report.exit_code)


BACKGROUND_IMPORT_DELAY_S = 0.05  # by then a run's first request is normally out (~5 ms after start)


def _import_in_background(module: str, stop: threading.Event) -> None:
    """Import `module` on a daemon thread shortly, so that the main thread finds it loaded later.

    `run` prints its summary with rich when the run is over; importing rich then cost 30-100 ms between
    the last merge and the process's exit. Imported after a short pause instead, it takes its CPU while
    the run waits for Jira's first answers, not while the first request is being made (started at once,
    it delayed that by 10-15 ms). A failure is left for the real import to report.
    """

    def load() -> None:
        if stop.wait(BACKGROUND_IMPORT_DELAY_S):
            return  # stopping: the main thread imports it if it still prints the summary
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


def _canvas(
    flow: Path, loaded: Flow | None, keep: int, host: str, port: int, token: str | None, echo: Callable[[str], None]
) -> CanvasServer:
    """The canvas of `flow`, serving; `loaded` None: it only watches (no parameters, no Run now)."""
    from flowkit.engine import flow_id_of
    from flowkit.web import CanvasServer, RunControl

    flow_id = loaded.flow_id if loaded is not None else flow_id_of(flow)
    control = RunControl(flowkit_home(), flow_id, loaded, keep_runs=keep, on_finished=echo)
    try:
        server = CanvasServer(flow, flowkit_home(), control, host=host, port=port, token=token, flow=loaded)
    except OSError as exc:
        raise ConfigurationError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
    return server.start()


def _announce_canvas(server: CanvasServer, echo: Callable[[str], None]) -> None:
    echo(f"flowkit ui: listening on {server.url} (flow '{server.flow_id}'); Ctrl+C stops it")
    if server.token is not None and server.generated_token:
        # shown once, here only: it is the key to the canvas
        echo(f"flowkit ui: access token generated; open {server.access_url}")


def _start_canvas(
    flow: Path,
    loaded: Flow,
    keep: int,
    host: str,
    port: int,
    token: str | None,
    stop: threading.Event,
    json_event: Callable[[dict[str, Any]], None] | None,
) -> CanvasServer:
    """`run --ui`: the canvas of this run; its lines go to stderr (as JSON events with --log-format json)."""

    def echo(line: str) -> None:
        if json_event is not None:
            json_event({"event": "ui", "message": line})
        else:
            click.echo(line, err=True)

    server = _canvas(flow, loaded, keep, host, port, token, echo)
    server.control.attach(stop)
    _announce_canvas(server, echo)
    return server


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@_parameter_options
@_ui_options("--host", "--port", "--token")
@click.option(
    "--watch-only",
    is_flag=True,
    help="Only watch runs of other processes: the flow's parameters (and secrets) are not needed; no Run now.",
)
def ui(
    flow: Path,
    overrides: tuple[str, ...],
    parameters_file: Path | None,
    host: str,
    port: int,
    token: str | None,
    watch_only: bool,
) -> None:
    """Serve the flow's canvas in a browser until Ctrl+C: the graph with live counts, bulletins, run history.

    The canvas shows runs of this flow whether they run here (its Run now button) or in another
    `flowkit run` on this machine (it reads $FLOWKIT_HOME). Its actions follow the CLI's rules:
    Run now (one --once pass; refused while the flow runs), Stop, Clear state (refused while the
    flow runs). It listens on 127.0.0.1 unless told otherwise; any other address needs an access
    token (--token, or one generated and printed once). The first line on stdout is the URL.
    With --watch-only it needs no parameter value or secret (the canvas has no Run now).

    \b
    Example:
        flowkit ui flows/example.yaml
        flowkit ui flows/example.yaml --host 127.0.0.1 -p "Greeting=hi"
        flowkit ui flows/jira_agile.yaml --watch-only

    \b
    Against your site (with JIRA_API_TOKEN exported):
        flowkit ui flows/jira_agile.yaml -p "Environment URL=https://<you>.atlassian.net" -p "Jira Email=<you>"
    """
    with _one_line_errors():
        if watch_only and (overrides or parameters_file):
            raise ConfigurationError("--watch-only: -p / --parameters are for runs started from the canvas")
        loaded = None if watch_only else _load(flow, overrides, parameters_file)
        keep = _keep_runs()

        def echo(line: str) -> None:
            click.echo(line)

        server = _canvas(flow, loaded, keep, host, port, token, echo)
    _announce_canvas(server, echo)
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            while not stop.wait(0.5):
                pass
    finally:
        echo("flowkit ui: stopping")
        server.control.shutdown()
        server.stop()


def _keep_runs() -> int:
    from flowkit.engine.history import keep_runs_from_env

    try:
        return keep_runs_from_env()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@_parameter_options
@click.option(
    "--check-connection",
    is_flag=True,
    help="Also ask the systems the flow talks to whether its credentials reach what it needs (reads only; "
    "exit 1 when something is not reachable).",
)
def validate(flow: Path, overrides: tuple[str, ...], parameters_file: Path | None, check_connection: bool) -> None:
    """Check a flow and its parameters without moving data (exit 2 on the first problem).

    With --check-connection, every component that can verify itself does (NiFi's "verify"):
    the Jira flow calls /myself and, on one board, each endpoint an enabled table needs, and
    says per table whether the token has the access it needs and what to grant. Nothing is
    written. Exit 0 when everything enabled is reachable, 1 when something is not.

    \b
    Example:
        flowkit validate flows/example.yaml -p "Greeting=hi"
        flowkit validate flows/jira_agile.yaml -p "Jira API Token=not-checked-without-a-connection"
        flowkit validate flows/example.yaml --check-connection

    \b
    Against your site (with JIRA_API_TOKEN exported):
        flowkit validate flows/jira_agile.yaml --check-connection \\
          -p "Environment URL=https://<you>.atlassian.net" -p "Jira Email=<you>"
    """
    with _one_line_errors():
        loaded = _load(flow, overrides, parameters_file)
    click.echo(
        f"{flow}: valid: flow '{loaded.name}' (id {loaded.flow_id}), {len(loaded.processors)} processors, "
        f"{len(loaded.connections)} connections, {len(loaded.services)} controller services"
    )
    if not check_connection:
        return
    from flowkit.engine.verification import Outcome, verify_flow

    with _one_line_errors():
        results = verify_flow(loaded)
    if not results:
        click.echo("no component of this flow has a connection to check")
        return
    marks = {Outcome.SUCCESSFUL: "ok", Outcome.FAILED: "FAILED", Outcome.SKIPPED: "skipped"}
    for item in results:  # one line per step: readable in a terminal, greppable in CI logs
        click.echo(f"{marks[item.result.outcome]:<7} {item.component}: {item.result.step} -- {item.result.explanation}")
    failed = [item for item in results if item.result.outcome is Outcome.FAILED]
    if failed:
        click.echo(f"{flow}: {len(failed)} check(s) FAILED; see 'grant:' above", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{flow}: every check passed")


@cli.group()
def state() -> None:
    """Inspect or reset the state stored under $FLOWKIT_HOME.

    \b
    Example:
        flowkit state show flows/example.yaml
        flowkit state clear flows/example.yaml
    """


@state.command("show")
@click.argument("flow", type=click.Path(path_type=Path), required=False)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the full state as one JSON document (values holding JSON objects/arrays decoded).",
)
def state_show(flow: Path | None, as_json: bool) -> None:
    """Print the stored state of one flow (or of every flow).

    The table shows each value on one line, long values cut to their first characters and
    their length; --json prints everything, for jq.

    \b
    Example:
        flowkit state show flows/example.yaml
        flowkit state show
        flowkit state show flows/jira_agile.yaml --json
    """
    from flowkit.engine import flow_id_of, show_state, state_document

    with _one_line_errors():
        flow_id = flow_id_of(flow) if flow else None
        if as_json:
            click.echo(json.dumps(state_document(flowkit_home(), flow_id), indent=2, ensure_ascii=False))
            return
        flows = show_state(flowkit_home(), flow_id)
    if not flows:
        click.echo(f"no state stored for {f'flow {flow_id!r}' if flow_id else 'any flow'} in {flowkit_home()}")
        return
    from flowkit.views import print_state

    print_state(flows)


@state.command("clear")
@click.argument("flow", type=click.Path(path_type=Path), required=False)
def state_clear(flow: Path | None) -> None:
    """Delete the stored state of one flow (or of every flow); refused while it runs.

    \b
    Example:
        flowkit state clear flows/example.yaml
    """
    from flowkit.engine import clear_state, flow_id_of

    with _one_line_errors():
        flow_id = flow_id_of(flow) if flow else None
        count = clear_state(flowkit_home(), flow_id)
    click.echo(f"cleared {count} state map(s) of {f'flow {flow_id!r}' if flow_id else 'every flow'}")


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON document, for scripts.")
@click.option(
    "--runs", "limit", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs to show."
)
def status(flow: Path | None, as_json: bool, limit: int) -> None:
    """Show whether a flow runs, its current state, its last runs and rows per destination table.

    Runs come from the run history in $FLOWKIT_HOME/state.db (the newest 100 runs per flow are
    kept; set FLOWKIT_HISTORY_RUNS to change that). Row counts are those recorded at the end of
    the newest run that merged. Without FLOW: every flow known under $FLOWKIT_HOME.

    \b
    Example:
        flowkit status flows/example.yaml
        flowkit status
        flowkit status flows/example.yaml --json --runs 1
    """
    from flowkit.engine import flow_id_of
    from flowkit.engine.history import status_document

    with _one_line_errors():
        flow_id = flow_id_of(flow) if flow else None
        document = status_document(flowkit_home(), flow_id, limit)
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    if not document or all(not entry["runs"] and not entry["state"]["components"] for entry in document.values()):
        click.echo(f"nothing recorded for {f'flow {flow_id!r}' if flow_id else 'any flow'} in {flowkit_home()}")
        return
    from flowkit.views import print_statuses

    print_statuses(document)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(GRAPH_FORMATS),
    default="mermaid",
    show_default=True,
    help="mermaid (renders in Markdown on GitHub/GitLab) or dot (Graphviz).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of stdout; a .svg or .png name renders the picture with Graphviz 'dot'.",
)
def graph(flow: Path, fmt: str, output: Path | None) -> None:
    """Print the flow's picture: processors (type, schedule), connections (relationships,
    back-pressure thresholds), controller services (and who uses them), parameters.

    Drawn from the flow file alone: no parameter value or secret is needed, sensitive
    parameters show as (sensitive).

    \b
    Example:
        flowkit graph flows/jira_agile.yaml
        flowkit graph flows/jira_agile.yaml --format dot
        flowkit graph flows/example.yaml --format dot -o example.dot

    With Graphviz installed, -o example.svg (or .png) writes the rendered picture.
    """
    from flowkit.engine.graph import RENDERED, describe, render, to_dot, to_mermaid

    with _one_line_errors():
        picture = describe(flow)
        if output is not None and output.suffix.lower().lstrip(".") in RENDERED:
            render(to_dot(picture), output)
            click.echo(f"wrote {output}", err=True)
            return
        text = to_dot(picture) if fmt == "dot" else to_mermaid(picture)
        if output is None:
            click.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"--output {output}: cannot write ({exc.strerror})") from None
    click.echo(f"wrote {output}", err=True)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (graceful stop) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _LazySimulatorGroup(click.Group):
    """`flowkit simulator ...`: the simulator package is imported only when one of its commands is asked
    for, so the product commands never load it."""

    def _real(self) -> click.Group:
        from flowkit.simulator.cli import simulator

        return simulator

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        return self._real().commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        pass  # click.Group.__init__ assigns an empty dict; the real group's commands are used instead


cli.add_command(
    _LazySimulatorGroup(
        "simulator",
        help="Local simulators of external systems (demos, tests, benchmarks).\n\n\b\nExample:\n"
        "    flowkit simulator jira --port 8080 --boards 20 --issues-per-board 500",
    ),
    "simulator",
)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: usage errors become one line too."""
    # pydantic validates flowkit's own models (the flow file) only. Its plugins are hooks on validation that
    # nothing attaches to these, and finding them reads every installed distribution's metadata (~5 ms before
    # a run's first request). The command sets it, the library does not; `PYDANTIC_DISABLE_PLUGINS=` (empty) keeps them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="flowkit", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"flowkit: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_CONFIGURATION)
    except click.Abort:
        click.echo("flowkit: aborted", err=True)
        sys.exit(130)
    finally:
        # The command is done and the process is about to end. Python's own clean-up at exit runs the
        # cyclic garbage collector over every object still alive while it tears the modules down: 0.10-0.17 s
        # after a `flowkit run` (benchmarks/cli_startup.py). Frozen objects are not visited; every file and
        # database was closed by the command itself, atexit handlers and thread joins still run, and the
        # memory goes back to the system with the process.
        gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
