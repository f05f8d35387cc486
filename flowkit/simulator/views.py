"""JSON representations of the model, exactly as the endpoints serve them (shared with ground_truth)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flowkit.simulator.model import STATUSES, Board, DataModel, Issue, Project, Sprint, User

OVERSIZED_STATUSES = 240_000  # an extra column with this many statuses: > 16 MB of JSON


def fmt_agile(dt: datetime | None) -> str | None:
    """Agile sprint dates: ``2026-02-02T09:00:00.000Z`` or ``2026-02-02T19:00:00.000+10:00``."""
    if dt is None:
        return None
    base = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"
    off = dt.utcoffset()
    if not off:
        return base + "Z"
    return base + dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]


def fmt_platform(dt: datetime) -> str:
    """Platform issue dates: ``2026-03-01T10:20:30.123+0000``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}" + dt.strftime("%z")


def utc_z(dt: datetime | None) -> str | None:
    """The ground-truth timestamp format: UTC with millis and Z."""
    return None if dt is None else fmt_agile(dt.astimezone(UTC))


def avatar_urls(site: str, kind: str, avatar_id: int) -> dict[str, str]:
    return {
        f"{n}x{n}": f"{site}/rest/api/3/universal_avatar/view/type/{kind}/avatar/{avatar_id}?size={s}"
        for n, s in ((48, "large"), (24, "small"), (16, "xsmall"), (32, "medium"))
    }


def user_json(data: DataModel, u: User) -> dict[str, Any]:
    return {
        "self": f"{data.site}/rest/api/3/user?accountId={u.account_id}",
        "accountId": u.account_id,
        "accountType": "atlassian",
        "emailAddress": u.email,
        "avatarUrls": avatar_urls(data.site, "user", 10122),
        "displayName": u.display_name,
        "active": True,
        "timeZone": str(data.tz),
        "locale": "en_US",
    }


def myself_json(data: DataModel) -> dict[str, Any]:
    out = user_json(data, data.caller)
    out.update(
        {
            "key": "",
            "name": "",
            "groups": {"size": 2, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }
    )
    return out


def board_location(data: DataModel, b: Board) -> dict[str, Any]:
    if b.location_user is not None:
        u = b.location_user
        return {
            "userId": u.user_id,
            "userAccountId": u.account_id,
            "displayName": u.display_name,
            "name": u.display_name,
        }
    p = data.projects[b.location_project or ""]
    label = f"{p.name} ({p.key})"
    return {
        "projectId": p.id,
        "displayName": label,
        "projectName": p.name,
        "projectKey": p.key,
        "projectTypeKey": p.type_key,
        "avatarURI": f"/rest/api/2/universal_avatar/view/type/project/avatar/{10400 + p.id % 100}?size=small",
        "name": label,
    }


def _id(data: DataModel, value: int) -> int | str:
    return str(value) if "ids-as-strings" in data.variants else value


def board_json(data: DataModel, b: Board) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _id(data, b.id),
        "self": f"{data.site}/rest/agile/1.0/board/{b.id}",
        "name": b.name,
        "type": b.type,
    }
    if "board-without-location" not in data.variants:
        out["location"] = board_location(data, b)
    if "board-without-is-private" not in data.variants:
        out["isPrivate"] = b.is_private
    out.update(b.list_overrides)
    return out


def hidden_board_json(data: DataModel, b: Board) -> dict[str, Any]:
    """How /board?includePrivate=true lists a board the caller cannot view: no name, no type."""
    return {"id": b.id, "self": f"{data.site}/rest/agile/1.0/board/{b.id}", "isPrivate": b.is_private}


def column_config_json(data: DataModel, b: Board) -> dict[str, Any]:
    def status(sid: str) -> dict[str, str]:
        return {"id": sid, "self": f"{data.site}/rest/api/3/status/{sid}"}

    columns = [
        {
            **{k: v for k, v in col.items() if k != "statuses"},
            "statuses": [status(s["id"]) for s in col["statuses"]],
        }
        for col in b.column_config["columns"]
    ]
    if b.oversized:
        columns.append({"name": "Archive", "statuses": [status(str(100000 + i)) for i in range(OVERSIZED_STATUSES)]})
    return {"columns": columns, "constraintType": b.column_config["constraintType"]}


def configuration_json(data: DataModel, b: Board) -> dict[str, Any]:
    loc: dict[str, Any]
    if b.location_user is not None:
        loc = {"type": "user", "key": b.location_user.account_id, "name": b.location_user.display_name}
    else:
        p = data.projects[b.location_project or ""]
        if "config-location-documented" in data.variants:
            loc = {"type": "project", "projectKeyOrId": str(p.id)}
        else:
            loc = {
                "type": "project",
                "key": p.key,
                "id": str(p.id),
                "self": f"{data.site}/rest/api/3/project/{p.id}",
                "name": p.name,
                "projectKeyOrId": str(p.id),
            }
    out: dict[str, Any] = {
        "id": b.id,
        "name": b.name,
        "type": b.type,
        "self": f"{data.site}/rest/agile/1.0/board/{b.id}/configuration",
        "location": loc,
        "filter": {"id": str(b.filter_id), "self": f"{data.site}/rest/api/3/filter/{b.filter_id}"},
        "columnConfig": column_config_json(data, b),
        "ranking": {"rankCustomFieldId": b.rank_field},
    }
    if not b.config_filter:
        del out["filter"]
    if b.sub_query:
        out["subQuery"] = {"query": b.sub_query}
    if b.estimation is not None:
        out["estimation"] = b.estimation
    return out


