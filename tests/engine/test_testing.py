"""flowkit.engine.testing: processors run alone on the real engine, and the engine API has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from flowkit.engine import (
    ConfigurationError,
    ProcessContext,
    Processor,
    ProcessSession,
    PropertyDescriptor,
    Relationship,
    Scope,
)
from flowkit.engine.standard import CountFlowFiles, RouteOnAttribute, UpdateAttribute
from flowkit.engine.testing import TestRunner

ENGINE = Path(__file__).resolve().parents[2] / "flowkit" / "engine"


def test_update_attribute_alone() -> None:
    with TestRunner(UpdateAttribute) as runner:
        runner.set_property("Attributes", "team=agile; tier=1")
        runner.enqueue(b"x", {"a": "1"})
        runner.enqueue(b"y")
        runner.run(2)
        first, second = runner.assert_all_transferred("success", 2)
        assert first.attributes["team"] == "agile" and first.attributes["a"] == "1" and first.content == b"x"
        assert second.attributes["tier"] == "1"
        assert runner.queued() == 0


def test_route_on_attribute_to_each_relationship() -> None:
    with TestRunner(RouteOnAttribute) as runner:
        runner.set_property(RouteOnAttribute.ATTRIBUTE, "kind")
        runner.set_property(RouteOnAttribute.VALUE, "bug")
        for kind in ("bug", "story", "bug"):
            runner.enqueue(attributes={"kind": kind})
        runner.run(3)
        assert len(runner.assert_transferred(RouteOnAttribute.REL_MATCHED, 2)) == 2
        runner.assert_transferred("unmatched", 1)


def test_counters_are_applied_at_commit() -> None:
    with TestRunner(CountFlowFiles) as runner:
        for _ in range(3):
            runner.enqueue()
        runner.run(3)
        assert runner.counters == {"flowfiles.counted": 3}


def test_bad_properties_are_refused_like_flow_validation() -> None:
    runner = TestRunner(UpdateAttribute)
    with pytest.raises(ConfigurationError, match="'Attributes' is required"):
        runner.run()
    runner.close()
    runner = TestRunner(UpdateAttribute)
    runner.set_property("Nope", "1")
    with pytest.raises(ConfigurationError, match="unknown property 'Nope'"):
        runner.run()
    runner.close()


class _Stateful(Processor):
    """Counts triggers in session-staged state; fails (rolls back) when asked to."""

    FAIL = PropertyDescriptor("Fail", default="false")
    properties = (FAIL,)
    REL_SUCCESS = Relationship("success")
    relationships = (REL_SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfile = session.get()
        if flowfile is None:
            return
        seen = int(session.get_state().get("seen") or 0)
        session.set_state({"seen": str(seen + 1)})
        session.transfer(flowfile, self.REL_SUCCESS)
        if context.property(self.FAIL).as_bool():
            raise RuntimeError("boom")


def test_commit_publishes_state_and_an_exception_rolls_everything_back() -> None:
    with TestRunner(_Stateful) as runner:
        runner.enqueue()
        runner.run()
        assert runner.state.get(Scope.COMPONENT).get("seen") == "1"
        runner.assert_transferred("success", 1)
    with TestRunner(_Stateful) as runner:
        runner.set_property("Fail", "true")
        runner.enqueue()
        runner.run()
        runner.assert_transferred("success", 0)
        assert runner.queued() == 1  # back in its queue (penalized)
        assert runner.state.get().version is None
        assert any("boom" in m for m in runner.messages("ERROR"))


def test_the_engine_modules_import_each_other_without_cycles() -> None:
    """components/context/runtime/session used to import each other (under TYPE_CHECKING too)."""
    graph = nx.DiGraph()
    for path in ENGINE.glob("*.py"):
        module = f"flowkit.engine.{path.stem}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flowkit.engine."):
                graph.add_edge(module, node.module)
    assert list(nx.simple_cycles(graph)) == []
    # the public API module depends only on the engine's leaf modules
    assert set(graph.successors("flowkit.engine.api")) <= {
        "flowkit.engine.flowfile",
        "flowkit.engine.properties",
        "flowkit.engine.state",
    }
