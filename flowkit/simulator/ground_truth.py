"""The exact rows each destination table must hold for the data as it stands (docs/architecture.md §2).

Computed from the data model through the same views the endpoints serve, never through HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowkit.simulator.model import Board, DataModel
from flowkit.simulator.views import board_location, configuration_json, utc_z

TABLES = ("BOARD", "SPRINT", "BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE")
Row = dict[str, Any]


def ground_truth(data: DataModel, tables: Iterable[str] | None = None) -> dict[str, list[Row]]:
    """``{table: rows}`` for the boards the caller can see without ``includePrivate``; rows sorted by key."""
    wanted = set(tables) if tables is not None else set(TABLES)
    unknown = wanted - set(TABLES)
    if unknown:
        raise ValueError(f"unknown tables: {sorted(unknown)}")
    with data.lock:
        boards = [b for b in sorted(data.boards.values(), key=lambda b: b.id) if data.board_visible(b)]
    out: dict[str, list[Row]] = {t: [] for t in TABLES if t in wanted}
    sprints: dict[int, Row] = {}
    for b in boards:
        if "BOARD" in wanted:
            out["BOARD"].append(_board_row(data, b))
        if b.supports_sprints and wanted & {"SPRINT", "BOARD_SPRINT"}:
            for s in data.board_sprints(b.id):
                if "BOARD_SPRINT" in wanted:
                    out["BOARD_SPRINT"].append({"BOARD_ID": b.id, "SPRINT_ID": s.id})
                sprints[s.id] = {
                    "ID": s.id,
                    "SELF": f"{data.site}/rest/agile/1.0/sprint/{s.id}",
                    "STATE": s.state,
                    "NAME": s.name,
                    "START_DATE": utc_z(s.start),
                    "END_DATE": utc_z(s.end),
                    "COMPLETE_DATE": utc_z(s.complete),
                    "CREATED_DATE": utc_z(s.created),
                    "ORIGIN_BOARD_ID": s.origin_board_id,
                    "GOAL": None if not s.goal and "sprint-goal-absent" in data.variants else s.goal,
                }
        if "BOARD_PROJECT" in wanted:
            for p in data.board_projects(b):
                out["BOARD_PROJECT"].append(
                    {
                        "BOARD_ID": b.id,
                        "PROJECT_ID": p.id,
                        "PROJECT_KEY": p.key,
                        "PROJECT_NAME": p.name,
                        "PROJECT_TYPE_KEY": None if "project-without-type-key" in data.variants else p.type_key,
                    }
                )
        if "BOARD_ISSUE" in wanted and b.config_filter:  # without a filter the board's issues are unknowable
            query = data.parse(data.board_issue_jql(b))
            out["BOARD_ISSUE"].extend(
                {"BOARD_ID": b.id, "ISSUE_ID": i.id, "ISSUE_KEY": i.key} for i in data.search(query)
            )
    if "SPRINT" in wanted:
        out["SPRINT"] = [sprints[k] for k in sorted(sprints)]
    for name, key in (
        ("BOARD_SPRINT", "SPRINT_ID"),
        ("BOARD_PROJECT", "PROJECT_ID"),
        ("BOARD_ISSUE", "ISSUE_ID"),
    ):
        if name in out:
            out[name].sort(key=lambda r, k=key: (r["BOARD_ID"], r[k]))  # type: ignore[misc]
    return out


def _board_row(data: DataModel, b: Board) -> Row:
    """BOARD as a client can know it from what the endpoints serve under the active variants.

    Without `location` in the board list, only what the configuration carries is knowable: the project's
    id (and its key and name unless the configuration location is the documented `{type, projectKeyOrId}`;
    the display name is then Jira's `"<name> (<key>)"`), or a user board's display name. The project type
    and a user's account id are NULL. `list_overrides` are not modelled.
    """
    cfg = configuration_json(data, b)
    variants = data.variants
    loc = dict(board_location(data, b))
    if "board-without-location" in variants:
        if b.location_user is not None:
            loc = {"displayName": b.location_user.display_name}
        else:
            p = data.projects[b.location_project or ""]
            if "config-location-documented" in variants:
                loc = {"projectId": p.id}
            else:
                loc = {
                    "projectId": p.id,
                    "projectKey": p.key,
                    "projectName": p.name,
                    "displayName": f"{p.name} ({p.key})",
                }
    f = data.filters[b.filter_id]
    return {
        "ID": b.id,
        "NAME": b.name,
        "TYPE": b.type,
        "SELF": f"{data.site}/rest/agile/1.0/board/{b.id}",
        "IS_PRIVATE": None if "board-without-is-private" in variants else b.is_private,
        "LOCATION_TYPE": cfg["location"]["type"],
        "LOCATION_PROJECT_ID": loc.get("projectId"),
        "LOCATION_PROJECT_KEY": loc.get("projectKey"),
        "LOCATION_PROJECT_NAME": loc.get("projectName"),
        "LOCATION_PROJECT_TYPE_KEY": loc.get("projectTypeKey"),
        "LOCATION_USER_ACCOUNT_ID": loc.get("userAccountId"),
        "LOCATION_DISPLAY_NAME": loc.get("displayName"),
        "FILTER_ID": b.filter_id if b.config_filter else None,
        "FILTER_NAME": f.name if b.config_filter else None,
        "FILTER_JQL": f.jql if b.config_filter else None,
        "SUB_QUERY": cfg.get("subQuery", {}).get("query"),
        "COLUMN_CONFIG": cfg["columnConfig"],
        "ESTIMATION": cfg.get("estimation"),
        "RANK_CUSTOM_FIELD_ID": cfg["ranking"]["rankCustomFieldId"],
    }
