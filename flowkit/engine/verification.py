"""Verification before a run: NiFi's VerifiableProcessor / VerifiableControllerService, for the whole flow.

A processor or controller service may define ``verify(context) -> list[ConfigVerificationResult]``
(`Verifiable`): given its configuration and the enabled services, it checks that what it will need
at run time is reachable and allowed, and says per step what passed, what failed and why. It must
not change anything (NiFi: "verification must not change the state of the component or of the
systems it talks to").

`verify_flow` enables the flow's controller services, calls every component's `verify`, disables
the services again, and returns the results. It runs against a throwaway state directory, so it
never writes to ``$FLOWKIT_HOME``, never takes the run lock, and can run while the flow runs.
"""

from __future__ import annotations

import enum
import logging
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol, runtime_checkable

from flowkit.engine.components import ControllerService, PropertyDescriptor, PropertyValue
from flowkit.engine.context import StandardConfigurationContext, _Properties
from flowkit.engine.errors import ConfigurationError
from flowkit.engine.flow import Flow
from flowkit.engine.report import BulletinBoard, component_logger
from flowkit.engine.state import StateManager, StateService


class Outcome(enum.Enum):
    """NiFi's ConfigVerificationResult.Outcome."""

    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class ConfigVerificationResult:
    """One verification step: what was checked, how it went, and (when it failed) what to do about it.

    Explanations are shown to the operator: one line, never a secret.
    """

    step: str
    outcome: Outcome
    explanation: str


@dataclass(frozen=True)
class VerificationResult:
    """A `ConfigVerificationResult` with the component that produced it."""

    component: str
    result: ConfigVerificationResult


class VerificationContext:
    """What `verify` sees: the component's properties (services enabled), its name, flow id and logger."""

    def __init__(self, name: str, flow_id: str, properties: _Properties, logger: logging.Logger) -> None:
        self.name = name
        self.flow_id = flow_id
        self.logger = logger
        self._properties = properties

    def property(self, descriptor: PropertyDescriptor | str) -> PropertyValue:
        """The effective value of a declared property."""
        return self._properties.property(descriptor)


@runtime_checkable
class Verifiable(Protocol):
    """A processor or controller service that can check its configuration against the outside world."""

    def verify(self, context: VerificationContext) -> list[ConfigVerificationResult]: ...


def verify_flow(flow: Flow) -> list[VerificationResult]:
    """Enable the flow's services, run every component's `verify`, disable the services.

    Services first (dependency order), then processors (YAML order). A component whose `verify`
    raises gets one FAILED result naming the exception type (its message may not be vetted).

    Raises:
        ConfigurationError: a service could not be enabled because of its configuration.
    """
    results: list[VerificationResult] = []
    board = BulletinBoard()
    with tempfile.TemporaryDirectory(prefix="flowkit-verify-") as scratch:
        home = Path(scratch)
        state = StateService(home)
        services: dict[str, ControllerService] = {}
        enabled: list[str] = []

        def lookup(name: str) -> ControllerService:
            try:
                return services[name]
            except KeyError:
                raise ConfigurationError(f"controller service '{name}' is not enabled") from None

        try:
            for config in flow.services:
                instance = config.cls()
                logger = component_logger(flow.flow_id, config.name, board)
                properties = _Properties(config.name, config.properties, lookup)
                services[config.name] = instance
                instance.on_enabled(
                    StandardConfigurationContext(
                        config.name,
                        flow.flow_id,
                        properties,
                        logger,
                        StateManager(state, flow.flow_id, config.name),
                        home,
                    )
                )
                enabled.append(config.name)
                if isinstance(instance, Verifiable):
                    results.extend(
                        _run(
                            config.name,
                            partial(
                                instance.verify, VerificationContext(config.name, flow.flow_id, properties, logger)
                            ),
                        )
                    )
            for processor in flow.processors:
                component = processor.cls()
                if isinstance(component, Verifiable):
                    logger = component_logger(flow.flow_id, processor.name, board)
                    context = VerificationContext(
                        processor.name, flow.flow_id, _Properties(processor.name, processor.properties, lookup), logger
                    )
                    results.extend(_run(processor.name, partial(component.verify, context)))
        finally:
            for name in reversed(enabled):
                try:
                    services[name].on_disabled()
                except Exception as exc:  # as when a run stops: logged, ignored
                    logging.getLogger("flowkit.engine.verification").warning("on_disabled of %s: %s", name, exc)
            state.close()
    return results


def _run(component: str, call: partial[list[ConfigVerificationResult]]) -> list[VerificationResult]:
    try:
        return [VerificationResult(component, result) for result in call()]
    except ConfigurationError:
        raise
    except Exception as exc:
        failed = ConfigVerificationResult("verify", Outcome.FAILED, f"verification failed: {type(exc).__name__}")
        return [VerificationResult(component, failed)]
