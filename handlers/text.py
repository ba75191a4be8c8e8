"""Safe text for Slack: user input escaped so it can never ping, link or spoof anyone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def escape(text: str | None) -> str:
    """Escape mrkdwn control characters (Slack's documented &, <, > escaping) and neutralise mentions."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "jitbot"


def principal(principal_id: str) -> str:
    """A policy principal (user or user group) as a Slack mention."""
    return f"<!subteam^{principal_id}>" if principal_id.startswith("S") else f"<@{principal_id}>"


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")
