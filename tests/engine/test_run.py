"""Running flows through the library: sessions, fan-out, failures, back pressure, CAS, lifecycle."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from flowkit.engine import (
    ConfigurationError,
    FlowRunningError,
    RunReport,
    Scope,
    StateManager,
    StateService,
    load_flow,
    run_flow,
)
from flowkit.engine.locking import RunLock
from tests.engine import helpers
from tests.engine.helpers import EVENTS, SEEN, write_flow


def run_once(tmp_path: Path, text: str, home: Path) -> RunReport:
    return run_flow(load_flow(write_flow(tmp_path, text), env={}), once=True, home=home)


def run_in_thread(tmp_path: Path, text: str, home: Path) -> tuple[threading.Thread, threading.Event, list[RunReport]]:
    flow = load_flow(write_flow(tmp_path, text), env={})
    stop = threading.Event()
    reports: list[RunReport] = []
    thread = threading.Thread(target=lambda: reports.append(run_flow(flow, once=False, home=home, stop=stop)))
    thread.start()
    return thread, stop, reports


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


FAN_OUT = """\
flowkit: 1
process_group: {name: Fan Out}
processors:
  - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 3, Text: hi}}
  - {name: Left, type: RecordFlowFiles}
  - {name: Right, type: RecordFlowFiles}
  - {name: Count, type: CountFlowFiles, auto_terminate: [success]}
connections:
  - {source: Generate, relationships: [success], destination: Left}
  - {source: Generate, relationships: [success], destination: Right}
  - {source: Left, relationships: [success], destination: Count}
  - {source: Right, relationships: [success], destination: Count}
"""


def test_fan_out_copies_get_new_uuids(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, FAN_OUT, home)
    assert report.exit_code == 0 and report.bulletins == []
    left, right = SEEN["Left"], SEEN["Right"]
    assert len(left) == len(right) == 3
    assert {ff.content for ff in left + right} == {b"hi"}  # type: ignore[attr-defined]
    uuids = {ff.uuid for ff in left + right}  # type: ignore[attr-defined]
    assert len(uuids) == 6
    assert report.counters == {"Generate.generated": 3, "flowfiles.counted": 6}
    service = StateService(home)
    assert StateManager(service, "fan-out", "Count").get().get("total") == "6"
    service.close()


FAILING = """\
flowkit: 1
process_group: {name: Failing}
processors:
  - {name: Generate, type: GenerateFlowFile}
  - name: Flaky
    type: FailTimes
    properties: {Failures: FAILURES}
    scheduling: {penalty_duration: 100 millis}
  - {name: Sink, type: RecordFlowFiles, auto_terminate: [success]}
connections:
  - {source: Generate, relationships: [success], destination: Flaky}
  - {source: Flaky, relationships: [success], destination: Sink}
"""


def test_failure_rolls_back_and_penalizes(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, FAILING.replace("FAILURES", "1"), home)
    attempts = SEEN["Flaky"]
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.09  # waited out the penalty
    assert len(SEEN["Sink"]) == 1  # the FlowFile went on after the retry
    errors = [b for b in report.bulletins if b.level == "ERROR"]
    assert len(errors) == 1 and errors[0].component == "Flaky"
    assert "simulated failure" in errors[0].message
    assert report.failed and report.exit_code == 1
    service = StateService(home)
    assert StateManager(service, "failing", "Flaky").get().data == {"touched": "yes"}  # from the good attempt
    service.close()


def test_failed_session_publishes_no_state(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, FAILING.replace("FAILURES", "99"), home)
    service = StateService(home)
    assert StateManager(service, "failing", "Flaky").get().version is None
    service.close()
    assert report.exit_code == 1


def test_once_mode_drops_a_flowfile_that_keeps_failing(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, FAILING.replace("FAILURES", "99"), home)
    assert len(SEEN["Flaky"]) == 3
    assert SEEN["Sink"] == []
    assert any("dropped after 3 failed attempts" in b.message for b in report.bulletins)
    assert report.exit_code == 1


def test_commit_refused_when_a_flowfile_is_unaccounted(tmp_path: Path, home: Path) -> None:
    text = FAILING.replace("type: FailTimes", "type: Forgetful").replace("    properties: {Failures: FAILURES}\n", "")
    report = run_once(tmp_path, text, home)
    assert any("neither transferred nor removed" in b.message for b in report.bulletins)
    assert report.exit_code == 1


CAS = """\
flowkit: 1
process_group: {name: Cas}
processors:
  - {name: Generate, type: GenerateFlowFile}
  - name: Writer
    type: ConflictingWriter
    scheduling: {penalty_duration: 10 millis}
    auto_terminate: [success]
