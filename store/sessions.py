"""The ``sessions`` and ``session_polls`` tables (migration 0008) on the session of a unit of work: the SSM
sessions of grants as ``core.sessions`` records them (``SqlRepository`` and ``SqlReports`` delegate here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from core.model import AccessRequest, NodeSession, State
from store.convert import REQUESTS, row_to_request
from store.hints import narrow
from store.models import SessionPollRow, SessionRow

SESSIONS = cast(Table, SessionRow.__table__)
POLLS = cast(Table, SessionPollRow.__table__)
_FIELDS = ("owner", "status", "document", "started_at", "ended_at", "log", "log_url")


def _session(row: Any) -> NodeSession:
    return NodeSession(id=row.id, request_id=row.request_id, owner=row.owner, status=row.status,
                       document=row.document, started_at=row.started_at, ended_at=row.ended_at, log=row.log,
                       log_url=row.log_url)


#: built once and bound at each call (read at every end of access: store.updates)
_OF_REQUEST = select(SESSIONS).where(SESSIONS.c.request_id == bindparam("request_id")).order_by(
    SESSIONS.c.started_at, SESSIONS.c.id)


def of_request(session: Session, request_id: str) -> list[NodeSession]:
    return [_session(row) for row in session.execute(_OF_REQUEST, {"request_id": request_id})]


def save(session: Session, found: NodeSession) -> str | None:
    """Insert or update one session; what changed ("new", "ended", "changed") or None."""
    values = {name: getattr(found, name) for name in _FIELDS}
    row = session.execute(select(SESSIONS).where(SESSIONS.c.id == found.id)).one_or_none()
    if row is None:
        session.execute(insert(SESSIONS), {"id": found.id, "request_id": found.request_id, **values})
        return "new"
    if row.request_id != found.request_id:  # a session at the hand-over of an extension: its first grant keeps it
        return None
    if found.log is None:  # the log's place could not be read this time: keep what was known
        values.update(log=row.log, log_url=row.log_url)
    if row.ended_at is not None and found.ended_at is None:
        # an ended session never opens again: a read can see it in the Active list just before it moves to the
        # History one (both are read), and must not undo its end, which would then be recorded a second time
        values.update(ended_at=row.ended_at, status=row.status)
    if all(getattr(row, name) == value for name, value in values.items()):
        return None
    if row.ended_at is None and found.ended_at is not None:
        # the end goes on record once: two readers (the poll, the read after a revocation, two replicas) may both
        # have seen the session open; only the one whose update finds it still open says it ended
        ended = session.execute(update(SESSIONS).where(SESSIONS.c.id == found.id, SESSIONS.c.ended_at.is_(None))
                                .values(**values))
        return "ended" if getattr(ended, "rowcount", 0) == 1 else None
    session.execute(update(SESSIONS).where(SESSIONS.c.id == found.id).values(**values))
    return "changed"


def due(session: Session, polled_before: datetime, ended_after: datetime, limit: int) -> list[AccessRequest]:
    """Two queries, each on its index: the active grants (state), the grants that ended lately (ended_at)."""
    r, p = REQUESTS.c, POLLS.c
    joined = REQUESTS.outerjoin(POLLS, p.request_id == r.id)
    active = (select(REQUESTS).select_from(joined)
              .where(narrow(r.state == State.ACTIVE.value), or_(p.polled_at.is_(None), p.polled_at <= polled_before))
              .order_by(r.created_at, r.id).limit(limit))
    ended = (select(REQUESTS).select_from(joined)
             .where(r.ended_at > ended_after, r.granted_at.is_not(None), r.needs_cleanup.is_(False),
                    r.state.in_([State.EXPIRED.value, State.REVOKED.value]),
                    or_(p.final.is_(None), p.final.is_(False)))
             .order_by(r.ended_at, r.id).limit(limit))
    found = [row_to_request(row) for row in session.execute(active)]
    found += [row_to_request(row) for row in session.execute(ended)]
    return found[:limit]


#: built once and bound at each call (written at every end of access: store.updates)
_POLLED = update(POLLS).where(POLLS.c.request_id == bindparam("polled_request_id")).values(
    polled_at=bindparam("at", type_=POLLS.c.polled_at.type), final=bindparam("is_final", type_=POLLS.c.final.type))


def polled(session: Session, request_id: str, at: datetime, final: bool) -> None:
    changed = session.execute(_POLLED, {"polled_request_id": request_id, "at": at, "is_final": final})
    if getattr(changed, "rowcount", 0) == 0:
        session.execute(insert(POLLS), {"request_id": request_id, "polled_at": at, "final": final})


def counts(session: Session, request_ids: Sequence[str]) -> Mapping[str, int]:
    if not request_ids:
        return {}
    c = SESSIONS.c
    stmt = select(c.request_id, func.count()).where(c.request_id.in_(list(request_ids))).group_by(c.request_id)
    return {request_id: int(n) for request_id, n in session.execute(stmt)}


def started(session: Session, since: datetime, until: datetime) -> tuple[int, int]:
    c = SESSIONS.c
    stmt = select(func.count(), func.count(func.distinct(c.request_id))).where(c.started_at >= since,
                                                                              c.started_at < until)
    sessions, grants = session.execute(stmt).one()
    return int(sessions), int(grants)
