"""The simulator's data model: projects, filters, boards, sprints and lazily derived issues.

Issues are never materialised in bulk. A project owns a contiguous range of *base* issue ids whose fields
are derived from ``(seed, issue id)`` on demand; mutations live in small overlays (deleted ids, moved issues,
added issues, security overrides). Searching walks the id ranges lazily, so a million issues cost almost
no memory.

The search endpoints page through a :class:`MatchSet` per query: the matching ids (8 bytes each), evaluated
lazily as far as the pages asked so far need and kept until the next mutation (every mutation goes through
``_touch``, which drops them all), so paging a query costs one evaluation, not one per page.
"""

from __future__ import annotations

import heapq
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import chain, islice, pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flowkit.simulator.jql import Query, parse_jql

MATCH_CACHE_IDS = 4_000_000  # past this many ids over all cached match sets (32 MB), a new query drops the oldest
_CHUNK = 4096  # ids evaluated at least per extension of a match set

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
_VERBS_CAP = tuple(v.capitalize() for v in _VERBS)
_WORDS_LOW = tuple(w.lower() for w in _WORDS)
_STATUS_BY_HASH = ("To Do",) * 3 + ("In Progress",) * 2 + ("Done",) * 5
_MINUTE_US = 60_000_000


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


class _DerivedFromStatus:
    """The fields an issue's status decides, for Issue and BaseIssueView alike."""

    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def status(self) -> str: ...

    @property
    def status_category(self) -> str:
        return STATUSES[self.status][3]

    @property
    def resolution(self) -> str | None:
        return "Done" if self.status == "Done" else None


@dataclass(slots=True)
class Issue(_DerivedFromStatus):
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


def _dates_before_base(h: int) -> tuple[int, int | None, int]:
    """(created, resolved or None, updated) of a base issue with hash ``h``, as microseconds before BASE_TIME.

    Integer arithmetic, one timedelta per date read: a kanban board's sub-query reads the dates of every
    issue of its project.
    """
    created = (60 + h % (300 * 24 * 60)) * _MINUTE_US + (h >> 20) % 1000 * 1000
    if _STATUS_BY_HASH[(h >> 8) % 10] != "Done":
        return created, None, max(0, created - (h >> 40) % 600 * _MINUTE_US)
    resolved = max(0, created - (30 + (h >> 32) % (40 * 24 * 60)) * _MINUTE_US)
    return created, resolved, max(0, resolved - (h >> 40) % 600 * _MINUTE_US)


class BaseIssueView(_DerivedFromStatus):
    """A base issue in its home project whose fields are derived when read, from the same functions as
    ``DataModel._base_issue``: evaluating a query reads one or two fields of each issue, so deriving all of
    them (summary, three dates) would be wasted. No ``hidden``: callers evaluate visible issues only."""

    __slots__ = ("_h", "_project", "id")

    def __init__(self, issue_id: int, h: int, project: Project) -> None:
        self.id = issue_id
        self._h = h
        self._project = project

    @property
    def project_key(self) -> str:
        return self._project.key

    @property
    def key(self) -> str:
        return f"{self._project.key}-{self.id - self._project.base_start + 1}"

    @property
    def status(self) -> str:
        return _STATUS_BY_HASH[(self._h >> 8) % 10]

    @property
    def issuetype(self) -> str:
        return ISSUE_TYPES[(self._h >> 28) % 3]

    @property
    def created(self) -> datetime:
        return BASE_TIME - timedelta(0, 0, _dates_before_base(self._h)[0])

    @property
    def resolved(self) -> datetime | None:
        resolved = _dates_before_base(self._h)[1]
        return None if resolved is None else BASE_TIME - timedelta(0, 0, resolved)

    @property
    def updated(self) -> datetime:
        return BASE_TIME - timedelta(0, 0, _dates_before_base(self._h)[2])


