"""Shared pytest setup. The Jira simulator fixtures come from flowkit.simulator.pytest_plugin."""

pytest_plugins = ["flowkit.simulator.pytest_plugin"]
