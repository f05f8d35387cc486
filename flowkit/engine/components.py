"""Component metadata (PropertyDescriptor, Relationship, PropertyValue) and the component base classes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from flowkit.engine.errors import ConfigurationError
from flowkit.engine.timeperiod import parse_time_period

if TYPE_CHECKING:
    from flowkit.engine.context import ConfigurationContext, ProcessContext
    from flowkit.engine.session import ProcessSession

S = TypeVar("S", bound="ControllerService")


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
    controller_service: type[ControllerService] | None = None

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
        service_lookup: Callable[[str], ControllerService] | None = None,
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


class _Component:
    """Shared class-level metadata of processors and controller services."""

    properties: ClassVar[tuple[PropertyDescriptor, ...]] = ()

    @classmethod
    def property_descriptor(cls, name: str) -> PropertyDescriptor | None:
        """The descriptor with this name, or None."""
        return next((p for p in cls.properties if p.name == name), None)

    @classmethod
    def custom_validate(cls, values: Mapping[str, str | None]) -> str | None:
        """Checks across properties (NiFi's customValidate), run by validation after each property's own.

        `values` are the effective values (parameters substituted, defaults applied, blanks None).
        Return one line naming the properties at fault, or None. Never quote a sensitive value.
        """
        return None

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


class Processor(_Component):
    """Base class of processors; describe one with class-level metadata and override the hooks.

    Class attributes:
        properties: the `PropertyDescriptor`s it accepts.
        relationships: the `Relationship`s it may transfer to.
        trigger_when_empty: triggered on its run schedule even with empty input queues, and once more
            in the final pass of a ``--once`` run.
        input_required: the processor only makes sense downstream of another; a flow where no
            connection leads to it is invalid (unreachable).

    One instance is shared by the processor's concurrent tasks: keep per-trigger data local.

    Example:
        >>> class Upper(Processor):
        ...     REL_SUCCESS = Relationship("success")
        ...     relationships = (REL_SUCCESS,)
        ...     def on_trigger(self, context, session):
        ...         ff = session.get()
        ...         if ff is not None:
        ...             session.transfer(session.write(ff, content=ff.content.upper()), self.REL_SUCCESS)
    """

    relationships: ClassVar[tuple[Relationship, ...]] = ()
    trigger_when_empty: ClassVar[bool] = False
    input_required: ClassVar[bool] = False

    def on_scheduled(self, context: ProcessContext) -> None:
        """Called once when the processor starts, before any trigger."""

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        """One unit of work; the session is committed on return and rolled back on an exception."""
        raise NotImplementedError

    def on_stopped(self, context: ProcessContext) -> None:
        """Called once after the last trigger has returned."""

    @classmethod
    def relationship(cls, name: str) -> Relationship | None:
        """The declared relationship with this name, or None."""
        return next((r for r in cls.relationships if r.name == name), None)


class ControllerService(_Component):
    """Base class of controller services: shared, configured objects referenced through properties.

    Example:
        >>> class Greeter(ControllerService):
        ...     NAME = PropertyDescriptor("Name", required=True)
        ...     properties = (NAME,)
        ...     def on_enabled(self, context):
        ...         self.name = context.property(self.NAME).value
    """

    def on_enabled(self, context: ConfigurationContext) -> None:
        """Called when the service is enabled, before any processor is scheduled."""

    def on_disabled(self) -> None:
        """Called after every processor has stopped."""
