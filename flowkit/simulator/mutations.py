"""The mutable data set: the Python mutation API used by tests and by the admin endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flowkit.simulator.model import (
    BASE_TIME,
    NO_SPRINTS_ANSWERS,
    STATUSES,
    VARIANTS,
    Board,
    DataModel,
    Filter,
    Issue,
    Sprint,
    User,
)

KANBAN_SUB_QUERY = 'resolution = EMPTY OR resolved >= "2026-01-01"'


def column_config(board_type: str) -> dict[str, Any]:
    """The stored column config (views.py adds each status's ``self``)."""

    def status(name: str) -> dict[str, str]:
        return {"id": STATUSES[name][0]}

    if board_type == "kanban":
        columns: list[dict[str, Any]] = [
            {"name": "Backlog", "statuses": []},
            {"name": "To Do", "statuses": [status("To Do")]},
            {"name": "In Progress", "statuses": [status("In Progress")], "min": 1, "max": 5},
            {"name": "Done", "statuses": [status("Done")]},
        ]
        return {"columns": columns, "constraintType": "issueCount"}
    columns = [
        {"name": "To Do", "statuses": [status("To Do")]},
        {"name": "In Progress", "statuses": [status("In Progress")]},
        {"name": "Done", "statuses": [status("Done")]},
    ]
    return {"columns": columns, "constraintType": "none" if board_type == "simple" else "issueCount"}


SCRUM_ESTIMATION = {
    "type": "field",
    "field": {"fieldId": "customfield_10016", "displayName": "Story point estimate"},
}


class SimulatorError(LookupError):
    """A mutation named something that does not exist (or is not allowed)."""


class DataSet(DataModel):
    """The data set with its mutation API. Every mutation is deterministic (no wall clock)."""

    def _clock(self) -> datetime:
        return BASE_TIME + timedelta(hours=1, minutes=self.version)

    def _board(self, board_id: int) -> Board:
        b = self.boards.get(board_id)
        if b is None:
            raise SimulatorError(f"no board {board_id}")
        return b

    def _sprint(self, sprint_id: int) -> Sprint:
        s = self.sprints.get(sprint_id)
        if s is None:
            raise SimulatorError(f"no sprint {sprint_id}")
        return s

    # -- boards ---------------------------------------------------------------------------------------------
    def add_board(
        self,
        type: str = "scrum",
        project_keys: tuple[str, ...] | list[str] = (),
        name: str | None = None,
        *,
        sub_query: str | None = None,
        private: bool = False,
        owner: User | None = None,
        filter_shared: bool = True,
        board_id: int | None = None,
    ) -> int:
        """Create a board (and its saved filter) over ``project_keys``; returns the board id.

        A private board is located under its owner (the caller by default); others under their first project.
        Kanban boards get the default sub-query unless ``sub_query`` is given.
        """
        if type not in ("scrum", "kanban", "simple"):
            raise SimulatorError(f"unknown board type {type!r}")
        keys = list(project_keys) or [next(iter(self.projects))]
        for k in keys:
            if k not in self.projects:
                raise SimulatorError(f"no project {k}")
        with self.lock:
            bid = board_id if board_id is not None else max(self.boards, default=0) + 1
            owner = owner or self.caller
            name = name or f"{' + '.join(keys)} {type} board {bid}"
            jql = f"project = {keys[0]}" if len(keys) == 1 else f"project in ({', '.join(keys)})"
            fid = 10000 + bid
            self.filters[fid] = Filter(
                fid, f"Filter for {name}", f"{jql} ORDER BY Rank ASC", owner, shared=filter_shared
            )
            self.boards[bid] = Board(
                bid, name, type, fid,
                location_project=None if private else keys[0],
                location_user=owner if private else None,
                is_private=private, owner=owner,
                sub_query=(sub_query or KANBAN_SUB_QUERY) if type == "kanban" else None,
                estimation=dict(SCRUM_ESTIMATION) if type == "scrum" else None,
                column_config=column_config(type),
            )  # fmt: skip
            self._touch()
            return bid

    def delete_board(self, board_id: int) -> None:
        """Delete a board. Its sprints survive (Jira keeps them) but are no longer listed by it."""
        with self.lock:
            self._board(board_id)
            del self.boards[board_id]
            for s in self.sprints.values():
                if board_id in s.board_ids:
                    s.board_ids.remove(board_id)
            self._touch()

    def rename_board(self, board_id: int, name: str) -> None:
        with self.lock:
            self._board(board_id).name = name
            self._touch()

    def share_filter(self, board_id: int) -> None:
        """Share the board's saved filter with the caller: the board becomes viewable."""
        with self.lock:
            self.filters[self._board(board_id).filter_id].shared = True
            self._touch()

    def unshare_filter(self, board_id: int) -> None:
        """Stop sharing the board's saved filter (owned by another user): the board becomes unviewable."""
        with self.lock:
            b = self._board(board_id)
            f = self.filters[b.filter_id]
            f.shared = False
            if f.owner == self.caller:
                f.owner = self.other
            self._touch()

    # -- real-site variants ---------------------------------------------------------------------------------
    def set_variants(self, names: Iterable[str] = ()) -> None:
        """Switch the site-wide payload variants to exactly ``names`` (keys of ``VARIANTS``)."""
        names = list(names)
        unknown = sorted(set(names) - set(VARIANTS))
        if unknown:
            raise SimulatorError(f"unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
        with self.lock:
            self.variants = set(names)
            self._touch()

    def set_sprints_answer(self, board_id: int, answer: str | None) -> None:
        """Make a board answer /sprint with one of ``NO_SPRINTS_ANSWERS`` (it then has no sprints); None undoes."""
        if answer is not None and answer not in NO_SPRINTS_ANSWERS:
            raise SimulatorError(f"unknown answer {answer!r}; known: {', '.join(NO_SPRINTS_ANSWERS)}")
        with self.lock:
            self._board(board_id).sprints_answer = answer
            self._touch()

    def drop_config_filter(self, board_id: int, dropped: bool = True) -> None:
        """Serve the board's configuration without a `filter` (its saved filter still exists)."""
        with self.lock:
            self._board(board_id).config_filter = not dropped
            self._touch()

    def set_board_field(self, board_id: int, key: str, value: Any) -> None:
        """Replace one raw key of the board in the /board listing (e.g. a value of the wrong type).

        The ground truth does not model these overrides: tests assert the affected columns themselves.
        """
        with self.lock:
            self._board(board_id).list_overrides[key] = value
            self._touch()

    # -- sprints --------------------------------------------------------------------------------------------
    def add_sprint(
        self,
        board_id: int,
        name: str | None = None,
        state: str = "future",
        *,
        goal: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Create a sprint whose origin is ``board_id``; returns its id."""
        if state not in ("future", "active", "closed"):
            raise SimulatorError(f"unknown sprint state {state!r}")
        with self.lock:
            b = self._board(board_id)
            if not b.supports_sprints:
                raise SimulatorError(f"board {board_id} does not support sprints")
            sid = max(self.sprints, default=0) + 1
            now = self._clock()
            s = Sprint(sid, name or f"{b.name} Sprint {sid}", "future", board_id, [board_id], created=now, goal=goal)
            self.sprints[sid] = s
            if state != "future":
                self._start(s, start, end)
            if state == "closed":
                s.complete = (s.end or now) + timedelta(minutes=12)
            self._touch()
            return sid

    def _start(self, s: Sprint, start: datetime | None, end: datetime | None) -> None:
        s.state = "active"
        s.start = start or self._clock()
        s.end = end or s.start + timedelta(days=14)

    def start_sprint(self, sprint_id: int, start: datetime | None = None, end: datetime | None = None) -> None:
        with self.lock:
            s = self._sprint(sprint_id)
            if s.state != "future":
                raise SimulatorError(f"sprint {sprint_id} is {s.state}")
            self._start(s, start, end)
            self._touch()

    def close_sprint(self, sprint_id: int, complete: datetime | None = None) -> None:
        """Close a sprint (a future sprint is started first, so it gets start and end dates)."""
        with self.lock:
            s = self._sprint(sprint_id)
            if s.state == "future":
                self._start(s, None, None)
            s.state = "closed"
            s.complete = complete or self._clock()
            self._touch()

    def share_sprint(self, sprint_id: int, board_id: int) -> None:
        """List an existing sprint on another board too (a sprint shared by several boards)."""
        with self.lock:
            s, b = self._sprint(sprint_id), self._board(board_id)
            if b.id not in s.board_ids:
                s.board_ids.append(b.id)
            self._touch()

    def delete_sprint(self, sprint_id: int) -> None:
        with self.lock:
            self._sprint(sprint_id)
            del self.sprints[sprint_id]
            self._touch()

    # -- issues ---------------------------------------------------------------------------------------------
    def add_issue(
        self, project_key: str, summary: str = "New issue", status: str = "To Do", *, hidden: bool = False
    ) -> int:
        """Create an issue in ``project_key``; returns its id (its key is the project's next number)."""
        if status not in STATUSES:
            raise SimulatorError(f"unknown status {status!r}")
        with self.lock:
            p = self.projects.get(project_key)
            if p is None:
                raise SimulatorError(f"no project {project_key}")
            now = self._clock()
            iid = self._new_issue_id()
            self._added[iid] = Issue(
                iid, f"{p.key}-{p.next_num}", p.key, summary, status, "Task", now, now,
                now if status == "Done" else None, hidden,
            )  # fmt: skip
            p.next_num += 1
            self._touch()
            return iid

    def move_issue(self, issue_id: int, project_key: str) -> str:
        """Move an issue to another project: same id, new key (returned)."""
        with self.lock:
            issue = self.issue(issue_id)
            p = self.projects.get(project_key)
            if issue is None or p is None:
                raise SimulatorError(f"no issue {issue_id} or no project {project_key}")
            key = f"{p.key}-{p.next_num}"
            if issue_id in self._added:
                self._added[issue_id].project_key, self._added[issue_id].key = p.key, key
            else:
                self._moved[issue_id] = (p.key, p.next_num)
            p.next_num += 1
            self._touch()
            return key

    def delete_issue(self, issue_id: int) -> None:
        with self.lock:
            if self.issue(issue_id) is None:
                raise SimulatorError(f"no issue {issue_id}")
            self._deleted.add(issue_id)
            self._touch()

    def set_issue_hidden(self, issue_id: int, hidden: bool = True) -> None:
        """Hide (or reveal) an issue through issue-level security."""
        with self.lock:
            if self.issue(issue_id) is None:
                raise SimulatorError(f"no issue {issue_id}")
            self._hidden[issue_id] = hidden
            self._touch()

    MUTATIONS = (
        "add_board", "delete_board", "rename_board", "share_filter", "unshare_filter", "add_sprint",
        "start_sprint", "close_sprint", "share_sprint", "delete_sprint", "add_issue", "move_issue",
        "delete_issue", "set_issue_hidden", "set_variants", "set_sprints_answer", "drop_config_filter",
        "set_board_field",
    )  # fmt: skip
