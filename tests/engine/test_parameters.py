"""Parameter references, escaping, inheritance, providers and overrides; time periods."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowkit.engine import ConfigurationError, load_flow, parse_time_period
from flowkit.engine.parameters import Reference, parse_references, parse_yaml, substitute
from tests.engine.helpers import write_flow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#{Name}", "value"),
        ("a #{Name} b", "a value b"),
        ("##{Name}", "#{Name}"),
        ("###{Name}", "#value"),
        ("####{Name}", "##{Name}"),
        ("#{With Spaces}", "spaced"),
        ("no refs # here", "no refs # here"),
        ("#{unclosed", "#{unclosed"),
        ("#{Name}#{Name}", "valuevalue"),
    ],
)
def test_references_and_escaping(text: str, expected: str) -> None:
    segments = parse_references(text)
    values = {"Name": "value", "With Spaces": "spaced"}
    assert substitute(segments, values) == expected


def test_escaped_reference_is_not_a_reference() -> None:
    assert parse_references("##{x}") == ["#{x}"]
    assert parse_references("###{x}") == ["#", Reference("x")]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10 nanos", 1e-8),
        ("50 ms", 0.05),
        ("10 millis", 0.01),
        ("30 sec", 30),
        ("30 secs", 30),
        ("2 seconds", 2),
        ("1s", 1),
        ("1 min", 60),
        ("5 mins", 300),
        ("2 minutes", 120),
        ("1 m", 60),
        ("2 hrs", 7200),
        ("1 hour", 3600),
        ("1 h", 3600),
        ("1 day", 86400),
        ("2 d", 172800),
        ("1.5 sec", 1.5),
    ],
)
def test_time_periods(text: str, seconds: float) -> None:
    assert parse_time_period(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 parsecs", "sec", "-1 sec", "", "1 sec 2"])
def test_invalid_time_periods(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid time period"):
        parse_time_period(text)


FLOW = """\
flowkit: 1
process_group: {name: Param Flow, parameter_context: Child}
parameter_contexts:
  - name: Grandparent
    parameters:
      - {name: A, value: from-grandparent}
      - {name: B, value: from-grandparent}
      - {name: C, value: from-grandparent}
  - name: Parent 1
    inherits: [Grandparent]
    parameters:
      - {name: B, value: from-parent-1}
  - name: Parent 2
    parameters:
      - {name: B, value: from-parent-2}
      - {name: C, value: from-parent-2}
  - name: Child
    inherits: [Parent 1, Parent 2]
    parameters:
      - {name: A, value: from-child}
      - {name: Token, sensitive: true}
      - {name: From File, value: yaml-default}
      - {name: Number, value: 5}
parameter_providers:
  - name: Env
    type: environment
    parameters: {Token: TEST_TOKEN}
  - name: File
    type: file
    path: secrets.yaml
processors:
  - name: Generate
    type: GenerateFlowFile
    properties: {Text: "#{A}/#{B}/#{C}/#{From File}", Batch Size: "#{Number}"}
    auto_terminate: [success]
"""


def values(path: Path, **kwargs: object) -> dict[str, str | None]:
    flow = load_flow(path, **kwargs)  # type: ignore[arg-type]
    return {name: p.value for name, p in flow.parameters.items()}


def test_inheritance_own_parameters_win_then_earlier_contexts(tmp_path: Path) -> None:
    result = values(write_flow(tmp_path, FLOW), env={})
    assert result["A"] == "from-child"
    assert result["B"] == "from-parent-1"
    assert result["C"] == "from-grandparent"  # Parent 1 (via Grandparent) comes before Parent 2
    assert result["Token"] is None
    assert result["Number"] == "5"


def test_providers_then_parameters_file_then_overrides(tmp_path: Path) -> None:
    path = write_flow(tmp_path, FLOW)
    (tmp_path / "secrets.yaml").write_text("From File: from-file\nUnrelated: ignored\n")
    assert values(path, env={"TEST_TOKEN": "t0k"})["Token"] == "t0k"
    assert values(path, env={})["From File"] == "from-file"
    params = tmp_path / "params.json"
    params.write_text('{"From File": "from-params", "A": "a2"}')
    result = values(path, env={}, parameters_file=params, overrides={"A": "a3"})
    assert result["From File"] == "from-params"
    assert result["A"] == "a3"


def test_effective_property_values(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, FLOW), env={}, overrides={"Number": "3"})
    properties = flow.processor("Generate").properties
    assert properties["Text"] == "from-child/from-parent-1/from-grandparent/yaml-default"
    assert properties["Batch Size"] == "3"
    assert properties["Record Count"] == "0"  # default applied


def test_sensitive_values_are_not_in_repr(tmp_path: Path) -> None:
    flow = load_flow(write_flow(tmp_path, FLOW), env={"TEST_TOKEN": "t0k-secret"})
    assert "t0k-secret" not in repr(flow)
    assert "t0k-secret" not in repr(flow.parameters)


def test_inheritance_cycle_is_an_error(tmp_path: Path) -> None:
    text = FLOW.replace("  - name: Parent 2\n", "  - name: Parent 2\n    inherits: [Child]\n")
    with pytest.raises(ConfigurationError, match=r"inheritance cycle Parent 2 -> Child -> Parent 2$"):
        load_flow(write_flow(tmp_path, text), env={})


def test_environment_provider_for_undefined_parameter(tmp_path: Path) -> None:
    text = FLOW.replace("{Token: TEST_TOKEN}", "{Nope: TEST_TOKEN}")
    with pytest.raises(ConfigurationError, match=r"parameter_providers\[0\] 'Env': parameter 'Nope' is not defined"):
        load_flow(write_flow(tmp_path, text), env={})


def test_flow_id_is_a_slug_or_explicit(tmp_path: Path) -> None:
    text = FLOW.replace("name: Param Flow", "name: Atlassian Jira Cloud (Agile)")
    assert load_flow(write_flow(tmp_path, text), env={}).flow_id == "atlassian-jira-cloud-agile"
    text = FLOW.replace("name: Param Flow", "name: X, id: my-flow")
    assert load_flow(write_flow(tmp_path, text), env={}).flow_id == "my-flow"


def test_parse_yaml_reads_what_safe_load_reads_and_raises_its_errors() -> None:
    """libyaml parses (when installed); a refused document is reported in the pure-Python parser's words."""
    flows = sorted((Path(__file__).resolve().parents[2] / "flows").glob("*.yaml"))
    assert flows
    for flow in flows:
        text = flow.read_text(encoding="utf-8")
        assert parse_yaml(text) == yaml.safe_load(text), flow
    assert parse_yaml("a: '1'\nb: [x, 2.5, null, true]\n") == {"a": "1", "b": ["x", 2.5, None, True]}
    for text, problem in [
        ("a: [1, 2\n", "expected ',' or ']', but got '<stream end>'"),  # libyaml: "did not find expected ..."
        ("a: b: c\n", "mapping values are not allowed here"),  # libyaml: "... in this context"
    ]:
        with pytest.raises(yaml.MarkedYAMLError) as info:
            parse_yaml(text)
        assert info.value.problem == problem
    with pytest.raises(yaml.constructor.ConstructorError):  # still the safe loader: no Python objects
        parse_yaml("a: !!python/object/apply:os.getcwd []\n")
