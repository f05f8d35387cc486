"""flowkit/process.py: the malloc and garbage collector settings `flowkit run` makes before its threads start."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_malloc_is_accepted_by_glibc() -> None:
    # in a child process: the settings are process-wide and would change this test process's allocator
    code = "import sys; from flowkit.process import tune_malloc; print(tune_malloc(), 'subprocess' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True False"  # found without a child process (`ldconfig -p`, ~20 ms of start-up)


def test_tune_malloc_declines_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowkit import process

    monkeypatch.setattr(process.sys, "platform", "darwin")
    assert process.tune_malloc() is False


def test_tune_gc_sets_the_collector_thresholds() -> None:
    # in a child process: the thresholds are process-wide
    code = "import gc; from flowkit.process import tune_gc; tune_gc((1000, 5, 3)); print(gc.get_threshold())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "(1000, 5, 3)"
    code = "import gc; from flowkit import process as p; p.tune_gc(); print(gc.get_threshold() == p.GC_THRESHOLDS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
