"""How `flowkit run` talks to a terminal, a log file or a log shipper.

- a terminal (stderr is a TTY): a live rich view, redrawn twice a second, log records printed above it;
- anything else (CI, files): plain lines, a ``progress`` line every ``--progress-interval`` seconds;
- ``--log-format json``: one JSON object per line on stderr (log records and progress events) and the
  summary as one JSON object on stdout.

Every line passes through `Redactor`, which replaces the values of sensitive parameters, so a secret
cannot reach the output even if a message quoted one. Nothing here knows about Jira: flow-specific
numbers arrive as the components' gauges (`flowkit.engine.progress`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from flowkit.engine.report import COMPONENT_LOGGER_ROOT, RunReport

if TYPE_CHECKING:  # rich is imported by the live view only: plain lines, JSON and --quiet runs never load it
    from rich.console import Console, Group
    from rich.live import Live

    from flowkit.engine.progress import FlowStatus

REDACTED = "***"
MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words


class Redactor(logging.Filter):
    """Replaces secret values in every record (message and arguments are merged first)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and self.secrets:
            # a traceback may quote anything; keep the exception type, drop its text
            record.exc_text = f"{record.exc_info[0].__name__ if record.exc_info[0] else 'Exception'} (details redacted)"
            record.exc_info = None
        return True


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _component(logger_name: str) -> tuple[str | None, str | None]:
    """(flow id, component) of a component logger ``flowkit.flow.<flow id>.<component>``."""
    prefix = COMPONENT_LOGGER_ROOT + "."
    if not logger_name.startswith(prefix):
        return None, None
    flow, _, component = logger_name[len(prefix) :].partition(".")
    return flow, component or None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, flow, component, message."""

    def format(self, record: logging.LogRecord) -> str:
        flow, component = _component(record.name)
        document: dict[str, Any] = {
            "time": _utc(record.created),
            "event": "log",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if flow is not None:
            document["flow"] = flow
            document["component"] = component
        if record.exc_text:
            document["exception"] = record.exc_text
        elif record.exc_info and record.exc_info[0] is not None:
            document["exception"] = record.exc_info[0].__name__
        return json.dumps(document, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str, level: int, redactor: Redactor, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root handlers by one writing `log_format` ("text" or "json") to stderr, through `redactor`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(redactor)
    _install(handler, level)
    return handler


def _install(handler: logging.Handler, level: int) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("flowkit").setLevel(level)


class _ConsoleHandler(logging.Handler):
    """Prints records through the live view's console, so they appear above it instead of tearing it."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console
        self.setFormatter(logging.Formatter(TEXT_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            self._console.print(Text(self.format(record)), soft_wrap=True)
        except Exception:
            self.handleError(record)


# ------------------------------------------------------------------------------------------ gauges


def gauge_pairs(gauges: Mapping[str, object]) -> list[tuple[str, str]]:
    """Gauges as (label, text), pairing ``X.done`` with ``X.total`` into ``X: done/total``."""
    pairs: list[tuple[str, str]] = []
    for key, value in gauges.items():
        if key.endswith(".total") and f"{key[:-6]}.done" in gauges:
            continue
        if key.endswith(".done") and f"{key[:-5]}.total" in gauges:
            pairs.append((key[:-5], f"{value}/{gauges[key[:-5] + '.total']}"))
        elif isinstance(value, float):
            pairs.append((key, f"{value:.1f}"))
        else:
            pairs.append((key, str(value)))
    # the phase first, then the X done/total pairs, then the rest in the components' order
    return sorted(pairs, key=lambda pair: (pair[0] != "phase", "/" not in pair[1]))


def progress_line(status: FlowStatus) -> str:
    """One plain line: elapsed time, gauges, then per processor in/out/queued."""
    parts = [f"flowkit: progress flow '{status.flow_id}' {status.elapsed_s:.1f}s"]
    parts.extend(f"{label}={text}" for label, text in gauge_pairs(status.gauges))
    parts.append(f"warnings={status.warnings} errors={status.errors}")
    processors = " ".join(
        f"[{p.name} in={p.flowfiles_in} out={p.flowfiles_out} queued={p.queued}]" for p in status.processors
    )
    return " ".join(parts) + " " + processors


def progress_event(status: FlowStatus) -> dict[str, Any]:
    """The JSON progress event."""
    return {
        "time": _utc(status.time),
        "event": "progress",
        "flow": status.flow_id,
        "elapsed_s": round(status.elapsed_s, 3),
        "gauges": status.gauges,
        "warnings": status.warnings,
        "errors": status.errors,
        "processors": [
            {"name": p.name, "in": p.flowfiles_in, "out": p.flowfiles_out, "queued": p.queued, "tasks": p.active_tasks}
            for p in status.processors
        ],
    }


def status_view(status: FlowStatus) -> Group:
    """The live view: a header of gauges and one row per processor."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    header = Text()
    header.append(f"flow '{status.flow_id}'", style="bold")
    header.append(f"  {status.elapsed_s:6.1f} s")
    for label, text in gauge_pairs(status.gauges):
        header.append(f"  {label} ", style="dim")
        header.append(text, style="bold cyan" if label == "phase" else "")
    header.append("  warnings ", style="dim")
    header.append(str(status.warnings), style="yellow" if status.warnings else "")
    header.append("  errors ", style="dim")
    header.append(str(status.errors), style="red" if status.errors else "")
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("processor")
    table.add_column("type", style="dim")
    for column in ("in", "out", "queued", "tasks"):
        table.add_column(column, justify="right")
    for p in status.processors:
        table.add_row(p.name, p.type, str(p.flowfiles_in), str(p.flowfiles_out), str(p.queued), str(p.active_tasks))
    full = [c for c in status.connections if c.queued >= c.threshold]
    lines: list[Any] = [header, table]
    if full:
        lines.append(
            Text(
                "back pressure: " + ", ".join(f"{c.source} -> {c.destination} {c.queued}/{c.threshold}" for c in full),
                style="yellow",
            )
        )
    return Group(*lines)


# ------------------------------------------------------------------------------------------ reporters


class Progress:
    """The run's live output; `mode` is "live" (TTY), "lines", "json" or "quiet" (log records only, in
    `log_format`)."""

    def __init__(
        self,
        mode: str,
        redactor: Redactor,
        level: int,
        interval: float,
        stream: TextIO | None = None,
        log_format: str = "text",
    ):
        self.mode = mode
        self.log_format = "json" if mode == "json" else log_format
        self.redactor = redactor
        self.interval = interval if mode in ("lines", "json") else 0.5
        self._stream = stream or sys.stderr
        self._live: Live | None = None
        self._level = level
        if mode == "live":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self._stream, stderr=True)
            handler = _ConsoleHandler(console)
            handler.addFilter(redactor)
            _install(handler, level)
            self._live = Live(console=console, auto_refresh=False, transient=False, redirect_stdout=False)
        else:
            configure_logging(self.log_format, level, redactor, self._stream)

    @property
    def wants_status(self) -> bool:
        return self.mode != "quiet"

    def start(self) -> None:
        if self._live is not None:
            self._live.start()

    def update(self, status: FlowStatus) -> None:
        """Called by the engine's status ticker (another thread)."""
        if self.mode == "live" and self._live is not None:
            self._live.update(status_view(status), refresh=True)
        elif self.mode == "lines":
            self._emit(self.redactor.redact(progress_line(status)))
        elif self.mode == "json":
            self._emit(self.redactor.redact(json.dumps(progress_event(status), ensure_ascii=False, default=str)))

    def stop(self, final: FlowStatus | None) -> None:
        """Draw the final state (live view) and restore plain logging."""
        if self._live is not None:
            if final is not None:
                self._live.update(status_view(final), refresh=True)
            self._live.stop()
            self._live = None
            configure_logging(self.log_format, self._level, self.redactor, self._stream)

    def event(self, document: dict[str, Any]) -> None:
        """A JSON event line (json mode only)."""
        if self.mode == "json":
            self._emit(self.redactor.redact(json.dumps({"time": _utc(time.time()), **document}, default=str)))

    def _emit(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


def summary_document(report: RunReport) -> dict[str, Any]:
    """The run's summary as one JSON object (``--log-format json``)."""
    outcome = "interrupted" if report.interrupted else ("failed" if report.failed else "succeeded")
    return {
        "event": "run_finished",
        "flow": report.flow_id,
        "run_id": report.run_id,
        "outcome": outcome,
        "exit_code": report.exit_code,
        "duration_s": round(report.duration_s, 3),
        "counters": report.counters,
        "gauges": report.status.gauges if report.status is not None else {},
        "bulletins": [
            {"time": _utc(b.time), "level": b.level, "component": b.component, "message": b.message}
            for b in report.bulletins
        ],
    }
