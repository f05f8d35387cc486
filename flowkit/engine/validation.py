"""Cross-reference checks of a parsed flow: types, properties, parameters, connections, graph.

Every check raises `ConfigurationError` with ONE line: ``<file>: <location>: <problem>``. The first
failure wins. Sensitive values never appear in a message.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowkit.engine.components import ControllerService, Processor, PropertyDescriptor
from flowkit.engine.dag import ordered, reachable
from flowkit.engine.errors import ConfigurationError
from flowkit.engine.flow import ConnectionConfig, ProcessorConfig, Scheduling, ServiceConfig
from flowkit.engine.model import ControllerServiceModel, FlowModel, ProcessorModel
from flowkit.engine.parameters import Parameter, Reference, parse_references, substitute
from flowkit.engine.registry import Registry
from flowkit.engine.timeperiod import parse_time_period

_Component = type[Processor] | type[ControllerService]


def build_services(
    model: FlowModel, source: str, registry: Registry, parameters: Mapping[str, Parameter]
) -> list[ServiceConfig]:
    """Look up and configure every controller service (YAML order)."""
    classes: dict[str, type[ControllerService]] = {}
    for index, service in enumerate(model.controller_services):
        where = f"{source}: controller_services[{index}] '{service.name}'"
        if service.name in classes:
            raise ConfigurationError(f"{where}: duplicate controller service name")
        cls = registry.service_type(service.type)
        if cls is None:
            raise ConfigurationError(f"{where}: unknown controller service type '{service.type}'")
        classes[service.name] = cls
    return [
        ServiceConfig(
            service.name,
            service.type,
            classes[service.name],
            resolve_properties(
                f"{source}: controller_services[{index}] '{service.name}'",
                source,
                service,
                classes[service.name],
                parameters,
                classes,
            ),
        )
        for index, service in enumerate(model.controller_services)
    ]


def build_processors(
    model: FlowModel,
    source: str,
    registry: Registry,
    parameters: Mapping[str, Parameter],
    services: Mapping[str, type[ControllerService]],
) -> list[ProcessorConfig]:
    """Look up and configure every processor (YAML order)."""
    configs: list[ProcessorConfig] = []
    names: set[str] = set(services)
    for index, processor in enumerate(model.processors):
        where = f"{source}: processors[{index}] '{processor.name}'"
        if processor.name in names:
            raise ConfigurationError(f"{where}: duplicate name (processor and service names must be unique)")
        names.add(processor.name)
        cls = registry.processor_type(processor.type)
        if cls is None:
            raise ConfigurationError(f"{where}: unknown processor type '{processor.type}'")
        properties = resolve_properties(where, source, processor, cls, parameters, services)
        for relationship in processor.auto_terminate:
            if cls.relationship(relationship) is None:
                raise ConfigurationError(
                    f"{where}: auto_terminate: '{relationship}' is not a relationship of {processor.type}"
                    f" ({_names(cls)})"
                )
        s = processor.scheduling

        def period(field: str, text: str, where: str = where, name: str = processor.name) -> float:
            return _scheduling_period(where, source, name, field, text, parameters)

        scheduling = Scheduling(
            period("run_schedule", s.run_schedule),
            s.concurrent_tasks,
            period("penalty_duration", s.penalty_duration),
            period("yield_duration", s.yield_duration),
        )
        configs.append(
            ProcessorConfig(
                processor.name,
                processor.type,
                cls,
                properties,
                scheduling,
                frozenset(processor.auto_terminate),
            )
        )
    return configs


def _scheduling_period(
    where: str, source: str, owner: str, field: str, text: str, parameters: Mapping[str, Parameter]
) -> float:
    """A scheduling time period, with ``#{...}`` references substituted."""
    segments = parse_references(text)
    refs = [s.name for s in segments if isinstance(s, Reference)]
    used_by = f"(used by {owner}.scheduling.{field})"
    for ref in refs:
        if ref not in parameters:
            raise ConfigurationError(f"{where}: scheduling.{field} references undefined parameter '{ref}'")
        if parameters[ref].sensitive:
            raise ConfigurationError(f"{where}: scheduling.{field} references sensitive parameter '{ref}'")
        if parameters[ref].value is None:
            raise ConfigurationError(f"{source}: parameter '{ref}' has no value {used_by}")
    value = substitute(segments, {r: parameters[r].value or "" for r in refs})
    try:
        return parse_time_period(value)
    except ValueError:
        problem = f"'{value}' is not a valid time period"
        if refs:
            raise ConfigurationError(f"{source}: parameter '{refs[0]}': {problem} {used_by}") from None
        raise ConfigurationError(f"{where}: scheduling.{field}: {problem}") from None


