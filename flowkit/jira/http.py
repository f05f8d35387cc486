"""HTTP plumbing of the Jira client: base-URL validation, the pooled session, response classification.

Everything here except :func:`build_session` is pure (no I/O, no clock), so it is unit-tested directly.
Classification decides *what* an answer means; :mod:`flowkit.jira.retry` decides *when* to try again.
"""

from __future__ import annotations

import enum
import http.cookiejar
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from flowkit import __version__
from flowkit.engine.validators import is_loopback_host
from flowkit.jira.errors import JiraResponseTooLarge

if TYPE_CHECKING:  # endpoints.py imports Outcome from here
    from flowkit.jira.endpoints import ErrorPolicy

USER_AGENT = f"flowkit/{__version__}"

_SNIPPET_MAX = 300


# --------------------------------------------------------------------------------------------- base URL


def validate_base_url(url: str) -> str:
    """Check a Jira site URL and return it normalised (no trailing slash).

    https is required; plain http only for loopback hosts (localhost, 127.0.0.0/8, ::1). The URL must be
    just ``scheme://host[:port]``: no path, query, fragment or credentials.
    Raises ``ValueError`` with one line.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the Jira site URL is empty (expected e.g. https://your-domain.atlassian.net)")
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{raw!r} is not an http(s) URL (expected e.g. https://your-domain.atlassian.net)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("the Jira site URL must not contain credentials; use Jira Email and Jira API Token")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"{raw!r} has no host name")
    if parts.path not in ("", "/"):
        raise ValueError(f"the Jira site URL must not have a path (got {parts.path!r}); give only https://host")
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ValueError("the Jira site URL must not have a query or fragment; give only https://host")
    if scheme == "http" and not is_loopback_host(host):
        raise ValueError(f"http:// is allowed only for loopback hosts; use https://{host}")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the default port filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


# --------------------------------------------------------------------------------------------- session


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Refuse every cookie: the client is stateless (Basic auth on each request), so threads share nothing."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def build_session(pool_size: int, *, proxies: Mapping[str, str] | None = None) -> requests.Session:
    """A ``requests.Session`` with a connection pool of ``pool_size``, the JSON/English headers, no cookies.

    No auth is set on the session: the client attaches ``Authorization`` per request, and only for the
    configured origin. urllib3 retries are off (the client owns retries).

    The session never reads the environment itself (``trust_env`` off): ``proxies`` are resolved once for the
    site by the caller (`environment_proxies`). Left on, requests would read the proxy variables again for
    every request (~0.3 ms of CPU each) and, worse, replace our Authorization header with a ``~/.netrc`` entry
    for the site's host when there is one.
    """
    if pool_size < 1:
        raise ValueError("pool_size must be >= 1")
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0, pool_block=False)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.clear()
    session.headers.update(
        {
            "Accept": "application/json",
            "Accept-Language": "en",
            "X-Force-Accept-Language": "true",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
        }
    )
    session.cookies.set_policy(_NoCookies())
    session.trust_env = False
    session.proxies.update(proxies or {})
    return session


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies the environment sets for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``, ... unless ``NO_PROXY``
    covers its host), read as requests reads them; none for a loopback host (the local simulator)."""
    host = urlsplit(url).hostname or ""
    if is_loopback_host(host):
        return {}
    return dict(requests.utils.get_environ_proxies(url))


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def read_bounded(response: requests.Response, limit: int, where: str) -> bytes:
    """The (decoded) body of a streamed response, refusing one larger than ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before reading anything; otherwise the body is read
    in chunks and refused as soon as it passes the limit (this also bounds what gzip expands to).
    """
    declared = header(response.headers, "Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise JiraResponseTooLarge(
            f"{where}: the answer is {_mib(int(declared))} (Content-Length), more than the "
            f"{_mib(limit)} allowed for one response; refused without reading it",
            endpoint=where,
            status=response.status_code,
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=256 * 1024):
        size += len(chunk)
        if size > limit:
            raise JiraResponseTooLarge(
                f"{where}: the answer is more than the {_mib(limit)} allowed for one response; refused",
                endpoint=where,
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------- classification


class Outcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # 429, 5xx, 408, timeouts, resets, malformed JSON in a 2xx
    EMPTY = "empty"  # the endpoint has nothing for this parent (e.g. 400 "The board does not support sprints")
    SKIP_BOARD = "skip_board"  # Jira refuses this board (403/404/422 on a board sub-resource)
    AUTH = "auth"  # 401 (or a denied login): stop the run
    FATAL = "fatal"  # anything else: other 4xx, 3xx, TLS errors


@dataclass(frozen=True)
class Classification:
    """What one HTTP answer (or transport failure) means.

    ``retry_after`` is the server's wait in seconds (``Retry-After``, else ``Beta-Retry-After``) or None.
    ``throttle`` is True when the answer is a rate-limit signal (429, 503, or any answer with a
    retry-after): the wait is then shared by every thread through the :class:`RateGate`.
    ``data`` is the parsed JSON body of an OK answer. ``error_messages`` are Jira's error strings.
    ``location_host`` is set for redirects. ``near_limit`` is True when an answer (typically a successful
    one) says ``X-RateLimit-NearLimit: true``: less than 20% of a rate-limit budget is left.
    """

    outcome: Outcome
    message: str
    status: int | None = None
    retry_after: float | None = None
    throttle: bool = False
    data: Any = None
    error_messages: tuple[str, ...] = ()
    location_host: str | None = None
    near_limit: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts and requests' CaseInsensitiveDict."""
    value = headers.get(name)
    if value is not None or isinstance(headers, CaseInsensitiveDict):
        return value  # (a CaseInsensitiveDict already looked case-insensitively: a dozen lookups per answer)
    lname = name.lower()
    for key, val in headers.items():
        if key.lower() == lname:
            return val
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (or ``Beta-Retry-After`` when Retry-After is absent or unusable).

    Only the delta-seconds form is understood (that is what Jira sends); negative or unparsable -> None.
    """
    for name in ("Retry-After", "Beta-Retry-After"):
        raw = header(headers, name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None


def _error_messages(data: Any) -> tuple[str, ...]:
    """Jira's ErrorCollection -> flat list of messages (``errorMessages`` + values of ``errors``)."""
    if not isinstance(data, dict):
        return ()
    out: list[str] = []
    msgs = data.get("errorMessages")
    if isinstance(msgs, list):
        out.extend(str(m) for m in msgs if m not in (None, ""))
    errs = data.get("errors")
    if isinstance(errs, dict):
        out.extend(f"{k}: {v}" for k, v in errs.items() if v not in (None, ""))
    msg = data.get("message")
    if not out and isinstance(msg, str) and msg:
        out.append(msg)
    return tuple(out)


def _snippet(body: str) -> str:
    text = re.sub(r"<[^>]*>", " ", body)  # HTML error pages from edge nodes
    text = " ".join(text.split())
    if len(text) > _SNIPPET_MAX:
        text = text[:_SNIPPET_MAX] + "..."
    return text


def _decode(body: str | bytes) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return body


def _describe(status: int, messages: tuple[str, ...], body: str) -> str:
    if messages:
        return f"HTTP {status}: " + "; ".join(messages)
    snippet = _snippet(body)
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


_DENIED_REASON = re.compile(r"[^A-Za-z0-9_;:=/.?&%+, -]")


def denied_reason(headers: Mapping[str, str]) -> str | None:
    """``X-Authentication-Denied-Reason`` (e.g. ``CAPTCHA_CHALLENGE; login-url=...``), sanitised, or None."""
    raw = header(headers, "X-Authentication-Denied-Reason")
    if not raw or not raw.strip():
        return None
    return _DENIED_REASON.sub("", raw.strip())[:200] or None


def _auth_message(status: int, headers: Mapping[str, str]) -> str:
    """Why the run stops on a refused login, with what the user can do. The body is never quoted."""
    denied = denied_reason(headers)
    if denied is not None:
        hint = (
            "sign in to the Jira site once in a browser to clear the CAPTCHA, then run again"
            if "captcha" in denied.lower()
            else "check the account in a browser"
        )
        return f"Jira denied the login (HTTP {status}, X-Authentication-Denied-Reason: {denied}): {hint}"
    if status == 401:
        reason = header(headers, "X-Seraph-LoginReason")
        extra = ""
        if reason and re.fullmatch(r"[A-Za-z_,]{1,64}", reason):
            extra = f" ({reason})"
        return (
            "Jira refused the credentials (HTTP 401)"
            f"{extra}: check Jira Email and Jira API Token (an API token, not a password)"
        )
    return (
        f"Jira refused access (HTTP {status}): the account of Jira Email may not use this site "
        "(no product access, or a token without the needed scopes)"
    )


_JSON = msgspec.json.Decoder()


def loads(body: str | bytes) -> Any:
    """Parse a JSON answer: msgspec (a page of 5,000 issues is decoded twice as fast as by json), or json for
    what msgspec refuses (NaN, Infinity, lone surrogates), so the answers accepted, and the values read, are
    exactly json's. (Not orjson, as an earlier version did: it reads an integer over 64 bits as a float.)"""
    try:
        return _JSON.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(body)


class KeyOnlyIssue(msgspec.Struct, gc=False):
    """An issue of an id/key-only JQL search page: the two fields the flow reads (any JSON value; the row
    mapping checks them), everything else of the issue skipped while decoding."""

    id: Any = None
    key: Any = None


class _KeyOnlySearchPage(msgspec.Struct, gc=False):
    issues: list[KeyOnlyIssue]
    nextPageToken: Any = None  # Jira's names
    isLast: Any = None


_KEY_ONLY_SEARCH_PAGE = msgspec.json.Decoder(_KeyOnlySearchPage)


def loads_key_only_search(body: str | bytes) -> Any:
    """Parse a page of ``POST /rest/api/3/search/jql`` asked for id/key only: ``{"issues": [KeyOnlyIssue...],
    "nextPageToken": ..., "isLast": ...}``, the only parts its readers use (the paginator and the row mapping).

    A page of 5,000 issues carries each issue's ``self`` URL and ``expand`` list too; msgspec skips them
    instead of building them (0.26 instead of 0.93 us per issue, and less to free). Anything that does not
    fit (issues that are not objects, no ``issues`` list, integers over 64 bits, NaN, malformed JSON) goes
    to ``loads``, so what is accepted, and how it is read, is unchanged."""
    try:
        page = _KEY_ONLY_SEARCH_PAGE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return loads(body)
    return {"issues": page.issues, "nextPageToken": page.nextPageToken, "isLast": page.isLast}


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body_text: str | bytes,
    policy: ErrorPolicy | None = None,
    decode: Callable[[str | bytes], Any] = loads,
) -> Classification:
    """Classify one HTTP answer for an endpoint with error ``policy``. Pure: no I/O, no clock.

    * 2xx -> OK with the JSON parsed by ``decode`` (malformed/truncated/empty JSON -> RETRY); 204 -> OK with None.
    * a 403 carrying ``X-Authentication-Denied-Reason`` -> AUTH (a denied login, e.g. a CAPTCHA lock-out).
    * then the endpoint's policy: the first matching rule decides (EMPTY, SKIP_BOARD, AUTH, RETRY, FATAL).
    * defaults: 401 -> AUTH (the body is never quoted: it may echo the request); 429, 408, 5xx -> RETRY with
      ``retry_after`` from Retry-After / Beta-Retry-After; 3xx -> FATAL naming the Location's host
      (redirects are never followed); a 400 with a damaged JSON body -> RETRY; anything else -> FATAL.
    """
    retry_after = parse_retry_after(headers)
    if 200 <= status < 300:
        near = (header(headers, "X-RateLimit-NearLimit") or "").strip().lower() == "true"
        if status == 204:
            return Classification(Outcome.OK, "no content", status=status, near_limit=near)
        if not body_text or body_text.isspace():  # (not .strip(): that copies a 900 KB page)
            return Classification(Outcome.RETRY, f"HTTP {status} with an empty body", status=status)
        try:
            data = decode(body_text)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return Classification(Outcome.RETRY, f"HTTP {status} with malformed or truncated JSON", status=status)
        return Classification(Outcome.OK, "ok", status=status, data=data, near_limit=near)

    text = _decode(body_text)
    try:
        error_body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        error_body = None
    messages = _error_messages(error_body)

    if status == 401 or (status == 403 and denied_reason(headers) is not None):
        return Classification(Outcome.AUTH, _auth_message(status, headers), status=status)
    decided = policy.decide(status, messages) if policy is not None else None
    if decided is not None:
        outcome = decided.outcome
        if outcome is Outcome.AUTH:
            message = _auth_message(status, headers)
        elif decided.reason is not None:
            message = f"HTTP {status}: {decided.reason}"
        else:
            message = _describe(status, messages, text)
        throttle = outcome is Outcome.RETRY and (status in (429, 503) or retry_after is not None)
        return Classification(
            outcome,
            message,
            status=status,
            retry_after=retry_after if outcome is Outcome.RETRY else None,
            throttle=throttle,
            error_messages=messages,
        )
    if status == 400:
        if error_body is None and text.strip() and "json" in (header(headers, "Content-Type") or "").lower():
            # A JSON error body that does not parse was damaged in transit: we cannot tell what Jira said
            # (it may be the "no sprints" answer), so ask again.
            return Classification(Outcome.RETRY, "HTTP 400 with malformed or truncated JSON", status=status)
        return Classification(Outcome.FATAL, _describe(status, messages, text), status=status, error_messages=messages)
    if status == 429 or status == 408 or 500 <= status < 600:
        throttle = status in (429, 503) or retry_after is not None
        return Classification(
            Outcome.RETRY,
            _describe(status, messages, text),
            status=status,
            retry_after=retry_after,
            throttle=throttle,
            error_messages=messages,
        )
    if 300 <= status < 400:
        location = header(headers, "Location") or ""
        try:
            host = urlsplit(location).hostname or ""
        except ValueError:
            host = ""
        where = f"host {host!r}" if host else f"{location[:100]!r}" if location else "an unspecified location"
        return Classification(
            Outcome.FATAL,
            f"HTTP {status} redirect to {where} not followed (credentials are only sent to the configured "
            "Environment URL; check the site URL)",
            status=status,
            location_host=host or None,
        )
    return Classification(Outcome.FATAL, _describe(status, messages, text), status=status, error_messages=messages)


def classify_exception(exc: BaseException) -> Classification:
    """Transport failures: timeouts, connection errors/resets and truncated bodies are RETRY; TLS is FATAL."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return Classification(Outcome.FATAL, f"TLS error ({name})")
    if isinstance(exc, requests.exceptions.Timeout):
        return Classification(Outcome.RETRY, f"timeout ({name})")
    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError
        | ConnectionError,
    ):
        return Classification(Outcome.RETRY, f"connection error ({name})")
    return Classification(Outcome.FATAL, f"request failed ({name})")
