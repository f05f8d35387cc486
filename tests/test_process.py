"""flowkit/process.py: the malloc settings `flowkit run` makes before its threads start."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_malloc_is_accepted_by_glibc() -> None:
    # in a child process: the settings are process-wide and would change this test process's allocator
    code = "from flowkit.process import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"


def test_tune_malloc_declines_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowkit import process

    monkeypatch.setattr(process.sys, "platform", "darwin")
    assert process.tune_malloc() is False
