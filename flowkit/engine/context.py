"""The engine's implementations of the contexts of flowkit/engine/api.py.

`StandardProcessContext` (processors) and `StandardConfigurationContext` (services) are built from plain
values and callables, so this module does not know the runtime (no import cycle with runtime.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from flowkit.engine.properties import PropertyDescriptor, PropertyValue
from flowkit.engine.state import StateManager


class _Properties:
    """Effective property values of one component, handed out as `PropertyValue`s."""

    def __init__(
        self,
        owner: str,
        values: Mapping[str, str | None],
        service_lookup: Callable[[str], object],
    ) -> None:
        self._owner = owner
        self._values = values
        self._service_lookup = service_lookup

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        name = descriptor.name if isinstance(descriptor, PropertyDescriptor) else descriptor
        if name not in self._values:
            raise KeyError(f"{self._owner} has no property '{name}'")
        return PropertyValue(name, self._values[name], self._owner, self._service_lookup)


class StandardConfigurationContext:
    """Given to `ControllerService.on_enabled` (implements `api.ConfigurationContext`).

    Attributes:
        name: the service name in the flow.
        flow_id: the flow's id.
        logger: WARNING+ records become bulletins.
        state: this service's state.
        home: ``$FLOWKIT_HOME``.
    """

    def __init__(
        self,
        name: str,
        flow_id: str,
        properties: _Properties,
        logger: logging.Logger,
        state: StateManager,
        home: Path,
    ) -> None:
        self.name = name
        self.flow_id = flow_id
        self.logger = logger
        self.state = state
        self.home = home
        self._properties = properties

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        """The effective value of a declared property."""
        return self._properties.property(descriptor)


class StandardProcessContext:
    """Given to processor hooks (implements `api.ProcessContext`).

    Attributes:
        name: the processor name in the flow.
        flow_id: the flow's id.
        logger: WARNING+ records become bulletins; an ERROR bulletin makes the run fail (exit 1).
        state: this processor's state (immediate writes; prefer the session's staged state).
        once: True in a ``--once`` run.
        final_pass: True during the end-of-run trigger of a ``--once`` run.
        home: ``$FLOWKIT_HOME``.
    """

    def __init__(
        self,
        name: str,
        flow_id: str,
        properties: _Properties,
        logger: logging.Logger,
        state: StateManager,
        home: Path,
        *,
        once: bool,
        stop: threading.Event,
        yield_: Callable[[], None],
        final_pass: bool = False,
        wait_for_room: Callable[[], bool] = lambda: True,
    ) -> None:
        self.name = name
        self.flow_id = flow_id
        self.logger = logger
        self.state = state
        self.once = once
        self.final_pass = final_pass
        self.home = home
        self._properties = properties
        self._stop = stop
        self._yield = yield_
        self._wait_for_room = wait_for_room

    @property
    def stopping(self) -> bool:
        """True once the run is stopping: finish or roll back the current work quickly."""
        return self._stop.is_set()

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        """The effective value of a declared property (parameters substituted, default applied)."""
        return self._properties.property(descriptor)

    def yield_(self) -> None:
        """Pause this processor for its yield duration (environment trouble, nothing to do)."""
        self._yield()

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the run stops; True if the full time elapsed."""
        return not self._stop.wait(seconds)

    def wait_for_room(self) -> bool:
        """Block while an outgoing queue is at its back-pressure threshold, waking when the run stops;
        True if there is room (woken by the consumer taking FlowFiles, not by polling)."""
        return self._wait_for_room()
