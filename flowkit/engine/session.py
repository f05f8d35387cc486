"""ProcessSession: the transactional unit of work of one trigger.

Everything a session does (FlowFiles taken, created, changed, transferred or removed; counters;
staged state) becomes visible at `commit`, all at once, or is undone by `rollback`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flowkit.engine.errors import FlowFileHandlingError, StateConflictError
from flowkit.engine.flow import ProcessorConfig
from flowkit.engine.flowfile import FlowFile, new_uuid
from flowkit.engine.properties import Relationship
from flowkit.engine.queues import Connection
from flowkit.engine.state import Scope, StateManager, StateMap, StateService, StateUpdate


class SessionNode(Protocol):
    """What a session needs of its processor node (runtime.ProcessorNode)."""

    name: str
    config: ProcessorConfig
    state: StateManager

    @property
    def outgoing(self) -> Mapping[str, list[Connection]]: ...

    def poll(self, limit: int) -> list[tuple[FlowFile, Connection, int]]: ...

    def count_io(self, taken: int, transferred: int) -> None: ...


class SessionRuntime(Protocol):
    """What a session needs of the run (runtime.FlowRuntime)."""

    state: StateService

    @property
    def flow_id(self) -> str: ...

    def add_counters(self, deltas: Mapping[str, int]) -> None: ...

    def forget_failures(self, uuids: Mapping[str, object]) -> None: ...

    def record_failure(self, node: Any, uuid: str) -> bool: ...

    def wake(self) -> None: ...


@dataclass(frozen=True)
class _Pulled:
    original: FlowFile
    connection: Connection
    sequence: int


class StandardProcessSession:
    """One processor's unit of work (implements `api.ProcessSession`); not thread-safe; reusable after
    commit or rollback.

    Example:
        >>> ff = session.get()
        >>> if ff is not None:
        ...     ff = session.put_attributes(ff, {"seen": "true"})
        ...     session.transfer(ff, REL_SUCCESS)
    """

    def __init__(self, node: SessionNode, runtime: SessionRuntime) -> None:
        self._node = node
        self._runtime = runtime
        self._reset()
        self.did_work = False  # something was pulled or transferred in this trigger (for bored yields)

    def _reset(self) -> None:
        self._pulled: dict[str, _Pulled] = {}
        self._live: dict[str, FlowFile] = {}  # latest version of each FlowFile not yet transferred/removed
        self._transfers: list[tuple[FlowFile, str]] = []
        self._removed: list[FlowFile] = []
        self._penalized: set[str] = set()
        self._counters: Counter[str] = Counter()
        self._state_read: dict[Scope, StateMap] = {}
        self._state_staged: dict[Scope, dict[str, str]] = {}

    # -- FlowFiles -----------------------------------------------------------------------------
    def get(self) -> FlowFile | None:
        """The oldest non-penalized FlowFile of the incoming queues, or None."""
        batch = self.get_batch(1)
        return batch[0] if batch else None

    def get_batch(self, n: int) -> list[FlowFile]:
        """Up to `n` non-penalized FlowFiles from the incoming queues, oldest first."""
        taken: list[FlowFile] = []
        for flowfile, connection, sequence in self._node.poll(n):
            self._pulled[flowfile.uuid] = _Pulled(flowfile, connection, sequence)
            self._live[flowfile.uuid] = flowfile
            taken.append(flowfile)
        if taken:
            self.did_work = True
        return taken

    def create(
        self,
        parent: FlowFile | None = None,
        attributes: Mapping[str, str] | None = None,
        content: bytes = b"",
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> FlowFile:
        """A new FlowFile; a child inherits its parent's attributes (not its uuid)."""
        merged = dict(parent.attributes) if parent is not None else {}
        merged.update(_without_uuid(attributes or {}))
        flowfile = FlowFile(attributes=merged, content=content, records=tuple(records) if records is not None else None)
        self._live[flowfile.uuid] = flowfile
        return flowfile

    def put_attributes(self, flowfile: FlowFile, attributes: Mapping[str, str]) -> FlowFile:
        """The new version of `flowfile` with `attributes` added or replaced (``uuid`` is ignored)."""
        current = self._check_live(flowfile)
        return self._update(current.evolve(attributes={**current.attributes, **_without_uuid(attributes)}))

    def write(
        self,
        flowfile: FlowFile,
        content: bytes | None = None,
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> FlowFile:
        """The new version of `flowfile` with its content and/or records replaced."""
        current = self._check_live(flowfile)
        changes: dict[str, Any] = {}
        if content is not None:
            changes["content"] = content
        if records is not None:
            changes["records"] = tuple(records)
        return self._update(current.evolve(**changes))

    def transfer(self, flowfile: FlowFile, relationship: Relationship | str) -> None:
        """Send `flowfile` to every connection of `relationship` at commit (fan-out copies get new uuids)."""
        name = relationship.name if isinstance(relationship, Relationship) else relationship
        if self._node.config.cls.relationship(name) is None:
            raise FlowFileHandlingError(f"{self._node.name}: '{name}' is not a relationship of this processor")
        current = self._check_live(flowfile)
        del self._live[current.uuid]
        self._transfers.append((current, name))
        self.did_work = True

    def remove(self, flowfile: FlowFile) -> None:
        """Drop `flowfile` at commit."""
        current = self._check_live(flowfile)
        del self._live[current.uuid]
        self._removed.append(current)
        self.did_work = True

    def penalize(self, flowfile: FlowFile) -> FlowFile:
        """Mark `flowfile` so it waits out the processor's penalty duration in the next queue."""
        current = self._check_live(flowfile)
        self._penalized.add(current.uuid)
        return current

    def adjust_counter(self, name: str, delta: int) -> None:
        """Add `delta` to a run counter, at commit."""
        self._counters[name] += delta

    # -- session-staged state ------------------------------------------------------------------
    def get_state(self, scope: Scope = Scope.COMPONENT) -> StateMap:
        """The state as this session sees it (stored, or staged by this session)."""
        stored = self._read_state(scope)
        if scope in self._state_staged:
            return StateMap(stored.version, self._state_staged[scope])
        return stored

    def set_state(self, mapping: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> None:
        """Stage a new map; published at commit if nobody else wrote it since this session read it."""
        self._read_state(scope)
        self._state_staged[scope] = dict(mapping)

    def replace_state(self, old: StateMap, new: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> bool:
        """Stage `new` if `old` is what this session currently sees; False otherwise."""
        current = self.get_state(scope)
        if old.version != current.version or dict(old.data) != dict(current.data):
            return False
        self._state_staged[scope] = dict(new)
        return True

    def clear_state(self, scope: Scope = Scope.COMPONENT) -> None:
        """Stage an empty map."""
        self.set_state({}, scope)

    def _read_state(self, scope: Scope) -> StateMap:
        if scope not in self._state_read:
            self._state_read[scope] = self._node.state.get(scope)
        return self._state_read[scope]

    # -- commit / rollback ---------------------------------------------------------------------
    def commit(self) -> None:
        """Publish everything atomically.

        Raises:
            FlowFileHandlingError: a FlowFile taken or created was neither transferred nor removed.
            StateConflictError: staged state lost its compare-and-set.
            In both cases the session has been rolled back (FlowFiles requeued, penalized).
        """
        if self._live:
            count = len(self._live)
            self._rollback(penalize=True, failed=True)
            raise FlowFileHandlingError(
                f"{self._node.name}: commit refused: {count} FlowFile(s) neither transferred nor removed"
            )
        updates = [
            StateUpdate(self._node.name, scope, self._state_read[scope].version, data)
            for scope, data in self._state_staged.items()
        ]
        if not self._runtime.state.replace_many(self._runtime.flow_id, updates):
            self._rollback(penalize=True, failed=True)
            raise StateConflictError(
                f"{self._node.name}: state changed since this session read it; the session was rolled back"
            )
        penalty_until = time.monotonic() + self._node.config.scheduling.penalty_s
        for flowfile, relationship in self._transfers:
            if relationship in self._node.config.auto_terminate:
                continue
            until = penalty_until if flowfile.uuid in self._penalized else 0.0
            for i, connection in enumerate(self._node.outgoing.get(relationship, ())):
                connection.put(flowfile if i == 0 else flowfile.evolve(uuid=new_uuid()), until)
        self._runtime.add_counters(self._counters)
        self._node.count_io(len(self._pulled), len(self._transfers))
        self._runtime.forget_failures(self._pulled)
        self._reset()
        self._runtime.wake()

    def rollback(self, penalize: bool = False) -> None:
        """Undo everything: taken FlowFiles go back to their queues (penalized if asked)."""
        self._rollback(penalize=penalize, failed=False)

    def _rollback(self, *, penalize: bool, failed: bool) -> None:
        """Requeue what was pulled; after a failure, a ``--once`` run drops a FlowFile that keeps failing."""
        until = time.monotonic() + self._node.config.scheduling.penalty_s if penalize else 0.0
        for uuid, pulled in self._pulled.items():
            if failed and self._runtime.record_failure(self._node, uuid):
                continue  # dropped, with an ERROR bulletin
            pulled.connection.requeue(pulled.original, until, pulled.sequence)
        self._reset()
        self._runtime.wake()

    def _check_live(self, flowfile: FlowFile) -> FlowFile:
        current = self._live.get(flowfile.uuid)
        if current is None:
            raise FlowFileHandlingError(
                f"{self._node.name}: FlowFile {flowfile.uuid} does not belong to this session "
                "(already transferred or removed?)"
            )
        if current is not flowfile and current != flowfile:
            raise FlowFileHandlingError(
                f"{self._node.name}: FlowFile {flowfile.uuid} is not the latest version; "
                "use the one returned by put_attributes/write"
            )
        return current

    def _update(self, flowfile: FlowFile) -> FlowFile:
        self._live[flowfile.uuid] = flowfile
        return flowfile


def _without_uuid(attributes: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if k != "uuid"}
