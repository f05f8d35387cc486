"""Parameters: ``#{Name}`` references, parameter contexts with inheritance, providers and overrides.

Precedence of a parameter's value, lowest first: the YAML ``value``, parameter providers (in file
order), ``--parameters FILE``, ``-p "Name=value"``. Sensitive parameters never have a YAML value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from flowkit.engine.dag import has_cycle
from flowkit.engine.errors import ConfigurationError
from flowkit.engine.model import FlowModel, ParameterContextModel


@dataclass(frozen=True)
class Reference:
    """A ``#{name}`` reference found in a property value."""

    name: str


Segment = str | Reference


def parse_references(text: str) -> list[Segment]:
    """Split `text` into literal strings and `Reference`s, applying NiFi's escaping.

    ``#{x}`` is a reference, ``##{x}`` the literal ``#{x}``, ``###{x}`` a ``#`` followed by the
    reference: each ``##`` before a ``{`` stands for one literal ``#``.

    Example:
        >>> parse_references("a ##{b} ###{c}")
        ['a #{b} #', Reference(name='c')]
    """
    segments: list[Segment] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "#":
            literal.append(text[i])
            i += 1
            continue
        j = i
        while j < len(text) and text[j] == "#":
            j += 1
        hashes = j - i
        close = text.find("}", j) if j < len(text) and text[j] == "{" else -1
        if close == -1:  # no brace follows: hashes are plain text
            literal.append(text[i:j])
            i = j
            continue
        name = text[j + 1 : close]
        literal.append("#" * (hashes // 2))
        if hashes % 2 == 1 and name:
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Reference(name))
        else:
            literal.append(("#" if hashes % 2 == 1 else "") + text[j : close + 1])
        i = close + 1
    if literal:
        segments.append("".join(literal))
    return [s for s in segments if s != ""]


def references(text: str) -> list[str]:
    """Names of the parameters `text` references, in order."""
    return [s.name for s in parse_references(text) if isinstance(s, Reference)]


def substitute(segments: Sequence[Segment], values: Mapping[str, str]) -> str:
    """Join `segments`, replacing each reference by its value."""
    return "".join(s if isinstance(s, str) else values[s.name] for s in segments)


@dataclass(frozen=True)
class Parameter:
    """A parameter of the flow's bound context, after providers and overrides.

    ``value is None`` means unset. `__repr__` hides sensitive values.
    """

    name: str
    value: str | None
    sensitive: bool
    description: str
    context: str

    def __repr__(self) -> str:
        shown = "<sensitive>" if self.sensitive and self.value is not None else repr(self.value)
        return f"Parameter({self.name!r}, value={shown}, sensitive={self.sensitive})"


def resolve_parameters(
    model: FlowModel,
    *,
    source: str,
    flow_dir: Path,
    overrides: Mapping[str, str],
    parameters_file: Path | None,
    env: Mapping[str, str],
) -> dict[str, Parameter]:
    """The effective parameters of the process group's context, with every value source applied.

    Raises:
        ConfigurationError: one line, prefixed with `source` (the flow file as given).
    """
    contexts = _check_contexts(model.parameter_contexts, source)
    bound = model.process_group.parameter_context
    if bound is None:
        parameters: dict[str, Parameter] = {}
    elif bound not in contexts:
        raise ConfigurationError(f"{source}: process_group: parameter context '{bound}' is not defined")
    else:
        parameters = _effective(bound, contexts)
    defined_anywhere = {p.name for c in model.parameter_contexts for p in c.parameters}

    for index, provider in enumerate(model.parameter_providers):
        where = f"{source}: parameter_providers[{index}] '{provider.name}'"
        if provider.type == "environment":
            for name, variable in provider.parameters.items():
                if name not in defined_anywhere:
                    raise ConfigurationError(f"{where}: parameter '{name}' is not defined in any parameter context")
                if name in parameters and variable in env:
                    parameters[name] = replace(parameters[name], value=env[variable])
        else:
            if not provider.path:
                raise ConfigurationError(f"{where}: a file provider needs 'path'")
            path = flow_dir / provider.path
            if path.exists():  # a missing file leaves its parameters unset
                for name, value in _read_mapping(path, where).items():
                    if name in parameters:
                        parameters[name] = replace(parameters[name], value=value)

    if parameters_file is not None:
        if not parameters_file.exists():
            raise ConfigurationError(f"--parameters: file not found: {parameters_file}")
        _apply_overrides(
            parameters,
            _read_mapping(parameters_file, f"--parameters {parameters_file}"),
            f"--parameters {parameters_file}",
            bound,
        )
    _apply_overrides(parameters, overrides, "-p", bound)
    return parameters


def _check_contexts(models: Sequence[ParameterContextModel], source: str) -> dict[str, ParameterContextModel]:
    contexts: dict[str, ParameterContextModel] = {}
    edges: list[tuple[str, str]] = []
    for index, context in enumerate(models):
        where = f"{source}: parameter_contexts[{index}] '{context.name}'"
        if context.name in contexts:
            raise ConfigurationError(f"{where}: duplicate parameter context name")
        contexts[context.name] = context
        seen: set[str] = set()
        for p_index, parameter in enumerate(context.parameters):
            if parameter.name in seen:
                raise ConfigurationError(f"{where}: parameters[{p_index}]: duplicate parameter '{parameter.name}'")
            seen.add(parameter.name)
            if parameter.sensitive and parameter.value is not None:
                raise ConfigurationError(
                    f"{where}: parameters[{p_index}] '{parameter.name}': a sensitive parameter must not "
                    "have a value in the YAML; give it through a parameter provider or -p"
                )
    for index, context in enumerate(models):
        for parent in context.inherits:
            if parent not in contexts:
                raise ConfigurationError(
                    f"{source}: parameter_contexts[{index}] '{context.name}': inherits undefined parameter "
                    f"context '{parent}'"
                )
            edges.append((context.name, parent))
    if not has_cycle(contexts, edges):
        return contexts
    # networkx finds the cycle the message names; importing it costs ~0.1 s, which a valid flow
    # does not pay (flowkit/engine/dag.py).
    import networkx as nx

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(contexts)
    graph.add_edges_from(edges)
    cycle = nx.find_cycle(graph)
    names = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    raise ConfigurationError(f"{source}: parameter_contexts: inheritance cycle {names}")


def _effective(name: str, contexts: Mapping[str, ParameterContextModel]) -> dict[str, Parameter]:
    """Own parameters win, then inherited contexts in list order (NIFI-8491)."""
    context = contexts[name]
    result: dict[str, Parameter] = {}
    for parameter in context.parameters:
        result[parameter.name] = Parameter(
            parameter.name, parameter.value, parameter.sensitive, parameter.description, context.name
        )
    for parent in context.inherits:
        for inherited_name, inherited in _effective(parent, contexts).items():
            result.setdefault(inherited_name, inherited)
    return result


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load` through libyaml when PyYAML has it (a flow file parses ~10x faster: ~20 ms of every
    start-up). A document it refuses is parsed again by the pure-Python parser, whose exception is raised:
    the error messages stay the same with or without libyaml (they differ in wording)."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # CSafeLoader: SafeLoader built on libyaml
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _read_mapping(path: Path, where: str) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else parse_yaml(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        # The parser's message may quote file content (a secret): name only the problem's kind.
        raise ConfigurationError(f"{where}: cannot read {path} ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: {path} must hold a mapping of parameter name to value")
    result: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict | list):
            raise ConfigurationError(f"{where}: the value of '{key}' must be a string, number or boolean")
        result[str(key)] = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    return result


def _apply_overrides(
    parameters: dict[str, Parameter], values: Mapping[str, str], where: str, bound: str | None
) -> None:
    for name, value in values.items():
        if name not in parameters:
            context = f"parameter context '{bound}'" if bound else "the flow (it has no parameter context)"
            raise ConfigurationError(f"{where}: unknown parameter '{name}': not a parameter of {context}")
        parameters[name] = replace(parameters[name], value=value)


def parse_override(text: str) -> tuple[str, str]:
    """Split a ``-p "Name=value"`` argument."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        # Do not echo the argument: it may be a secret typed without its "Name=" part.
        raise ConfigurationError('-p: expected "Name=value" (a parameter name, "=", then the value)')
    return name.strip(), value


def environ() -> Mapping[str, str]:
    """The process environment (a function so callers can pass their own mapping instead)."""
    return os.environ