def filter_json(data: DataModel, filter_id: int) -> dict[str, Any]:
    f = data.filters[filter_id]
    base = f"{data.site}/rest/api/3/filter/{f.id}"
    return {
        "self": base,
        "id": str(f.id),
        "name": f.name,
        "description": f.description,
        "owner": {
            "self": f"{data.site}/rest/api/3/user?accountId={f.owner.account_id}",
            "accountId": f.owner.account_id,
            "displayName": f.owner.display_name,
            "active": True,
        },
        "jql": f.jql,
        "viewUrl": f"{data.site}/issues/?filter={f.id}",
        "searchUrl": f"{data.site}/rest/api/3/search/jql?jql=filter%3D{f.id}",
        "favourite": False,
        "favouritedCount": 0,
        "sharePermissions": [{"id": f.id, "type": "authenticated"}] if f.shared else [],
        "editPermissions": [],
        "isWritable": f.owner == data.caller,
    }


def project_json(data: DataModel, p: Project) -> dict[str, Any]:
    out = {
        "self": f"{data.site}/rest/api/3/project/{p.id}",
        "id": str(p.id),
        "key": p.key,
        "name": p.name,
        "avatarUrls": avatar_urls(data.site, "project", 10400 + p.id % 100),
        "projectTypeKey": p.type_key,
        "simplified": p.simplified,
        "style": "next-gen" if p.simplified else "classic",
    }
    if "project-without-type-key" in data.variants:
        del out["projectTypeKey"]
    return out


def sprint_json(data: DataModel, s: Sprint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _id(data, s.id),
        "self": f"{data.site}/rest/agile/1.0/sprint/{s.id}",
        "state": s.state,
        "name": s.name,
    }
    for key, value in (("startDate", s.start), ("endDate", s.end), ("completeDate", s.complete)):
        if value is not None:
            out[key] = fmt_agile(value)
    out["createdDate"] = fmt_agile(s.created)
    out["originBoardId"] = _id(data, s.origin_board_id)
    if s.goal or "sprint-goal-absent" not in data.variants:
        out["goal"] = s.goal
    return out


def issue_fields(data: DataModel, i: Issue, wanted: set[str] | None, agile: bool = False) -> dict[str, Any]:
    """The ``fields`` object; ``wanted`` None means the default navigable set."""
    p = data.projects[i.project_key]
    sid, cat_id, cat_key, cat_name = STATUSES[i.status]
    allf: dict[str, Any] = {
        "summary": lambda: i.summary,
        "status": lambda: {
            "self": f"{data.site}/rest/api/3/status/{sid}",
            "id": sid,
            "name": i.status,
            "statusCategory": {"id": cat_id, "key": cat_key, "name": cat_name},
        },
        "issuetype": lambda: {
            "id": str(10001 + ("Story", "Bug", "Task").index(i.issuetype)),
            "name": i.issuetype,
            "subtask": False,
        },
        "project": lambda: {"id": str(p.id), "key": p.key, "name": p.name, "projectTypeKey": p.type_key},
        "created": lambda: fmt_platform(i.created),
        "updated": lambda: fmt_platform(i.updated),
        "resolution": lambda: {"id": "10000", "name": "Done"} if i.resolution else None,
        "resolutiondate": lambda: fmt_platform(i.resolved) if i.resolved else None,
        "labels": lambda: [],
        "customfield_10016": lambda: float(1 + i.id % 8),
    }
    if agile:
        allf.update(
            {
                "flagged": lambda: False,
                "sprint": lambda: None,
                "closedSprints": lambda: [],
                "epic": lambda: None,
            }
        )
    names = allf.keys() if wanted is None or "*all" in wanted or "*navigable" in wanted else wanted
    return {n: allf[n]() for n in names if n in allf}


ISSUE_EXPAND = "operations,versionedRepresentations,editmeta,changelog,renderedFields"


def issue_json(data: DataModel, i: Issue, wanted: set[str] | None, agile: bool = False) -> dict[str, Any]:
    api = "agile/1.0" if agile else "api/3"
    out: dict[str, Any] = {
        "expand": ISSUE_EXPAND,
        "id": str(i.id),
        "self": f"{data.site}/rest/{api}/issue/{i.id}",
        "key": i.key,
    }
    out["fields"] = issue_fields(data, i, wanted, agile)
    return out
