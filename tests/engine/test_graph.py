"""`flowkit graph`: the flow's picture as Mermaid and DOT, drawn from the flow file without secrets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit.engine.graph import describe, to_dot, to_mermaid
from tests.engine.helpers import write_flow

REPO = Path(__file__).resolve().parents[2]
JIRA = REPO / "flows" / "jira_agile.yaml"
EXAMPLE = REPO / "flows" / "example.yaml"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env if env is not None else {k: v for k, v in os.environ.items() if k != "JIRA_API_TOKEN"},
        timeout=60,
    )


def _mermaid_structure(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Node ids -> labels and edges (source, label, destination); asserts the lines we emit are well formed."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    depth = 0
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("subgraph "):
            assert re.fullmatch(r'subgraph \w+\["[^"]*"\]', stripped), stripped
            depth += 1
        elif stripped == "end":
            depth -= 1
        elif stripped == "direction LR":
            continue
        elif match := re.fullmatch(r'(\w+) (-->|-\.->)\|"?([^"|]*)"?\| (\w+)', stripped):
            edges.append((match.group(1), match.group(3), match.group(4)))
        elif match := re.fullmatch(r'(\w+)(\[\(|\[)"([^"]*)"(\)\]|\])', stripped):
            nodes[match.group(1)] = match.group(3)
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert depth == 0
    assert all(source in nodes and destination in nodes for source, _, destination in edges)
    return nodes, edges


def test_mermaid_of_the_jira_flow_shows_everything_an_operator_needs() -> None:
    nodes, edges = _mermaid_structure(to_mermaid(describe(JIRA)))
    labels = {label.split("<br/>")[0].removeprefix("<b>").removesuffix("</b>"): label for label in nodes.values()}
    assert "type VerifyConnection<br/>run schedule 10 mins, 1 task" in labels["VerifyConnection"]
    assert "run schedule 1 min (#35;{Merge Interval}), 1 task" in labels["MergeTables"]
    assert "auto-terminated: success" in labels["MergeTables"]
    assert "8 tasks" in labels["FetchBoardIssues"]
    assert labels["Warehouse"].endswith("used by: PutJournal, MergeTables")
    assert "type StandardJiraIngestionStateService" in labels["Ingestion State"]
    assert "Jira API Token = (sensitive)" in labels["Jira Cloud (Agile) Source Parameters"]
    assert "Enabled Tables = BOARD_ISSUE, BOARD_PROJECT, SPRINT" in labels["Jira Cloud (Agile) Ingestion Parameters"]
    names = {node: label.split("<br/>")[0].removeprefix("<b>").removesuffix("</b>") for node, label in nodes.items()}
    shown = {(names[s], label, names[d]) for s, label, d in edges}
    assert ("FetchBoardIssues", "success<br/>back pressure 8", "PutJournal") in shown
    assert ("ListBoards", "journal<br/>back pressure 10,000", "PutJournal") in shown
    assert ("Jira Client", "uses", "Jira Request Rate Manager") in shown  # a service's dependency
    assert len(edges) == 10


def test_special_characters_are_escaped_in_both_formats(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: 'Quotes "and" <angles> | pipes'}
        processors:
          - {name: 'Say "hi"', type: GenerateFlowFile, properties: {Text: x}}
          - {name: 'Back\\slash', type: LogAttribute, auto_terminate: [success]}
        connections:
          - {source: 'Say "hi"', relationships: [success], destination: 'Back\\slash'}
        """,
    )
    picture = describe(flow)
    nodes, _ = _mermaid_structure(to_mermaid(picture))
    assert any(label.startswith("<b>Say #quot;hi#quot;</b>") for label in nodes.values())
    dot = to_dot(picture)
    assert '"p:Say \\"hi\\""' in dot and '"p:Back\\\\slash"' in dot


def test_cli_graph_needs_no_secret_and_writes_dot(tmp_path: Path) -> None:
    result = _cli("graph", "flows/jira_agile.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout == to_mermaid(describe(JIRA))
    dot = _cli("graph", "flows/jira_agile.yaml", "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith('digraph "Atlassian Jira Cloud (Agile)" {')
    assert dot.stdout.count("{") == dot.stdout.count("}")
    target = tmp_path / "flow.dot"
    written = _cli("graph", "flows/example.yaml", "--format", "dot", "-o", str(target))
    assert written.returncode == 0 and target.read_text() == to_dot(describe(EXAMPLE))


def test_svg_without_graphviz_is_one_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no `dot` on this PATH
    result = _cli("graph", "flows/example.yaml", "-o", str(tmp_path / "flow.svg"), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"flowkit: error: --output {tmp_path / 'flow.svg'}: Graphviz 'dot' is not installed; install graphviz, "
        "or write the DOT text (--format dot) and render it elsewhere"
    ]
    assert not (tmp_path / "flow.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_graphviz_renders_svg_and_png(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"flow.{suffix}"
    result = _cli("graph", "flows/jira_agile.yaml", "-o", str(target))
    assert result.returncode == 0, result.stderr
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data and b"MergeTables" in data


def test_unknown_type_is_one_line(tmp_path: Path) -> None:
    flow = write_flow(
        tmp_path,
        """\
        flowkit: 1
        process_group: {name: X}
        processors:
          - {name: A, type: NoSuchProcessor}
        """,
    )
    result = _cli("graph", str(flow))
    assert result.returncode == 2
    assert result.stderr == f"flowkit: error: {flow}: processor 'A': unknown type 'NoSuchProcessor'\n"


def test_readme_shows_the_current_picture_of_the_jira_flow() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block is not None, "README.md has no mermaid block"
    assert block.group(1) == to_mermaid(describe(JIRA)), "regenerate it: flowkit graph flows/jira_agile.yaml"
