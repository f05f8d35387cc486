"""A tiny JQL parser and evaluator for the subset the simulator's own board filters produce.

Supported:
  clauses   ``field = v``, ``!=``, ``in (a, b)``, ``not in (...)``, ``is [not] EMPTY|NULL``,
            ``>``, ``>=``, ``<``, ``<=`` (dates only)
  fields    project, status, statusCategory, resolution, issuetype, key/issuekey, id,
            created, updated, resolved/resolutiondate, filter (expands the saved filter's JQL)
  logic     AND, OR, NOT, parentheses
  ordering  ``ORDER BY Rank|id [ASC]`` (rank order is issue-id order in the simulator)

Anything else raises :class:`JqlError`, which the server answers with Jira's 400 shape.
Dates are ``"yyyy-MM-dd"``, ``"yyyy/MM/dd"`` optionally followed by `` HH:mm``, read in the user's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol

__all__ = ["JqlError", "Node", "Query", "Resolver", "parse_jql"]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>!=|>=|<=|=|>|<|~|!~)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z0-9_.\-:+]+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
_STRING_FIELDS = {"project", "status", "statuscategory", "resolution", "issuetype", "key", "issuekey", "id"}
_DATE_FIELDS = {"created", "updated", "resolved", "resolutiondate"}
EMPTY = None  # the value of EMPTY/NULL in a clause


class JqlError(ValueError):
    """A query the simulator cannot (or Jira would not) accept; the message is shown to the client."""


class Resolver(Protocol):
    """What the parser needs from the data set."""

    tz: tzinfo

    def resolve_project(self, value: str) -> str | None: ...

    def filter_jql(self, value: str) -> str | None: ...


class Node:
    """A boolean expression over one issue."""

    def evaluate(self, issue: Any) -> bool:
        raise NotImplementedError

    def for_project(self, key: str) -> Node:
        """This node with every project clause decided for issues of project ``key``."""
        return self


@dataclass(frozen=True)
class Const(Node):
    value: bool

    def evaluate(self, issue: Any) -> bool:
        return self.value


@dataclass(frozen=True)
class And(Node):
    items: tuple[Node, ...]

    def evaluate(self, issue: Any) -> bool:
        return all(i.evaluate(issue) for i in self.items)

    def for_project(self, key: str) -> Node:
        rest: list[Node] = []
        for item in self.items:
            s = item.for_project(key)
            if isinstance(s, Const):
                if not s.value:
                    return s
                continue
            rest.append(s)
        return Const(True) if not rest else rest[0] if len(rest) == 1 else And(tuple(rest))


@dataclass(frozen=True)
class Or(Node):
    items: tuple[Node, ...]

    def evaluate(self, issue: Any) -> bool:
        return any(i.evaluate(issue) for i in self.items)

    def for_project(self, key: str) -> Node:
        rest: list[Node] = []
        for item in self.items:
            s = item.for_project(key)
            if isinstance(s, Const):
                if s.value:
                    return s
                continue
            rest.append(s)
        return Const(False) if not rest else rest[0] if len(rest) == 1 else Or(tuple(rest))


@dataclass(frozen=True)
class Not(Node):
    item: Node

    def evaluate(self, issue: Any) -> bool:
        return not self.item.evaluate(issue)

    def for_project(self, key: str) -> Node:
        s = self.item.for_project(key)
        return Const(not s.value) if isinstance(s, Const) else Not(s)


@dataclass(frozen=True)
class Clause(Node):
    field: str  # normalised lower-case field name
    op: str  # = != in "not in" is "is not" > >= < <=
    values: tuple[Any, ...]  # str (lower-cased), datetime, or EMPTY (None)

    def _get(self, issue: Any) -> Any:
        f = self.field
        if f == "project":
            return issue.project_key.lower()
        if f in ("key", "issuekey"):
            return issue.key.lower()
        if f == "id":
            return str(issue.id)
        if f == "status":
            return issue.status.lower()
        if f == "statuscategory":
            return issue.status_category.lower()
        if f == "resolution":
            return issue.resolution.lower() if issue.resolution else None
        if f == "issuetype":
            return issue.issuetype.lower()
        if f in ("resolved", "resolutiondate"):
            return issue.resolved
        return getattr(issue, f)  # created, updated

    def evaluate(self, issue: Any) -> bool:
        return _compare(self._get(issue), self.op, self.values)

    def for_project(self, key: str) -> Node:
        if self.field != "project":
            return self
        return Const(_compare(key.lower(), self.op, self.values))


def _compare(actual: Any, op: str, values: tuple[Any, ...]) -> bool:
    if op in ("=", "in", "is"):
        return actual in values
    if op in ("!=", "not in", "is not"):
        # Jira: != and NOT IN never match issues whose field is empty
        if op != "is not" and actual is None:
            return False
        return actual not in values
    if actual is None:
        return False
    bound = values[0]
    if op == ">":
        return bool(actual > bound)
    if op == ">=":
        return bool(actual >= bound)
    if op == "<":
        return bool(actual < bound)
    return bool(actual <= bound)


@dataclass
class Query:
    """A parsed query: ``where`` (None = every issue) and the ORDER BY fields."""

    where: Node | None
    order: list[tuple[str, str]] = field(default_factory=list)

    def projects(self) -> set[str] | None:
        """Project keys (lower case) that can hold matches, or None when any project can."""
        return _projects(self.where) if self.where is not None else None

    def guaranteed_projects(self) -> list[str]:
        """Project keys (lower case) the query restricts results to, in the order written (board projects)."""
        return _guaranteed(self.where) if self.where is not None else []

    def matches(self, issue: Any) -> bool:
        return self.where is None or self.where.evaluate(issue)


def _projects(node: Node) -> set[str] | None:
    if isinstance(node, Clause):
        if node.field == "project" and node.op in ("=", "in"):
            return {v for v in node.values if v is not None}
        return None
    if isinstance(node, Const):
        return None if node.value else set()
    if isinstance(node, And):
        sets = [s for s in (_projects(i) for i in node.items) if s is not None]
        if not sets:
            return None
        out = sets[0]
        for s in sets[1:]:
            out = out & s
        return out
    if isinstance(node, Or):
        acc: set[str] = set()
        for i in node.items:
            found = _projects(i)
            if found is None:
                return None
            acc |= found
        return acc
    return None


def _guaranteed(node: Node) -> list[str]:
    if isinstance(node, Clause) and node.field == "project" and node.op in ("=", "in"):
        return [v for v in node.values if v is not None]
    if isinstance(node, And):
        for i in node.items:
            g = _guaranteed(i)
            if g:
                return g
    return []


class _Parser:
    def __init__(self, text: str, resolver: Resolver, depth: int = 0) -> None:
        self.text = text
        self.resolver = resolver
        self.depth = depth
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise JqlError(f"Error in the JQL Query: The character '{text[pos]}' is a reserved JQL character.")
            kind = m.lastgroup or ""
            val = m.group(kind)
            if kind == "str":
                val = re.sub(r"\\(.)", r"\1", val[1:-1])
            elif kind == "word" and val.lower() in _KEYWORDS:
                kind, val = "kw", val.lower()
            out.append((kind, val))
            pos = m.end()
        return out

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise JqlError("Error in the JQL Query: Expecting more input but reached the end of the query.")
        self.pos += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "kw" and tok[1] in words

    def expect(self, kind: str, value: str) -> None:
        tok = self.take()
        if tok != (kind, value):
            raise JqlError(f"Error in the JQL Query: Expecting '{value}' but got '{tok[1]}'.")

    def parse(self) -> Query:
        where: Node | None = None
        if self.peek() is not None and not self.is_kw("order"):
            where = self.or_expr()
        order: list[tuple[str, str]] = []
        if self.is_kw("order"):
            self.take()
            self.expect("kw", "by")
            order = self.order_list()
        extra = self.peek()
        if extra is not None:
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{extra[1]}'.")
        return Query(where, order)

    def order_list(self) -> list[tuple[str, str]]:
        out = []
        while True:
            kind, name = self.take()
            if kind not in ("word", "str") or name.lower() not in ("rank", "id"):
                raise JqlError(f"Error in the JQL Query: ORDER BY '{name}' is not supported by the simulator.")
            direction = "asc"
            if self.is_kw("asc", "desc"):
                direction = self.take()[1]
            if direction != "asc":
                raise JqlError("Error in the JQL Query: ORDER BY ... DESC is not supported by the simulator.")
            out.append((name.lower(), direction))
            if self.peek() == ("punct", ","):
                self.take()
                continue
            return out

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_kw("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.is_kw("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.is_kw("not"):
            self.take()
            return Not(self.unary())
        if self.peek() == ("punct", "("):
            self.take()
            node = self.or_expr()
            self.expect("punct", ")")
            return node
        return self.clause()

    def clause(self) -> Node:
        kind, name = self.take()
        if kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{name}'.")
        fname = name.lower()
        if fname not in _STRING_FIELDS | _DATE_FIELDS | {"filter"}:
            raise JqlError(
                f"Error in the JQL Query: Field '{name}' does not exist or you do not have permission to view it."
            )
        op = self.operator()
        raw = self.value_list() if op in ("in", "not in") else [self.value()]
        if op in ("is", "is not") and raw != [EMPTY]:
            raise JqlError("Error in the JQL Query: The operator 'is' can only be used with EMPTY or NULL.")
        if fname == "filter":
            return self.filter_clause(op, raw)
        convert: Callable[[str], Any] = self.date if fname in _DATE_FIELDS else str.lower
        if op in (">", ">=", "<", "<=") and fname not in _DATE_FIELDS:
            raise JqlError(f"Error in the JQL Query: The operator '{op}' is not supported by the '{name}' field.")
        values: list[Any] = []
        for v in raw:
            if v is EMPTY:
                values.append(EMPTY)
            elif fname == "project":
                key = self.resolver.resolve_project(v)
                if key is None:
                    raise JqlError(f"The value '{v}' does not exist for the field 'project'.")
                values.append(key.lower())
            elif fname == "resolution" and v.lower() == "unresolved":
                values.append(EMPTY)
            else:
                values.append(convert(v))
        return Clause(fname, op, tuple(values))

    def filter_clause(self, op: str, raw: list[str | None]) -> Node:
        if op not in ("=", "in") or self.depth > 5:
            raise JqlError("Error in the JQL Query: only 'filter = <id>' and 'filter in (...)' are supported.")
        nodes: list[Node] = []
        for v in raw:
            jql = self.resolver.filter_jql(v) if v is not None else None
            if jql is None:
                raise JqlError(f"The value '{v}' does not exist for the field 'filter'.")
            sub = _Parser(jql, self.resolver, self.depth + 1).parse()
            nodes.append(sub.where if sub.where is not None else Const(True))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def operator(self) -> str:
        kind, val = self.take()
        if kind == "op" and val in ("=", "!=", ">", ">=", "<", "<="):
            return val
        if kind == "kw" and val == "in":
            return "in"
        if kind == "kw" and val == "not" and self.is_kw("in"):
            self.take()
            return "not in"
        if kind == "kw" and val == "is":
            if self.is_kw("not"):
                self.take()
                return "is not"
            return "is"
        raise JqlError(f"Error in the JQL Query: The operator '{val}' is not supported by the simulator.")

    def value(self) -> str | None:
        kind, val = self.take()
        if kind == "kw" and val in ("empty", "null"):
            return EMPTY
        if kind not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: Expecting either a value or a list but got '{val}'.")
        if self.peek() == ("punct", "("):
            raise JqlError(f"Error in the JQL Query: The function '{val}' is not supported by the simulator.")
        return val

    def value_list(self) -> list[str | None]:
        self.expect("punct", "(")
        out = [self.value()]
        while self.peek() == ("punct", ","):
            self.take()
            out.append(self.value())
        self.expect("punct", ")")
        return out

    def date(self, text: str) -> datetime:
        for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self.resolver.tz)
            except ValueError:
                continue
        raise JqlError(f"Error in the JQL Query: Date value '{text}' is invalid (use yyyy-MM-dd [HH:mm]).")


def parse_jql(text: str, resolver: Resolver) -> Query:
    """Parse ``text``; raise :class:`JqlError` for anything outside the supported subset."""
    return _Parser(text or "", resolver).parse()
