"""The flow's picture: processors, connections, controller services and parameters as Mermaid or DOT.

Drawn from the flow file as written (`read_flow_model`): no parameter needs a value, so the picture
of a flow whose secrets live in the environment can be drawn anywhere. Processor and service types
are looked up in the registry for their relationships and for the properties that reference
services. Sensitive parameters are never given a value in a flow file; they show as ``(sensitive)``.

`render(dot_text, path)` turns DOT into SVG or PNG with Graphviz's ``dot`` when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flowkit.engine.errors import ConfigurationError
from flowkit.engine.loader import read_flow_model
from flowkit.engine.model import FlowModel, ParameterContextModel
from flowkit.engine.registry import Registry, default_registry

FORMATS = ("mermaid", "dot")
RENDERED = ("svg", "png")  # output suffixes that need Graphviz
SENSITIVE = "(sensitive)"
BLANK = "(blank)"
_REFERENCE = re.compile(r"(?<!#)#\{([^{}]+)\}")


@dataclass(frozen=True)
class ProcessorBox:
    name: str
    type: str
    schedule: str  # e.g. "every 10 mins, 4 tasks"
    relationships: tuple[str, ...]
    auto_terminated: tuple[str, ...]
    services: tuple[str, ...]  # controller services it references


@dataclass(frozen=True)
class ConnectionArrow:
    source: str
    destination: str
    relationships: tuple[str, ...]
    back_pressure: int


@dataclass(frozen=True)
class ServiceBox:
    name: str
    type: str
    used_by: tuple[str, ...]  # processors and services that reference it
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class ParameterLine:
    context: str
    name: str
    shown: str  # the YAML value, "" when blank, or SENSITIVE


@dataclass(frozen=True)
class FlowPicture:
    """Everything the picture shows, in YAML order."""

    name: str
    parameter_context: str | None
    processors: tuple[ProcessorBox, ...]
    connections: tuple[ConnectionArrow, ...]
    services: tuple[ServiceBox, ...]
    parameters: tuple[ParameterLine, ...]


def describe(path: str | Path, registry: Registry | None = None) -> FlowPicture:
    """Read a flow file into a `FlowPicture`.

    Raises:
        ConfigurationError: unreadable file, wrong shape, or an unknown processor/service type.
    """
    model = read_flow_model(path)
    registry = registry or default_registry
    values = _yaml_values(model)
    service_names = {s.name for s in model.controller_services}
    users: dict[str, list[str]] = {name: [] for name in service_names}
    services_of: dict[str, tuple[str, ...]] = {}
    for service in model.controller_services:
        cls = registry.service_type(service.type)
        if cls is None:
            raise ConfigurationError(f"{path}: controller service '{service.name}': unknown type '{service.type}'")
        refs = _service_references(cls.properties, service.properties, values, service_names)
        services_of[service.name] = refs
        for ref in refs:
            users[ref].append(service.name)
    processors: list[ProcessorBox] = []
    for processor in model.processors:
        pcls = registry.processor_type(processor.type)
        if pcls is None:
            raise ConfigurationError(f"{path}: processor '{processor.name}': unknown type '{processor.type}'")
        refs = _service_references(pcls.properties, processor.properties, values, service_names)
        for ref in refs:
            users[ref].append(processor.name)
        processors.append(
            ProcessorBox(
                name=processor.name,
                type=processor.type,
                schedule=_schedule(processor.scheduling.run_schedule, processor.scheduling.concurrent_tasks, values),
                relationships=tuple(r.name for r in pcls.relationships),
                auto_terminated=tuple(processor.auto_terminate),
                services=refs,
            )
        )
    return FlowPicture(
        name=model.process_group.name,
        parameter_context=model.process_group.parameter_context,
        processors=tuple(processors),
        connections=tuple(
            ConnectionArrow(c.source, c.destination, tuple(c.relationships), c.back_pressure_object_threshold)
            for c in model.connections
        ),
        services=tuple(
            ServiceBox(s.name, s.type, tuple(users[s.name]), services_of[s.name]) for s in model.controller_services
        ),
        parameters=tuple(_parameter_lines(model)),
    )


def _yaml_values(model: FlowModel) -> dict[str, str]:
    """Non-sensitive parameter values as written in the YAML (any context; the bound context's chain wins)."""
    values: dict[str, str] = {}
    for context in model.parameter_contexts:
        for parameter in context.parameters:
            if not parameter.sensitive and parameter.value is not None:
                values.setdefault(parameter.name, parameter.value)
    return values


def _substituted(text: str, values: dict[str, str]) -> str:
    return _REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), text).replace("##{", "#{")


