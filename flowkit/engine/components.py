"""The component base classes (Processor, ControllerService); their metadata types live in properties.py.

The hooks are typed against the protocols of flowkit/engine/api.py, never against the engine's
implementations, so this module imports nothing of the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from flowkit.engine.api import ConfigurationContext, ProcessContext, ProcessSession
from flowkit.engine.properties import PropertyDescriptor, PropertyValue, Relationship

__all__ = ["ControllerService", "Processor", "PropertyDescriptor", "PropertyValue", "Relationship"]


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
