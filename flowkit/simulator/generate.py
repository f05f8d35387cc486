"""Seeded generation of a data set. The structure (ids, board roles) depends only on the sizes; names,
goals, dates and issue fields also depend on the seed."""

from __future__ import annotations

import random
from datetime import UTC, timedelta, timezone

from flowkit.simulator.model import BASE_TIME, User
from flowkit.simulator.mutations import DataSet

CALLER_EMAIL = "flowkit@example.com"
CALLER_TOKEN = "sim-token-0123456789abcdef"
CALLER = User("5b10ac8d82e05b22cc7d4ef5", "Dana Dev", CALLER_EMAIL, 10100)
OTHER = User("712020:0b3c5e7f-3f1e-4c53-9d3c-5a0e6f2b9a11", "Olli Other", "olli@example.com", 10101)

_FIXED_PROJECTS = [
    ("PLAT", "Platform", False),
    ("OPS", "Operations", False),
    ("WEB", "Web App", True),
    ("DATA", "Data Platform", False),
]
_GENERIC_TYPES = ("scrum", "kanban", "scrum", "simple", "scrum")
_GOALS = (
    "Ship auth",
    "Stabilise the pipeline",
    "Cut p95 latency",
    "",
    "Onboard the new team",
    "Pay down debt",
)
_ADJ = ("Core", "Growth", "Mobile", "Billing", "Search", "Infra", "Payments", "Identity")


def _alpha(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def generate(
    seed: int = 1,
    boards: int = 8,
    issues_per_board: int = 20,
    projects: int | None = None,
    sprints_per_board: int = 4,
    oversized_value: bool = False,
    hidden_rate: int = 29,
) -> DataSet:
    """Build the data set. Boards 1-7 have fixed roles (see docs/simulator.md); boards 8+ cycle through
    scrum, kanban, scrum, simple, and a scrum board spanning two projects that shares a sprint."""
    rng = random.Random(seed)
    data = DataSet(seed, CALLER, OTHER)
    data.hidden_rate = max(1, hidden_rate)
    n_projects = projects if projects is not None else max(4, boards - 3)
    for i in range(max(1, n_projects)):
        if i < len(_FIXED_PROJECTS):
            key, name, simplified = _FIXED_PROJECTS[i]
        else:
            key, name, simplified = f"PR{_alpha(i - 4)}", f"{rng.choice(_ADJ)} {_alpha(i - 4)}", i % 7 == 3
        data.add_project(key, name, issues_per_board, simplified=simplified)
    keys = list(data.projects)

    def k(i: int) -> str:
        return keys[i % len(keys)]

    roles = [
        dict(type="scrum", project_keys=[k(0)], name=f"{k(0)} board"),
        dict(type="scrum", project_keys=list(dict.fromkeys([k(0), k(1)])), name=f"{k(0)} + {k(1)} scrum"),
        dict(type="kanban", project_keys=[k(1)], name=f"{k(1)} kanban"),
        dict(type="simple", project_keys=[k(2)], name=f"{k(2)} board"),
        dict(type="scrum", project_keys=[k(3)], name="Olli's private board", private=True, owner=OTHER,
             filter_shared=False),
        dict(type="scrum", project_keys=[k(3)], name="My private board", private=True),
        dict(type="scrum", project_keys=[k(3)], name=f"{k(3)} board (filter not shared)", owner=OTHER,
             filter_shared=False),
    ]  # fmt: skip
    generic = max(1, len(keys) - 4)
    for bid in range(1, boards + 1):
        if bid <= len(roles):
            spec = roles[bid - 1]
        else:
            j = bid - 8
            btype = _GENERIC_TYPES[j % 5]
            pk = [k(4 + j % generic)] if len(keys) > 4 else [k(j)]
            if j % 5 == 4:
                pk = list(dict.fromkeys([pk[0], k(4 + (j + 1) % generic) if len(keys) > 4 else k(j + 1)]))
            spec = dict(type=btype, project_keys=pk, name=f"{rng.choice(_ADJ)} {btype} {bid}")
        data.add_board(board_id=bid, **spec)  # type: ignore[arg-type]
    if oversized_value:
        big = data.add_board("scrum", [k(0)], "Huge column config board")
        data.boards[big].oversized = True

    for b in list(data.boards.values()):
        if not b.supports_sprints or (b.is_private and b.owner == CALLER):  # "My private board": none
            continue
        _sprints(data, rng, b.id, sprints_per_board)
    # sprint sharing: board 2 lists board 1's active sprint; each generic spanning board its predecessor's
    for bid, peer in [(2, 1)] + [(b, b - 1) for b in range(12, boards + 1, 5)]:
        active = [s for s in data.board_sprints(peer) if s.state == "active"]
        if bid in data.boards and active:
            active[0].board_ids.append(bid)
    data.version = 0
    return data


def _sprints(data: DataSet, rng: random.Random, board_id: int, n: int) -> None:
    tz = {1: timezone(timedelta(hours=10)), 4: timezone(timedelta(hours=-5))}.get(board_id, UTC)
    active_start = (BASE_TIME - timedelta(days=7, minutes=15 * rng.randrange(0, 16))).astimezone(tz)
    b = data.boards[board_id]
    for idx in range(n):
        state = "future" if idx == n - 1 else "active" if idx == n - 2 else "closed"
        start = active_start - timedelta(days=14 * (n - 2 - idx))
        sid = data.add_sprint(board_id, f"{b.name.split(' ')[0]} Sprint {idx + 1}", "future",
                              goal=rng.choice(_GOALS))  # fmt: skip
        s = data.sprints[sid]
        s.created = start - timedelta(days=3, minutes=rng.randrange(0, 600))
        if state == "future":
            s.created = active_start + timedelta(days=1, minutes=rng.randrange(0, 600))
            continue
        s.state, s.start, s.end = state, start, start + timedelta(days=14)
        if state == "closed":
            s.complete = s.end + timedelta(minutes=rng.randrange(5, 300), milliseconds=rng.randrange(0, 1000))
