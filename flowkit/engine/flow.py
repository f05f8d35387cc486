"""A loaded, validated flow: what `load_flow` returns and `run_flow` runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flowkit.engine.components import ControllerService, Processor
from flowkit.engine.dag import ordered
from flowkit.engine.parameters import Parameter

if TYPE_CHECKING:
    import networkx as nx


def slugify(name: str) -> str:
    """The flow id derived from a process group name.

    Example:
        >>> slugify("Atlassian Jira Cloud (Agile)")
        'atlassian-jira-cloud-agile'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "flow"


@dataclass(frozen=True)
class ServiceConfig:
    """A controller service with its effective property values (parameters substituted, defaults applied)."""

    name: str
    type_name: str
    cls: type[ControllerService]
    properties: dict[str, str | None]

    def dependencies(self) -> list[str]:
        """Names of the services this one references."""
        return [
            value
            for descriptor in self.cls.properties
            if descriptor.controller_service is not None and (value := self.properties.get(descriptor.name)) is not None
        ]


@dataclass(frozen=True)
class Scheduling:
    """Timer-driven scheduling, in seconds."""

    run_schedule_s: float = 0.0
    concurrent_tasks: int = 1
    penalty_s: float = 30.0
    yield_s: float = 1.0


@dataclass(frozen=True)
class ProcessorConfig:
    """A processor with its effective property values and scheduling."""

    name: str
    type_name: str
    cls: type[Processor]
    properties: dict[str, str | None]
    scheduling: Scheduling
    auto_terminate: frozenset[str]


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection between two processors (an in-memory queue at run time)."""

    source: str
    relationships: tuple[str, ...]
    destination: str
    back_pressure_object_threshold: int


@dataclass(frozen=True)
class Flow:
    """A validated flow, ready to run.

    Attributes:
        path: the flow file.
        flow_id: slug of the process group name, or its explicit ``id``.
        name: the process group name.
        parameters: the bound context's parameters (values may be sensitive: never print them).
        services: controller services in dependency order (enable in this order, disable reversed).
        processors: processors in YAML order.
        connections: connections in YAML order.
    """

    path: Path
    flow_id: str
    name: str
    parameters: dict[str, Parameter] = field(repr=False)
    services: tuple[ServiceConfig, ...]
    processors: tuple[ProcessorConfig, ...]
    connections: tuple[ConnectionConfig, ...]

    def graph(self) -> nx.MultiDiGraph:
        """Processors as nodes, one edge per connection."""
        import networkx as nx  # deferred: costly to import (flowkit/engine/dag.py)

        graph: nx.MultiDiGraph = nx.MultiDiGraph()
        graph.add_nodes_from(p.name for p in self.processors)
        for connection in self.connections:
            graph.add_edge(connection.source, connection.destination)
        return graph

    def processor(self, name: str) -> ProcessorConfig:
        """The processor with this name."""
        return next(p for p in self.processors if p.name == name)

    def topological_order(self) -> list[str]:
        """Processor names, upstream first (cycles are broken in YAML order)."""
        position = {p.name: i for i, p in enumerate(self.processors)}
        order = ordered(position, ((c.source, c.destination) for c in self.connections), position.__getitem__)
        if order is not None:  # no cycle: networkx (costly to import) is not needed (flowkit/engine/dag.py)
            return order
        import networkx as nx

        condensed = nx.condensation(nx.DiGraph(self.graph()))
        order = []
        for component in nx.lexicographical_topological_sort(
            condensed, key=lambda c: min(position[n] for n in condensed.nodes[c]["members"])
        ):
            order.extend(sorted(condensed.nodes[component]["members"], key=position.__getitem__))
        return order
