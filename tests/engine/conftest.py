"""Fixtures of the engine tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine import helpers


@pytest.fixture(autouse=True)
def journal() -> Iterator[None]:
    """Reset what the test processors recorded."""
    helpers.SEEN.clear()
    helpers.EVENTS.clear()
    helpers.GATE.clear()
    yield
    helpers.GATE.set()  # never leave a Gate processor blocked


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $FLOWKIT_HOME."""
    path = tmp_path / "home"
    monkeypatch.setenv("FLOWKIT_HOME", str(path))
    return path
