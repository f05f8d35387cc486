"""Every validation error class: one line on stderr naming the YAML location, exit code 2."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flowkit.cli import cli
from tests.engine.helpers import write_flow

HEADER = """\
flowkit: 1
process_group: {name: Validation Flow, parameter_context: Params}
parameter_contexts:
  - name: Params
    parameters:
      - {name: Greeting, value: hello}
      - {name: Merge Interval, value: 5 parsecs}
      - {name: Secret Token, sensitive: true}
      - {name: Unset, description: no value anywhere}
"""

VALID_BODY = """\
processors:
  - name: Generate
    type: GenerateFlowFile
    properties: {Text: "#{Greeting}"}
  - name: Log
    type: LogAttribute
    auto_terminate: [success]
connections:
  - {source: Generate, relationships: [success], destination: Log}
"""


def validate(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = write_flow(tmp_path, text)
    result = CliRunner().invoke(cli, ["validate", str(path), *args])
    return result.exit_code, result.stderr + result.stdout


def assert_one_line_error(tmp_path: Path, text: str, expected: str, *args: str) -> str:
    """`flowkit validate` exits 2 printing exactly ``flowkit: error: <expected>`` (``{flow}``: the flow's path)."""
    code, output = validate(tmp_path, text, *args)
    assert code == 2, output
    assert output.endswith("\n") and output.count("\n") == 1, output  # one line, nothing on stdout
    line = output.rstrip("\n")
    assert line == "flowkit: error: " + expected.replace("{flow}", str(tmp_path / "flow.yaml")), output
    return line


def test_valid_flow_passes(tmp_path: Path) -> None:
    code, output = validate(tmp_path, HEADER + VALID_BODY)
    assert code == 0, output
    assert "valid" in output


def test_malformed_yaml(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        "flowkit: 1\nprocessors: [unclosed\n",
        "{flow}: malformed YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'",
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path, HEADER + VALID_BODY + "extra: 1\n", "{flow}: extra: unknown key")


def test_unknown_processor_type(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("type: LogAttribute", "type: NoSuchProcessor")
    assert_one_line_error(tmp_path, text, "{flow}: processors[1] 'Log': unknown processor type 'NoSuchProcessor'")


def test_unknown_service_type(tmp_path: Path) -> None:
    text = HEADER + "controller_services:\n  - {name: svc, type: NoSuchService}\n" + VALID_BODY
    assert_one_line_error(
        tmp_path, text, "{flow}: controller_services[0] 'svc': unknown controller service type 'NoSuchService'"
    )


def test_unknown_property(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("{Text: ", "{Foo: bar, Text: ")
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[0] 'Generate': property 'Foo' is not a property of GenerateFlowFile",
    )


def test_missing_required_property(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("type: LogAttribute", "type: UpdateAttribute")
    assert_one_line_error(tmp_path, text, "{flow}: processors[1] 'Log': required property 'Attributes' is not set")


def test_dangling_connection(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("destination: Log}", "destination: Nowhere}")
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: connections[0] 'Generate' -> 'Nowhere': destination 'Nowhere' is not a processor of this flow",
    )


def test_unknown_relationship_in_connection(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("relationships: [success]", "relationships: [success, oops]")
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: connections[0] 'Generate' -> 'Log': 'oops' is not a relationship of GenerateFlowFile (success)",
    )


def test_duplicate_connection(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY + "  - {source: Generate, relationships: [success], destination: Log}\n"
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: connections[1] 'Generate' -> 'Log': duplicate connection of relationship 'success' to 'Log'",
    )


def test_relationship_neither_connected_nor_auto_terminated(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("    auto_terminate: [success]\n", "")
    assert_one_line_error(
        tmp_path, text, "{flow}: processors[1] 'Log': relationship 'success' is neither connected nor auto-terminated"
    )


def test_relationship_both_connected_and_auto_terminated(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace('{Text: "#{Greeting}"}', '{Text: "#{Greeting}"}\n    auto_terminate: [success]')
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[0] 'Generate': relationship 'success' is both connected and auto-terminated",
    )


def test_unreachable_processor(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        "connections:",
        "  - {name: Orphan, type: LogAttribute, auto_terminate: [success]}\nconnections:",
    )
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[2] 'Orphan': unreachable: LogAttribute needs input but no connection leads to it",
    )


def test_cycle_without_source_is_unreachable(tmp_path: Path) -> None:
    text = (
        HEADER
        + VALID_BODY
        + "  - {source: Log, relationships: [success], destination: Log2}\n"
        + "  - {source: Log2, relationships: [success], destination: Log}\n"
    ).replace("    auto_terminate: [success]\n", "")
    text = text.replace(
        "connections:",
        "  - {name: Log2, type: LogAttribute}\n  - {name: Log3, type: LogAttribute}\nconnections:",
    )
    text += "  - {source: Log3, relationships: [success], destination: Log3}\n"
    assert_one_line_error(
        tmp_path, text, "{flow}: processors[3] 'Log3': unreachable: no path from a source processor leads to it"
    )


def test_undefined_parameter(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("#{Greeting}", "#{Nope}")
    assert_one_line_error(
        tmp_path, text, "{flow}: processors[0] 'Generate': property 'Text' references undefined parameter 'Nope'"
    )


def test_plain_property_referencing_sensitive_parameter(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("#{Greeting}", "#{Secret Token}")
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[0] 'Generate': property 'Text' is not sensitive but references sensitive parameter "
        "'Secret Token'",
    )


SERVICE_BODY = """\
controller_services:
  - name: store
    type: Store
    properties: {Token: "TOKEN"}
processors:
  - name: Use
    type: UseStore
    properties: {Store: store}
    auto_terminate: [success]
"""


def test_sensitive_property_referencing_plain_parameter(tmp_path: Path) -> None:
    text = HEADER + SERVICE_BODY.replace('"TOKEN"', '"#{Greeting}"')
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: controller_services[0] 'store': sensitive property 'Token' references non-sensitive parameter "
        "'Greeting'",
    )


def test_sensitive_property_with_literal_value(tmp_path: Path) -> None:
    text = HEADER + SERVICE_BODY.replace('"TOKEN"', "hunter2")
    line = assert_one_line_error(
        tmp_path,
        text,
        "{flow}: controller_services[0] 'store': sensitive property 'Token' must reference a sensitive parameter, "
        "not hold a literal value",
    )
    assert "hunter2" not in line


def test_sensitive_parameter_with_value_in_yaml(tmp_path: Path) -> None:
    text = HEADER.replace("{name: Secret Token, sensitive: true}", "{name: Secret Token, sensitive: true, value: x}")
    assert_one_line_error(
        tmp_path,
        text + VALID_BODY,
        "{flow}: parameter_contexts[0] 'Params': parameters[2] 'Secret Token': a sensitive parameter must not have a "
        "value in the YAML; give it through a parameter provider or -p",
    )


def test_invalid_sensitive_value_is_never_shown(tmp_path: Path) -> None:
    text = HEADER + SERVICE_BODY.replace('"TOKEN"', '"#{Secret Token}"')
    line = assert_one_line_error(
        tmp_path,
        text,
        "{flow}: parameter 'Secret Token': the (sensitive) value is not valid for this property "
        "(used by store.'Token')",
        "-p",
        "Secret Token=s3cr3t",
    )
    assert "s3cr3t" not in line
    code, _ = validate(tmp_path, text, "-p", "Secret Token=42")
    assert code == 0


def test_invalid_time_period_in_scheduling(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        'properties: {Text: "#{Greeting}"}',
        'properties: {Text: "#{Greeting}"}\n    scheduling: {run_schedule: 5 parsecs}',
    )
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[0] 'Generate': scheduling.run_schedule: '5 parsecs' is not a valid time period "
        "(expected e.g. '30 sec', '5 mins', '250 millis')",
    )


def test_invalid_time_period_in_a_property(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        "    auto_terminate: [success]",
        "    auto_terminate: [success]\n  - {name: Wait, type: DelayFlowFile, properties: {Delay: 5 parsecs}}",
    )
    text = text.replace(
        "- {source: Generate, relationships: [success], destination: Log}",
        "- {source: Generate, relationships: [success], destination: Wait}\n"
        "  - {source: Wait, relationships: [success], destination: Log}",
    )
    assert_one_line_error(
        tmp_path, text, "{flow}: processors[2] 'Wait': property 'Delay': '5 parsecs' is not a valid time period"
    )


def test_validator_failure_names_the_parameter(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        "    auto_terminate: [success]",
        "    auto_terminate: [success]\n"
        "  - {name: Wait, type: DelayFlowFile, properties: {Delay: '#{Merge Interval}'},\n"
        "     auto_terminate: [success]}",
    )
    text += "  - {source: Generate, relationships: [success], destination: Wait}\n"
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: parameter 'Merge Interval': '5 parsecs' is not a valid time period (used by Wait.'Delay')",
    )


def test_scheduling_may_reference_parameters(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        'properties: {Text: "#{Greeting}"}',
        'properties: {Text: "#{Greeting}"}\n    scheduling: {run_schedule: "#{Merge Interval}"}',
    )
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: parameter 'Merge Interval': '5 parsecs' is not a valid time period "
        "(used by Generate.scheduling.run_schedule)",
    )
    code, output = validate(tmp_path, text, "-p", "Merge Interval=2 mins")
    assert code == 0, output


