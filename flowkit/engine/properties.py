"""Property and relationship metadata: what a component declares and the effective values it reads.

A leaf module of the engine (it imports no other component module), so the public API
(`flowkit/engine/api.py`) and the component base classes can both depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flowkit.engine.errors import ConfigurationError
from flowkit.engine.timeperiod import parse_time_period

S = TypeVar("S")


@dataclass(frozen=True)
class PropertyDescriptor:
    """A property a component declares.

    Args:
        name: the property name used in the flow YAML.
        description: one line for docs and `--help`.
        required: a value (or default) must be present.
        default: used when the YAML does not set the property (or sets it to an empty value).
        sensitive: the value must come from a sensitive parameter; it is never shown.
        validator: ``Callable[[str], str | None]`` returning an error message or None.
        allowable_values: if given, the value must be one of these.
        controller_service: the value names a controller service that must be an instance of this class.

    Example:
        >>> PropertyDescriptor("Batch Size", "FlowFiles per trigger", default="1")
        PropertyDescriptor(name='Batch Size', ...)
    """

    name: str
    description: str = ""
    required: bool = False
    default: str | None = None
    sensitive: bool = False
    validator: Callable[[str], str | None] | None = None
    allowable_values: Sequence[str] | None = None
    controller_service: type[Any] | None = None  # a ControllerService subclass

    def __repr__(self) -> str:
        return f"PropertyDescriptor(name={self.name!r}, ...)"

    def validate(self, value: str) -> str | None:
        """The first problem with `value` (allowable values, then the validator), or None."""
        if self.allowable_values is not None and value not in self.allowable_values:
            return f"'{value}' is not one of {', '.join(self.allowable_values)}"
        if self.validator is not None:
            return self.validator(value)
        return None


@dataclass(frozen=True)
class Relationship:
    """A named output of a processor (``success``, ``failure``, ...)."""

    name: str
    description: str = ""

    def __str__(self) -> str:
        return self.name


class PropertyValue:
    """The effective value of one property (parameters substituted, default applied).

    Conversions raise `ConfigurationError` naming the property when the value does not fit.
    """

    def __init__(
        self,
        name: str,
        value: str | None,
        owner: str,
        service_lookup: Callable[[str], object] | None = None,
    ) -> None:
        self.name = name
        self.value = value
        self._owner = owner
        self._service_lookup = service_lookup

    def __repr__(self) -> str:
        return f"PropertyValue({self._owner}.{self.name!r})"  # never the value: it may be sensitive

    def _fail(self, what: str) -> ConfigurationError:
        return ConfigurationError(f"{self._owner}: property '{self.name}' {what}")

    def _require(self) -> str:
        if self.value is None:
            raise self._fail("is not set")
        return self.value

    def as_int(self) -> int:
        """The value as an int."""
        try:
            return int(self._require().strip())
        except ValueError:
            raise self._fail("is not an integer") from None

    def as_float(self) -> float:
        """The value as a float."""
        try:
            return float(self._require().strip())
        except ValueError:
            raise self._fail("is not a number") from None

    def as_bool(self) -> bool:
        """``true``/``false`` (case-insensitive) as a bool."""
        text = self._require().strip().lower()
        if text not in ("true", "false"):
            raise self._fail("is not true or false")
        return text == "true"

    def as_seconds(self) -> float:
        """The value as a NiFi time period, in seconds."""
        try:
            return parse_time_period(self._require())
        except ValueError:
            raise self._fail("is not a valid time period") from None

    def as_list(self) -> list[str]:
        """Comma-separated items, stripped, empty items dropped (an unset value is an empty list)."""
        if self.value is None:
            return []
        return [item.strip() for item in self.value.split(",") if item.strip()]

    def as_service(self, cls: type[S]) -> S:
        """The enabled controller service this property names."""
        if self._service_lookup is None:
            raise self._fail("does not name a controller service")
        service = self._service_lookup(self._require())
        if not isinstance(service, cls):
            raise self._fail(f"names a service that is not a {cls.__name__}")
        return service