def _service_references(
    descriptors: tuple[object, ...],
    properties: dict[str, str | None],
    values: dict[str, str],
    service_names: set[str],
) -> tuple[str, ...]:
    refs: list[str] = []
    for descriptor in descriptors:
        if getattr(descriptor, "controller_service", None) is None:
            continue
        raw = properties.get(getattr(descriptor, "name", ""))
        name = _substituted(raw, values) if raw else None
        if name in service_names and name not in refs:
            refs.append(name)
    return tuple(refs)


def _schedule(run_schedule: str, tasks: int, values: dict[str, str]) -> str:
    period = _substituted(run_schedule, values)
    shown = period if period == run_schedule else f"{period} ({run_schedule})"
    return f"run schedule {shown}, {tasks} task{'s' if tasks != 1 else ''}"


def _parameter_lines(model: FlowModel) -> list[ParameterLine]:
    """Parameters of the bound context and of every context it inherits, in inheritance order."""
    contexts = {c.name: c for c in model.parameter_contexts}
    order: list[ParameterContextModel] = []

    def visit(name: str | None) -> None:
        context = contexts.get(name or "")
        if context is None or context in order:
            return
        order.append(context)
        for parent in context.inherits:
            visit(parent)

    visit(model.process_group.parameter_context)
    lines: list[ParameterLine] = []
    for context in order:
        for parameter in context.parameters:
            shown = SENSITIVE if parameter.sensitive else (parameter.value or BLANK)
            lines.append(ParameterLine(context.name, parameter.name, shown))
    return lines


def _processor_lines(box: ProcessorBox) -> list[str]:
    lines = [box.name, f"type {box.type}", box.schedule]
    if box.auto_terminated:
        lines.append("auto-terminated: " + ", ".join(box.auto_terminated))
    return lines


# ------------------------------------------------------------------------------------------ Mermaid


def _mm(text: str) -> str:
    """Escape one line for a quoted Mermaid label (entity codes; Mermaid reads # and quotes specially)."""
    return (
        text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("|", "#124;")
    )


def _mm_label(lines: list[str], bold_first: bool = True) -> str:
    escaped = [_mm(line) for line in lines]
    if bold_first and escaped:
        escaped[0] = f"<b>{escaped[0]}</b>"
    return '"' + "<br/>".join(escaped) + '"'


def to_mermaid(picture: FlowPicture) -> str:
    """A Mermaid ``flowchart`` (renders in GitHub/GitLab Markdown inside a ```mermaid block)."""
    pid = {p.name: f"p{i}" for i, p in enumerate(picture.processors)}
    sid = {s.name: f"s{i}" for i, s in enumerate(picture.services)}
    out = ["flowchart LR"]
    out.append(f'  subgraph pg["{_mm("Process group: " + picture.name)}"]')
    out.append("    direction LR")
    for p in picture.processors:
        out.append(f"    {pid[p.name]}[{_mm_label(_processor_lines(p))}]")
    for c in picture.connections:
        label = _mm(", ".join(c.relationships)) + "<br/>" + _mm(f"back pressure {c.back_pressure:,}")
        out.append(f'    {pid[c.source]} -->|"{label}"| {pid[c.destination]}')
    out.append("  end")
    if picture.services:
        out.append('  subgraph cs["Controller services"]')
        for s in picture.services:
            out.append(f"    {sid[s.name]}[({_mm_label(_service_lines(s))})]")
        for s in picture.services:
            for dependency in s.depends_on:
                out.append(f"    {sid[s.name]} -.->|uses| {sid[dependency]}")
        out.append("  end")
    if picture.parameters:
        title = "Parameter context: " + (picture.parameter_context or "")
        out.append(f'  subgraph pc["{_mm(title)}"]')
        for i, (context, lines) in enumerate(_parameters_by_context(picture).items()):
            out.append(f"    c{i}[{_mm_label([context, *lines])}]")
        out.append("  end")
    return "\n".join(out) + "\n"


