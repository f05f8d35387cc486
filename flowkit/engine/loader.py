"""`load_flow`: read a flow YAML, resolve its parameters and validate it, failing on the first problem."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from flowkit.engine.errors import ConfigurationError
from flowkit.engine.flow import Flow, slugify
from flowkit.engine.model import FlowModel
from flowkit.engine.parameters import parse_yaml, resolve_parameters
from flowkit.engine.registry import Registry, default_registry
from flowkit.engine.validation import (
    build_connections,
    build_processors,
    build_services,
    check_reachable,
    check_relationships,
    check_service_cycles,
)

_NAMED_LISTS = (
    "parameter_contexts",
    "parameter_providers",
    "controller_services",
    "processors",
    "connections",
)


def load_flow(
    path: str | Path,
    overrides: Mapping[str, str] | None = None,
    parameters_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    registry: Registry | None = None,
) -> Flow:
    """Parse, resolve parameters and validate a flow file.

    Args:
        path: the flow YAML.
        overrides: ``-p "Name=value"`` values for this run.
        parameters_file: a ``--parameters`` YAML/JSON mapping of parameter name to value.
        env: environment for environment parameter providers (default `os.environ`).
        registry: where processor/service types are looked up (default `default_registry`).

    Raises:
        ConfigurationError: the first problem, one line naming the YAML location.
    """
    path = Path(path)
    source = str(path)
    raw = _read_yaml(path)
    model = _parse_model(raw, source)
    registry = registry or default_registry
    parameters = resolve_parameters(
        model,
        source=source,
        flow_dir=path.parent,
        overrides=overrides or {},
        parameters_file=parameters_file,
        env=os.environ if env is None else env,
    )
    services = build_services(model, source, registry, parameters)
    service_classes = {s.name: s.cls for s in services}
    processors = build_processors(model, source, registry, parameters, service_classes)
    connections = build_connections(model, source, {p.name: p for p in processors})
    check_relationships(source, processors, connections)
    ordered_services = check_service_cycles(source, services)
    check_reachable(source, processors, connections)
    group = model.process_group
    return Flow(
        path=path,
        flow_id=group.id or slugify(group.name),
        name=group.name,
        parameters=parameters,
        services=tuple(ordered_services),
        processors=tuple(processors),
        connections=tuple(connections),
    )


def read_flow_model(path: str | Path) -> FlowModel:
    """The flow file's shape only (no type lookup, no parameter resolution): what `flowkit graph` draws.

    Raises:
        ConfigurationError: the file is missing, is not YAML, or does not have the flow's shape.
    """
    return _parse_model(_read_yaml(Path(path)), str(path))


def flow_id_of(path: str | Path) -> str:
    """The flow id of a flow file, read without validating the rest (for `flowkit state ...`)."""
    raw = _read_yaml(Path(path))
    group = raw.get("process_group") if isinstance(raw, dict) else None
    if not isinstance(group, dict) or not isinstance(group.get("name"), str):
        raise ConfigurationError(f"{path}: process_group: 'name' is required")
    explicit = group.get("id")
    return explicit if isinstance(explicit, str) and explicit else slugify(group["name"])


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: flow file not found") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the flow file ({exc.strerror})") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{path}: malformed YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: malformed flow: the top level must be a mapping")
    return data


def _parse_model(raw: dict[str, Any], source: str) -> FlowModel:
    try:
        return FlowModel.model_validate(raw)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigurationError(f"{source}: {_location(raw, error['loc'])}{_message(error)}") from None


def _location(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """``processors[2] 'ListBoards': scheduling.run_schedule: `` from a pydantic error location."""
    parts: list[str] = []
    items = list(loc)
    if len(items) >= 2 and items[0] in _NAMED_LISTS and isinstance(items[1], int):
        section, index = items[0], items[1]
        entries = raw.get(section)
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if name is None and section == "connections" and isinstance(entry, dict):
            name = f"{entry.get('source')} -> {entry.get('destination')}"
        parts.append(f"{section}[{index}]" + (f" '{name}'" if isinstance(name, str) else ""))
        items = items[2:]
    if items:
        text = ""
        for item in items:
            text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
        parts.append(text)
    return "".join(f"{p}: " for p in parts)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "this key is required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "literal_error" and tuple(error["loc"]) == ("flowkit",):
        return "unsupported format version (expected 'flowkit: 1')"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
