"""The `flowkit` command: a thin click shell where each command calls one library function."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from flowkit.engine import (
    ConfigurationError,
    Flow,
    FlowRunningError,
    RunReport,
    clear_state,
    flow_id_of,
    load_flow,
    parse_override,
    run_flow,
    show_state,
    state_document,
)
from flowkit.engine.graph import FORMATS, RENDERED, describe, render, to_dot, to_mermaid
from flowkit.engine.history import keep_runs_from_env, status_document
from flowkit.engine.status import FlowStatus
from flowkit.engine.verification import Outcome, verify_flow
from flowkit.terminal import Progress, Redactor, summary_document

if TYPE_CHECKING:
    from flowkit.web import CanvasServer

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
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

        canvas = None
        if with_ui:
            canvas = _start_canvas(flow, loaded, keep, host, port, token, stop, progress.event if json_mode else None)
        listeners = [progress.update] if progress.wants_status else []
        if canvas is not None:
            listeners.append(canvas.control.update)

        def on_status(status: FlowStatus) -> None:
            for listener in listeners:
                listener(status)

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
        print_summary(report)
    ctx.exit(report.exit_code)


def _canvas(
    flow: Path, loaded: Flow | None, keep: int, host: str, port: int, token: str | None, echo: Callable[[str], None]
) -> CanvasServer:
    """The canvas of `flow`, serving; `loaded` None: it only watches (no parameters, no Run now)."""
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
    with _one_line_errors():
        flow_id = flow_id_of(flow) if flow else None
        if as_json:
            click.echo(json.dumps(state_document(flowkit_home(), flow_id), indent=2, ensure_ascii=False))
            return
        flows = show_state(flowkit_home(), flow_id)
    if not flows:
        click.echo(f"no state stored for {f'flow {flow_id!r}' if flow_id else 'any flow'} in {flowkit_home()}")
        return
    console = Console()
    for each_flow, maps in flows.items():
        console.print(_state_table(each_flow, maps, console.width))


VALUE_WIDTH = (30, 76)  # the value column of `state show`: at least 30 characters, at most about 60 + its length
STATE_COLUMNS = ("component", "version", "key", "value")


FOLD_AT = 4  # more keys than this under one "a/b/" prefix are shown as one line (e.g. a run's per-board records)


def folded_keys(data: Mapping[str, str]) -> list[tuple[str, str]]:
    """(key, value) lines of one state map, sorted; a family of keys sharing a prefix up to their last "/"
    that has more than FOLD_AT members becomes one line ``prefix*`` saying how many (--json shows them)."""
    families: dict[str, int] = {}
    for key in data:
        if "/" in key:
            prefix = key[: key.rindex("/") + 1]
            families[prefix] = families.get(prefix, 0) + 1
    lines: dict[str, str] = {}
    for key, value in data.items():
        prefix = key[: key.rindex("/") + 1] if "/" in key else ""
        if prefix and families[prefix] > FOLD_AT:
            lines[prefix + "*"] = f"{families[prefix]} keys (--json shows them)"
        else:
            lines[key] = value
    return sorted(lines.items())


def _state_table(flow_id: str, maps: Sequence[Mapping[str, Any]], width: int) -> Table:
    """One flow's state, one line per key (large key families folded); values cut to the width left."""
    rows: list[tuple[str, str, str, str]] = []
    for entry in maps:
        component = entry["component"] or "(flow)"
        for key, value in folded_keys(entry["data"]) or [("", "")]:
            rows.append((component, str(entry["version"]), key, value))
    others = sum(max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(STATE_COLUMNS[:3]))
    separators = 3 * (len(STATE_COLUMNS) - 1)  # with SIMPLE_HEAD, no edge: one space of padding each side
    budget = max(VALUE_WIDTH[0], min(VALUE_WIDTH[1], width - others - separators))
    table = Table(
        title=f"state of flow '{flow_id}'", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    table.add_column("component", overflow="fold")
    table.add_column("version", justify="right")
    table.add_column("key", overflow="fold")
    table.add_column("value", no_wrap=True, overflow="ellipsis", max_width=budget)
    for component, version, key, value in rows:
        table.add_row(Text(component), version, Text(key), _value_cell(value, budget))
    return table


PROSE_MAX = 300  # plain-text values up to this length are meant to be read whole (e.g. a progress line)


def _value_cell(value: str, budget: int) -> Text:
    """A JSON document or a long value is cut to one line (`--json` shows it whole); short prose wraps."""
    flat = " ".join(value.split())
    if len(flat) <= PROSE_MAX and not flat.startswith(("{", "[")):
        return Text(flat, no_wrap=False, overflow="fold")
    return Text(one_line(value, budget))


def one_line(value: str, width: int) -> str:
    """`value` on one line (whitespace runs collapsed), at most `width` characters: cut ones end in their length."""
    flat = " ".join(value.split())
    if len(flat) <= width:
        return flat
    suffix = f"… ({len(value)} chars)"
    return flat[: max(1, width - len(suffix))] + suffix


@state.command("clear")
@click.argument("flow", type=click.Path(path_type=Path), required=False)
def state_clear(flow: Path | None) -> None:
    """Delete the stored state of one flow (or of every flow); refused while it runs.

    \b
    Example:
        flowkit state clear flows/example.yaml
    """
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
    with _one_line_errors():
        flow_id = flow_id_of(flow) if flow else None
        document = status_document(flowkit_home(), flow_id, limit)
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    if not document or all(not entry["runs"] and not entry["state"]["components"] for entry in document.values()):
        click.echo(f"nothing recorded for {f'flow {flow_id!r}' if flow_id else 'any flow'} in {flowkit_home()}")
        return
    console = Console()
    for each_flow, entry in document.items():
        print_status(each_flow, entry, console)


def print_status(flow_id: str, entry: Mapping[str, Any], console: Console) -> None:
    """One flow's status as text: headline, short state values, runs, the newest run's details, row counts."""
    runs = entry["runs"]
    if entry["running"]:
        headline = f"flow '{flow_id}': running (pid {entry['pid']})"
    else:
        last = f"; last run {runs[0]['outcome']}, started {_when(runs[0]['started_at'])}" if runs else ""
        headline = f"flow '{flow_id}': not running{last}"
    console.print(Text(headline, style="bold"))
    state_lines = [
        (name, key, value)
        for name, stored in [("(flow)", entry["state"]["flow"]), *entry["state"]["components"].items()]
        if stored
        for key, value in stored["data"].items()
        if isinstance(value, str) and len(value) <= PROSE_MAX
    ]
    if state_lines:
        table = Table(title="state", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("component", "key", "value"):
            table.add_column(column, overflow="fold")
        for name, key, value in state_lines:
            table.add_row(Text(name), Text(key), Text(value))
        console.print(table)
    if runs:
        console.print(_runs_table(runs))
        console.print(_run_detail(runs[0]))
    if entry["tables"]:
        table = Table(
            title="rows per destination table",
            title_justify="left",
            caption=f"counted at the end of run #{entry['tables_run_id']}",
            caption_justify="left",
            min_width=44,
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, rows in entry["tables"].items():
            table.add_row(name, str(rows))
        console.print(table)


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ") + (" UTC" if iso else "")


def _runs_table(runs: Sequence[Mapping[str, Any]]) -> Table:
    """One line per run: rows are summed over tables as +inserted ~updated -deleted."""
    table = Table(
        title="last runs (newest first)", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    table.add_column("run", justify="right")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("requests", justify="right")
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("bulletins", justify="right", no_wrap=True)
    style = {"failed": "red", "error": "red", "died": "red", "interrupted": "yellow", "running": "cyan"}
    for run in runs:
        counters = run["counters"]
        sums = [
            sum(v for k, v in counters.items() if k.startswith("rows.") and k.endswith("." + kind))
            for kind in ("inserted", "updated", "deleted")
        ]
        levels = [b["level"] for b in run["bulletins"]]
        table.add_row(
            f"#{run['run_id']}",
            _when(run["started_at"])[:16],
            f"{run['duration_s']:.1f}s" if run["duration_s"] is not None else "",
            Text(run["outcome"], style=style.get(run["outcome"], "green")),
            str(sum(v for k, v in counters.items() if k.endswith(".requests"))),
            f"+{sums[0]} ~{sums[1]} -{sums[2]}",
            f"{levels.count('WARNING')}W {levels.count('ERROR')}E",
        )
    return table


def _run_detail(run: Mapping[str, Any]) -> Group:
    """The newest run: per-table merge counts and its bulletins."""
    parts: list[Any] = []
    grid: dict[str, dict[str, int]] = {}
    for name, value in run["counters"].items():
        pieces = name.split(".")
        if len(pieces) == 3 and pieces[0] == "rows":
            grid.setdefault(pieces[1], {})[pieces[2]] = value
    if grid:
        columns = list(dict.fromkeys(c for row in grid.values() for c in row))
        table = Table(
            title=f"run #{run['run_id']}: merged rows", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
        )
        table.add_column("table")
        for column in columns:
            table.add_column(column, justify="right")
        for name, row in grid.items():
            table.add_row(name, *(str(row.get(c, 0)) for c in columns))
        parts.append(table)
    if run["error"]:
        parts.append(Text(f"run #{run['run_id']} stopped: {run['error']}", style="red"))
    bulletins = run["bulletins"]
    if bulletins:
        table = Table(
            title=f"run #{run['run_id']}: bulletins", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
        )
        for column in ("level", "component", "message"):
            table.add_column(column, overflow="fold")
        for bulletin in bulletins[:20]:
            style = "red" if bulletin["level"] == "ERROR" else "yellow"
            table.add_row(Text(bulletin["level"], style=style), Text(bulletin["component"]), Text(bulletin["message"]))
        more = len(bulletins) - 20 + (run["bulletins_dropped"] or 0)
        parts.append(table)
        if more > 0:
            parts.append(Text(f"... and {more} more (flowkit status --json shows the stored ones)"))
    return Group(*parts)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
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


def print_summary(report: RunReport, console: Console | None = None) -> None:
    """Counters (``a.B.c`` names as a grid), bulletins and duration of a run.

    Grid rows and columns keep the order in which the flow first reported them (e.g. tables in
    merge order, then inserted / updated / deleted / unchanged); other counters are sorted.
    """
    console = console or Console()
    grouped: dict[str, dict[str, dict[str, int]]] = {}
    plain: dict[str, int] = {}
    for name, value in report.counters.items():
        parts = name.split(".")
        if len(parts) == 3:
            grouped.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            plain[name] = value
    plain = dict(sorted(plain.items()))
    for group, rows in grouped.items():
        columns = list(dict.fromkeys(column for row in rows.values() for column in row))
        table = Table(title=group)
        table.add_column(group)
        for column in columns:
            table.add_column(column, justify="right")
        for row_name, row in rows.items():
            table.add_row(row_name, *(str(row.get(column, 0)) for column in columns))
        console.print(table)
    if plain:
        table = Table(title="counters")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for name, value in plain.items():
            table.add_row(name, str(value))
        console.print(table)
    if report.bulletins:
        table = Table(title="bulletins")
        for column in ("level", "component", "message"):
            table.add_column(column, overflow="fold")
        for bulletin in report.bulletins:
            style = "red" if bulletin.level == "ERROR" else "yellow"
            table.add_row(Text(bulletin.level, style=style), Text(bulletin.component), Text(bulletin.message))
        console.print(table)
    outcome = "interrupted" if report.interrupted else ("FAILED" if report.failed else "succeeded")
    console.print(f"flow '{report.flow_id}' {outcome} in {report.duration_s:.2f} s (exit code {report.exit_code})")


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
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="flowkit", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"flowkit: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_CONFIGURATION)
    except click.Abort:
        click.echo("flowkit: aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
