"""The simulator's data model: projects, filters, boards, sprints and lazily derived issues.

Issues are never materialised in bulk. A project owns a contiguous range of *base* issue ids whose fields
are derived from ``(seed, issue id)`` on demand; mutations live in small overlays (deleted ids, moved issues,
added issues, security overrides). Searching walks the id ranges lazily, so a million issues cost almost
no memory.
"""

from __future__ import annotations

import heapq
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from flowkit.simulator.jql import Query, parse_jql

BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # "now" of every generated data set (no wall clock)
_M64 = (1 << 64) - 1
STATUSES = {  # name -> (status id, category id, category key, category name)
    "To Do": ("10000", 2, "new", "To Do"),
    "In Progress": ("3", 4, "indeterminate", "In Progress"),
    "Done": ("10001", 3, "done", "Done"),
}
ISSUE_TYPES = ("Story", "Bug", "Task")
_WORDS = ("Login", "Billing", "Search", "Export", "Cache", "Audit", "Sync", "Report", "Alert", "Upload")
_VERBS = ("fix", "add", "refactor", "speed up", "document", "remove", "migrate", "test")


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


#: Site-wide payload variants recorded from real Jira Cloud sites (jira-api.md §11), switched on by name.
VARIANTS: dict[str, str] = {
    "board-without-location": "/board lists boards without `location` (the configuration still has one)",
    "board-without-is-private": "/board lists boards without `isPrivate`",
    "config-location-documented": 'a project board\'s configuration location is only {"type", "projectKeyOrId"}',
    "project-without-type-key": "/board/{id}/project items have no `projectTypeKey`",
    "ids-as-strings": "board, sprint and originBoardId ids are sent as JSON strings",
    "sprint-goal-absent": "sprints with an empty goal have no `goal` key",
}

#: The ways a board's /sprint endpoint says "no sprints" -> (status, message).
NO_SPRINTS_ANSWERS: dict[str, tuple[int, str]] = {
    "does-not": (400, "The board does not support sprints"),
    "doesnt": (400, "The board doesn't support sprints."),
    "no-columns": (500, "This board has no columns with a mapped status."),
}


@dataclass(frozen=True)
class User:
    account_id: str
    display_name: str
    email: str
    user_id: int  # the numeric id Agile board locations carry


@dataclass
class Project:
    id: int
    key: str
    name: str
    type_key: str = "software"
    simplified: bool = False  # team-managed ("next-gen")
    base_start: int = 0  # first base issue id
    base_count: int = 0
    next_num: int = 1  # next issue number for keys (KEY-n)


@dataclass
class Filter:
    id: int
    name: str
    jql: str
    owner: User
    shared: bool = True  # shared with the caller (or owned by them)
    description: str = ""


@dataclass
class Board:
    id: int
    name: str
    type: str  # scrum | kanban | simple
    filter_id: int
    location_project: str | None  # project key for project-located boards
    location_user: User | None = None  # owner for user-located boards
    is_private: bool = False
    owner: User | None = None  # who can see a private board
    sub_query: str | None = None  # kanban only
    estimation: dict[str, Any] | None = None  # scrum only
    column_config: dict[str, Any] = field(default_factory=dict)
    rank_field: int = 10019
    oversized: bool = False  # columnConfig is larger than 16 MB
    # Real-site variants of one board (see VARIANTS for the site-wide ones):
    sprints_answer: str | None = None  # how /sprint says "no sprints": one of NO_SPRINTS_ANSWERS
    config_filter: bool = True  # False: /configuration has no `filter` (the board keeps its saved filter)
    list_overrides: dict[str, Any] = field(default_factory=dict)  # raw keys replaced in the /board listing

    @property
    def supports_sprints(self) -> bool:
        return self.type != "kanban" and self.sprints_answer is None


@dataclass
class Sprint:
    id: int
    name: str
    state: str  # future | active | closed
    origin_board_id: int
    board_ids: list[int]
    created: datetime
    start: datetime | None = None
    end: datetime | None = None
    complete: datetime | None = None
    goal: str = ""


@dataclass(slots=True)
class Issue:
    id: int
    key: str
    project_key: str
    summary: str
    status: str
    issuetype: str
    created: datetime
    updated: datetime
    resolved: datetime | None
    hidden: bool  # issue-level security: the caller cannot see it

    @property
    def status_category(self) -> str:
        return STATUSES[self.status][3]

    @property
    def resolution(self) -> str | None:
        return "Done" if self.status == "Done" else None


