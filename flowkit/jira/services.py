"""Controller services of the Jira flow: the Jira client and the warehouse destination."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

from flowkit.destinations import Destination, all_properties, destination_type, destination_types
from flowkit.engine import (
    ConfigurationContext,
    ConfigurationError,
    ControllerService,
    PropertyDescriptor,
    validators,
)
from flowkit.jira import validators as jira_validators
from flowkit.jira.client import JiraClient, parse_data_size, resolve_ca_bundle, validate_base_url
from flowkit.jira.rate_manager import StandardAtlassianRequestRateManager
from flowkit.jira.retry import RateGate, RetryPolicy
from flowkit.jira.tables import SCHEMA


class JiraCloudClientService(ControllerService):
    """A pooled Jira Cloud REST client shared by every processor, under one rate budget."""

    ENVIRONMENT_URL = PropertyDescriptor(
        "Environment URL",
        "Jira site, e.g. https://your-domain.atlassian.net",
        required=True,
        validator=jira_validators.from_parser(validate_base_url),
    )
    EMAIL = PropertyDescriptor(
        "Jira Email", "Account email for Basic auth", required=True, validator=validators.NON_EMPTY
    )
    API_TOKEN = PropertyDescriptor("Jira API Token", "API token of that account", required=True, sensitive=True)
    MAX_CONNECTIONS = PropertyDescriptor(
        "Max Connections",
        "HTTP connections kept open to Jira",
        default="16",
        validator=validators.POSITIVE_INTEGER,
    )
    CONNECT_TIMEOUT = PropertyDescriptor(
        "Connect Timeout",
        "Time to establish a connection",
        default="10 secs",
        validator=validators.TIME_PERIOD,
    )
    READ_TIMEOUT = PropertyDescriptor(
        "Read Timeout", "Time to wait for a response", default="60 secs", validator=validators.TIME_PERIOD
    )
    MAX_RETRIES = PropertyDescriptor(
        "Max Retries",
        "Retries of one request on 429/5xx/timeouts",
        default="4",
        validator=validators.NON_NEGATIVE_INTEGER,
    )
    INITIAL_RETRY_DELAY = PropertyDescriptor(
        "Initial Retry Delay",
        "First backoff when Jira gives no Retry-After (doubles each time)",
        default="5 secs",
        validator=validators.TIME_PERIOD,
    )
    MAX_RETRY_DELAY = PropertyDescriptor(
        "Max Retry Delay",
        "Longest backoff without Retry-After",
        default="30 secs",
        validator=validators.TIME_PERIOD,
    )
    CA_BUNDLE = PropertyDescriptor(
        "CA Bundle",
        "PEM file of CA certificates to trust for the Jira site (e.g. a TLS-inspecting proxy's CA);"
        " blank: $REQUESTS_CA_BUNDLE or $CURL_CA_BUNDLE when set, else the public CAs",
        validator=jira_validators.from_parser(lambda value: resolve_ca_bundle(value, env={})),
    )
    MAX_RESPONSE_SIZE = PropertyDescriptor(
        "Max Response Size",
        "Largest Jira answer read (larger ones are refused with an error, not read whole)",
        default="128 MB",
        validator=jira_validators.from_parser(parse_data_size),
    )
    RATE_MANAGER = PropertyDescriptor(
        "Request Rate Manager",
        "The site's shared request budget (StandardAtlassianRequestRateManager); blank: a private gate bounded"
        " by Max Connections",
        controller_service=StandardAtlassianRequestRateManager,
    )
    properties = (
        ENVIRONMENT_URL,
        EMAIL,
        API_TOKEN,
        MAX_CONNECTIONS,
        CONNECT_TIMEOUT,
        READ_TIMEOUT,
        MAX_RETRIES,
        INITIAL_RETRY_DELAY,
        MAX_RETRY_DELAY,
        CA_BUNDLE,
        MAX_RESPONSE_SIZE,
        RATE_MANAGER,
    )

    def __init__(self) -> None:
        self._client: JiraClient | None = None
        self._rate_manager: StandardAtlassianRequestRateManager | None = None
        self.run_start_requests = 0
        self.run_start_retries = 0
        self.run_start_wait = 0.0
        self._last_gauges: dict[str, object] = {}

    def usage(self) -> tuple[int, int, float]:
        """(requests, retries, seconds tasks waited at the shared rate gate) since the service was enabled."""
        client = self.client
        return client.request_count, client.retry_count, client.gate.total_wait

    def mark_run_start(self, usage: tuple[int, int, float]) -> None:
        """An ingestion run started when `usage()` returned `usage`: `run_usage` counts from there."""
        self.run_start_requests, self.run_start_retries, self.run_start_wait = usage

    def run_usage(self) -> tuple[int, int, float]:
        """(requests, retries, seconds waited at the shared rate gate) since `mark_run_start`."""
        requests, retries, waited = self.usage()
        return requests - self.run_start_requests, retries - self.run_start_retries, waited - self.run_start_wait

    def status_gauges(self) -> dict[str, object]:
        """Live status: requests sent, retries, rate-limit waits (summed over tasks), a pause in force now."""
        client = self._client
        if client is not None:
            self._last_gauges = {
                "jira.requests": client.request_count,
                "jira.retries": client.retry_count,
                "jira.rate_limit_wait_s": round(client.gate.total_wait, 2),
                "jira.paused_s": round(client.gate.remaining(), 2),
            }
        return self._last_gauges

    def on_enabled(self, context: ConfigurationContext) -> None:
        retry = RetryPolicy(
            max_retries=context.property(self.MAX_RETRIES).as_int(),
            initial_delay=context.property(self.INITIAL_RETRY_DELAY).as_seconds(),
            max_delay=context.property(self.MAX_RETRY_DELAY).as_seconds(),
        )
        ca_bundle = (context.property(self.CA_BUNDLE).value or "").strip() or None
        try:
            ca = resolve_ca_bundle(ca_bundle)
        except ValueError as exc:  # e.g. $REQUESTS_CA_BUNDLE names a file that is gone
            raise ConfigurationError(f"'{self.CA_BUNDLE.name}': {exc}") from None
        gate = RateGate()
        self._rate_manager = None
        if context.property(self.RATE_MANAGER).value:
            self._rate_manager = context.property(self.RATE_MANAGER).as_service(StandardAtlassianRequestRateManager)
            gate = self._rate_manager.manager
        self._client = JiraClient(
            validate_base_url(context.property(self.ENVIRONMENT_URL).value or ""),
            context.property(self.EMAIL).value or "",
            context.property(self.API_TOKEN).value or "",
            pool_size=context.property(self.MAX_CONNECTIONS).as_int(),
            connect_timeout=context.property(self.CONNECT_TIMEOUT).as_seconds(),
            read_timeout=context.property(self.READ_TIMEOUT).as_seconds(),
            retry=retry,
            gate=gate,
            ca_bundle=ca if isinstance(ca, str) else None,
            max_body_bytes=parse_data_size(context.property(self.MAX_RESPONSE_SIZE).value or "128 MB"),
        )

    def on_disabled(self) -> None:
        if self._client is not None:
            self.status_gauges()  # keep the final numbers for the run's last status
            self._last_gauges["jira.paused_s"] = 0.0
            self._client.close()
        self._client = None

    @property
    def client(self) -> JiraClient:
        if self._client is None:
            raise RuntimeError("JiraCloudClientService is not enabled")
        return self._client

    @property
    def rate_manager(self) -> StandardAtlassianRequestRateManager | None:
        """The referenced request-rate manager service (None: the client has a private gate)."""
        return self._rate_manager


class WarehouseDestinationService(ControllerService):
    """Where the flow's records land: the destination `Destination Type` names, opened with the flow's tables.

    Destination types register themselves (entry point group ``flowkit.destinations``) with their own
    properties and validation; this service only looks one up, so a new destination needs no change here.
    """

    DESTINATION_TYPE = PropertyDescriptor(
        "Destination Type",
        f"Where the tables land: {' or '.join(destination_types())}",
        default="SQLITE",
        validator=validators.one_of(tuple(destination_types()), case_sensitive=False),
    )
    OVERSIZED = PropertyDescriptor(
        "Oversized Value Strategy",
        "What to do with a value over 16 MB: Fail Table or Set Null",
        default="Fail Table",
        validator=jira_validators.oversized_strategy,
    )
    properties = (DESTINATION_TYPE, OVERSIZED, *all_properties())

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opener: Callable[[], Destination] | None = None
        self._destination: Destination | None = None
        self._ensured: frozenset[str] = frozenset()
        self.oversized_strategy = "Fail Table"
        self.identity = ""  # which warehouse (DestinationType.identity): a run is merged only where it journaled

    @classmethod
    def custom_validate(cls, values: Mapping[str, str | None]) -> str | None:
        kind = destination_types().get((values.get(cls.DESTINATION_TYPE.name) or "SQLITE").strip().upper())
        return None if kind is None else kind.validate(values, os.environ)

    def on_enabled(self, context: ConfigurationContext) -> None:
        values = {d.name: context.property(d).value for d in self.properties}
        kind = destination_type(values[self.DESTINATION_TYPE.name] or "SQLITE")
        problem = kind.validate(values, os.environ)  # again at start: a key file may have changed since
        if problem:
            raise ConfigurationError(problem)
        self.oversized_strategy = (values[self.OVERSIZED.name] or "Fail Table").strip()
        self.identity = kind.identity(values)
        home = context.home
        self._opener = lambda: kind.open(values, schema=SCHEMA, home=home, env=os.environ)

    def on_disabled(self) -> None:
        with self._lock:
            if self._destination is not None:
                self._destination.close()
            self._destination = None
            self._ensured = frozenset()

    def ensure_tables(self, tables: tuple[str, ...]) -> Destination:
        """The destination with `tables` (and their journals) created; checked once per table per run."""
        destination = self.destination
        if not self._ensured.issuperset(tables):
            with self._lock:
                destination.ensure_tables(tables)
                self._ensured = self._ensured | frozenset(tables)
        return destination

    @property
    def destination(self) -> Destination:
        """Opened on first use, so a run refused before fetching writes nothing."""
        with self._lock:
            if self._destination is None:
                if self._opener is None:
                    raise RuntimeError("WarehouseDestinationService is not enabled")
                self._destination = self._opener()
            return self._destination
