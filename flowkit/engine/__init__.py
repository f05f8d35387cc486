"""The flow engine: NiFi concepts (Processor, ProcessSession, FlowFile, ...) in plain Python.

Knows nothing about Jira.

Example:
    >>> from flowkit.engine import load_flow, run_flow
    >>> report = run_flow(load_flow("flows/example.yaml"), once=True, home=Path(".flowkit"))
    >>> report.exit_code
    0

The public names below are imported on first use (PEP 562), so that importing one light submodule
(``flowkit.engine.errors`` for the CLI's error handling) does not load pydantic and PyYAML:
`flowkit --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# public name -> the submodule that defines it (in step with the imports above and __all__ below;
# tests/test_product_imports.py checks that every name of __all__ resolves)
_HOME = {
    "clear_state": "admin",
    "show_state": "admin",
    "state_document": "admin",
    "ConfigurationContext": "api",
    "ProcessContext": "api",
    "ProcessSession": "api",
    "ControllerService": "components",
    "Processor": "components",
    "PropertyDescriptor": "components",
    "PropertyValue": "components",
    "Relationship": "components",
    "ConfigurationError": "errors",
    "FlowFileHandlingError": "errors",
    "FlowRunningError": "errors",
    "StateConflictError": "errors",
    "Flow": "flow",
    "slugify": "flow",
    "FlowFile": "flowfile",
    "flow_id_of": "loader",
    "load_flow": "loader",
    "parse_override": "parameters",
    "Registry": "registry",
    "default_registry": "registry",
    "register": "registry",
    "Bulletin": "report",
    "RunReport": "report",
    "run_flow": "scheduler",
    "Scope": "state",
    "StateManager": "state",
    "StateMap": "state",
    "StateService": "state",
    "parse_time_period": "timeperiod",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use and cache the name in this module."""
    if name == "validators":  # a submodule; after its import it is an attribute of this package
        return importlib.import_module("flowkit.engine.validators")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"flowkit.engine.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
