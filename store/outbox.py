"""The outbox's rows (core.outbox): intents serialized to JSON and back, and the statements of the sender.

A notice carries the request as it was when the notice was owed (a refusal's has no row of its own), written
with the same column mapping as the ``requests`` table, timestamps as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from core.model import AccessRequest, Change, Event, Intent, Notice, Owed, Send, State
from store.convert import request_columns, row_to_request
from store.models import OutboxRow

OUTBOX = cast(Table, OutboxRow.__table__)

_TIMES = ("created_at", "granted_at", "expires_at", "ended_at", "last_reminder_at", "lease_until")


def _request_json(request: AccessRequest) -> dict[str, Any]:
    columns = request_columns(request)
    for name in _TIMES:
        if columns[name] is not None:
            columns[name] = columns[name].isoformat()
    return columns


def _request_from_json(data: Mapping[str, Any]) -> AccessRequest:
    columns = dict(data)
    columns.setdefault("more_nodes", None)  # items owed before migration 0011 (one node)
    for name in _TIMES:
        if columns.get(name) is not None:
            columns[name] = datetime.fromisoformat(columns[name])
    return row_to_request(SimpleNamespace(**columns))  # type: ignore[arg-type]


def payload(intent: Intent) -> dict[str, Any]:
    data: dict[str, Any] = {"threads": intent.threads}
    if intent.level is not None:
        data["level"] = intent.level
    event = intent.event
    if event is not None:
        data["event"] = {"notice": event.notice.value, "actor": event.actor, "reason": event.reason,
                         "level": event.level, "sessions": event.sessions, "request": _request_json(event.request)}
    change = intent.change
    if change is not None:
        data["change"] = {"id": change.id, "action": change.action, "actor": change.actor,
                          "from": change.source.value if change.source is not None else None,
                          "to": change.target.value, "at": change.at.isoformat(), "reason": change.reason,
                          "request": _request_json(change.request)}
    return data


def _change_of(said: Mapping[str, Any]) -> Change:
    return Change(id=str(said["id"]), request=_request_from_json(said["request"]), action=str(said["action"]),
                  source=State(said["from"]) if said.get("from") else None, target=State(said["to"]),
                  actor=str(said["actor"]), at=datetime.fromisoformat(said["at"]), reason=said.get("reason"))


def intent_of(row: Any) -> Intent:
    data: Mapping[str, Any] = row.payload or {}
    event = None
    if "event" in data:
        said = data["event"]
        event = Event(Notice(said["notice"]), _request_from_json(said["request"]), actor=said.get("actor"),
                      reason=said.get("reason"), level=said.get("level"), sessions=said.get("sessions"))
    change = _change_of(data["change"]) if "change" in data else None
    return Intent(Send(row.send), row.request_id, event=event, level=data.get("level"),
                  threads=str(data.get("threads", "all")), change=change)


def add(session: Session, intent: Intent, at: datetime) -> None:
    session.execute(insert(OUTBOX), {"request_id": intent.request_id, "send": intent.send.value,
                                     "payload": payload(intent), "state": "due", "created_at": at, "attempts": 0,
                                     "next_attempt_at": at, "sent_at": None, "last_error": None})


# Statements built once and bound at each call (building one costs more CPU than running it: store.updates).
_C = OUTBOX.c
_DUE = select(OUTBOX).where(_C.state == "due")
_OWED = _DUE.order_by(_C.id).limit(bindparam("limit"))
_OWED_OF = _DUE.where(_C.request_id.in_(bindparam("request_ids", expanding=True))).order_by(_C.id).limit(
    bindparam("limit"))
_CLAIM = update(OUTBOX).where(_C.id == bindparam("owed_id"), _C.state == "due",
                              _C.next_attempt_at <= bindparam("now", type_=_C.next_attempt_at.type)).values(
    next_attempt_at=bindparam("until", type_=_C.next_attempt_at.type))
_SENT = update(OUTBOX).where(_C.id == bindparam("owed_id")).values(
    state="sent", sent_at=bindparam("at", type_=_C.sent_at.type))


def owed(session: Session, request_ids: Sequence[str] | None, limit: int) -> list[Owed]:
    if request_ids is None:
        rows = session.execute(_OWED, {"limit": limit})
    else:
        rows = session.execute(_OWED_OF, {"request_ids": list(request_ids), "limit": limit})
    return [Owed(row.id, intent_of(row), row.created_at, row.attempts, row.next_attempt_at,
                 frozenset((row.payload or {}).get("done", ()))) for row in rows]


def claim(session: Session, owed_id: int, now: datetime, until: datetime) -> bool:
    result = session.execute(_CLAIM, {"owed_id": owed_id, "now": now, "until": until})
    return cast(CursorResult[Any], result).rowcount == 1


def sent(session: Session, owed_id: int, at: datetime) -> None:
    session.execute(_SENT, {"owed_id": owed_id, "at": at})


def failed(session: Session, owed_id: int, *, attempts: int, retry_at: datetime, done: frozenset[str],
           error: str, dead: bool) -> None:
    row = session.execute(select(OUTBOX.c.payload).where(OUTBOX.c.id == owed_id)).one()
    data = {**(row.payload or {}), "done": sorted(done)}
    session.execute(update(OUTBOX).where(OUTBOX.c.id == owed_id).values(
        attempts=attempts, next_attempt_at=retry_at, payload=data, last_error=error,
        state="dead" if dead else "due"))


def counts(session: Session) -> dict[str, int]:
    found = dict.fromkeys(("due", "dead"), 0)
    c = OUTBOX.c
    for state, n in session.execute(select(c.state, func.count()).where(c.state.in_(["due", "dead"]))
                                    .group_by(c.state)):
        found[state] = int(n)
    return found


def retry_now(session: Session, now: datetime) -> int:
    """Every item due is tried at once (at start: the claims of a dead process are released)."""
    c = OUTBOX.c
    result = session.execute(update(OUTBOX).where(c.state == "due", c.next_attempt_at > now)
                             .values(next_attempt_at=now))
    return int(cast(CursorResult[Any], result).rowcount)
