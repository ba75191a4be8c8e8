"""The conditional updates of ``requests`` (core.ports.Repository: ``move``, the claims of AWS steps, …).

Each is one ``UPDATE requests SET … WHERE id = :request_id AND <what the step requires>`` and says whether it
changed the row. Under a race the database decides: PostgreSQL re-checks the WHERE clause on the row a
concurrent transaction committed (READ COMMITTED), SQLite runs one writer at a time (``BEGIN IMMEDIATE``), so
exactly one of two workers wins. Statements are built once per shape and bound at each call: building one
around literal values cost more CPU than running it (BENCHMARKS.md, store adapter).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, bindparam, or_, update
from sqlalchemy.orm import Session

from core.model import AccessRequest, Changes, Expect, State
from store.convert import FIELD_COLUMNS, REQUESTS

_C = REQUESTS.c


def _bound(name: str, column: str) -> Any:
    return bindparam(f"expect_{name}", type_=_C[column].type)


#: What a step may require of the row, each a clause over its own bound parameter (``expect_<name>``).
_WHEN: Mapping[str, ColumnElement[bool]] = {
    "state": _C.state == _bound("state", "state"),
    "level": _C.current_level == _bound("level", "current_level"),
    "reminders": _C.reminders_sent == _bound("reminders", "reminders_sent"),
    "lease_free": or_(_C.lease_until.is_(None), _C.lease_until < _bound("lease_free", "lease_until")),
    "cleanup": _C.needs_cleanup.is_(True),
    "unwarned": _C.warned.is_(False),
    "started": or_(_C.starts_at.is_(None), _C.starts_at <= _bound("started", "starts_at")),
    "unescalated": or_(_C.escalated_level.is_(None), _C.escalated_level != _bound("unescalated", "escalated_level")),
}


@lru_cache(maxsize=256)
def _statement(columns: tuple[str, ...], conditions: tuple[str, ...]) -> Update:
    """``UPDATE requests SET <column> = :set_<column> … WHERE id = :request_id AND <conditions>``."""
    return update(REQUESTS).where(_C.id == bindparam("request_id"), *(_WHEN[c] for c in conditions)).values(
        {column: bindparam(f"set_{column}", type_=_C[column].type) for column in columns})


def _update(session: Session, request_id: str, when: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Set ``values`` (columns) on the request if every condition of ``when`` holds (``cleanup`` and ``unwarned``
    take no value: pass None); True when the row changed."""
    params = {f"expect_{name}": value for name, value in when.items() if value is not None}
    params.update({f"set_{column}": value for column, value in values.items()}, request_id=request_id)
    result = session.execute(_statement(tuple(values), tuple(when)), params)
    return cast(CursorResult[Any], result).rowcount == 1


def move(session: Session, request: AccessRequest, target: State, changes: Changes, expect: Expect) -> bool:
    when: dict[str, Any] = {"state": request.state.value}
    if expect.current_level is not None:
        when["level"] = expect.current_level
    if expect.lease_free_at is not None:
        when["lease_free"] = expect.lease_free_at
    values: dict[str, Any] = {"state": target.value}
    for name, value in changes.written().items():
        values.update(FIELD_COLUMNS[name](value))  # the same name, but duration → duration_seconds
    return _update(session, request.id, when, values)


def claim_grant(session: Session, request_id: str, now: datetime, until: datetime) -> bool:
    return _update(session, request_id, {"state": State.APPROVED.value, "lease_free": now, "started": now},
                   {"lease_until": until})


def retry_grant_later(session: Session, request_id: str, attempts: int, retry_at: datetime) -> bool:
    return _update(session, request_id, {"state": State.APPROVED.value},
                   {"lease_until": retry_at, "cleanup_attempts": attempts})


def free_grant(session: Session, request_id: str) -> bool:
    return _update(session, request_id, {"state": State.APPROVED.value}, {"lease_until": None})


def claim_cleanup(session: Session, request_id: str, now: datetime, until: datetime) -> bool:
    return _update(session, request_id, {"cleanup": None, "lease_free": now}, {"lease_until": until})


def retry_cleanup_later(session: Session, request_id: str, attempts: int, retry_at: datetime) -> bool:
    return _update(session, request_id, {"cleanup": None}, {"cleanup_attempts": attempts, "lease_until": retry_at})


def confirm_cleanup(session: Session, request_id: str, sessions_ended: int) -> bool:
    return _update(session, request_id, {"cleanup": None},
                   {"needs_cleanup": False, "lease_until": None, "sessions_ended": sessions_ended})


def free_cleanup(session: Session, request_id: str) -> bool:
    return _update(session, request_id, {"cleanup": None}, {"lease_until": None})


def next_level(session: Session, request_id: str, level: int) -> bool:
    return _update(session, request_id, {"state": State.PENDING.value, "level": level},
                   {"current_level": level + 1, "reminders_sent": 0, "last_reminder_at": None})


def escalate(session: Session, request_id: str, level: int) -> bool:
    return _update(session, request_id, {"state": State.PENDING.value, "level": level, "unescalated": level},
                   {"escalated_level": level})


def mark_warned(session: Session, request_id: str) -> bool:
    return _update(session, request_id, {"state": State.ACTIVE.value, "unwarned": None}, {"warned": True})


def record_reminder(session: Session, request_id: str, level: int, sent: int, at: datetime) -> bool:
    return _update(session, request_id, {"state": State.PENDING.value, "level": level, "reminders": sent},
                   {"reminders_sent": sent + 1, "last_reminder_at": at})