def test_validator_failure_of_a_literal(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace("{Text: ", "{Batch Size: many, Text: ")
    assert_one_line_error(
        tmp_path, text, "{flow}: processors[0] 'Generate': property 'Batch Size': 'many' is not a positive integer"
    )


def test_required_property_whose_parameter_is_unset(tmp_path: Path) -> None:
    text = HEADER + VALID_BODY.replace(
        "type: LogAttribute", "type: UpdateAttribute\n    properties: {Attributes: '#{Unset}'}"
    )
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: parameter 'Unset' has no value (required by Log.'Attributes'); "
        "set it with a parameter provider, --parameters or -p",
    )


def test_unknown_override(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        HEADER + VALID_BODY,
        "-p: unknown parameter 'Nope': not a parameter of parameter context 'Params'",
        "-p",
        "Nope=1",
    )


def test_unknown_parameter_in_parameters_file(tmp_path: Path) -> None:
    values = tmp_path / "values.json"
    values.write_text('{"Greeting": "hi", "Nope": "x"}')
    assert_one_line_error(
        tmp_path,
        HEADER + VALID_BODY,
        f"--parameters {values}: unknown parameter 'Nope': not a parameter of parameter context 'Params'",
        "--parameters",
        str(values),
    )


def test_malformed_override(tmp_path: Path) -> None:
    line = assert_one_line_error(
        tmp_path,
        HEADER + VALID_BODY,
        '-p: expected "Name=value" (a parameter name, "=", then the value)',
        "-p",
        "topsecret",
    )
    assert "topsecret" not in line


