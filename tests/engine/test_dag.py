"""flowkit.engine.dag against networkx, which it replaces on the run path for acyclic graphs."""

from __future__ import annotations

import random
from pathlib import Path

import networkx as nx
import pytest

from flowkit.engine import Flow, load_flow
from flowkit.engine.dag import has_cycle, ordered, reachable
from tests.engine.helpers import write_flow

ROOT = Path(__file__).resolve().parents[2]


def _random_graphs(count: int, *, acyclic: bool) -> list[tuple[list[str], list[tuple[str, str]]]]:
    rng = random.Random(9)
    graphs = []
    for _ in range(count):
        size = rng.randint(1, 9)
        nodes = [f"n{i}" for i in rng.sample(range(20), size)]  # YAML order is not name order
        edges = []
        for _ in range(rng.randint(0, size * 2)):
            a, b = rng.randrange(size), rng.randrange(size)
            if acyclic and a >= b:
                a, b = min(a, b), max(a, b)
                if a == b:
                    continue
            edges.append((nodes[a], nodes[b]))
        if acyclic:  # shuffle the node list so the acyclic order is not the list order
            nodes = rng.sample(nodes, len(nodes))
        graphs.append((nodes, edges))
    return graphs


@pytest.mark.parametrize("acyclic", [True, False])
def test_ordered_is_networkx_lexicographical_topological_sort(acyclic: bool) -> None:
    cyclic_seen = 0
    for nodes, edges in _random_graphs(400, acyclic=acyclic):
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        graph.add_edges_from(edges)
        position = {n: i for i, n in enumerate(nodes)}
        got = ordered(nodes, edges, position.__getitem__)
        if nx.is_directed_acyclic_graph(graph):
            assert got == list(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
            assert not has_cycle(nodes, edges)
        else:
            cyclic_seen += 1
            assert got is None
            assert has_cycle(nodes, edges)
    assert acyclic or cyclic_seen > 100  # the random graphs did exercise cycles


def test_a_self_loop_and_parallel_edges() -> None:
    assert ordered(["a", "b"], [("a", "a")], {"a": 0, "b": 1}.__getitem__) is None
    assert ordered(["b", "a"], [("a", "b"), ("a", "b")], {"b": 0, "a": 1}.__getitem__) == ["a", "b"]


def test_reachable_is_sources_and_networkx_descendants() -> None:
    for nodes, edges in _random_graphs(300, acyclic=False):
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        graph.add_edges_from(edges)
        sources = nodes[: len(nodes) // 3]
        expected = set(sources).union(*(nx.descendants(graph, s) for s in sources))
        assert reachable(sources, edges) == expected


def _networkx_topological_order(flow: Flow) -> list[str]:
    """What Flow.topological_order computed with networkx for every flow before flowkit/engine/dag.py."""
    condensed = nx.condensation(nx.DiGraph(flow.graph()))
    position = {p.name: i for i, p in enumerate(flow.processors)}
    order: list[str] = []
    for component in nx.lexicographical_topological_sort(
        condensed, key=lambda c: min(position[n] for n in condensed.nodes[c]["members"])
    ):
        order.extend(sorted(condensed.nodes[component]["members"], key=position.__getitem__))
    return order


LOOP_FLOW = """\
flowkit: 1
process_group: {name: Loop Flow}
processors:
  - {name: Log, type: LogAttribute}
  - {name: Retry, type: LogAttribute}
  - {name: Generate, type: GenerateFlowFile}
  - {name: Route, type: LogAttribute, auto_terminate: [success]}
connections:
  - {source: Generate, relationships: [success], destination: Retry}
  - {source: Retry, relationships: [success], destination: Log}
  - {source: Log, relationships: [success], destination: Retry}
  - {source: Generate, relationships: [success], destination: Route}
"""


def test_topological_order_of_loaded_flows_is_unchanged(tmp_path: Path) -> None:
    jira = load_flow(ROOT / "flows" / "jira_agile.yaml", env={}, overrides={"Jira API Token": "t"})
    assert jira.topological_order() == _networkx_topological_order(jira)
    assert jira.topological_order()[0] == "VerifyConnection" and jira.topological_order()[-1] == "MergeTables"
    loop = load_flow(write_flow(tmp_path, LOOP_FLOW), env={})  # a cycle: the networkx path
    assert loop.topological_order() == _networkx_topological_order(loop) == ["Generate", "Log", "Retry", "Route"]
