"""Pytest fixtures: ``jira_sim`` (a running simulator with the small default data set) and
``jira_sim_factory(**options)`` (start simulators with any options; all stopped at teardown)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowkit.simulator.simulator import JiraSimulator


@pytest.fixture
def jira_sim_factory() -> Iterator[Callable[..., JiraSimulator]]:
    started: list[JiraSimulator] = []

    def make(**options: Any) -> JiraSimulator:
        sim = JiraSimulator(**options).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def jira_sim(jira_sim_factory: Callable[..., JiraSimulator]) -> JiraSimulator:
    return jira_sim_factory()
