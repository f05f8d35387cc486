"""The engine's public API for components, as small protocols (NiFi's ``nifi-api``).

Processors and controller services are written against these, never against the engine's
implementations (``StandardProcessContext`` in context.py, ``StandardProcessSession`` in session.py),
so a processor can be run alone by :mod:`flowkit.engine.testing` and this module depends only on the
engine's leaf modules (properties, flowfile, state).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from flowkit.engine.flowfile import FlowFile
from flowkit.engine.properties import PropertyDescriptor, PropertyValue, Relationship
from flowkit.engine.state import Scope, StateManager, StateMap

__all__ = ["ConfigurationContext", "ProcessContext", "ProcessSession"]


class ConfigurationContext(Protocol):
    """Given to ``ControllerService.on_enabled``.

    ``name`` (the service's name in the flow), ``flow_id``, ``logger`` (WARNING+ records become bulletins),
    ``state`` (this service's state), ``home`` (``$FLOWKIT_HOME``).
    """

    name: str
    flow_id: str
    logger: logging.Logger
    state: StateManager
    home: Path

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        """The effective value of a declared property."""
        ...


class ProcessContext(Protocol):
    """Given to processor hooks: configuration, logger, state and scheduling controls.

    ``name``, ``flow_id``, ``logger`` (an ERROR bulletin makes the run fail, exit 1), ``state`` (immediate
    writes; prefer the session's staged state), ``once`` (a ``--once`` run), ``final_pass`` (the end-of-run
    trigger of a ``--once`` run), ``home`` (``$FLOWKIT_HOME``).
    """

    name: str
    flow_id: str
    logger: logging.Logger
    state: StateManager
    once: bool
    final_pass: bool
    home: Path

    @property
    def stopping(self) -> bool:
        """True once the run is stopping: finish or roll back the current work quickly."""
        ...

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        """The effective value of a declared property (parameters substituted, default applied)."""
        ...

    def yield_(self) -> None:
        """Pause this processor for its yield duration (environment trouble, nothing to do)."""
        ...

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the run stops; True if the full time elapsed."""
        ...

    def wait_for_room(self) -> bool:
        """Block while an outgoing queue of this processor is at its back-pressure threshold (the test the
        scheduler makes before starting a trigger), waking when the run stops; True if there is room.
        For a trigger that commits as it goes, so a long one (a board of many pages) stays bounded too."""
        ...


class ProcessSession(Protocol):
    """One trigger's unit of work: committed on return, rolled back on an exception.

    FlowFiles are immutable: ``put_attributes``/``write`` return the new version. Transfers, removals,
    counters and staged state become visible at ``commit``, all at once.
    """

    did_work: bool

    def get(self) -> FlowFile | None: ...

    def get_batch(self, n: int) -> list[FlowFile]: ...

    def create(
        self,
        parent: FlowFile | None = None,
        attributes: Mapping[str, str] | None = None,
        content: bytes = b"",
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> FlowFile: ...

    def put_attributes(self, flowfile: FlowFile, attributes: Mapping[str, str]) -> FlowFile: ...

    def write(
        self,
        flowfile: FlowFile,
        content: bytes | None = None,
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> FlowFile: ...

    def transfer(self, flowfile: FlowFile, relationship: Relationship | str) -> None: ...

    def remove(self, flowfile: FlowFile) -> None: ...

    def penalize(self, flowfile: FlowFile) -> FlowFile: ...

    def adjust_counter(self, name: str, delta: int) -> None: ...

    def get_state(self, scope: Scope = Scope.COMPONENT) -> StateMap: ...

    def set_state(self, mapping: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> None: ...

    def replace_state(self, old: StateMap, new: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> bool: ...

    def clear_state(self, scope: Scope = Scope.COMPONENT) -> None: ...

    def commit(self) -> None: ...

    def rollback(self, penalize: bool = False) -> None: ...
