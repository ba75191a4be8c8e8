"""The ``lockouts`` table (migration 0006) on the session of a unit of work: read and written in the same
transaction as the audit events that explain them (``SqlRepository`` delegates here)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.model import Lockout
from store.models import LockoutRow

LOCKOUTS = cast(Table, LockoutRow.__table__)


def _lockout(row: Any) -> Lockout:
    return Lockout(user_id=row.user_id, by=row.locked_by, reason=row.reason, at=row.at)


#: built once and bound at each call (read on every approval, grant and request: store.updates)
_GET = select(LOCKOUTS).where(LOCKOUTS.c.user_id == bindparam("user_id"))


def get(session: Session, user_id: str) -> Lockout | None:
    row = session.execute(_GET, {"user_id": user_id}).one_or_none()
    return None if row is None else _lockout(row)


def add(session: Session, lockout: Lockout, unique_violation: Any) -> bool:
    """Insert inside a SAVEPOINT; False (the outer transaction intact) when the person is already locked out."""
    try:
        with session.begin_nested():
            session.execute(insert(LOCKOUTS), {"user_id": lockout.user_id, "locked_by": lockout.by,
                                               "reason": lockout.reason, "at": lockout.at})
    except IntegrityError as exc:
        if not unique_violation(exc):
            raise
        return False
    return True


def remove(session: Session, user_id: str) -> bool:
    result = session.execute(delete(LOCKOUTS).where(LOCKOUTS.c.user_id == user_id))
    return bool(getattr(result, "rowcount", 0) == 1)


def every(session: Session, limit: int) -> list[Lockout]:
    stmt = select(LOCKOUTS).order_by(LOCKOUTS.c.at, LOCKOUTS.c.user_id).limit(limit)
    return [_lockout(row) for row in session.execute(stmt)]
