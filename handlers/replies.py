"""Ephemeral answers for commands: short, specific, and never echoing unescaped input."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from core.durations import format_duration
from core.model import AccessRequest, State
from handlers.parsing import USAGE
from handlers.text import escape, when

HELP = "\n".join(
    ["*jitbot* gives you temporary, approved SSM access to one node.", ""]
    + [f"• `{usage}`" for usage in USAGE.values()]
    + ["", "Example: `/jit request web-1 2h disk full on /var`"]
)


def summary(request: AccessRequest, zone: ZoneInfo) -> str:
    node = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    line = f"*{request.id}* · {node} · {format_duration(request.duration)} · *{request.state.value}*"
    if request.state is State.PENDING and request.level is not None:
        line += f" · level {request.current_level + 1}/{len(request.levels)} ('{escape(request.level.name)}')"
    if request.state is State.ACTIVE and request.expires_at:
        line += f" · until {when(request.expires_at, zone)}"
    if request.end_reason and request.state.is_final:
        line += f" · {escape(request.end_reason)}"
    return line


def listing(requests: Sequence[AccessRequest], zone: ZoneInfo) -> str:
    if not requests:
        return "You have no pending or active requests."
    return "\n".join(summary(r, zone) for r in requests)


def submitted(request: AccessRequest, zone: ZoneInfo) -> str:
    node = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    warn = ""
    if request.node.ping_status and request.node.ping_status != "Online":
        warn = f"\n:warning: The node's SSM agent is *{escape(request.node.ping_status)}*; you may not be able " \
               "to connect."
    if request.state is State.ACTIVE:
        return (f":unlock: *{request.id}*: access to {node} granted until {when(request.expires_at, zone)} "
                f"(policy '{escape(request.policy)}'). Details are in your DMs.{warn}")
    if request.state in (State.APPROVED, State.FAILED):
        return f"*{request.id}*: approved by policy '{escape(request.policy)}'; state {request.state.value}.{warn}"
    level = request.levels[0]
    return (f"Request *{request.id}* for {node} ({format_duration(request.duration)}) submitted under policy "
            f"'{escape(request.policy)}'. Waiting for level 1 of {len(request.levels)} "
            f"('{escape(level.name)}') in <#{level.channel}>.{warn}")
