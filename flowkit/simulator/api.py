"""The Jira REST endpoints as pure functions of (data set, request) -> response; no sockets here."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from flowkit.simulator.jql import JqlError
from flowkit.simulator.model import NO_SPRINTS_ANSWERS, Board, MatchSet, strip_order_by
from flowkit.simulator.mutations import DataSet
from flowkit.simulator.views import (
    ISSUE_EXPAND,
    board_json,
    configuration_json,
    filter_json,
    hidden_board_json,
    issue_json,
    myself_json,
    project_json,
    sprint_json,
)

BOARD_NOT_VIEWABLE = (
    "The requested board cannot be viewed because it either does not exist or you do not have permission to view it."
)
NO_SPRINTS = "The board does not support sprints"
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
KEY_ONLY_FIELDS = {"id", "key"}
SEARCH_CAP_KEYS, SEARCH_CAP_FIELDS = 5000, 100


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any = None  # a JSON value, or str for text/plain
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class RawJson:
    """A response body that is already JSON text (what ``json.dumps(..., separators=(",", ":"))`` would give)."""

    data: bytes


class ApiError(Exception):
    def __init__(self, status: int, messages: list[str] | str, errors: dict[str, str] | None = None) -> None:
        super().__init__(messages)
        self.status = status
        self.body = {
            "errorMessages": [messages] if isinstance(messages, str) else messages,
            "errors": errors or {},
        }


def _int(req: Request, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"The '{name}' parameter must be a number.") from None


def _bool(req: Request, name: str) -> bool:
    return req.query.get(name, "").lower() == "true"


def _values_page(items: list[Any], req: Request, cap: int) -> dict[str, Any]:
    start = max(0, _int(req, "startAt", 0))
    size = max(0, min(_int(req, "maxResults", 50), cap))
    values = items[start : start + size]
    return {
        "maxResults": size,
        "startAt": start,
        "total": len(items),
        "isLast": start + len(values) >= len(items),
        "values": values,
    }


class JiraApi:
    """Routing table plus the endpoint implementations."""

    def __init__(self, data: DataSet, page_cap: int = 50) -> None:
        self.data = data
        self.page_cap = page_cap
        t = "/rest/agile/1.0/board/{id}"
        self.routes: list[tuple[str, re.Pattern[str], str, Callable[[Request], Any]]] = []
        for method, template, fn in (
            ("GET", "/rest/api/3/myself", self.myself),
            ("GET", "/rest/agile/1.0/board", self.boards),
            ("GET", t, self.board),
            ("GET", t + "/configuration", self.configuration),
            ("GET", t + "/project", self.board_projects),
            ("GET", t + "/sprint", self.board_sprints),
            ("GET", t + "/issue", self.board_issues),
            ("GET", "/rest/api/3/filter/{id}", self.filter),
            ("GET", "/rest/api/3/search/jql", self.search),
            ("POST", "/rest/api/3/search/jql", self.search),
        ):
            regex = re.compile("^" + re.escape(template).replace(r"\{id\}", r"(?P<id>[^/]+)") + "/?$")
            self.routes.append((method, regex, template, fn))

    def match(self, method: str, path: str) -> tuple[str, Callable[[Request], Any] | None, dict[str, str]]:
        """(endpoint template or '' when unknown, handler or None when the method is wrong, path params)."""
        found = ""
        for m, regex, template, fn in self.routes:
            hit = regex.match(path)
            if hit:
                if m == method:
                    return template, fn, hit.groupdict()
                found = template
        return found, None, {}

    # -- endpoints ------------------------------------------------------------------------------------------
    def myself(self, req: Request) -> Any:
        return myself_json(self.data)

    def boards(self, req: Request) -> Any:
        d = self.data
        types = {t.strip() for t in req.query.get("type", "").split(",") if t.strip()}
        name = req.query.get("name", "").lower()
        pkey = req.query.get("projectKeyOrId", "")
        ploc = req.query.get("projectLocation", "")
        with d.lock:
            boards = sorted(d.boards.values(), key=lambda b: b.id)

        def keep(b: Board) -> bool:
            if types and b.type not in types:
                return False
            if name and name not in b.name.lower():
                return False
            if pkey and not any(pkey.lower() in (p.key.lower(), str(p.id)) for p in d.board_projects(b)):
                return False
            if ploc:
                p = d.projects.get(b.location_project or "")
                return p is not None and ploc.lower() in (p.key.lower(), str(p.id))
            return True

        visible = [board_json(d, b) for b in boards if d.board_visible(b) and keep(b)]
        if req.query.get("orderBy", "").lstrip("+-") == "name":
            visible.sort(key=lambda x: x["name"].lower(), reverse=req.query["orderBy"].startswith("-"))
        if _bool(req, "includePrivate"):
            visible += [hidden_board_json(d, b) for b in boards if not d.board_visible(b) and keep(b)]
        return _values_page(visible, req, self.page_cap)

    def _board(self, req: Request) -> Board:
        raw = req.params["id"]
        b = self.data.boards.get(int(raw)) if raw.isdigit() else None
        if b is None or not self.data.board_visible(b):
            raise ApiError(404, BOARD_NOT_VIEWABLE)
        return b

    def board(self, req: Request) -> Any:
        return board_json(self.data, self._board(req))

    def configuration(self, req: Request) -> Any:
        return configuration_json(self.data, self._board(req))

    def board_projects(self, req: Request) -> Any:
        b = self._board(req)
        return _values_page([project_json(self.data, p) for p in self.data.board_projects(b)], req, self.page_cap)

    def board_sprints(self, req: Request) -> Any:
        b = self._board(req)
        if b.sprints_answer is not None:
            status, message = NO_SPRINTS_ANSWERS[b.sprints_answer]
            raise ApiError(status, message)
        if not b.supports_sprints:
            raise ApiError(400, NO_SPRINTS)
        states = {s.strip() for s in req.query.get("state", "").split(",") if s.strip()}
        bad = states - {"future", "active", "closed"}
        if bad:
            raise ApiError(400, f"The sprint state '{sorted(bad)[0]}' is not valid.")
        sprints = [sprint_json(self.data, s) for s in self.data.board_sprints(b.id, states or None)]
        return _values_page(sprints, req, self.page_cap)

    def board_issues(self, req: Request) -> Any:
        d, b = self.data, self._board(req)
        jql = d.board_issue_jql(b)
        extra = req.query.get("jql", "").strip()
        if extra:
            jql = f"({strip_order_by(jql)}) AND ({extra})"
        start = max(0, _int(req, "startAt", 0))
        size = max(0, min(_int(req, "maxResults", 50), self.page_cap))
        wanted = _fields(req.query.get("fields"))
        with d.lock:  # one state of the data per page
            m = self._matches(jql)
            issues = [issue_json(d, d.issue(i), wanted, agile=True) for i in m.window(start, size)]  # type: ignore[arg-type]
            total = m.total()
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": total,
            "issues": issues,
        }

    def filter(self, req: Request) -> Any:
        raw = req.params["id"]
        f = self.data.filters.get(int(raw)) if raw.isdigit() else None
        if f is None or not self.data.filter_visible(f):
            raise ApiError(
                404,
                "The selected filter is not available to you, perhaps it has been deleted"
                " or had its permissions changed.",
            )
        return filter_json(self.data, f.id)

    def _parse(self, jql: str) -> Any:
        try:
            return self.data.parse(jql)
        except JqlError as exc:
            raise ApiError(400, str(exc)) from None

    def _matches(self, jql: str) -> MatchSet:
        try:
            return self.data.matches(jql)
        except JqlError as exc:
            raise ApiError(400, str(exc)) from None

    def search(self, req: Request) -> Any:
        if req.method == "POST":
            try:
                body = json.loads(req.body or b"{}")
            except ValueError:
                raise ApiError(400, BAD_PAYLOAD) from None
            if not isinstance(body, dict):
                raise ApiError(400, BAD_PAYLOAD)
        else:
            body = dict(req.query)
        jql = str(body.get("jql") or "").strip()
        d = self.data
        with d.lock:  # one state of the data per page: a mutation lands before or after it, never inside
            m = self._matches(jql) if jql else None
            if m is None or m.query.where is None:
                raise ApiError(
                    400,
                    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
                )
            raw_fields = body.get("fields")
            wanted = _fields(",".join(raw_fields) if isinstance(raw_fields, list) else raw_fields) or {"id"}
            key_only = wanted <= KEY_ONLY_FIELDS
            cap = SEARCH_CAP_KEYS if key_only else SEARCH_CAP_FIELDS
            try:
                size = max(1, min(int(body.get("maxResults") or 50), cap))
            except (TypeError, ValueError):
                raise ApiError(400, "The 'maxResults' parameter must be a number.") from None
            qhash = hashlib.sha1(jql.encode()).hexdigest()[:12]
            found = m.after(_decode_token(body.get("nextPageToken"), qhash), size + 1)
            page, more = found[:size], len(found) > size
            if key_only:
                return _key_only_page(d.site, d.key_runs(page), more, qhash)
            issues = [issue_json(d, d.issue(i), wanted) for i in page]  # type: ignore[arg-type]
        out: dict[str, Any] = {"issues": issues}
        if more:
            out["nextPageToken"] = _encode_token(page[-1], qhash)
        out["isLast"] = not more
        return out


def _key_only_page(site: str, runs: list[tuple[str, int, list[int]]], more: bool, qhash: str) -> RawJson:
    """The hot path of a mirror: an id/key-only page written as JSON text straight from the ids and their key
    runs (``DataModel.key_runs``), with no objects per issue; byte for byte what ``json.dumps`` gives for the
    ``issue_json(..., fields=set())`` items (tests/simulator/test_search_cache.py compares the two)."""
    site = encode_basestring_ascii(site)[1:-1]
    head = f'{{"expand":"{ISSUE_EXPAND}","id":"'
    items: list[str] = []
    last = 0
    for prefix, offset, ids in runs:
        key = encode_basestring_ascii(prefix)[1:-1]
        items += [
            f'{head}{i}","self":"{site}/rest/api/3/issue/{i}","key":"{key}{i - offset}","fields":{{}}}}' for i in ids
        ]
        last = ids[-1]
    token = f',"nextPageToken":"{_encode_token(last, qhash)}"' if more else ""
    return RawJson(f'{{"issues":[{",".join(items)}]{token},"isLast":{"false" if more else "true"}}}'.encode())


def _fields(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    return {f.strip() for f in str(raw).split(",") if f.strip()}


def _encode_token(after: int, qhash: str) -> str:
    raw = json.dumps({"after": after, "q": qhash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: Any, qhash: str) -> int:
    if token in (None, ""):
        return 0
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4))
        obj = json.loads(raw)
        if obj["q"] != qhash:
            raise ValueError("query changed")
        return int(obj["after"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "The provided next page token is invalid or expired.") from None
