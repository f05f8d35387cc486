"""Library functions behind `flowkit state show` and `flowkit state clear`."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from flowkit.engine.errors import FlowRunningError
from flowkit.engine.locking import LOCKS_DIR, RunLock
from flowkit.engine.state import STATE_DB, Scope, StateService


def show_state(home: Path, flow_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Stored state, by flow id: ``{flow_id: [{component, scope, version, data}, ...]}``.

    Flow-scoped maps have the component ``""``. Reading never creates ``$FLOWKIT_HOME``.
    """
    if not (home / STATE_DB).exists():
        return {}
    service = StateService(home)
    try:
        rows = service.rows(flow_id)
    finally:
        service.close()
    result: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        result.setdefault(str(row["flow_id"]), []).append(
            {
                "component": row["component"],
                "scope": row["scope"],
                "version": row["version"],
                "data": json.loads(str(row["data"])),
            }
        )
    return result


def state_document(home: Path, flow_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Stored state as one JSON-ready document (``flowkit state show --json``), keyed for ``jq``.

    ``{flow_id: {"flow": {"version": 3, "data": {...}} or None, "components": {name: {"version", "data"}}}}``.
    A value that is itself a JSON object or array is decoded; every other value stays the stored string.
    """
    document: dict[str, dict[str, Any]] = {}
    for each_flow, maps in show_state(home, flow_id).items():
        entry: dict[str, Any] = {"flow": None, "components": {}}
        for stored in maps:
            decoded = {
                "version": stored["version"],
                "data": {key: _decoded(value) for key, value in sorted(stored["data"].items())},
            }
            if stored["scope"] == Scope.FLOW.value:
                entry["flow"] = decoded
            else:
                entry["components"][stored["component"]] = decoded
        document[each_flow] = entry
    return document


def _decoded(value: str) -> Any:
    """`value` parsed if it is a JSON object or array, else `value` itself ("42" stays a string)."""
    if not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def clear_state(home: Path, flow_id: str | None = None) -> int:
    """Delete the state of one flow (or of every flow); returns the number of maps deleted.

    Raises:
        FlowRunningError: the flow (or, without `flow_id`, any flow) is running; nothing was deleted.
    """
    flow_ids = [flow_id] if flow_id else _known_flow_ids(home)
    with ExitStack() as held:
        for each in flow_ids:
            lock = RunLock(home, each)
            try:
                lock.acquire()
            except FlowRunningError as exc:
                raise FlowRunningError(
                    f"cannot clear the state of flow '{each}' while it is running (pid {exc.pid}); stop it first",
                    exc.pid,
                ) from None
            held.callback(lock.release)  # keep every lock until the delete is done: no run can start meanwhile
        if not (home / STATE_DB).exists():
            return 0
        service = StateService(home)
        try:
            return service.delete_flow(flow_id)
        finally:
            service.close()


def _known_flow_ids(home: Path) -> list[str]:
    ids = {path.stem for path in (home / LOCKS_DIR).glob("*.lock")}
    if (home / STATE_DB).exists():
        service = StateService(home)
        try:
            ids.update(str(row["flow_id"]) for row in service.rows())
        finally:
            service.close()
    return sorted(ids)
