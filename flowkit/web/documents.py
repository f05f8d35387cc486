"""What the canvas shows, as JSON-ready documents built by pure functions from the engine's own data.

- `flow_document`: the flow's picture (`engine.graph.describe`) with a layout (a column per step
  of the graph, a row per processor in that step) and the parameters, sensitive values masked.
- `status_document`: the newest run's live counts per processor and connection, its phase and its
  bulletins per component, from a live `FlowStatus` (a run in this process) or the run history
  (a run in another process refreshes its row every 2 s).
- `run_summary` / `run_detail`: one run of the history for the list, the chart and the detail.

Nothing here reads a secret: parameter values come masked, and every text the history holds was
already redacted when it was stored. The server still passes every response through `redact`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from flowkit.engine.flow import Flow
from flowkit.engine.graph import FlowPicture
from flowkit.engine.status import FlowStatus

MASK = "***"
NOT_SET = "(not set)"
ROW_KINDS = ("inserted", "updated", "deleted", "unchanged")


def connection_id(source: str, relationships: Sequence[str], destination: str) -> str:
    """A connection's key on the canvas (a flow may not connect the same pair twice with the same relationships)."""
    return f"{source}|{','.join(relationships)}|{destination}"


def layout(picture: FlowPicture) -> dict[str, tuple[int, int]]:
    """Processor name -> (column, row): columns follow the longest path from a source, rows the YAML order.

    A flow with a loop has no longest path: its columns are the breadth-first distance from the sources.
    """
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(p.name for p in picture.processors)
    graph.add_edges_from((c.source, c.destination) for c in picture.connections if c.source != c.destination)
    column: dict[str, int] = {}
    if nx.is_directed_acyclic_graph(graph):
        for name in nx.topological_sort(graph):
            column[name] = max((column[p] + 1 for p in graph.predecessors(name)), default=0)
    else:
        sources = [n for n in graph if graph.in_degree(n) == 0] or [picture.processors[0].name]
        for source in sources:
            for name, distance in nx.single_source_shortest_path_length(graph, source).items():
                column[name] = min(column.get(name, distance), distance)
        for name in graph:
            column.setdefault(name, 0)
    rows: dict[int, int] = {}
    placed: dict[str, tuple[int, int]] = {}
    for processor in picture.processors:
        col = column[processor.name]
        placed[processor.name] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return placed


def parameters(flow: Flow | None, picture: FlowPicture) -> list[dict[str, Any]]:
    """The parameters as the run sees them (after providers and overrides), sensitive values masked.

    Without a loaded flow, the values written in the flow file (sensitive ones are never written there).
    """
    if flow is not None:
        return [
            {
                "context": p.context,
                "name": p.name,
                "value": (MASK if p.value else NOT_SET) if p.sensitive else (p.value if p.value is not None else ""),
                "sensitive": p.sensitive,
            }
            for p in flow.parameters.values()
        ]
    return [
        {"context": line.context, "name": line.name, "value": MASK if line.shown == "(sensitive)" else line.shown}
        | {"sensitive": line.shown == "(sensitive)"}
        for line in picture.parameters
    ]


def flow_document(picture: FlowPicture, flow_id: str, flow: Flow | None) -> dict[str, Any]:
    """The canvas's static part: processors (with their place), connections, services, parameters."""
    places = layout(picture)
    return {
        "flow_id": flow_id,
        "name": picture.name,
        "parameter_context": picture.parameter_context,
        "processors": [
            {
                "name": p.name,
                "type": p.type,
                "schedule": p.schedule,
                "relationships": list(p.relationships),
                "auto_terminated": list(p.auto_terminated),
                "services": list(p.services),
                "column": places[p.name][0],
                "row": places[p.name][1],
            }
            for p in picture.processors
        ],
        "connections": [
            {
                "id": connection_id(c.source, c.relationships, c.destination),
                "source": c.source,
                "destination": c.destination,
                "relationships": list(c.relationships),
                "back_pressure": c.back_pressure,
            }
            for c in picture.connections
        ],
        "services": [
            {"name": s.name, "type": s.type, "used_by": list(s.used_by), "depends_on": list(s.depends_on)}
            for s in picture.services
        ],
        "parameters": parameters(flow, picture),
    }


