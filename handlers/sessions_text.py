"""The SSM sessions of a grant as people read them (``/jit status``, the App Home, the audit line, the digest):
one line per session, its id, document, times, status and a link to its log ("not logged" when the account keeps
none), in the reader's language (``tr``, English when not given)."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from core.i18n import ENGLISH, Tr
from core.model import NodeSession
from handlers.text import escape, safe

#: sessions listed per grant; the count stays exact
MAX_LISTED = 10


def log_link(session: NodeSession, tr: Tr = ENGLISH) -> str:
    if session.log_url:
        where = {"cloudwatch": tr("CloudWatch log"), "s3": tr("S3 log")}.get(session.log or "", tr("log"))
        return f"<{escape(session.log_url)}|{where}>"
    return tr("not logged") if session.log == "none" else tr("log unknown")


def _time(session: NodeSession, zone: ZoneInfo) -> str:
    start = session.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if session.started_at else "?"
    end = session.ended_at.astimezone(zone).strftime("%H:%M") if session.ended_at else "…"
    return f"{start}–{end} {session.started_at.astimezone(zone).strftime('%Z') if session.started_at else ''}".strip()


def session_line(session: NodeSession, zone: ZoneInfo, tr: Tr = ENGLISH) -> str:
    document = safe(session.document, 120) if session.document else tr("default document")
    return (f"`{safe(session.id, 120)}` · {document} · {_time(session, zone)} · {safe(session.status, 40)} · "
            f"{log_link(session, tr)}")


def sessions_text(sessions: Sequence[NodeSession], zone: ZoneInfo, tr: Tr = ENGLISH, *, indent: str = "• ") -> str:
    """"Sessions (n):" then a line each (at most ``MAX_LISTED``); "No sessions recorded." when there are none."""
    if not sessions:
        return tr("No sessions recorded.")
    lines = [tr("Sessions ({count}):", count=len(sessions))]
    lines += [indent + session_line(s, zone, tr) for s in sessions[:MAX_LISTED]]
    if len(sessions) > MAX_LISTED:
        lines.append(indent + tr("… and {count} more (`jitbot audit export`)", count=len(sessions) - MAX_LISTED))
    return "\n".join(lines)
