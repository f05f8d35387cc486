"""Destination types, found by the name `Destination Type` gives (``SQLITE``, ``SNOWFLAKE``, ...).

Like processors, each destination registers itself with an entry point, in the group
``flowkit.destinations``; the entry point names a `DestinationType` subclass that declares the
destination's own properties and validation and opens it. Adding a destination is one module,
its entry point in pyproject.toml, and its tests (the conformance suite takes it by name).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import ClassVar

from flowkit.destinations.base import Destination, DestinationError
from flowkit.destinations.schema import Schema
from flowkit.engine.components import PropertyDescriptor
from flowkit.engine.registry import installed_entry_points

GROUP = "flowkit.destinations"

Values = Mapping[str, str | None]


class DestinationType:
    """One kind of destination: its properties, the rules across them, and how to open it.

    Class-level metadata, as processors declare theirs. `validate` runs at `flowkit validate`
    and before a run starts; it must not connect anywhere. `open` is called on first use.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    properties: ClassVar[tuple[PropertyDescriptor, ...]] = ()

    @classmethod
    def validate(cls, values: Values, env: Mapping[str, str]) -> str | None:
        """One line naming the parameter at fault, or None. Never quote a sensitive value."""
        return None

    @classmethod
    def identity(cls, values: Values) -> str:
        """Which warehouse these values point at (no secret in it): a run journaled into one destination
        must never be merged into another. Default: the type and its non-sensitive property values."""
        shown = {d.name: (values.get(d.name) or "").strip() for d in cls.properties if not d.sensitive}
        return f"{cls.name}:{json.dumps(shown, sort_keys=True)}"

    @classmethod
    def open(cls, values: Values, *, schema: Schema, home: Path, env: Mapping[str, str]) -> Destination:
        raise NotImplementedError


@cache
def destination_types() -> dict[str, type[DestinationType]]:
    """Every installed destination type by its upper-case name."""
    found: dict[str, type[DestinationType]] = {}
    for entry_point in installed_entry_points(GROUP):  # the read the processor and service types came from
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin must not hide the others' names
            raise DestinationError(f"cannot load {GROUP}:{entry_point.name} ({type(exc).__name__}: {exc})") from exc
        if not (isinstance(loaded, type) and issubclass(loaded, DestinationType)):
            raise DestinationError(f"entry point {GROUP}:{entry_point.name} is not a DestinationType")
        found[entry_point.name.upper()] = loaded
    return found


def destination_type(name: str) -> type[DestinationType]:
    """The destination type registered as `name` (any case); DestinationError naming the known ones."""
    types = destination_types()
    try:
        return types[name.strip().upper()]
    except KeyError:
        raise DestinationError(
            f"{name!r} is not a destination type; expected one of {', '.join(sorted(types))}"
        ) from None


def all_properties() -> tuple[PropertyDescriptor, ...]:
    """The properties of every installed destination type (first declaration of a name wins)."""
    seen: dict[str, PropertyDescriptor] = {}
    for kind in destination_types().values():
        for descriptor in kind.properties:
            seen.setdefault(descriptor.name, descriptor)
    return tuple(seen.values())
