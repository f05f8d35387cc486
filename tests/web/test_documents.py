"""The canvas's documents and access rules as pure functions, on hand-built inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowkit.engine.graph import ConnectionArrow, FlowPicture, ParameterLine, ProcessorBox, describe
from flowkit.web.documents import MASK, layout, parameters, rows_by_table, run_summary, status_document
from flowkit.web.server import Redact, allowed_hosts, needs_token, same_token

FLOW = Path(__file__).resolve().parents[2] / "flows" / "jira_agile.yaml"


def _picture(names: list[str], edges: list[tuple[str, str]]) -> FlowPicture:
    return FlowPicture(
        name="g",
        parameter_context="c",
        processors=tuple(ProcessorBox(n, "T", "", ("success",), (), ()) for n in names),
        connections=tuple(ConnectionArrow(a, b, ("success",), 10) for a, b in edges),
        services=(),
        parameters=(ParameterLine("c", "Token", "(sensitive)"), ParameterLine("c", "Url", "http://x")),
    )


def test_layout_puts_each_processor_one_column_after_its_furthest_source() -> None:
    picture = _picture(["A", "B", "C", "D"], [("A", "B"), ("B", "C"), ("A", "D"), ("C", "D")])
    assert layout(picture) == {"A": (0, 0), "B": (1, 0), "C": (2, 0), "D": (3, 0)}


def test_layout_of_the_jira_flow_puts_the_three_fetchers_in_one_column() -> None:
    places = layout(describe(FLOW))
    assert places["VerifyConnection"] == (0, 0) and places["ListBoards"] == (1, 0)
    assert {places[n] for n in ("FetchSprints", "FetchBoardProjects", "FetchBoardIssues")} == {(2, 0), (2, 1), (2, 2)}
    assert places["PutJournal"] == (3, 0) and places["MergeTables"] == (4, 0)


def test_layout_of_a_loop_uses_the_distance_from_the_source() -> None:
    picture = _picture(["A", "B", "C"], [("A", "B"), ("B", "C"), ("C", "B")])
    assert layout(picture) == {"A": (0, 0), "B": (1, 0), "C": (2, 0)}


def test_parameters_from_the_file_mask_sensitive_ones() -> None:
    shown = parameters(None, _picture(["A"], []))
    assert shown == [
        {"context": "c", "name": "Token", "value": MASK, "sensitive": True},
        {"context": "c", "name": "Url", "value": "http://x", "sensitive": False},
    ]


def test_rows_by_table_and_a_run_summary() -> None:
    counters = {"rows.BOARD.inserted": 3, "rows.BOARD.deleted": 1, "rows.SPRINT.updated": 2, "jira.requests": 9}
    assert rows_by_table(counters) == {
        "BOARD": {"inserted": 3, "updated": 0, "deleted": 1, "unchanged": 0},
        "SPRINT": {"inserted": 0, "updated": 2, "deleted": 0, "unchanged": 0},
    }
    run = {
        "run_id": "4",
        "outcome": "succeeded",
        "mode": "once",
        "started_at": "t0",
        "ended_at": "t1",
        "duration_s": 1.5,
        "counters": counters,
        "gauges": {},
        "bulletins": [{"level": "WARNING", "component": "X", "message": "m", "time": "t"}],
        "error": None,
    }
    summary = run_summary(run)
    assert summary["requests"] == 9 and summary["rows"] == {"inserted": 3, "updated": 2, "deleted": 1, "unchanged": 0}
    assert (summary["warnings"], summary["errors"]) == (1, 0)


def test_status_without_any_run_is_empty_and_groups_bulletins_by_component() -> None:
    empty = status_document("f", running=False, pid=None, in_process=False, newest=None, live=None, state_maps=0)
    assert empty["run"] is None and empty["processors"] == {}
    newest = {
        "run_id": "1",
        "outcome": "running",
        "mode": "once",
        "started_at": "t",
        "ended_at": None,
        "duration_s": 2.0,
        "counters": {},
        "gauges": {"phase": "fetching"},
        "processors": [{"name": "A", "flowfiles_in": 1, "flowfiles_out": 2, "queued": 3, "triggers": 4}],
        "connections": [{"source": "A", "relationships": ["success"], "destination": "B", "queued": 5, "threshold": 8}],
        "bulletins": [{"level": "WARNING", "component": "A", "message": "m", "time": "t"}],
        "error": None,
    }
    document = status_document("f", running=True, pid=7, in_process=False, newest=newest, live=None, state_maps=2)
    assert document["phase"] == "fetching" and document["processors"]["A"]["in"] == 1
    assert document["connections"] == {"A|success|B": {"queued": 5, "threshold": 8}}
    assert [b["message"] for b in document["bulletins"]["A"]] == ["m"]


@pytest.mark.parametrize(
    ("host", "needed"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("127.0.0.2", True),
    ],
)
def test_only_the_loopback_address_itself_goes_without_a_token(host: str, needed: bool) -> None:
    assert needs_token(host) is needed


def test_a_loopback_bind_answers_only_its_own_host_names() -> None:
    hosts = allowed_hosts("127.0.0.1", 8000)
    assert hosts is not None and "127.0.0.1:8000" in hosts and "localhost:8000" in hosts
    assert "evil.example:8000" not in hosts and "127.0.0.1:8001" not in hosts
    assert allowed_hosts("0.0.0.0", 8000) is None  # the token guards it


def test_token_comparison_and_redaction() -> None:
    assert same_token("abc", "abc") and not same_token("abd", "abc") and not same_token(None, "abc")
    assert Redact(["s3cret-value", "x"])('{"a": "s3cret-value", "b": "x"}') == '{"a": "***", "b": "x"}'
