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
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
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

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_CONFIGURATION = 2


def flowkit_home() -> Path:
    """``$FLOWKIT_HOME`` (default ``./.flowkit``): state database and run locks."""
    return Path(os.environ.get("FLOWKIT_HOME") or ".flowkit")


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn library errors into ``flowkit: error: ...`` on stderr and exit code 2."""
    try:
        yield
    except (ConfigurationError, FlowRunningError) as exc:
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
def run(flow: Path, once: bool, overrides: tuple[str, ...], parameters_file: Path | None) -> None:
    """Run a flow until SIGINT/SIGTERM, or one full pass with --once.

    Exit codes: 0 success, 1 the run completed with errors (ERROR bulletins) or was
    interrupted during --once, 2 configuration or usage error (one line on stderr), or the
    flow is already running.

    \b
    Example:
        flowkit run flows/example.yaml --once
        flowkit run flows/example.yaml -p "Greeting=hi" --parameters params.yaml
    """
    with _one_line_errors():
        loaded = _load(flow, overrides, parameters_file)
        stop = threading.Event()

        def announce() -> None:  # once running: a refused start stays a one-line error on stderr
            click.echo(
                f"flowkit: running flow '{loaded.flow_id}' (pid {os.getpid()}); Ctrl+C or SIGTERM stops it",
                err=True,
            )

        with _stop_on_signals(stop):
            report = run_flow(loaded, once=once, home=flowkit_home(), stop=stop, on_started=None if once else announce)
    print_summary(report)
    raise click.exceptions.Exit(report.exit_code)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@_parameter_options
def validate(flow: Path, overrides: tuple[str, ...], parameters_file: Path | None) -> None:
    """Check a flow and its parameters without moving data (exit 2 on the first problem).

    \b
    Example:
        flowkit validate flows/example.yaml
        flowkit validate flows/example.yaml -p "Greeting=hi"
    """
    with _one_line_errors():
        loaded = _load(flow, overrides, parameters_file)
    click.echo(
        f"{flow}: valid: flow '{loaded.name}' (id {loaded.flow_id}), {len(loaded.processors)} processors, "
        f"{len(loaded.connections)} connections, {len(loaded.services)} controller services"
    )


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
        flowkit state show flows/jira_agile.yaml --json | jq '.[].flow.data.run.phase'
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


def _state_table(flow_id: str, maps: Sequence[Mapping[str, Any]], width: int) -> Table:
    """One flow's state, one line per key; values are cut to the width the other columns leave."""
    rows: list[tuple[str, str, str, str]] = []
    for entry in maps:
        component = entry["component"] or "(flow)"
        for key, value in sorted(entry["data"].items()) or [("", "")]:
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
