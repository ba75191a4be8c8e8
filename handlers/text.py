"""Safe text for Slack: user input escaped so it can never ping, link or spoof anyone."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.i18n import ENGLISH, Tr
from core.model import Node

#: what must never be cut in half: an escape (``&amp;``) or a ``<…>`` mention/link that jitbot wrote
_TOKEN = re.compile(r"&(?:amp|lt|gt);|<[^<>\s]*>")
ELLIPSIS = "…"


def escape(text: str | None) -> str:
    """Escape mrkdwn control characters (Slack's documented &, <, > escaping) and neutralise mentions."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending with "…" when shortened, never cutting an escape or a mention."""
    if len(text) <= limit:
        return text
    cut = max(0, limit - len(ELLIPSIS))
    for match in _TOKEN.finditer(text, max(0, cut - 64)):
        if match.start() >= cut:
            break
        if match.end() > cut:
            cut = match.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def safe(text: str | None, limit: int) -> str:
    """User-supplied text, escaped, then shortened to ``limit`` characters without breaking an escape."""
    return clip(escape(text), limit)


def nodes_text(nodes: Sequence[Node], limit: int = 200) -> str:
    """A request's nodes: ``i-…`` in code, then its name escaped (``limit`` characters), comma-separated."""
    return ", ".join(f"`{escape(n.id)}`" + (f" ({safe(n.name, limit)})" if n.name else "") for n in nodes)


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "jitbot"


def principal(principal_id: str) -> str:
    """A policy principal (user or user group) as a Slack mention."""
    return f"<!subteam^{principal_id}>" if principal_id.startswith("S") else f"<@{principal_id}>"


def fallback(escalate_to: Sequence[str], requester: str, tr: Tr = ENGLISH) -> str:
    """An escalated level's fallback approvers as mentions: never the requester, who cannot decide their own
    request; an Identity Center group or an on-call schedule by its name (it has no Slack mention)."""
    shown = [escape(p) if p.startswith(("idc-group:", "pagerduty:", "opsgenie:")) else principal(p)
             for p in escalate_to if p != requester]
    return tr.join(shown) if shown else tr("nobody else")


def when(moment: datetime | None, zone: ZoneInfo, tr: Tr = ENGLISH) -> str:
    """A moment in the policy's zone, written the reader's way (``Tr.when``)."""
    return tr.when(moment, zone)


def left(until: datetime | None, now: datetime, tr: Tr = ENGLISH) -> str:
    """Time left until ``until``, to the minute beyond an hour: ``1h 20m left``, ``45s left``, ``ended``."""
    if until is None:
        return "-"
    remaining = until - now
    if remaining <= timedelta(0):
        return tr("ended")
    if remaining >= timedelta(hours=1):
        remaining = timedelta(minutes=remaining // timedelta(minutes=1))
    return tr("{duration} left", duration=remaining)
