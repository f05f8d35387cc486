"""The live objects of one run: processor nodes, service instances, queues, counters and tasks.

`scheduler.run_flow` decides *when* to trigger; this module knows *how*: enabling services,
starting and stopping processors, running one trigger with its session, and accounting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from flowkit.engine.components import ControllerService, Processor
from flowkit.engine.context import StandardConfigurationContext, StandardProcessContext, _Properties
from flowkit.engine.errors import ConfigurationError, StateConflictError
from flowkit.engine.flow import Flow, ProcessorConfig
from flowkit.engine.flowfile import FlowFile
from flowkit.engine.queues import Connection
from flowkit.engine.report import BulletinBoard, component_logger
from flowkit.engine.session import StandardProcessSession
from flowkit.engine.state import StateManager, StateService

ONCE_MODE_MAX_FAILURES = 3  # a FlowFile that made on_trigger fail this often is dropped in --once runs
BORED_YIELD_S = 0.01  # NiFi's pause after a trigger that found nothing to do
_STOP_CHECK_S = 0.1  # how often a producer waiting for room looks whether the run is stopping


class ProcessorNode:
    """One processor of a running flow: its instance, queues, scheduling bookkeeping."""

    def __init__(self, config: ProcessorConfig, runtime: FlowRuntime) -> None:
        self.config = config
        self.name = config.name
        self.processor: Processor = config.cls()
        self.logger = component_logger(runtime.flow.flow_id, config.name, runtime.board)
        self.state = StateManager(runtime.state, runtime.flow.flow_id, config.name)
        self.properties = _Properties(config.name, config.properties, runtime.service)
        self.incoming: list[Connection] = []
        self.outgoing: dict[str, list[Connection]] = defaultdict(list)
        self.scheduled = False  # on_scheduled succeeded
        self.next_run_at = 0.0  # monotonic time the run schedule next allows a trigger
        self._yield_until = 0.0
        self._active = 0
        self._rotation = 0
        self._lock = threading.Lock()
        self.flowfiles_in = 0  # taken by committed sessions (live status, run history)
        self.flowfiles_out = 0  # transferred by committed sessions (auto-terminated ones included)
        self.triggers = 0

    @property
    def is_source(self) -> bool:
        """No incoming connection: triggered on its run schedule."""
        return not self.incoming

    @property
    def active(self) -> int:
        """Triggers running now."""
        with self._lock:
            return self._active

    def yield_for(self, seconds: float) -> None:
        """Do not schedule this processor for `seconds`."""
        with self._lock:
            self._yield_until = max(self._yield_until, time.monotonic() + seconds)

    @property
    def yield_until(self) -> float:
        """Monotonic time until which the processor is yielding."""
        with self._lock:
            return self._yield_until

    def try_reserve(self) -> bool:
        """Count one more running trigger if its concurrent tasks allow it."""
        with self._lock:
            if self._active >= self.config.scheduling.concurrent_tasks:
                return False
            self._active += 1
            return True

    def release(self) -> None:
        """One trigger has finished."""
        with self._lock:
            self._active -= 1
            self.triggers += 1

    def count_io(self, taken: int, transferred: int) -> None:
        """A session of this processor committed: `taken` FlowFiles in, `transferred` out."""
        with self._lock:
            self.flowfiles_in += taken
            self.flowfiles_out += transferred

    def _full_connection(self) -> Connection | None:
        """An outgoing queue at or over its object threshold, if there is one."""
        return next((c for connections in self.outgoing.values() for c in connections if c.is_full()), None)

    def back_pressured(self) -> bool:
        """An outgoing queue is at or over its object threshold."""
        return self._full_connection() is not None

    def wait_for_room(self, stop: threading.Event) -> bool:
        """Block until no outgoing queue is at its threshold (True) or the run stops (False)."""
        while not stop.is_set():
            full = self._full_connection()
            if full is None:
                return True
            full.wait_until_not_full(_STOP_CHECK_S)  # woken when the consumer takes FlowFiles
        return False

    def has_work(self) -> bool:
        """A non-penalized FlowFile waits in an incoming queue."""
        return any(c.has_available() for c in self.incoming)

    def queued(self) -> int:
        """FlowFiles waiting in incoming queues (penalized or not)."""
        return sum(c.size() for c in self.incoming)

    def poll(self, limit: int) -> list[tuple[FlowFile, Connection, int]]:
        """Take up to `limit` FlowFiles, visiting incoming queues round-robin."""
        with self._lock:
            start = self._rotation
            self._rotation += 1
        taken: list[tuple[FlowFile, Connection, int]] = []
        count = len(self.incoming)
        for offset in range(count):
            if len(taken) >= limit:
                break
            connection = self.incoming[(start + offset) % count]
            taken.extend((ff, connection, seq) for ff, seq in connection.poll(limit - len(taken)))
        return taken


class FlowRuntime:
    """Everything shared by the triggers of one run."""

    def __init__(self, flow: Flow, state: StateService, home: Path, *, once: bool, stop: threading.Event) -> None:
        self.flow = flow
        self.state = state
        self.home = home
        self.once = once
        self.stop = stop
        self.board = BulletinBoard()
        self.started = time.monotonic()
        self.fatal: ConfigurationError | None = None
        self.startup_failed = False
        self._services: dict[str, ControllerService] = {}
        self._service_loggers: dict[str, logging.Logger] = {}
        self._enabled: list[str] = []
        self._counters: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.nodes = {config.name: ProcessorNode(config, self) for config in flow.processors}
        for connection_config in flow.connections:
            connection = Connection(connection_config)
            self.nodes[connection_config.destination].incoming.append(connection)
            for relationship in connection_config.relationships:
                self.nodes[connection_config.source].outgoing[relationship].append(connection)
        workers = sum(p.scheduling.concurrent_tasks for p in flow.processors)
        self._executor = ThreadPoolExecutor(max_workers=max(1, min(workers, 64)), thread_name_prefix="flowkit")

    @property
    def flow_id(self) -> str:
        return self.flow.flow_id

    def context(self, node: ProcessorNode, *, final_pass: bool = False) -> StandardProcessContext:
        """The ProcessContext handed to one hook call of `node`."""
        return StandardProcessContext(
            node.name,
            self.flow.flow_id,
            node.properties,
            node.logger,
            node.state,
            self.home,
            once=self.once,
            stop=self.stop,
            yield_=lambda: node.yield_for(node.config.scheduling.yield_s),
            final_pass=final_pass,
            wait_for_room=partial(node.wait_for_room, self.stop),
        )

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> bool:
        """Enable services (dependency order), then call every on_scheduled; False if one failed.

        Raises:
            ConfigurationError: from a hook; whatever was started is stopped again first.
        """
        try:
            for service in self.flow.services:
                instance = service.cls()
                logger = component_logger(self.flow.flow_id, service.name, self.board)
                context = StandardConfigurationContext(
                    service.name,
                    self.flow.flow_id,
                    _Properties(service.name, service.properties, self.service),
                    logger,
                    StateManager(self.state, self.flow.flow_id, service.name),
                    self.home,
                )
                self._services[service.name] = instance
                self._service_loggers[service.name] = logger  # on_disabled logs through it too
                if not self._guard(logger, "on_enabled", partial(instance.on_enabled, context)):
                    return False
                self._enabled.append(service.name)
            for node in self.nodes.values():
                start_context = self.context(node)
                if not self._guard(node.logger, "on_scheduled", partial(node.processor.on_scheduled, start_context)):
                    return False
                node.scheduled = True
        except ConfigurationError:
            self.shutdown()
            raise
        return True

    def _guard(self, logger: logging.Logger, hook: str, call: Callable[[], None]) -> bool:
        """Run a start-up hook; an unexpected exception is an ERROR bulletin and ends the run."""
        try:
            call()
        except ConfigurationError:
            raise
        except Exception as exc:
            logger.error("%s failed: %s: %s", hook, type(exc).__name__, exc)
            logger.debug("%s traceback", hook, exc_info=True)
            self.startup_failed = True
            return False
        return True

    def shutdown(self) -> None:
        """Wait for running triggers, call on_stopped, disable services in reverse order.

        Every stop hook runs even if an earlier one failed. A `ConfigurationError` from one becomes
        the run's fatal error (unless there already is one); any other exception is a WARNING.
        """
        self.stop.set()
        self._executor.shutdown(wait=True)
        for node in self.nodes.values():
            if node.scheduled:
                node.scheduled = False
                self._stop_hook(node.logger, "on_stopped", partial(node.processor.on_stopped, self.context(node)))
        for name in reversed(self._enabled):
            self._stop_hook(self._service_loggers[name], "on_disabled", self._services[name].on_disabled)
        self._enabled.clear()

    def _stop_hook(self, logger: logging.Logger, hook: str, call: Callable[[], None]) -> None:
        try:
            call()
        except ConfigurationError as exc:
            self.fail(exc)
        except Exception as exc:  # NiFi logs and ignores errors while stopping
            logger.warning("%s failed: %s: %s", hook, type(exc).__name__, exc)
            logger.debug("%s traceback", hook, exc_info=True)

    def components(self) -> dict[str, object]:
        """Enabled services and processor instances by name (for their status gauges)."""
        return {**self._services, **{name: node.processor for name, node in self.nodes.items()}}

    def service(self, name: str) -> ControllerService:
        """The enabled service called `name`."""
        try:
            return self._services[name]
        except KeyError:
            raise ConfigurationError(f"controller service '{name}' is not enabled") from None

    # -- triggers ------------------------------------------------------------------------------
    def submit(self, node: ProcessorNode, *, final_pass: bool = False) -> bool:
        """Start one trigger of `node` on the pool, if its concurrent tasks allow; True if started."""
        if not node.try_reserve():
            return False
        node.next_run_at = time.monotonic() + node.config.scheduling.run_schedule_s
        self._executor.submit(self._trigger, node, final_pass)
        return True

    def trigger_now(self, node: ProcessorNode, *, final_pass: bool = False) -> None:
        """Run one trigger of `node` on the calling thread (flowkit.engine.testing's runner)."""
        if not node.try_reserve():
            raise RuntimeError(f"{node.name} is already running its concurrent tasks")
        self._trigger(node, final_pass)

    def _trigger(self, node: ProcessorNode, final_pass: bool) -> None:
        session = StandardProcessSession(node, self)
        try:
            node.processor.on_trigger(self.context(node, final_pass=final_pass), session)
            session.commit()
        except ConfigurationError as exc:
            session.rollback()
            self.fail(exc)
        except StateConflictError as exc:  # the session rolled itself back; the work will be retried
            node.logger.warning("%s", exc)
        except Exception as exc:
            session._rollback(penalize=True, failed=True)
            node.logger.error("on_trigger failed, session rolled back: %s: %s", type(exc).__name__, exc)
            node.logger.debug("on_trigger traceback", exc_info=True)
        finally:
            if not session.did_work and not self.once:
                node.yield_for(BORED_YIELD_S)
            node.release()
            self.wake()

    def fail(self, error: ConfigurationError) -> None:
        """Stop the whole run because of a configuration problem found at run time."""
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self.stop.set()
        self.wake()

    # -- accounting ----------------------------------------------------------------------------
    def add_counters(self, deltas: Mapping[str, int]) -> None:
        """Apply a committed session's counters."""
        with self._lock:
            self._counters.update(deltas)

    def counters(self) -> dict[str, int]:
        """Counter totals so far."""
        with self._lock:
            return dict(self._counters)

    def record_failure(self, node: ProcessorNode, uuid: str) -> bool:
        """Count a failed attempt on a FlowFile; True if it must be dropped (``--once`` only)."""
        with self._lock:
            self._failures[uuid] += 1
            attempts = self._failures[uuid]
        if self.once and attempts >= ONCE_MODE_MAX_FAILURES:
            node.logger.error("FlowFile %s dropped after %d failed attempts", uuid, attempts)
            return True
        return False

    def forget_failures(self, uuids: Mapping[str, object]) -> None:
        """A committed session processed these FlowFiles."""
        with self._lock:
            for uuid in uuids:
                self._failures.pop(uuid, None)

    def queued(self) -> int:
        """FlowFiles in all queues."""
        return sum(node.queued() for node in self.nodes.values())

    def busy(self) -> bool:
        """A trigger is running."""
        return any(node.active for node in self.nodes.values())

    def wake(self) -> None:
        """Tell the scheduler something changed."""
        self._wake.set()

    def wait(self, timeout: float) -> None:
        """Block the scheduler until woken or `timeout` elapses."""
        self._wake.wait(max(0.0, timeout))
        self._wake.clear()
