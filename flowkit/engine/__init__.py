"""The flow engine: NiFi concepts (Processor, ProcessSession, FlowFile, ...) in plain Python.

Knows nothing about Jira.

Example:
    >>> from flowkit.engine import load_flow, run_flow
    >>> report = run_flow(load_flow("flows/example.yaml"), once=True, home=Path(".flowkit"))
    >>> report.exit_code
    0
"""

from flowkit.engine import validators
from flowkit.engine.admin import clear_state, show_state, state_document
from flowkit.engine.api import ConfigurationContext, ProcessContext, ProcessSession
from flowkit.engine.components import (
    ControllerService,
    Processor,
    PropertyDescriptor,
    PropertyValue,
    Relationship,
)
from flowkit.engine.errors import (
    ConfigurationError,
    FlowFileHandlingError,
    FlowRunningError,
    StateConflictError,
)
from flowkit.engine.flow import Flow, slugify
from flowkit.engine.flowfile import FlowFile
from flowkit.engine.loader import flow_id_of, load_flow
from flowkit.engine.parameters import parse_override
from flowkit.engine.registry import Registry, default_registry, register
from flowkit.engine.report import Bulletin, RunReport
from flowkit.engine.scheduler import run_flow
from flowkit.engine.state import Scope, StateManager, StateMap, StateService
from flowkit.engine.timeperiod import parse_time_period

__all__ = [
    "Bulletin",
    "ConfigurationContext",
    "ConfigurationError",
    "ControllerService",
    "Flow",
    "FlowFile",
    "FlowFileHandlingError",
    "FlowRunningError",
    "ProcessContext",
    "ProcessSession",
    "Processor",
    "PropertyDescriptor",
    "PropertyValue",
    "Registry",
    "Relationship",
    "RunReport",
    "Scope",
    "StateConflictError",
    "StateManager",
    "StateMap",
    "StateService",
    "clear_state",
    "default_registry",
    "flow_id_of",
    "load_flow",
    "parse_override",
    "parse_time_period",
    "register",
    "run_flow",
    "show_state",
    "slugify",
    "state_document",
    "validators",
]
