"""Read helpers for the digest and the CLI, and retention. Each takes an open Session; the caller
commits (``purge_before``) or just reads. Aggregations run in SQL, never over rows in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, CursorResult, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from core.model import FINAL_STATES, State
from store.hints import narrow
from store.models import AuditEventRow, OutboxRow, RequestRow

#: Rows fetched per round trip when streaming (a server-side cursor on PostgreSQL).


class RequesterCount(NamedTuple):
    requester: str
    requests: int


class NodeCount(NamedTuple):
    node_id: str
    node_name: str | None
    requests: int


def _created_between(since: datetime, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [narrow(RequestRow.created_at >= since)]
    if until is not None:
        conditions.append(narrow(RequestRow.created_at < until))
    return conditions


def count_by_state_since(session: Session, since: datetime, until: datetime | None = None) -> dict[str, int]:
    """Requests created in ``[since, until)``, counted by state; every state is present (0 if none).

    Served by the index (created_at, state), which covers it (SQLite reads no table rows)."""
    counts = dict.fromkeys((s.value for s in State), 0)
    stmt = (
        select(RequestRow.state, func.count())
        .where(*_created_between(since, until))
        .group_by(RequestRow.state)
    )
    for state, count in session.execute(stmt):
        counts[state] = int(count)
    return counts


def top_requesters(session: Session, since: datetime, n: int = 5,
                   until: datetime | None = None) -> list[RequesterCount]:
    """The ``n`` people who made the most requests created in ``[since, until)``, most first."""
    count = func.count().label("n")
    stmt = (
        select(RequestRow.requester, count)
        .where(*_created_between(since, until))
        .group_by(RequestRow.requester)
        .order_by(count.desc(), RequestRow.requester)
        .limit(n)
    )
    return [RequesterCount(requester, int(c)) for requester, c in session.execute(stmt)]


def top_nodes(session: Session, since: datetime, n: int = 5,
              until: datetime | None = None) -> list[NodeCount]:
    """The ``n`` nodes most requested in ``[since, until)``, most first, with a name they carried."""
    count = func.count().label("n")
    stmt = (
        select(RequestRow.node_id, func.max(RequestRow.node_name), count)
        .where(*_created_between(since, until))
        .group_by(RequestRow.node_id)
        .order_by(count.desc(), RequestRow.node_id)
        .limit(n)
    )
    return [NodeCount(node_id, name, int(c)) for node_id, name, c in session.execute(stmt)]


def purge_before(session: Session, cutoff: datetime, *, limit: int | None = None) -> tuple[int, int]:
    """Delete finished requests that ended before ``cutoff`` (with their decisions and messages) and
    audit events before ``cutoff``. Returns (requests deleted, audit events deleted).

    A request still waiting for AWS cleanup (``needs_cleanup``) is kept whatever its age; a finished
    request without ``ended_at`` counts from its ``created_at``. With ``limit``, at most ``limit``
    requests and ``limit`` events go per call: commit and call again until it returns (0, 0), so a
    first purge of a large database does not hold SQLite's write lock for long.
    """
    purgeable = [
        RequestRow.state.in_([s.value for s in FINAL_STATES]),
        RequestRow.needs_cleanup.is_(False),
        or_(
            RequestRow.ended_at < cutoff,
            and_(RequestRow.ended_at.is_(None), RequestRow.created_at < cutoff),
        ),
    ]
    old_events: list[ColumnElement[bool]] = [AuditEventRow.at < cutoff]
    if limit is not None:
        purgeable = [RequestRow.id.in_(select(RequestRow.id).where(*purgeable).limit(limit))]
        old_events = [AuditEventRow.id.in_(select(AuditEventRow.id).where(*old_events).limit(limit))]
    requests = session.execute(
        delete(RequestRow).where(*purgeable).execution_options(synchronize_session=False)
    )
    events = session.execute(
        delete(AuditEventRow).where(*old_events).execution_options(synchronize_session=False)
    )
    # messages of the outbox sent (or given up on) before the cutoff: what is still owed always stays
    old_sent: list[ColumnElement[bool]] = [OutboxRow.state != "due", OutboxRow.created_at < cutoff]
    if limit is not None:
        old_sent = [OutboxRow.id.in_(select(OutboxRow.id).where(*old_sent).limit(limit))]
    session.execute(delete(OutboxRow).where(*old_sent).execution_options(synchronize_session=False))
    return _rowcount(requests), _rowcount(events)


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
