"""Shared pytest setup: the Jira simulator fixtures (flowkit.simulator.pytest_plugin) and the local
Snowflake emulator (tests/snowflake_emulator.py, started on first use)."""

pytest_plugins = ["flowkit.simulator.pytest_plugin", "tests.snowflake_emulator"]
