"""Admin endpoints under ``/_sim/``: mutations, knobs, ground truth and the request log, over HTTP.

They need no credentials, are never rate-limited or faulted, and are not counted in the request log.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowkit.simulator.api import Response
from flowkit.simulator.mutations import DataSet, SimulatorError

if TYPE_CHECKING:
    from flowkit.simulator.simulator import JiraSimulator

_DATE_ARGS = ("start", "end", "complete")


def _error(status: int, message: str) -> Response:
    return Response(status, {"errorMessages": [message], "errors": {}})


def handle_admin(sim: JiraSimulator, method: str, path: str, query: dict[str, str], body: bytes) -> Response:
    try:
        args: Any = json.loads(body) if body.strip() else {}
    except ValueError:
        return _error(400, "body is not JSON")
    if not isinstance(args, dict):
        return _error(400, "body must be a JSON object")
    parts = [p for p in path.split("/") if p][1:]  # drop "_sim"
    route = (method, "/".join(parts[:1]))
    try:
        if route == ("GET", "health"):
            return Response(200, {"ok": True})
        if route == ("GET", "info"):
            return Response(200, sim.describe())
        if route == ("GET", "ground_truth"):
            tables = [t for t in query.get("tables", "").split(",") if t] or None
            return Response(200, sim.ground_truth(tables))
        if route == ("GET", "log"):
            return Response(200, sim.request_log.snapshot())
        if route in (("POST", "log"), ("DELETE", "log")):
            sim.reset_log()
            return Response(200, {"ok": True})
        if method == "POST" and parts[:1] == ["mutate"] and len(parts) == 2:
            return Response(200, {"result": _mutate(sim.data, parts[1], args)})
        if route == ("GET", "faults"):
            return Response(200, [f.to_json() for f in sim.faults.faults])
        if route == ("POST", "faults"):
            return Response(200, sim.add_fault(**args).to_json())
        if route == ("DELETE", "faults"):
            sim.clear_faults()
            return Response(200, {"ok": True})
        if route == ("POST", "rate_limit"):
            rate = args.pop("rate", None)
            if args.pop("add", False) and rate is not None:
                sim.add_rate_limit(rate, **args)
            else:
                sim.set_rate_limit(rate, **args)
            return Response(200, sim.describe())
        if route == ("POST", "latency"):
            sim.set_latency(float(args.get("ms", 0)))
            return Response(200, sim.describe())
        if route == ("POST", "page_cap"):
            sim.page_cap = int(args["value"])
            return Response(200, sim.describe())
    except SimulatorError as exc:
        return _error(404, str(exc))
    except (TypeError, ValueError, KeyError) as exc:
        return _error(400, f"bad arguments: {exc}")
    return _error(404, f"no admin endpoint {method} {path}")


def _mutate(data: DataSet, op: str, args: dict[str, Any]) -> Any:
    if op not in DataSet.MUTATIONS:
        raise SimulatorError(f"unknown mutation {op!r}; one of {', '.join(DataSet.MUTATIONS)}")
    for key in _DATE_ARGS:
        if isinstance(args.get(key), str):
            args[key] = datetime.fromisoformat(args[key].replace("Z", "+00:00"))
    return getattr(data, op)(**args)
