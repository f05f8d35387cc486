"""Parameter rules of the Jira flow (product.md §3), as pure functions."""

from __future__ import annotations

from flowkit.jira.validators import destination_problem, sql_identifier

SNOWFLAKE = {"Destination Type": "SNOWFLAKE", "Destination Database": "RAW", "Destination Schema": "JIRA"}
KEY_PAIR = {
    **SNOWFLAKE,
    "Snowflake Authentication Strategy": "KEY_PAIR",
    "Snowflake Account Identifier": "acme-prod",
    "Snowflake Username": "FLOWKIT",
}


def test_sqlite_needs_none_of_the_snowflake_parameters() -> None:
    assert destination_problem({"Destination Type": "SQLITE", "Snowflake Private Key": "ignored"}) is None


def test_snowflake_needs_database_and_schema() -> None:
    assert "'Destination Database' is required" in (destination_problem({"Destination Type": "SNOWFLAKE"}) or "")
    schema_missing = {**SNOWFLAKE, "Destination Schema": None}
    assert "'Destination Schema' is required" in (destination_problem(schema_missing) or "")


def test_snowflake_managed_refuses_key_material_and_accepts_the_old_aliases() -> None:
    problem = destination_problem({**SNOWFLAKE, "Snowflake Private Key File": "/keys/k.p8"})
    assert problem is not None and "'Snowflake Private Key File' must be blank with SNOWFLAKE_MANAGED" in problem
    for alias in ("SNOWFLAKE_SESSION_TOKEN", "SNOWFLAKE_MANAGED_TOKEN"):
        problem = destination_problem(
            {**SNOWFLAKE, "Snowflake Authentication Strategy": alias, "Snowflake Username": "U"}
        )
        assert problem is not None and "must be blank with SNOWFLAKE_MANAGED" in problem


def test_key_pair_needs_exactly_one_key_and_never_quotes_it() -> None:
    neither = destination_problem(KEY_PAIR) or ""
    assert "exactly one of 'Snowflake Private Key' and 'Snowflake Private Key File'" in neither
    secret = "-----BEGIN PRIVATE KEY-----abc"
    both = destination_problem({**KEY_PAIR, "Snowflake Private Key": secret, "Snowflake Private Key File": "/k.p8"})
    assert both is not None and "exactly one" in both and secret not in both
    assert "'Snowflake Username' is required" in (destination_problem({**KEY_PAIR, "Snowflake Username": ""}) or "")


def test_snowflake_host_must_be_https_or_loopback_http() -> None:
    ok = {**KEY_PAIR, "Snowflake Private Key File": "/k.p8"}
    assert "plain http" in (destination_problem({**ok, "Snowflake Host": "http://snowflake.example.com"}) or "")
    assert "not https://host" in (destination_problem({**ok, "Snowflake Host": "ftp://x"}) or "")
    # every rule holds: the only remaining problem is that this build has no Snowflake destination yet
    for host in ("", "https://acme.privatelink.snowflakecomputing.com", "http://127.0.0.1:8123"):
        assert "not available in this build" in (destination_problem({**ok, "Snowflake Host": host}) or "")


def test_identifiers() -> None:
    assert sql_identifier("RAW_2") is None and sql_identifier('"My Schema"') is None
    assert sql_identifier('x"; drop') is not None