connections:
  - {source: Generate, relationships: [success], destination: Writer}
"""


def test_cas_conflict_at_commit_rolls_back_and_retries(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, CAS, home)
    assert len(SEEN["Writer"]) == 2  # first attempt lost the CAS and was rolled back
    warnings = [b for b in report.bulletins if b.level == "WARNING"]
    assert len(warnings) == 1 and "state changed since this session read it" in warnings[0].message
    assert report.exit_code == 0
    service = StateService(home)
    assert StateManager(service, "cas", "Writer").get(Scope.FLOW).get("count") == "101"
    service.close()


BACK_PRESSURE = """\
flowkit: 1
process_group: {name: Back Pressure}
processors:
  - {name: Tick, type: TickSource}
  - {name: Gate, type: Gate, auto_terminate: [success]}
connections:
  - {source: Tick, relationships: [success], destination: Gate, back_pressure_object_threshold: 3}
"""


def test_back_pressure_stops_scheduling_the_source(tmp_path: Path, home: Path) -> None:
    thread, stop, reports = run_in_thread(tmp_path, BACK_PRESSURE, home)
    try:
        wait_until(lambda: len(SEEN["Tick"]) >= 4)
        time.sleep(0.3)  # with run schedule 0 the source would otherwise trigger hundreds of times
        assert len(SEEN["Tick"]) == 4  # 3 queued + 1 held by the gate
        helpers.GATE.set()
        wait_until(lambda: len(SEEN["Tick"]) > 20)
    finally:
        stop.set()
        thread.join(10)
    assert reports and reports[0].exit_code == 0


PAGED = """\
flowkit: 1
process_group: {name: Paged}
processors:
  - {name: Pages, type: PagedSource}
  - {name: Gate, type: Gate, auto_terminate: [success]}
connections:
  - {source: Pages, relationships: [success], destination: Gate, back_pressure_object_threshold: 3}
"""


def test_a_trigger_that_commits_as_it_goes_waits_for_room_between_commits(tmp_path: Path, home: Path) -> None:
    """Back pressure bounds a long trigger too (a board of many pages), not only when triggers start."""
    thread, stop, reports = run_in_thread(tmp_path, PAGED, home)
    try:
        wait_until(lambda: len(SEEN["Pages"]) >= 4)
        time.sleep(0.3)  # without waiting for room, the trigger would have emitted all 20 by now
        assert len(SEEN["Pages"]) == 4  # 3 queued + 1 held by the gate
        helpers.GATE.set()
        wait_until(lambda: len(SEEN["Pages"]) == 20)
    finally:
        stop.set()
        thread.join(10)
    assert reports and reports[0].exit_code == 0


FINAL_PASS = """\
flowkit: 1
process_group: {name: Final Pass}
processors:
  - {name: Generate, type: GenerateFlowFile, properties: {Batch Size: 2}}
  - {name: Slow, type: DelayFlowFile, properties: {Delay: 20 millis}}
  - {name: Merge, type: FinalPassRecorder, auto_terminate: [success]}
connections:
  - {source: Generate, relationships: [success], destination: Slow}
  - {source: Slow, relationships: [success], destination: Merge}
"""


def test_once_drains_then_runs_the_final_pass(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, FINAL_PASS, home)
    assert report.exit_code == 0
    seen = SEEN["Merge"]
    assert sum(count for _, count in seen) == 2
    assert seen[-1] == (True, 0)  # last: the final pass, after every queue was drained
    assert [final for final, _ in seen].count(True) == 1


def test_continuous_run_stops_gracefully(tmp_path: Path, home: Path) -> None:
    text = FAN_OUT.replace("Text: hi}", "Text: hi}, scheduling: {run_schedule: 20 millis}")
    thread, stop, reports = run_in_thread(tmp_path, text, home)
    wait_until(lambda: len(SEEN["Left"]) >= 6)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert reports[0].exit_code == 0 and not reports[0].interrupted
    assert reports[0].counters["flowfiles.counted"] >= 12
    RunLock(home, "fan-out").acquire()  # released


def test_run_lock_refuses_a_second_run(tmp_path: Path, home: Path) -> None:
    flow = load_flow(write_flow(tmp_path, FAN_OUT), env={})
    with (
        RunLock(home, flow.flow_id),
        pytest.raises(FlowRunningError, match=r"flow 'fan-out' is already running \(pid \d+\)"),
    ):
        run_flow(flow, once=True, home=home)


SERVICES = """\
flowkit: 1
process_group: {name: Services}
controller_services:
  - {name: top, type: Store, properties: {Upstream: base}}
  - {name: base, type: Store, properties: {Fail On Enable: "FAIL"}}
