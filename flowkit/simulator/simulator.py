"""JiraSimulator: the importable object behind the CLI, the pytest fixtures and the benchmarks."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from flowkit.simulator.api import JiraApi
from flowkit.simulator.faults import Fault, FaultInjector
from flowkit.simulator.generate import CALLER_EMAIL, CALLER_TOKEN, generate
from flowkit.simulator.ground_truth import Row, ground_truth
from flowkit.simulator.mutations import DataSet
from flowkit.simulator.ratelimit import RateLimit, RateLimiter
from flowkit.simulator.requestlog import RequestLog
from flowkit.simulator.server import SimServer

LOCK_OUT_REASON = "CAPTCHA_CHALLENGE; login-url=https://simulated.atlassian.net/login.jsp"


class JiraSimulator:
    """A local Jira Cloud on ``http://127.0.0.1:<port>``.

    >>> with JiraSimulator(seed=1, boards=20, issues_per_board=500) as sim:
    ...     requests.get(sim.url + "/rest/agile/1.0/board", auth=(sim.email, sim.token))
    """

    def __init__(
        self,
        seed: int = 1,
        boards: int = 8,
        issues_per_board: int = 20,
        projects: int | None = None,
        *,
        sprints_per_board: int = 4,
        latency_ms: float = 0,
        rate_limit: RateLimit | float | None = None,
        page_cap: int = 50,
        oversized_value: bool = False,
        hidden_rate: int = 29,
        port: int = 0,
        email: str = CALLER_EMAIL,
        token: str = CALLER_TOKEN,
        early_retry_grace_s: float = 0.25,
        data: DataSet | None = None,
        variants: Iterable[str] = (),
    ) -> None:
        self.data: DataSet = data or generate(
            seed=seed,
            boards=boards,
            issues_per_board=issues_per_board,
            projects=projects,
            sprints_per_board=sprints_per_board,
            oversized_value=oversized_value,
            hidden_rate=hidden_rate,
        )
        if variants:
            self.data.set_variants(variants)
        self.seed = seed
        self.email = email
        self.token = token
        self.latency_ms = latency_ms
        self.port = port
        self.api = JiraApi(self.data, page_cap)
        self.faults = FaultInjector(seed)
        self.request_log = RequestLog(grace_s=early_retry_grace_s)
        self.limiters: list[RateLimiter] = []  # a request must pass every one that applies to it
        if rate_limit is not None:
            self.set_rate_limit(rate_limit)
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> JiraSimulator:
        if self._server is not None:
            return self
        self._server = SimServer(self, self.port)
        self.port = self._server.server_address[1]
        self.data.site = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="jira-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> JiraSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def auth(self) -> tuple[str, str]:
        """``(email, token)`` for ``requests``' ``auth=``."""
        return (self.email, self.token)

    @property
    def auth_header(self) -> dict[str, str]:
        raw = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    @property
    def page_cap(self) -> int:
        return self.api.page_cap

    @page_cap.setter
    def page_cap(self, value: int) -> None:
        self.api.page_cap = value

    # -- ground truth ---------------------------------------------------------------------------------------
    def ground_truth(self, tables: Iterable[str] | None = None) -> dict[str, list[Row]]:
        """Rows each destination table (BOARD, SPRINT, BOARD_SPRINT, BOARD_PROJECT, BOARD_ISSUE) must hold."""
        return ground_truth(self.data, tables)

    # -- knobs ----------------------------------------------------------------------------------------------
    def set_latency(self, ms: float) -> None:
        self.latency_ms = ms

    def set_rate_limit(
        self,
        rate: RateLimit | float | None,
        burst: int = 0,
        *,
        per_endpoint: bool = True,
        retry_after: bool = True,
    ) -> None:
        """Token bucket of ``rate`` req/s and size ``burst`` (replacing any limits); None switches them off."""
        self.limiters = []
        if rate is not None:
            self.add_rate_limit(rate, burst, per_endpoint=per_endpoint, retry_after=retry_after)

    def add_rate_limit(
        self,
        rate: RateLimit | float,
        burst: int = 0,
        *,
        per_endpoint: bool = True,
        retry_after: bool = True,
        endpoint: str | None = None,
    ) -> RateLimit:
        """One more limit a request must pass, e.g. a site-wide bucket plus a burst limit on one endpoint
        (``endpoint="POST /rest/api/3/search/jql"``)."""
        cfg = (
            rate if isinstance(rate, RateLimit) else RateLimit(float(rate), burst, per_endpoint, retry_after, endpoint)
        )
        self.limiters = [*self.limiters, RateLimiter(cfg)]
        return cfg

    @property
    def limiter(self) -> RateLimiter | None:
        """The first limiter (None when rate limiting is off)."""
        return self.limiters[0] if self.limiters else None

    def add_fault(
        self,
        kind: str,
        *,
        path: str | None = None,
        method: str | None = None,
        rate: float | None = None,
        count: int | None = None,
        status: int = 503,
        retry_after: int | None = 1,
        delay_s: float = 2.0,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Inject a fault; see :class:`flowkit.simulator.faults.Fault` for the kinds."""
        return self.faults.add(
            Fault(kind, path, method, rate, count, status, retry_after, delay_s, message, dict(headers or {}))
        )

    def lock_out(self, reason: str = LOCK_OUT_REASON, *, count: int | None = None) -> Fault:
        """What Jira Cloud does after too many failed logins: every request gets 403 with
        ``X-Authentication-Denied-Reason`` until the user logs in through the browser (``clear_faults()``)."""
        return self.add_fault(
            "status",
            status=403,
            count=count,
            message="Basic authentication with a CAPTCHA challenge pending is not allowed.",
            headers={"X-Authentication-Denied-Reason": reason},
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_log(self) -> None:
        self.request_log.reset()

    def describe(self) -> dict[str, Any]:
        d = self.data
        return {
            "url": self.url,
            "email": self.email,
            "token": self.token,
            "seed": self.seed,
            "boards": len(d.boards),
            "projects": len(d.projects),
            "sprints": len(d.sprints),
            "issues": d.total_issues(),
            "page_cap": self.page_cap,
            "latency_ms": self.latency_ms,
            "rate_limit": None if not self.limiters else self.limiters[0].config.__dict__,
            "rate_limits": [dict(lim.config.__dict__) for lim in self.limiters],
            "variants": sorted(d.variants),
        }
