"""One person's view of the playground, as the page polls it: conversations, App Home, modal, AWS, clock."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fakes import cast
from playground import aws_panel
from playground.people import CHANNEL_NAMES, GROUP_NAMES, PEOPLE

if TYPE_CHECKING:
    from playground.world import Playground

JSON = dict[str, Any]


def _directory(world: Playground, user: str) -> JSON:
    return {
        "users": {uid: str(info["name"]) for uid, info in cast.USERS.items()},
        "groups": GROUP_NAMES,
        "channels": {**CHANNEL_NAMES, f"D{user}": "jitbot"},
    }


def _who(world: Playground) -> dict[str, str]:
    """IAM principal ARN → the person it belongs to, from the policy file's [identities]."""
    by_email = {str(info.get("email", "")).lower(): uid for uid, info in cast.USERS.items()}
    found: dict[str, str] = {}
    for key, arn in world.ctx.policies().identities.items():
        uid = key if key in cast.USERS else by_email.get(key.lower())
        if uid:
            found[arn] = str(cast.USERS[uid]["name"])
    return found


def _aws(world: Playground, user: str, now: datetime) -> JSON:
    names = {node_id: name for name, node_id in world.stack.nodes.items()}
    owners = _who(world)
    grants = []
    for grant in aws_panel.grants(world.stack.aws, list(owners)):
        left = (grant.expires - now).total_seconds() if grant.expires else None
        grants.append({"request": grant.request_id, "principal": grant.principal,
                       "person": owners.get(grant.principal, ""), "node": grant.node_id,
                       "node_name": names.get(grant.node_id, ""),
                       "expires": world.local(grant.expires) if grant.expires else None,
                       "left_seconds": left})
    sessions = []
    for row in aws_panel.sessions(world.stack.aws):
        owner = row["owner"].rsplit("/", 1)[-1]
        sessions.append({**row, "node_name": names.get(row["node"], ""), "who": owner,
                         "live": row["status"] in ("Connected", "Connecting", "Disconnected")})
    nodes = [{"id": node_id, "name": name} for name, node_id in world.stack.nodes.items()]
    return {"grants": grants, "sessions": sessions, "nodes": nodes}


def _modal(world: Playground, user: str) -> JSON | None:
    top = world.slack.top_modal(user)
    if top is None:
        return None
    view = world.stack.slack.view(top.view_id)
    return {"view": view, "errors": top.errors} if view else None


def snapshot(world: Playground, user: str) -> JSON:
    world.slack.scan()
    now = world.clock.now()
    settings = world.ctx.policies().settings
    channels = world.channels(user)
    home = world.stack.slack.home_view(user)
    for channel in channels:
        channel["messages"] = _timed(world, world.slack.conversation_of(user, channel["id"]))
    return {
        "me": user,
        "people": [{"id": uid, "name": str(cast.USERS[uid]["name"]), "role": role}
                   for uid, role in PEOPLE],
        "channels": channels,
        "directory": _directory(world, user),
        "home": home,
        "modal": _modal(world, user),
        "aws": _aws(world, user, now),
        "clock": {"now": now.isoformat(), "local": world.local(now), "zone": settings.timezone,
                  "shift_minutes": round(world.clock.shift.total_seconds() / 60)},
    }


def _timed(world: Playground, messages: list[JSON]) -> list[JSON]:
    for message in messages:
        message["time"] = world.local(datetime.fromisoformat(message["at"]))[-5:]
        _timed(world, message["replies"])
    return messages