def test_service_dependency_cycle(tmp_path: Path) -> None:
    text = HEADER + SERVICE_BODY.replace(
        '    properties: {Token: "TOKEN"}\n',
        "    properties: {Upstream: other}\n  - {name: other, type: Store, properties: {Upstream: store}}\n",
    )
    assert_one_line_error(tmp_path, text, "{flow}: controller_services: dependency cycle store -> other -> store")


def test_service_reference_to_unknown_service(tmp_path: Path) -> None:
    text = HEADER + SERVICE_BODY.replace('    properties: {Token: "TOKEN"}\n', "").replace(
        "{Store: store}", "{Store: missing}"
    )
    assert_one_line_error(
        tmp_path,
        text,
        "{flow}: processors[0] 'Use': property 'Store': 'missing' is not a controller service of this flow",
    )


def test_flow_file_not_found(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "absent.yaml: flow file not found" in result.stderr


def _every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    commands = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            commands.extend(_every_command(command, (*path, name)))
        else:
            commands.append((*path, name))
    return commands


@pytest.mark.parametrize("command", _every_command(), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    example = result.output.split("Example:\n", 1)[1]  # an Example block, then at least one `flowkit ...` line
    assert example.splitlines()[0].strip().startswith("flowkit " + " ".join(command)), result.output


def test_walk_finds_the_engine_commands() -> None:
    assert {("run",), ("validate",), ("state",), ("state", "show"), ("state", "clear")} <= set(_every_command())


@pytest.mark.parametrize("properties", ["{}", "{Left: a, Right: b}"])
def test_a_rule_across_properties_is_checked_by_validation(tmp_path: Path, properties: str) -> None:
    body = VALID_BODY + f"controller_services:\n  - {{name: either, type: EitherOr, properties: {properties}}}\n"
    assert_one_line_error(
        tmp_path,
        HEADER + body,
        "{flow}: controller_services[0] 'either': exactly one of 'Left' and 'Right' is required",
    )
    ok = VALID_BODY + "controller_services:\n  - {name: either, type: EitherOr, properties: {Left: a}}\n"
    assert validate(tmp_path, HEADER + ok)[0] == 0