def rows_by_table(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``rows.<TABLE>.<kind>`` counters as {table: {inserted, updated, deleted, unchanged}}, in reported order."""
    grid: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        pieces = name.split(".")
        if len(pieces) == 3 and pieces[0] == "rows":
            grid.setdefault(pieces[1], dict.fromkeys(ROW_KINDS, 0))[pieces[2]] = value
    return grid


def requests_of(counters: Mapping[str, int], gauges: Mapping[str, object]) -> int:
    """Requests a run sent (the ``*.requests`` counters, as `flowkit status`; else a live gauge)."""
    counted = sum(v for k, v in counters.items() if k.endswith(".requests"))
    if counted:
        return counted
    return sum(v for k, v in gauges.items() if k.endswith(".requests") and isinstance(v, int))


def run_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """One history row for the run list and the chart."""
    tables = rows_by_table(run["counters"])
    levels = [b["level"] for b in run["bulletins"]]
    return {
        "run_id": run["run_id"],
        "outcome": run["outcome"],
        "mode": run["mode"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "duration_s": run["duration_s"],
        "requests": requests_of(run["counters"], run["gauges"]),
        "rows": {kind: sum(t[kind] for t in tables.values()) for kind in ROW_KINDS},
        "tables": tables,
        "warnings": levels.count("WARNING"),
        "errors": levels.count("ERROR"),
        "error": run["error"],
    }


def run_detail(run: Mapping[str, Any]) -> dict[str, Any]:
    """One run with everything the history keeps: bulletins, per-table counts, processors, gauges, row counts."""
    return {
        **run_summary(run),
        "bulletins": run["bulletins"],
        "bulletins_dropped": run["bulletins_dropped"] or 0,
        "counters": run["counters"],
        "gauges": run["gauges"],
        "processors": run["processors"],
        "row_counts": run["tables"],
    }


def _by_component(bulletins: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for bulletin in bulletins:
        grouped.setdefault(str(bulletin["component"]), []).append(bulletin)
    return grouped


def status_document(
    flow_id: str,
    *,
    running: bool,
    pid: int | None,
    in_process: bool,
    newest: Mapping[str, Any] | None,
    live: FlowStatus | None,
    state_maps: int,
) -> dict[str, Any]:
    """The canvas's moving part: whether the flow runs, and the newest run's counts, phase and bulletins.

    `live` (a run of this process, refreshed twice a second) wins over the history row of the same run
    for the counts; the bulletins always come from the history row (stored redacted).
    """
    document: dict[str, Any] = {
        "flow_id": flow_id,
        "running": running,
        "pid": pid,
        "in_process": in_process,
        "state_maps": state_maps,
        "run": None,
        "processors": {},
        "connections": {},
        "counters": {},
        "gauges": {},
        "phase": None,
        "bulletins": {},
    }
    if newest is None:
        return document
    processors: dict[str, dict[str, Any]] = {
        p["name"]: {
            "in": p["flowfiles_in"],
            "out": p["flowfiles_out"],
            "queued": p["queued"],
            "tasks": 0,
            "triggers": p["triggers"],
        }
        for p in newest["processors"]
    }
    connections = {
        connection_id(c["source"], c["relationships"], c["destination"]): {
            "queued": c["queued"],
            "threshold": c["threshold"],
        }
        for c in newest["connections"]
    }
    counters, gauges = dict(newest["counters"]), dict(newest["gauges"])
    if live is not None:
        processors = {
            p.name: {
                "in": p.flowfiles_in,
                "out": p.flowfiles_out,
                "queued": p.queued,
                "tasks": p.active_tasks,
                "triggers": p.triggers,
            }
            for p in live.processors
        }
        connections = {
            connection_id(c.source, c.relationships, c.destination): {"queued": c.queued, "threshold": c.threshold}
            for c in live.connections
        }
        counters, gauges = dict(live.counters), dict(live.gauges)
    summary = run_summary({**newest, "counters": counters, "gauges": gauges})
    if live is not None and newest["outcome"] == "running":
        summary["duration_s"] = round(live.elapsed_s, 1)
    document.update(
        run=summary,
        processors=processors,
        connections=connections,
        counters=counters,
        gauges=gauges,
        phase=gauges.get("phase"),
        bulletins=_by_component(newest["bulletins"]),
    )
    return document