class DataModel:
    """Everything the simulator serves (read side; mutations are in mutations.py).

    Thread-safe: mutations hold ``lock`` and bump ``version``.
    """

    def __init__(self, seed: int, caller: User, other: User, site: str = "https://simulated.atlassian.net"):
        self.seed = seed
        self.caller = caller
        self.other = other
        self.site = site
        self.tz: tzinfo = ZoneInfo("Europe/Berlin")
        self.projects: dict[str, Project] = {}
        self.filters: dict[int, Filter] = {}
        self.boards: dict[int, Board] = {}
        self.sprints: dict[int, Sprint] = {}
        self.hidden_rate = 29  # one base issue in ~29 is hidden by issue-level security
        self.variants: set[str] = set()  # names from VARIANTS
        self.lock = threading.RLock()
        self.version = 0
        self._deleted: set[int] = set()
        self._moved: dict[int, tuple[str, int]] = {}  # id -> (project key, key number), base issues only
        self._added: dict[int, Issue] = {}
        self._hidden: dict[int, bool] = {}
        self._base_index: list[tuple[int, str]] = []
        self._next_issue_id = 10001
        self._count_cache: dict[tuple[int, str], int] = {}

    # -- building -------------------------------------------------------------------------------------------
    def add_project(self, key: str, name: str, base_count: int, simplified: bool = False) -> Project:
        with self.lock:
            p = Project(10000 + len(self.projects), key, name, simplified=simplified)
            p.base_start, p.base_count, p.next_num = self._next_issue_id, base_count, base_count + 1
            self._next_issue_id += base_count
            self.projects[key] = p
            self._base_index.append((p.base_start, key))
            self._touch()
            return p

    def _touch(self) -> None:
        self.version += 1
        self._count_cache.clear()

    # -- resolver (for JQL) ---------------------------------------------------------------------------------
    def resolve_project(self, value: str) -> str | None:
        v = value.lower()
        for p in self.projects.values():
            if v in (p.key.lower(), str(p.id), p.name.lower()):
                return p.key
        return None

    def filter_jql(self, value: str) -> str | None:
        f = self.filters.get(int(value)) if value.isdigit() else None
        if f is None:
            f = next((x for x in self.filters.values() if x.name.lower() == value.lower()), None)
        return f.jql if f is not None and self.filter_visible(f) else None

    def parse(self, jql: str) -> Query:
        return parse_jql(jql, self)

    # -- visibility -----------------------------------------------------------------------------------------
    def filter_visible(self, f: Filter) -> bool:
        return f.shared or f.owner == self.caller

    def board_visible(self, b: Board) -> bool:
        """Whether the caller may view the board (listed by /board without includePrivate, details served)."""
        if b.is_private and b.owner != self.caller:
            return False
        f = self.filters.get(b.filter_id)
        return f is not None and self.filter_visible(f)

    def board_issue_jql(self, b: Board) -> str:
        """The JQL a client sends to /search/jql for a board (filter JQL, ANDed with the kanban sub-query)."""
        jql = self.filters[b.filter_id].jql
        if not b.sub_query:
            return jql
        return f"({strip_order_by(jql)}) AND ({b.sub_query}) ORDER BY Rank ASC"

    def board_projects(self, b: Board) -> list[Project]:
        keys = self.parse(self.filters[b.filter_id].jql).guaranteed_projects()
        projects = [p for p in self.projects.values() if p.key.lower() in keys]
        return sorted(projects, key=lambda p: (p.name.lower(), p.id))

    def board_sprints(self, board_id: int, states: set[str] | None = None) -> list[Sprint]:
        order = {"closed": 0, "active": 1, "future": 2}
        with self.lock:
            out = [s for s in self.sprints.values() if board_id in s.board_ids]
        if states:
            out = [s for s in out if s.state in states]
        return sorted(out, key=lambda s: (order[s.state], s.id))

    # -- issues ---------------------------------------------------------------------------------------------
    def _base_issue(self, issue_id: int, project: Project, num: int | None = None) -> Issue:
        h = mix(self.seed * 0x100000001B3 + issue_id)
        created = BASE_TIME - timedelta(minutes=60 + h % (300 * 24 * 60), milliseconds=(h >> 20) % 1000)
        status = (
            "To Do",
            "To Do",
            "To Do",
            "In Progress",
            "In Progress",
            "Done",
            "Done",
            "Done",
            "Done",
            "Done",
        )[(h >> 8) % 10]
        resolved = None
        if status == "Done":
            resolved = min(BASE_TIME, created + timedelta(minutes=30 + (h >> 32) % (40 * 24 * 60)))
        updated = max(created, resolved or created) + timedelta(minutes=(h >> 40) % 600)
        summary = f"{_VERBS[(h >> 12) % len(_VERBS)].capitalize()} {_WORDS[(h >> 16) % len(_WORDS)].lower()} flow"
        n = num if num is not None else issue_id - project.base_start + 1
        hidden = self._hidden.get(issue_id, (h >> 24) % self.hidden_rate == 0)
        return Issue(
            issue_id, f"{project.key}-{n}", project.key, summary, status,
            ISSUE_TYPES[(h >> 28) % 3], created, min(updated, BASE_TIME), resolved, hidden,
        )  # fmt: skip

    def _home(self, issue_id: int) -> Project | None:
        i = bisect_right(self._base_index, (issue_id, "\uffff")) - 1
        if i < 0:
            return None
        p = self.projects[self._base_index[i][1]]
        return p if issue_id < p.base_start + p.base_count else None

    def issue(self, issue_id: int) -> Issue | None:
        """The issue with this id as it stands (None when deleted or unknown); hidden issues included."""
        if issue_id in self._deleted:
            return None
        added = self._added.get(issue_id)
        if added is not None:
            added.hidden = self._hidden.get(issue_id, added.hidden)
            return added
        home = self._home(issue_id)
        if home is None:
            return None
        moved = self._moved.get(issue_id)
        if moved is not None:
            return self._base_issue(issue_id, self.projects[moved[0]], moved[1])
        return self._base_issue(issue_id, home)

    def _project_ids(self, p: Project, after: int) -> Iterator[int]:
        with self.lock:
            skip = self._deleted | self._moved.keys()
            extra = sorted(
                [i for i, (k, _) in self._moved.items() if k == p.key and i not in self._deleted]
                + [i for i, x in self._added.items() if x.project_key == p.key and i not in self._deleted]
            )
        base = range(max(p.base_start, after + 1), p.base_start + p.base_count)
        base_iter = (i for i in base if i not in skip) if skip else iter(base)
        yield from heapq.merge(base_iter, extra[bisect_left(extra, after + 1) :])

    def search(self, query: Query, after: int = 0, include_hidden: bool = False) -> Iterator[Issue]:
        """Issues matching ``query`` in rank (= id) order, starting after issue id ``after``; lazy."""
        wanted = query.projects()
        streams = []
        for p in list(self.projects.values()):
            if wanted is not None and p.key.lower() not in wanted:
                continue
            node = query.where.for_project(p.key) if query.where is not None else None
            if node is not None and getattr(node, "value", None) is False:
                continue
            residual = None if node is None or getattr(node, "value", None) is True else node
            streams.append(self._project_stream(p, after, residual, include_hidden))
        yield from heapq.merge(*streams, key=lambda i: i.id)

    def _project_stream(self, p: Project, after: int, residual: Any, include_hidden: bool) -> Iterator[Issue]:
        for issue_id in self._project_ids(p, after):
            issue = self.issue(issue_id)
            if issue is None or (issue.hidden and not include_hidden):
                continue
            if residual is None or residual.evaluate(issue):
                yield issue

    def count(self, query: Query, jql: str) -> int:
        key = (self.version, jql)
        n = self._count_cache.get(key)
        if n is None:
            n = sum(1 for _ in self.search(query))
            if len(self._count_cache) > 256:
                self._count_cache.clear()
            self._count_cache[key] = n
        return n

    def total_issues(self) -> int:
        return sum(p.base_count for p in self.projects.values()) - len(self._deleted) + len(self._added)

    # -- low-level mutation helpers (the public API is in mutations.py) ------------------------------------
    def _new_issue_id(self) -> int:
        self._next_issue_id += 1
        return self._next_issue_id - 1


_ORDER_BY = re.compile(r"\s+order\s+by\s+.*$", re.IGNORECASE | re.DOTALL)


def strip_order_by(jql: str) -> str:
    return _ORDER_BY.sub("", jql).strip()
