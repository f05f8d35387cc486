"""What the CLI prints with rich: a run's summary, the stored state (`state show`), the run history (`status`).

A module of its own so that `flowkit/cli.py` imports rich only in the commands that print one of these
(`flowkit --help` stays fast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from flowkit.engine.report import RunReport


def print_state(flows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """`flowkit state show`: one table per flow, fitted to the terminal's width."""
    console = Console()
    for flow_id, maps in flows.items():
        console.print(_state_table(flow_id, maps, console.width))


def print_statuses(document: Mapping[str, Mapping[str, Any]]) -> None:
    """`flowkit status`: each flow of `flowkit.engine.history.status_document`."""
    console = Console()
    for flow_id, entry in document.items():
        print_status(flow_id, entry, console)


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
