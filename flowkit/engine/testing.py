"""Run one processor (or just controller services) alone, on the real engine: NiFi's ``TestRunners``.

The runner builds a one-processor flow in memory, enables its services through the engine, feeds it
FlowFiles through a real queue and triggers it on the calling thread with the engine's own
``StandardProcessSession`` (commit, rollback, staged state and counters behave exactly as in a run).
State lives in a real ``StateService`` under ``home`` (a temporary directory by default).

Example:
    >>> with TestRunner(UpdateAttribute) as runner:
    ...     runner.set_property("Attributes", "team=agile")
    ...     runner.enqueue(attributes={"a": "1"})
    ...     runner.run()
    ...     (out,) = runner.assert_transferred("success", 1)
    ...     assert out.attributes["team"] == "agile"
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from flowkit.engine.components import ControllerService, Processor
from flowkit.engine.errors import ConfigurationError
from flowkit.engine.flow import ConnectionConfig, Flow, ProcessorConfig, Scheduling, ServiceConfig
from flowkit.engine.flowfile import FlowFile
from flowkit.engine.properties import PropertyDescriptor, Relationship
from flowkit.engine.queues import Connection
from flowkit.engine.report import Bulletin
from flowkit.engine.runtime import FlowRuntime, ProcessorNode
from flowkit.engine.state import StateManager, StateService

__all__ = ["TestRunner"]

S = TypeVar("S", bound=ControllerService)
_OUTSIDE = "(test runner)"
_UNBOUNDED = 1 << 30


def _effective(
    owner: str, cls: type[Processor] | type[ControllerService], values: Mapping[str, str | None]
) -> dict[str, str | None]:
    """Property values with defaults applied, checked like flow validation does (one-line errors)."""
    known = {d.name for d in cls.properties}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigurationError(f"{owner}: unknown property '{unknown[0]}'")
    out: dict[str, str | None] = {}
    for descriptor in cls.properties:
        value = values.get(descriptor.name)
        if value is None or value == "":
            value = descriptor.default
        if value is None and descriptor.required:
            raise ConfigurationError(f"{owner}: property '{descriptor.name}' is required")
        if value is not None and descriptor.controller_service is None:
            problem = descriptor.validate(value)
            if problem:
                raise ConfigurationError(f"{owner}: property '{descriptor.name}': {problem}")
        out[descriptor.name] = value
    problem = cls.custom_validate(out)
    if problem:
        raise ConfigurationError(f"{owner}: {problem}")
    return out


class TestRunner:
    """One processor (``processor=None``: services only) on the real engine, triggered by the test.

    Configure with :meth:`set_property` and :meth:`add_service` (dependencies first), then
    :meth:`enqueue` FlowFiles and :meth:`run`; services are enabled and ``on_scheduled`` is called at the
    first ``enqueue``/``run``/``service``. Read what was transferred with :meth:`transferred` /
    :meth:`assert_transferred`, and :attr:`counters`, :attr:`bulletins`, :attr:`state`. A
    ``ConfigurationError`` raised by a hook (the run would stop with exit 2) is raised by :meth:`run`.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        processor: type[Processor] | None,
        *,
        name: str = "under test",
        home: Path | None = None,
        once: bool = True,
        flow_id: str = "test-flow",
    ) -> None:
        self.processor_type = processor
        self.name = name
        self.flow_id = flow_id
        self.once = once
        self._own_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="flowkit-test-")) if home is None else home
        self._properties: dict[str, str | None] = {}
        self._services: list[tuple[str, type[ControllerService], dict[str, str | None]]] = []
        self._runtime: FlowRuntime | None = None
        self._node: ProcessorNode | None = None
        self._input: Connection | None = None
        self._outputs: dict[str, Connection] = {}
        self._transferred: dict[str, list[FlowFile]] = {}
        self._state_service: StateService | None = None

    # -- configuration ----------------------------------------------------------------------------
    def set_property(self, descriptor: PropertyDescriptor | str, value: str | None) -> None:
        """Set a property of the processor (before the first run)."""
        self._not_started()
        self._properties[descriptor.name if isinstance(descriptor, PropertyDescriptor) else descriptor] = value

    def add_service(
        self, name: str, cls: type[ControllerService], properties: Mapping[str, str | None] | None = None
    ) -> None:
        """Add a controller service; a property that references it uses ``name`` as its value."""
        self._not_started()
        self._services.append((name, cls, dict(properties or {})))

    def _not_started(self) -> None:
        if self._runtime is not None:
            raise RuntimeError("the runner has started: configure it before enqueue/run/service")

    def _start(self) -> FlowRuntime:
        if self._runtime is not None:
            return self._runtime
        services = tuple(
            ServiceConfig(name, cls.__name__, cls, _effective(name, cls, props)) for name, cls, props in self._services
        )
        processors: tuple[ProcessorConfig, ...] = ()
        if self.processor_type is not None:
            props = _effective(self.name, self.processor_type, self._properties)
            config = ProcessorConfig(
                self.name, self.processor_type.__name__, self.processor_type, props, Scheduling(), frozenset()
            )
            processors = (config,)
        flow = Flow(Path("<test runner>"), self.flow_id, self.flow_id, {}, services, processors, ())
        self._state_service = StateService(self.home)
        runtime = FlowRuntime(flow, self._state_service, self.home, once=self.once, stop=threading.Event())
        if self.processor_type is not None:
            node = runtime.nodes[self.name]
            self._input = Connection(ConnectionConfig(_OUTSIDE, ("enqueue",), self.name, _UNBOUNDED))
            node.incoming.append(self._input)
            for relationship in self.processor_type.relationships:
                out = Connection(ConnectionConfig(self.name, (relationship.name,), _OUTSIDE, _UNBOUNDED))
                node.outgoing[relationship.name].append(out)
                self._outputs[relationship.name] = out
                self._transferred[relationship.name] = []
            self._node = node
        self._runtime = runtime
        try:
            started = runtime.start()
        except ConfigurationError:
            self.close()
            raise
        if not started:
            errors = "; ".join(b.message for b in runtime.board.all() if b.level == "ERROR")
            self.close()
            raise RuntimeError(f"start-up failed: {errors}")
        return runtime

    # -- driving --------------------------------------------------------------------------------
    def enqueue(
        self,
        content: bytes = b"",
        attributes: Mapping[str, str] | None = None,
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> FlowFile:
        """Queue a FlowFile for the processor (as if an upstream connection delivered it)."""
        self._start()
        if self._input is None:
            raise RuntimeError("no processor to enqueue for")
        flowfile = FlowFile(
            attributes=dict(attributes or {}), content=content, records=tuple(records) if records is not None else None
        )
        self._input.put(flowfile)
        return flowfile

    def run(self, iterations: int = 1, *, final_pass: bool = False) -> None:
        """Trigger the processor ``iterations`` times on this thread (each trigger commits or rolls back)."""
        runtime = self._start()
        if self._node is None:
            raise RuntimeError("no processor to run")
        for _ in range(iterations):
            runtime.trigger_now(self._node, final_pass=final_pass)
            for relationship, queue in self._outputs.items():
                self._transferred[relationship].extend(queue.drain())
            if runtime.fatal is not None:
                raise runtime.fatal

    # -- results --------------------------------------------------------------------------------
    def transferred(self, relationship: Relationship | str) -> list[FlowFile]:
        """Every FlowFile transferred to `relationship` so far, in order."""
        name = relationship.name if isinstance(relationship, Relationship) else relationship
        if name not in self._transferred:
            raise KeyError(f"{self.name} has no relationship '{name}'")
        return list(self._transferred[name])

    def assert_transferred(self, relationship: Relationship | str, count: int) -> list[FlowFile]:
        """Exactly `count` FlowFiles went to `relationship`; returns them."""
        got = self.transferred(relationship)
        assert len(got) == count, f"{len(got)} FlowFile(s) transferred to '{relationship}', expected {count}"
        return got

    def assert_all_transferred(self, relationship: Relationship | str, count: int) -> list[FlowFile]:
        """`count` FlowFiles went to `relationship` and none anywhere else."""
        name = relationship.name if isinstance(relationship, Relationship) else relationship
        others = {r: len(f) for r, f in self._transferred.items() if r != name and f}
        assert not others, f"FlowFiles also transferred to {others}"
        return self.assert_transferred(name, count)

    def queued(self) -> int:
        """FlowFiles still waiting in the processor's input queue (e.g. rolled back)."""
        return 0 if self._input is None else self._input.size()

    @property
    def counters(self) -> dict[str, int]:
        return self._start().counters()

    @property
    def bulletins(self) -> list[Bulletin]:
        return [] if self._runtime is None else self._runtime.board.all()

    def messages(self, level: str = "ERROR") -> list[str]:
        """Bulletin messages of one level ("WARNING" or "ERROR")."""
        return [b.message for b in self.bulletins if b.level == level]

    @property
    def state(self) -> StateManager:
        """The processor's state (component scope), as stored."""
        runtime = self._start()
        return StateManager(runtime.state, self.flow_id, self.name)

    def service(self, name: str, cls: type[S] = ControllerService) -> S:  # type: ignore[assignment]
        """The enabled service called `name`."""
        service = self._start().service(name)
        if not isinstance(service, cls):
            raise TypeError(f"service '{name}' is a {type(service).__name__}, not a {cls.__name__}")
        return service

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the processor, disable the services, close the state (and remove a temporary home)."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.shutdown()
        if self._state_service is not None:
            self._state_service.close()
            self._state_service = None
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> TestRunner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
