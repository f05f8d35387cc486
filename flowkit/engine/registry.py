"""Where processor and controller-service types are found by the name used in the flow YAML.

Types come from the entry-point groups ``flowkit.processors`` and ``flowkit.controller_services``
(loaded lazily, one name at a time, so a broken plugin only breaks flows that use it) or from an
explicit `Registry.register` call (tests, embedding applications).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Protocol, TypeVar

from flowkit.engine.components import ControllerService, Processor
from flowkit.engine.errors import ConfigurationError

PROCESSOR_GROUP = "flowkit.processors"
SERVICE_GROUP = "flowkit.controller_services"

C = TypeVar("C", bound=type)


class Registry:
    """Processor and controller-service types by name.

    Example:
        >>> registry = Registry()
        >>> registry.register(MyProcessor)          # registered as "MyProcessor"
        >>> registry.processor_type("MyProcessor")
        <class 'MyProcessor'>
    """

    def __init__(self, *, use_entry_points: bool = True) -> None:
        self._processors: dict[str, type[Processor]] = {}
        self._services: dict[str, type[ControllerService]] = {}
        self._use_entry_points = use_entry_points

    def register(self, cls: C, name: str | None = None) -> C:
        """Register a Processor or ControllerService subclass (by class name unless `name` is given).

        Returns the class, so it can be used as a decorator.
        """
        key = name or cls.__name__
        if issubclass(cls, Processor):
            self._processors[key] = cls
        elif issubclass(cls, ControllerService):
            self._services[key] = cls
        else:
            raise TypeError(f"{cls!r} is neither a Processor nor a ControllerService")
        return cls

    def processor_type(self, name: str) -> type[Processor] | None:
        """The processor class registered under `name`, or None."""
        if name not in self._processors:
            loaded = self._load(PROCESSOR_GROUP, name)
            if loaded is not None:
                if not (isinstance(loaded, type) and issubclass(loaded, Processor)):
                    raise ConfigurationError(f"entry point {PROCESSOR_GROUP}:{name} is not a Processor class")
                self._processors[name] = loaded
        return self._processors.get(name)

    def service_type(self, name: str) -> type[ControllerService] | None:
        """The controller-service class registered under `name`, or None."""
        if name not in self._services:
            loaded = self._load(SERVICE_GROUP, name)
            if loaded is not None:
                if not (isinstance(loaded, type) and issubclass(loaded, ControllerService)):
                    raise ConfigurationError(f"entry point {SERVICE_GROUP}:{name} is not a ControllerService class")
                self._services[name] = loaded
        return self._services.get(name)

    def _load(self, group: str, name: str) -> object | None:
        if not self._use_entry_points:
            return None
        entry_point = _installed(group).get(name)
        if entry_point is None:
            return None
        try:
            return entry_point.load()
        except Exception as exc:  # a broken plugin is a configuration problem of this flow
            raise ConfigurationError(f"cannot load {group}:{name} ({type(exc).__name__}: {exc})") from exc


@cache
def _installed(group: str) -> dict[str, EntryPoint]:
    """The group's entry points by name (the first installed wins)."""
    found: dict[str, EntryPoint] = {}
    for entry_point in installed_entry_points(group):
        found.setdefault(entry_point.name, entry_point)
    return found


def installed_entry_points(group: str) -> EntryPoints:
    """The installed entry points of `group` (as ``importlib.metadata.entry_points(group=...)``), for this
    registry and the destination types' (`flowkit.destinations.registry`)."""
    return _installed_entry_points().select(group=group)


class _ByGroup(Protocol):
    """What `entry_points()` answers: EntryPoints, or on Python 3.11 a dict of them by group; both select."""

    def select(self, *, group: str) -> EntryPoints: ...


@cache
def _installed_entry_points() -> _ByGroup:
    """Every installed entry point, read once per process: loading one flow looks up a dozen types in three
    groups, and each `entry_points()` call reads the metadata of every installed distribution (~4 ms in
    this venv) whether it asks for one group or for all of them."""
    return entry_points()


default_registry = Registry()
"""The registry `load_flow` uses unless given another; replaceable, e.g. in tests."""


def register(cls: C, name: str | None = None) -> C:
    """Register a type in `default_registry` (usable as a decorator)."""
    return default_registry.register(cls, name)
