"""The SSM sessions of a grant as people read them (``/jit status``, the App Home, the audit line, the digest):
one line per session, its id, document, times, status and a link to its log ("not logged" when the account keeps
none)."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from core.model import NodeSession
from handlers.text import escape, safe

#: sessions listed per grant; the count stays exact
MAX_LISTED = 10


def log_link(session: NodeSession) -> str:
    if session.log_url:
        where = {"cloudwatch": "CloudWatch log", "s3": "S3 log"}.get(session.log or "", "log")
        return f"<{escape(session.log_url)}|{where}>"
    return "not logged" if session.log == "none" else "log unknown"


def _time(session: NodeSession, zone: ZoneInfo) -> str:
    start = session.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if session.started_at else "?"
    end = session.ended_at.astimezone(zone).strftime("%H:%M") if session.ended_at else "…"
    return f"{start}–{end} {session.started_at.astimezone(zone).strftime('%Z') if session.started_at else ''}".strip()


def session_line(session: NodeSession, zone: ZoneInfo) -> str:
    document = safe(session.document or "default document", 120)
    return (f"`{safe(session.id, 120)}` · {document} · {_time(session, zone)} · {safe(session.status, 40)} · "
            f"{log_link(session)}")


def sessions_text(sessions: Sequence[NodeSession], zone: ZoneInfo, *, indent: str = "• ") -> str:
    """"Sessions (n):" then a line each (at most ``MAX_LISTED``); "No sessions recorded." when there are none."""
    if not sessions:
        return "No sessions recorded."
    lines = [f"Sessions ({len(sessions)}):"]
    lines += [indent + session_line(s, zone) for s in sessions[:MAX_LISTED]]
    if len(sessions) > MAX_LISTED:
        lines.append(f"{indent}… and {len(sessions) - MAX_LISTED} more (`jitbot audit export`)")
    return "\n".join(lines)