def _names(cls: type[Processor]) -> str:
    return ", ".join(r.name for r in cls.relationships) or "it has none"


def resolve_properties(
    where: str,
    source: str,
    component: ProcessorModel | ControllerServiceModel,
    cls: _Component,
    parameters: Mapping[str, Parameter],
    services: Mapping[str, type[ControllerService]],
) -> dict[str, str | None]:
    """Effective property values: references substituted, blanks unset, defaults applied, validators run."""
    for name in component.properties:
        if cls.property_descriptor(name) is None:
            raise ConfigurationError(f"{where}: property '{name}' is not a property of {component.type}")
    values: dict[str, str | None] = {}
    for descriptor in cls.properties:
        raw = component.properties.get(descriptor.name)
        value, unset_parameter = _substitute(where, descriptor, raw, parameters)
        if value is None:
            value = descriptor.default
        if value is None and descriptor.required:
            if unset_parameter is not None:
                raise ConfigurationError(
                    f"{source}: parameter '{unset_parameter}' has no value (required by {component.name}."
                    f"'{descriptor.name}'); set it with a parameter provider, --parameters or -p"
                )
            raise ConfigurationError(f"{where}: required property '{descriptor.name}' is not set")
        if value is not None:
            _check_value(where, source, component.name, descriptor, value, raw, parameters, services)
        values[descriptor.name] = value
    problem = cls.custom_validate(values)
    if problem:
        raise ConfigurationError(f"{where}: {problem}")
    return values


def _substitute(
    where: str, descriptor: PropertyDescriptor, raw: str | None, parameters: Mapping[str, Parameter]
) -> tuple[str | None, str | None]:
    """(value or None, the name of an unset parameter that left it None)."""
    if raw is None:
        return None, None
    segments = parse_references(raw)
    refs = [s.name for s in segments if isinstance(s, Reference)]
    prop = f"property '{descriptor.name}'"
    for ref in refs:
        if ref not in parameters:
            raise ConfigurationError(f"{where}: {prop} references undefined parameter '{ref}'")
    if descriptor.sensitive:
        if not refs or any(isinstance(s, str) and s.strip() for s in segments):
            raise ConfigurationError(
                f"{where}: sensitive {prop} must reference a sensitive parameter, not hold a literal value"
            )
        plain = next((r for r in refs if not parameters[r].sensitive), None)
        if plain is not None:
            raise ConfigurationError(f"{where}: sensitive {prop} references non-sensitive parameter '{plain}'")
    else:
        secret = next((r for r in refs if parameters[r].sensitive), None)
        if secret is not None:
            raise ConfigurationError(f"{where}: {prop} is not sensitive but references sensitive parameter '{secret}'")
    unset = next((r for r in refs if parameters[r].value is None), None)
    if unset is not None:
        return None, unset
    value = substitute(segments, {r: parameters[r].value or "" for r in refs})
    return (value if value != "" else None), None


def _check_value(
    where: str,
    source: str,
    owner: str,
    descriptor: PropertyDescriptor,
    value: str,
    raw: str | None,
    parameters: Mapping[str, Parameter],
    services: Mapping[str, type[ControllerService]],
) -> None:
    refs = [s.name for s in parse_references(raw) if isinstance(s, Reference)] if raw else []
    if descriptor.controller_service is not None:
        if value not in services:
            problem = "is not a controller service of this flow"
        elif not issubclass(services[value], descriptor.controller_service):
            problem = f"is a {services[value].__name__}, not a {descriptor.controller_service.__name__}"
        else:
            return
        problem = f"'{value}' {problem}"
    else:
        message = descriptor.validate(value)
        if message is None:
            return
        sensitive = descriptor.sensitive or any(parameters[r].sensitive for r in refs)
        problem = "the (sensitive) value is not valid for this property" if sensitive else message
    if refs:
        raise ConfigurationError(f"{source}: parameter '{refs[0]}': {problem} (used by {owner}.'{descriptor.name}')")
    raise ConfigurationError(f"{where}: property '{descriptor.name}': {problem}")