processors:
  - {name: Use, type: UseStore, properties: {Store: top}, auto_terminate: [success]}
"""


def test_services_enabled_in_dependency_order_and_disabled_after(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, SERVICES.replace("FAIL", "false"), home)
    assert report.exit_code == 0
    assert EVENTS == ["enable base", "enable top", "disable", "disable"]
    assert isinstance(SEEN["Use"][0], helpers.Store)


def test_configuration_error_from_on_enabled_stops_the_run(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigurationError, match="controller service 'base': cannot connect"):
        run_once(tmp_path, SERVICES.replace("FAIL", "true"), home)
    RunLock(home, "services").acquire()  # released


CONFIG_FAILURE = """\
flowkit: 1
process_group: {name: Config Failure}
processors:
  - {name: Check, type: ConfigFailure, properties: {Hook: HOOK}, auto_terminate: [success]}
"""


@pytest.mark.parametrize("hook", ["on_scheduled", "on_trigger"])
def test_configuration_error_from_processor_hooks_stops_the_run(tmp_path: Path, home: Path, hook: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials refused"):
        run_once(tmp_path, CONFIG_FAILURE.replace("HOOK", hook), home)
    if hook == "on_trigger":
        assert EVENTS == ["stopped Check"]  # stopped gracefully


STOP_HOOKS = """\
flowkit: 1
process_group: {name: Stop Hooks}
controller_services:
  - {name: base, type: Store}
processors:
  - {name: Check, type: ConfigFailure, properties: {Hook: HOOK}}
  - {name: After, type: StopFailure, auto_terminate: [success]}
  - {name: Use, type: UseStore, properties: {Store: base}, auto_terminate: [success]}
connections:
  - {source: Check, relationships: [success], destination: After}
"""


def test_configuration_error_from_on_stopped_fails_the_run_after_every_stop_hook(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^parameter 'Jira API Token': credentials refused while flushing$"):
        run_once(tmp_path, STOP_HOOKS.replace("HOOK", "on_stopped"), home)
    assert EVENTS == ["enable base", "stopped Check", "stopped After", "disable"]  # the rest still stopped
    RunLock(home, "stop-hooks").acquire()  # released


def test_other_errors_from_on_stopped_are_warnings(tmp_path: Path, home: Path) -> None:
    report = run_once(tmp_path, STOP_HOOKS.replace("HOOK", "none"), home)
    assert EVENTS == ["enable base", "stopped Check", "stopped After", "disable"]
    assert [(b.level, b.component, b.message) for b in report.bulletins] == [
        ("WARNING", "After", "on_stopped failed: RuntimeError: disk went away")
    ]
    assert report.exit_code == 0


def test_once_run_stopped_early_is_interrupted_and_fails(tmp_path: Path, home: Path) -> None:
    flow = load_flow(write_flow(tmp_path, BACK_PRESSURE), env={})
    stop = threading.Event()
    reports: list[RunReport] = []
    thread = threading.Thread(target=lambda: reports.append(run_flow(flow, once=True, home=home, stop=stop)))
    thread.start()
    wait_until(lambda: len(SEEN["Tick"]) == 1)  # the Gate now holds the only FlowFile
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert reports[0].interrupted and reports[0].failed and reports[0].exit_code == 1


TIMED = """\
flowkit: 1
process_group: {name: Timed}
processors:
  - {name: Tick, type: TickSource, scheduling: {run_schedule: 100 millis}}
  - {name: Down, type: YieldingSource, scheduling: {yield_duration: 200 millis}, auto_terminate: [success]}
  - {name: Sink, type: RecordFlowFiles, auto_terminate: [success]}
connections:
  - {source: Tick, relationships: [success], destination: Sink}
"""


def test_run_schedule_and_yield_space_out_triggers(tmp_path: Path, home: Path) -> None:
    thread, stop, reports = run_in_thread(tmp_path, TIMED, home)
    try:
        time.sleep(0.65)
    finally:
        stop.set()
        thread.join(10)
    ticks, attempts = SEEN["Tick"], SEEN["Down"]
    assert 4 <= len(ticks) <= 8, ticks  # every 100 ms, not as fast as possible
    assert min(b - a for a, b in itertools.pairwise(ticks)) >= 0.09
    assert 2 <= len(attempts) <= 4, attempts  # yielded 200 ms after each trigger (run schedule 0)
    assert min(b - a for a, b in itertools.pairwise(attempts)) >= 0.19
    assert len(SEEN["Sink"]) == len(ticks) or len(SEEN["Sink"]) == len(ticks) - 1  # the last may be in flight
    assert reports[0].exit_code == 0
