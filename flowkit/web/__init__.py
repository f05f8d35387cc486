"""The flow's canvas in a browser: `flowkit ui FLOW` and `flowkit run FLOW --ui` (docs/ui.md).

Depends on the engine only: the picture (`engine.graph`), the run history, the state service and
the run lock. Served locally (no CDN), loopback by default, a token on any other address.
"""

from flowkit.web.control import ActionRefused, RunControl
from flowkit.web.server import CanvasServer, needs_token

__all__ = ["ActionRefused", "CanvasServer", "RunControl", "needs_token"]