def build_connections(
    model: FlowModel, source: str, processors: Mapping[str, ProcessorConfig]
) -> list[ConnectionConfig]:
    """Check each connection's ends and relationships; refuse duplicates."""
    seen: set[tuple[str, str, str]] = set()
    connections: list[ConnectionConfig] = []
    for index, connection in enumerate(model.connections):
        where = f"{source}: connections[{index}] '{connection.source}' -> '{connection.destination}'"
        for end in ("source", "destination"):
            name = getattr(connection, end)
            if name not in processors:
                raise ConfigurationError(f"{where}: {end} '{name}' is not a processor of this flow")
        cls = processors[connection.source].cls
        for relationship in connection.relationships:
            if cls.relationship(relationship) is None:
                type_name = processors[connection.source].type_name
                raise ConfigurationError(
                    f"{where}: '{relationship}' is not a relationship of {type_name} ({_names(cls)})"
                )
            key = (connection.source, relationship, connection.destination)
            if key in seen:
                raise ConfigurationError(
                    f"{where}: duplicate connection of relationship '{relationship}' to '{connection.destination}'"
                )
            seen.add(key)
        connections.append(
            ConnectionConfig(
                connection.source,
                tuple(connection.relationships),
                connection.destination,
                connection.back_pressure_object_threshold,
            )
        )
    return connections


def check_relationships(source: str, processors: list[ProcessorConfig], connections: list[ConnectionConfig]) -> None:
    """Every relationship is connected or auto-terminated, and not both."""
    connected = {(c.source, r) for c in connections for r in c.relationships}
    for index, processor in enumerate(processors):
        where = f"{source}: processors[{index}] '{processor.name}'"
        for relationship in processor.cls.relationships:
            is_connected = (processor.name, relationship.name) in connected
            if not is_connected and relationship.name not in processor.auto_terminate:
                raise ConfigurationError(
                    f"{where}: relationship '{relationship.name}' is neither connected nor auto-terminated"
                )
            if is_connected and relationship.name in processor.auto_terminate:
                raise ConfigurationError(
                    f"{where}: relationship '{relationship.name}' is both connected and auto-terminated"
                )


def check_service_cycles(source: str, services: list[ServiceConfig]) -> list[ServiceConfig]:
    """Services in enable order (dependencies first); a dependency cycle is an error."""
    edges = [(dependency, service.name) for service in services for dependency in service.dependencies()]
    position = {s.name: i for i, s in enumerate(services)}
    order = ordered(position, edges, position.__getitem__)  # ties: YAML order
    if order is not None:
        by_name = {s.name: s for s in services}
        return [by_name[name] for name in order]
    import networkx as nx  # only to name the cycle: costly to import (flowkit/engine/dag.py)

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(position)
    graph.add_edges_from(edges)
    cycle = nx.find_cycle(graph)
    names = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    raise ConfigurationError(f"{source}: controller_services: dependency cycle {names}")


def check_reachable(source: str, processors: list[ProcessorConfig], connections: list[ConnectionConfig]) -> None:
    """Every processor is a source or can be reached from one."""
    edges = [(c.source, c.destination) for c in connections]
    has_input = {destination for _, destination in edges}
    sources = [p.name for p in processors if p.name not in has_input and not p.cls.input_required]
    found = reachable(sources, edges)
    for index, processor in enumerate(processors):
        if processor.name in found:
            continue
        where = f"{source}: processors[{index}] '{processor.name}'"
        if processor.name not in has_input:
            raise ConfigurationError(
                f"{where}: unreachable: {processor.type_name} needs input but no connection leads to it"
            )
        raise ConfigurationError(f"{where}: unreachable: no path from a source processor leads to it")