class MatchSet:
    """The ids of the visible issues one query matches, in rank (= id) order, evaluated lazily.

    Valid for one state of the data only: ``DataModel.matches`` hands out a new one after every mutation.
    Not thread-safe on its own: used under the data set's lock.
    """

    __slots__ = ("_rest", "ids", "query")

    def __init__(self, query: Query, rest: Iterator[int]) -> None:
        self.query = query
        self.ids = array("q")
        self._rest: Iterator[int] | None = rest

    def _fill(self, n: int) -> None:
        """Evaluate until at least ``n`` ids are known (or every match is)."""
        if self._rest is None or len(self.ids) >= n:
            return
        want = max(n - len(self.ids), _CHUNK)
        before = len(self.ids)
        self.ids.extend(islice(self._rest, want))
        if len(self.ids) - before < want:
            self._rest = None

    def after(self, after_id: int, n: int) -> list[int]:
        """The first ``n`` matching ids greater than ``after_id`` (a nextPageToken's cursor)."""
        while self._rest is not None and (not self.ids or self.ids[-1] <= after_id):
            self._fill(len(self.ids) + _CHUNK)
        i = bisect_right(self.ids, after_id)
        self._fill(i + n)
        return self.ids[i : i + n].tolist()

    def window(self, start: int, n: int) -> list[int]:
        """``n`` matching ids from position ``start`` (a startAt page)."""
        self._fill(start + n)
        return self.ids[start : start + n].tolist()

    def total(self) -> int:
        while self._rest is not None:
            self._fill(len(self.ids) + 65536)
        return len(self.ids)


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
        self._epoch = 0  # bumped by every change (``version`` is reset after generation; this never is)
        self._matches: OrderedDict[tuple[int, str], MatchSet] = OrderedDict()
        self._hash_hidden: dict[tuple[str, int, int, int, int], list[int]] = {}

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
        """Every change of the data calls this (under ``lock``): cached match sets describe the old state."""
        self.version += 1
        self._epoch += 1
        self._matches.clear()

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
        status = _STATUS_BY_HASH[(h >> 8) % 10]
        created, resolved, updated = _dates_before_base(h)
        n = num if num is not None else issue_id - project.base_start + 1
        hidden = self._hidden.get(issue_id, (h >> 24) % self.hidden_rate == 0)
        return Issue(
            issue_id, f"{project.key}-{n}", project.key,
            f"{_VERBS_CAP[(h >> 12) % len(_VERBS_CAP)]} {_WORDS_LOW[(h >> 16) % len(_WORDS_LOW)]} flow", status,
            ISSUE_TYPES[(h >> 28) % 3], BASE_TIME - timedelta(0, 0, created), BASE_TIME - timedelta(0, 0, updated),
            None if resolved is None else BASE_TIME - timedelta(0, 0, resolved), hidden,
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
        streams = []
        for p in list(self.projects.values()):
            residual, skip = self._residual(query, p)
            if not skip:
                streams.append(self._project_stream(p, after, residual, include_hidden))
        yield from heapq.merge(*streams, key=lambda i: i.id)

    @staticmethod
    def _residual(query: Query, p: Project) -> tuple[Any, bool]:
        """(what is left of the query for issues of ``p`` - None when all match -, whether none can match)."""
        wanted = query.projects()
        if wanted is not None and p.key.lower() not in wanted:
            return None, True
        node = query.where.for_project(p.key) if query.where is not None else None
        if node is not None and getattr(node, "value", None) is False:
            return None, True
        return (None if node is None or getattr(node, "value", None) is True else node), False

    def _project_stream(self, p: Project, after: int, residual: Any, include_hidden: bool) -> Iterator[Issue]:
        for issue_id in self._project_ids(p, after):
            issue = self.issue(issue_id)
            if issue is None or (issue.hidden and not include_hidden):
                continue
            if residual is None or residual.evaluate(issue):
                yield issue

    # -- cached matches (the search endpoints) -------------------------------------------------------------
    def matches(self, jql: str) -> MatchSet:
        """The match set of ``jql`` in the current state of the data (parsed and cached on first use).

        Raises JqlError like ``parse``. Call it, and use the result, while holding ``lock``: a mutation
        between two calls makes the next call evaluate the query again, as Jira would answer it now.
        """
        key = (self._epoch, jql)
        m = self._matches.get(key)
        if m is not None:
            self._matches.move_to_end(key)
            return m
        query = self.parse(jql)
        m = MatchSet(query, self._match_ids(query))
        kept = sum(len(x.ids) for x in self._matches.values())
        while self._matches and kept > MATCH_CACHE_IDS:
            kept -= len(self._matches.popitem(last=False)[1].ids)
        self._matches[key] = m
        return m

    def _match_ids(self, query: Query) -> Iterator[int]:
        """Like ``search`` (same project pruning and residual), but only ids, and the visibility of an issue
        whose fields the query does not read is decided without deriving the issue."""
        streams: list[Iterator[int]] = []
        for p in list(self.projects.values()):
            residual, skip = self._residual(query, p)
            if not skip:
                streams.append(self._project_match_ids(p, residual))
        return streams[0] if len(streams) == 1 else heapq.merge(*streams)

    def _project_match_ids(self, p: Project, residual: Any) -> Iterator[int]:
        if not (self._deleted or self._moved or self._added or self._hidden):
            # untouched data: the visible ids are the runs between hash-hidden ids, produced at C speed
            bounds = [p.base_start - 1, *self._hash_hidden_ids(p), p.base_start + p.base_count]
            visible = chain.from_iterable(range(a + 1, b) for a, b in pairwise(bounds))
            if residual is None:
                return visible
            salt = self.seed * 0x100000001B3
            return (i for i in visible if residual.evaluate(BaseIssueView(i, mix(salt + i), p)))
        if residual is None:
            hidden = self._is_hidden
            return (i for i in self._project_ids(p, 0) if not hidden(i))
        return (
            i
            for i in self._project_ids(p, 0)
            if (issue := self.issue(i)) is not None and not issue.hidden and residual.evaluate(issue)
        )

    def _hash_hidden_ids(self, p: Project) -> list[int]:
        """The base ids of ``p`` the seeded hash hides by issue-level security (overrides aside), ascending.
        Computed once per project: they depend on the seed and ``hidden_rate`` only, not on mutations."""
        key = (p.key, self.seed, self.hidden_rate, p.base_start, p.base_count)
        ids = self._hash_hidden.get(key)
        if ids is None:
            salt, rate = self.seed * 0x100000001B3, self.hidden_rate
            ids = [i for i in range(p.base_start, p.base_start + p.base_count) if (mix(salt + i) >> 24) % rate == 0]
            self._hash_hidden[key] = ids
        return ids

    def _is_hidden(self, issue_id: int) -> bool:
        """``issue(issue_id).hidden`` for an existing issue, without building it."""
        override = self._hidden.get(issue_id)
        if override is not None:
            return override
        added = self._added.get(issue_id)
        if added is not None:
            return added.hidden
        return (mix(self.seed * 0x100000001B3 + issue_id) >> 24) % self.hidden_rate == 0

    def issue_key(self, issue_id: int) -> str:
        """``issue(issue_id).key`` for an existing issue, without building it."""
        added = self._added.get(issue_id)
        if added is not None:
            return added.key
        moved = self._moved.get(issue_id)
        if moved is not None:
            return f"{moved[0]}-{moved[1]}"
        home = self._home(issue_id)
        assert home is not None, issue_id
        return f"{home.key}-{issue_id - home.base_start + 1}"

    def key_runs(self, ids: list[int]) -> list[tuple[str, int, list[int]]]:
        """Ascending ids cut into runs ``(prefix, offset, ids)`` in which the key of id ``i`` is
        ``f"{prefix}{i - offset}"`` (every key is ``<project key>-<number>``): one project lookup per run
        of base issues at home instead of one per issue."""
        added, moved = self._added, self._moved
        runs: list[tuple[str, int, list[int]]] = []
        lo = hi = 0
        run: list[int] = []
        for i in ids:
            if (added or moved) and (i in added or i in moved):
                prefix, num = self.issue_key(i).rsplit("-", 1)
                runs.append((prefix + "-", i - int(num), [i]))
                hi = 0  # the next base issue starts a new run
                continue
            if not lo <= i < hi:
                home = self._home(i)
                assert home is not None, i
                lo, hi, run = home.base_start, home.base_start + home.base_count, []
                runs.append((f"{home.key}-", lo - 1, run))
            run.append(i)
        return runs

    def total_issues(self) -> int:
        return sum(p.base_count for p in self.projects.values()) - len(self._deleted) + len(self._added)

    # -- low-level mutation helpers (the public API is in mutations.py) ------------------------------------
    def _new_issue_id(self) -> int:
        self._next_issue_id += 1
        return self._next_issue_id - 1


_ORDER_BY = re.compile(r"\s+order\s+by\s+.*$", re.IGNORECASE | re.DOTALL)


def strip_order_by(jql: str) -> str:
    return _ORDER_BY.sub("", jql).strip()