def _service_lines(service: ServiceBox) -> list[str]:
    """The lines of a controller service's box, in both formats."""
    return [service.name, f"type {service.type}", "used by: " + (", ".join(service.used_by) or "nothing")]


def _parameters_by_context(picture: FlowPicture) -> dict[str, list[str]]:
    """``name = shown value`` lines grouped by the parameter context that declares them."""
    grouped: dict[str, list[str]] = {}
    for line in picture.parameters:
        grouped.setdefault(line.context, []).append(f"{line.name} = {line.shown}")
    return grouped


# ------------------------------------------------------------------------------------------ DOT


def _dot(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_lines(lines: list[str]) -> str:
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def to_dot(picture: FlowPicture) -> str:
    """A Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    out = [f"digraph {_dot(picture.name)} {{", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    out.append('  edge [fontname="Helvetica", fontsize=9];')
    out.append(f"  subgraph cluster_group {{ label={_dot('Process group: ' + picture.name)};")
    for p in picture.processors:
        out.append(f"    {_dot('p:' + p.name)} [shape=box, style=rounded, label={_dot_lines(_processor_lines(p))}];")
    for c in picture.connections:
        label = _dot_lines([", ".join(c.relationships), f"back pressure {c.back_pressure:,}"])
        out.append(f"    {_dot('p:' + c.source)} -> {_dot('p:' + c.destination)} [label={label}];")
    out.append("  }")
    if picture.services:
        out.append(f"  subgraph cluster_services {{ label={_dot('Controller services')};")
        for s in picture.services:
            out.append(f"    {_dot('s:' + s.name)} [shape=cylinder, label={_dot_lines(_service_lines(s))}];")
        for s in picture.services:
            for dependency in s.depends_on:
                out.append(f"    {_dot('s:' + s.name)} -> {_dot('s:' + dependency)} [style=dashed, label=uses];")
        out.append("  }")
    if picture.parameters:
        title = "Parameter context: " + (picture.parameter_context or "")
        out.append(f"  subgraph cluster_parameters {{ label={_dot(title)};")
        for i, (context, lines) in enumerate(_parameters_by_context(picture).items()):
            out.append(f"    {_dot(f'c{i}')} [shape=note, label={_dot_lines([context, *lines])}];")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def graphviz_available() -> bool:
    """True when Graphviz's ``dot`` is on PATH."""
    return shutil.which("dot") is not None


def render(dot_text: str, path: Path) -> None:
    """Write `dot_text` rendered as SVG or PNG (by `path`'s suffix) with Graphviz.

    Raises:
        ConfigurationError: unsupported suffix, Graphviz missing, or ``dot`` failed.
    """
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in RENDERED:
        raise ConfigurationError(f"--output {path}: rendering needs a .svg or .png file name")
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigurationError(
            f"--output {path}: Graphviz 'dot' is not installed; install graphviz, or write the DOT text "
            "(--format dot) and render it elsewhere"
        )
    result = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=dot_text, capture_output=True, text=True)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise ConfigurationError(f"--output {path}: Graphviz 'dot' failed: {first}")
