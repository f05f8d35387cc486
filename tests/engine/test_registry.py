"""Processor and service types found through the installed entry points."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from flowkit.engine import registry
from flowkit.engine.components import ControllerService, Processor


def test_types_of_both_groups_come_from_one_read_of_the_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read of the installed entry points costs ~4 ms of start-up, whichever groups it asks for."""
    reads: list[dict[str, Any]] = []

    def counting(**params: Any) -> Any:
        reads.append(params)
        return importlib.metadata.entry_points(**params)

    monkeypatch.setattr(registry, "entry_points", counting)
    registry._installed_groups.cache_clear()
    try:
        found = registry.Registry()
        processor = found.processor_type("ListBoards")
        service = found.service_type("JiraCloudClientService")
        assert processor is not None and issubclass(processor, Processor)
        assert service is not None and issubclass(service, ControllerService)
        assert found.processor_type("JiraCloudClientService") is None  # groups stay apart
        assert found.service_type("ListBoards") is None
        assert found.processor_type("NoSuchType") is None
        assert len(reads) == 1
    finally:
        registry._installed_groups.cache_clear()
