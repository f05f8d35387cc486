"""Processor and service types found through the installed entry points."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from flowkit.destinations.registry import destination_types
from flowkit.engine import registry
from flowkit.engine.components import ControllerService, Processor


def test_types_of_every_group_come_from_one_read_of_the_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read of the installed entry points costs ~4 ms of start-up, whichever groups it asks for: processors,
    controller services and destination types come from one."""
    reads: list[dict[str, Any]] = []
    distributions = importlib.metadata.distributions

    def counting(**params: Any) -> Any:  # what every entry_points() call reads, whoever makes it
        reads.append(params)
        return distributions(**params)

    def clear() -> None:
        registry._installed_entry_points.cache_clear()
        registry._installed.cache_clear()
        destination_types.cache_clear()

    monkeypatch.setattr(importlib.metadata, "distributions", counting)
    clear()
    try:
        found = registry.Registry()
        processor = found.processor_type("ListBoards")
        service = found.service_type("JiraCloudClientService")
        assert processor is not None and issubclass(processor, Processor)
        assert service is not None and issubclass(service, ControllerService)
        assert found.processor_type("JiraCloudClientService") is None  # groups stay apart
        assert found.service_type("ListBoards") is None
        assert found.processor_type("NoSuchType") is None
        assert {"SQLITE", "SNOWFLAKE"} <= set(destination_types())
        assert len(reads) == 1
    finally:
        clear()
