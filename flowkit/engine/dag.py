"""Order and reachability of the small graphs a flow file declares, without networkx.

Loading a flow orders its controller services, checks parameter-context inheritance for cycles,
finds unreachable processors, and a ``--once`` run orders its processors for the final pass. For the
acyclic graphs every valid flow has, these are a few lines of standard library; importing networkx
for them cost ~0.1 s of CPU before a run's first request (benchmarks/cli_startup.py). networkx stays
the tool where a graph has a cycle: naming the cycle in an error message, condensing a processor loop.
`tests/engine/test_dag.py` checks these functions against networkx on many graphs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def ordered(nodes: Iterable[N], edges: Iterable[tuple[N, N]], key: Callable[[N], int]) -> list[N] | None:
    """`nodes` in topological order, among the nodes ready at each step the one with the smallest
    ``key`` first (networkx's ``lexicographical_topological_sort`` with unique integer keys);
    None if the graph has a cycle (a self-loop included). Edge ends must be among `nodes`."""
    successors: dict[N, set[N]] = {node: set() for node in nodes}
    indegree = dict.fromkeys(successors, 0)
    for source, target in edges:
        if target not in successors[source]:  # parallel edges count once, as in a DiGraph
            successors[source].add(target)
            indegree[target] += 1
    ready = [(key(node), node) for node, degree in indegree.items() if degree == 0]
    heapq.heapify(ready)
    order: list[N] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for successor in successors[node]:
            indegree[successor] -= 1
            if indegree[successor] == 0:
                heapq.heappush(ready, (key(successor), successor))
    return order if len(order) == len(successors) else None


def has_cycle(nodes: Iterable[N], edges: Iterable[tuple[N, N]]) -> bool:
    """Whether the directed graph has a cycle (a self-loop included)."""
    position: dict[N, int] = {}
    for node in nodes:
        position.setdefault(node, len(position))
    return ordered(position, edges, position.__getitem__) is None


def reachable(sources: Iterable[N], edges: Iterable[tuple[N, N]]) -> set[N]:
    """`sources` and every node a path of `edges` leads to from one of them."""
    successors: dict[N, list[N]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
    seen = set(sources)
    stack = list(seen)
    while stack:
        for successor in successors.get(stack.pop(), ()):
            if successor not in seen:
                seen.add(successor)
                stack.append(successor)
    return seen
