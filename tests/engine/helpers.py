"""Test-only processors and services, registered in the default registry through the explicit API."""

from __future__ import annotations

import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from flowkit.engine import (
    ConfigurationContext,
    ConfigurationError,
    ControllerService,
    ProcessContext,
    Processor,
    ProcessSession,
    PropertyDescriptor,
    Relationship,
    Scope,
    register,
    validators,
)

SUCCESS = Relationship("success")
FAILURE = Relationship("failure")

# What test processors saw, by processor name; tests reset it through the `journal` fixture.
SEEN: dict[str, list[object]] = defaultdict(list)
EVENTS: list[str] = []
GATE = threading.Event()


def write_flow(directory: Path, text: str, name: str = "flow.yaml") -> Path:
    """Write a flow file from an indented YAML literal."""
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@register
class RecordFlowFiles(Processor):
    """Records every FlowFile it receives in SEEN[name], then transfers it to success."""

    relationships = (SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        for flowfile in session.get_batch(100):
            SEEN[context.name].append(flowfile)
            session.transfer(flowfile, SUCCESS)


@register
class FailTimes(Processor):
    """Raises on the first `Failures` attempts of each FlowFile (by uuid), then passes it on."""

    FAILURES = PropertyDescriptor("Failures", default="1", validator=validators.NON_NEGATIVE_INTEGER)
    properties = (FAILURES,)
    relationships = (SUCCESS,)
    input_required = True

    def __init__(self) -> None:
        self.attempts: dict[str, int] = defaultdict(int)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfile = session.get()
        if flowfile is None:
            return
        SEEN[context.name].append(time.monotonic())
        self.attempts[flowfile.uuid] += 1
        session.set_state({"touched": "yes"})  # must not be published by a failed session
        if self.attempts[flowfile.uuid] <= context.property(self.FAILURES).as_int():
            raise RuntimeError("simulated failure")
        session.transfer(flowfile, SUCCESS)


@register
class Forgetful(Processor):
    """Takes a FlowFile and neither transfers nor removes it (the commit must fail)."""

    relationships = (SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        session.get()


@register
class Gate(Processor):
    """Takes one FlowFile and holds it until GATE is set (or the run stops)."""

    relationships = (SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfile = session.get()
        if flowfile is None:
            return
        while not GATE.wait(0.01) and not context.stopping:
            pass
        session.transfer(flowfile, SUCCESS)


@register
class TickSource(Processor):
    """A source creating one FlowFile per trigger and recording the trigger in SEEN[name]."""

    relationships = (SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        SEEN[context.name].append(time.monotonic())
        session.transfer(session.create(attributes={"tick": str(len(SEEN[context.name]))}), SUCCESS)


@register
class PagedSource(Processor):
    """Emits 20 FlowFiles in one trigger, committing each (as a fetcher commits page by page) and waiting for
    room downstream between them; SEEN[name] records each one emitted."""

    relationships = (SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        if SEEN[context.name]:
            context.yield_()
            return
        for page in range(20):
            if not context.wait_for_room():
                return
            SEEN[context.name].append(page)
            session.transfer(session.create(attributes={"page": str(page)}), SUCCESS)
            session.commit()


@register
class YieldingSource(Processor):
    """A source that records each trigger in SEEN[name] and yields (as if its remote system were down)."""

    relationships = (SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        SEEN[context.name].append(time.monotonic())
        session.adjust_counter("attempts", 1)  # did_work: no 10 ms "bored" yield, only the explicit one
        context.yield_()


@register
class ConflictingWriter(Processor):
    """Stages session state, then (first time only) writes the same state directly: a CAS conflict."""

    relationships = (SUCCESS,)
    input_required = True

    def __init__(self) -> None:
        self.interfered = False

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfile = session.get()
        if flowfile is None:
            return
        current = session.get_state(Scope.FLOW)
        count = int(current.get("count") or "0")
        assert session.replace_state(current, {"count": str(count + 1)}, Scope.FLOW)
        if not self.interfered:
            self.interfered = True
            context.state.set({"count": "100"}, Scope.FLOW)  # another writer wins the race
        SEEN[context.name].append(flowfile.uuid)
        session.transfer(flowfile, SUCCESS)


@register
class FinalPassRecorder(Processor):
    """trigger_when_empty: records (final_pass, queued FlowFiles seen) at each trigger."""

    relationships = (SUCCESS,)
    trigger_when_empty = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        flowfiles = session.get_batch(100)
        SEEN[context.name].append((context.final_pass, len(flowfiles)))
        for flowfile in flowfiles:
            session.transfer(flowfile, SUCCESS)


@register
class ConfigFailure(Processor):
    """Raises ConfigurationError from the hook named by `Hook` (`none`: a source of one FlowFile per trigger)."""

    HOOK = PropertyDescriptor(
        "Hook", default="on_trigger", allowable_values=("on_scheduled", "on_trigger", "on_stopped", "none")
    )
    properties = (HOOK,)
    relationships = (SUCCESS,)

    def on_scheduled(self, context: ProcessContext) -> None:
        if context.property(self.HOOK).value == "on_scheduled":
            raise ConfigurationError("parameter 'Jira API Token': credentials refused")

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        if context.property(self.HOOK).value == "on_trigger":
            raise ConfigurationError("parameter 'Jira API Token': credentials refused")
        session.transfer(session.create(), SUCCESS)

    def on_stopped(self, context: ProcessContext) -> None:
        EVENTS.append(f"stopped {context.name}")
        if context.property(self.HOOK).value == "on_stopped":
            raise ConfigurationError("parameter 'Jira API Token': credentials refused while flushing")


@register
class StopFailure(Processor):
    """Passes FlowFiles on; its on_stopped raises a RuntimeError (a WARNING, not a failed run)."""

    relationships = (SUCCESS,)
    input_required = True

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        for flowfile in session.get_batch(100):
            session.transfer(flowfile, SUCCESS)

    def on_stopped(self, context: ProcessContext) -> None:
        EVENTS.append(f"stopped {context.name}")
        raise RuntimeError("disk went away")


@register
class Store(ControllerService):
    """A service recording its lifecycle in EVENTS; may depend on another Store."""

    UPSTREAM = PropertyDescriptor("Upstream", controller_service=ControllerService)
    TOKEN = PropertyDescriptor("Token", sensitive=True, validator=validators.POSITIVE_INTEGER)
    FAIL = PropertyDescriptor("Fail On Enable", default="false", validator=validators.BOOLEAN)
    properties = (UPSTREAM, TOKEN, FAIL)

    def on_enabled(self, context: ConfigurationContext) -> None:
        if context.property(self.FAIL).as_bool():
            raise ConfigurationError(f"controller service '{context.name}': cannot connect")
        EVENTS.append(f"enable {context.name}")

    def on_disabled(self) -> None:
        EVENTS.append("disable")


@register
class EitherOr(ControllerService):
    """Needs exactly one of two properties: a rule across properties (custom_validate)."""

    LEFT = PropertyDescriptor("Left")
    RIGHT = PropertyDescriptor("Right")
    properties = (LEFT, RIGHT)

    @classmethod
    def custom_validate(cls, values: Mapping[str, str | None]) -> str | None:
        if (values["Left"] is None) == (values["Right"] is None):
            return "exactly one of 'Left' and 'Right' is required"
        return None


@register
class UseStore(Processor):
    """Records which service instance its property names."""

    STORE = PropertyDescriptor("Store", required=True, controller_service=Store)
    properties = (STORE,)
    relationships = (SUCCESS,)

    def on_trigger(self, context: ProcessContext, session: ProcessSession) -> None:
        SEEN[context.name].append(context.property(self.STORE).as_service(Store))
