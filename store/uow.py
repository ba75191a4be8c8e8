"""The SQL adapter of core.ports.Repository and core.ports.UnitOfWork."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.model import (
    LIVE_STATES,
    AccessRequest,
    AuditEvent,
    Changes,
    Decision,
    Expect,
    Intent,
    Lockout,
    MessageRef,
    NodeSession,
    Owed,
    Send,
    State,
)
from store import lockouts as lockout_table
from store import outbox, updates
from store import sessions as session_table
from store.convert import (
    AUDIT_EVENTS,
    DECISIONS,
    MESSAGES,
    REQUESTS,
    decision_columns,
    event_columns,
    message_columns,
    request_columns,
    row_to_decision,
    row_to_event,
    row_to_message,
    row_to_request,
)
from store.hints import narrow

if TYPE_CHECKING:
    from core.ports import Repository, UnitOfWork

_UNIQUE_SQLITE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})

_LIVE = frozenset(state.value for state in LIVE_STATES)

#: Statements built once and bound at each call (see store.updates for why).
_GET = select(REQUESTS).where(REQUESTS.c.id == bindparam("request_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
_DECISIONS = select(DECISIONS).where(DECISIONS.c.request_id == bindparam("request_id")).order_by(DECISIONS.c.id)
_MESSAGES = select(MESSAGES).where(MESSAGES.c.request_id == bindparam("request_id")).order_by(MESSAGES.c.purpose)


def _message_upsert(stmt: Any) -> Any:
    """``INSERT … ON CONFLICT (request_id, purpose) DO UPDATE`` the channel and ts (SQLite and PostgreSQL alike)."""
    return stmt.on_conflict_do_update(index_elements=["request_id", "purpose"],
                                      set_={"channel": stmt.excluded.channel, "ts": stmt.excluded.ts})


_UPSERT_MESSAGE = _message_upsert(sqlite.insert(MESSAGES))
_UPSERT_MESSAGE_PG = _message_upsert(postgresql.insert(MESSAGES))


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique/primary-key violation (not a foreign-key, NOT NULL or CHECK one)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        return bool(sqlstate == "23505")
    errorname = getattr(orig, "sqlite_errorname", None)
    if errorname is not None:  # sqlite3, Python >= 3.11
        return errorname in _UNIQUE_SQLITE_ERRORS
    return "unique" in str(orig).lower()


class SqlRepository:
    """core.ports.Repository on one SQLAlchemy session; every call runs in the session's transaction.

    Reads and writes are Core statements on the session's connection (no ORM identity map), so a read after a
    conditional update (``move`` …, store.updates) in the same transaction sees the new values. Statements take
    bound parameters rather than literal values: SQLAlchemy then compiles each shape once (BENCHMARKS.md, store
    adapter).
    """

    def __init__(self, session: Session, owes_events: Callable[[], bool] | None = None) -> None:
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._owes_events = owes_events

    @property
    def session(self) -> Session:
        return self._session

    # --- requests ----------------------------------------------------------------------------

    def add(self, request: AccessRequest) -> None:
        self._session.execute(insert(REQUESTS), request_columns(request))

    def get(self, request_id: str, *, for_update: bool = False) -> AccessRequest | None:
        # SQLite needs no row lock: BEGIN IMMEDIATE already holds the database's write lock.
        stmt = _GET_FOR_UPDATE if for_update and self._postgres else _GET
        row = self._session.execute(stmt, {"request_id": request_id}).one_or_none()
        return None if row is None else row_to_request(row)

    # the conditional updates (store.updates): True when this call changed the request
    def move(self, request: AccessRequest, target: State, changes: Changes = Changes(), *,
             expect: Expect = Expect()) -> bool:
        return updates.move(self._session, request, target, changes, expect)

    def claim_grant(self, request_id: str, now: datetime, until: datetime) -> bool:
        return updates.claim_grant(self._session, request_id, now, until)

    def retry_grant_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        return updates.retry_grant_later(self._session, request_id, attempts, retry_at)

    def free_grant(self, request_id: str) -> bool:
        return updates.free_grant(self._session, request_id)

    def claim_cleanup(self, request_id: str, now: datetime, until: datetime) -> bool:
        return updates.claim_cleanup(self._session, request_id, now, until)

    def retry_cleanup_later(self, request_id: str, attempts: int, retry_at: datetime) -> bool:
        return updates.retry_cleanup_later(self._session, request_id, attempts, retry_at)

    def confirm_cleanup(self, request_id: str, sessions_ended: int) -> bool:
        return updates.confirm_cleanup(self._session, request_id, sessions_ended)

    def free_cleanup(self, request_id: str) -> bool:
        return updates.free_cleanup(self._session, request_id)

    def next_level(self, request_id: str, level: int) -> bool:
        return updates.next_level(self._session, request_id, level)

    def escalate(self, request_id: str, level: int) -> bool:
        return updates.escalate(self._session, request_id, level)

    def mark_warned(self, request_id: str) -> bool:
        return updates.mark_warned(self._session, request_id)

    def record_reminder(self, request_id: str, level: int, sent: int, at: datetime) -> bool:
        return updates.record_reminder(self._session, request_id, level, sent, at)

    def in_states(self, states: Sequence[State], *, limit: int = 1000) -> list[AccessRequest]:
        """Requests in any of ``states``, oldest first. Meant for the live states (pending, approved,
        active), which are few: it tells SQLite's planner so."""
        if not states:
            return []
        c = REQUESTS.c
        stmt = (
            select(REQUESTS)
            .where(narrow(c.state.in_([State(s).value for s in states])))
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return self._requests(stmt)

    def by_requester(self, user_id: str, states: Sequence[State] | None = None,
                     *, limit: int = 50) -> list[AccessRequest]:
        """The requests of ``user_id`` (optionally only in ``states``), newest first."""
        c = REQUESTS.c
        stmt = select(REQUESTS).where(c.requester == user_id)
        if states is not None:
            values = {State(s).value for s in states}
            in_states = c.state.in_(sorted(values))
            # the live states are a sliver of anyone's history: say so, and SQLite takes the index
            # (requester, state, created_at) instead of reading all of that person's requests
            stmt = stmt.where(narrow(in_states) if values <= _LIVE else in_states)
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        return self._requests(stmt)

    def due_expiries(self, before: datetime, *, limit: int = 500, unwarned: bool = False) -> list[AccessRequest]:
        """Active requests with ``expires_at <= before``, earliest first (PostgreSQL: SKIP LOCKED); with
        ``unwarned``, only those not yet warned."""
        c = REQUESTS.c
        stmt = select(REQUESTS).where(c.state == State.ACTIVE.value, c.expires_at <= before)
        if unwarned:
            stmt = stmt.where(c.warned.is_(False))
        stmt = stmt.order_by(c.expires_at, c.id).limit(limit)
        return self._requests(self._skip_locked(stmt))

    def due_work(self, now: datetime, *, limit: int = 500) -> list[AccessRequest]:
        """Requests with an AWS step to (re)try, whose lease is free (``lease_until IS NULL OR
        lease_until < now``): state ``approved`` (grant; a scheduled one from its ``starts_at``), ``needs_cleanup``
        (revocation), or ``notice_due`` (an end-of-access notice not sent). Oldest first; on PostgreSQL rows
        locked by another transaction are skipped."""
        c = REQUESTS.c
        lease_free = or_(c.lease_until.is_(None), c.lease_until < now)
        stmt = (
            select(REQUESTS)
            .where(
                or_(
                    and_(narrow(c.state == State.APPROVED.value), lease_free,
                         or_(c.starts_at.is_(None), c.starts_at <= now)),
                    and_(narrow(c.needs_cleanup.is_(True)), lease_free),
                    and_(narrow(c.notice_due.is_(True)), lease_free),
                )
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return self._requests(self._skip_locked(stmt))

    # --- decisions ---------------------------------------------------------------------------

    def add_decision(self, decision: Decision) -> bool:
        """Insert inside a SAVEPOINT; False (and the outer transaction intact) if this approver has
        already decided on this request. Other integrity errors (unknown request) propagate."""
        try:
            with self._session.begin_nested():
                self._session.execute(insert(DECISIONS), decision_columns(decision))
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return False
        return True

    def decisions(self, request_id: str) -> list[Decision]:
        """The request's decisions in the order they were recorded."""
        return [row_to_decision(row) for row in self._session.execute(_DECISIONS, {"request_id": request_id})]

    # --- audit -------------------------------------------------------------------------------

    def add_event(self, event: AuditEvent) -> None:
        self._session.execute(insert(AUDIT_EVENTS), event_columns(event))

    def events(self, request_id: str | None = None, *, since: datetime | None = None,
               limit: int | None = None) -> list[AuditEvent]:
        """Audit events in id order (the order they were written), optionally of one request, at or
        after ``since``, the first ``limit`` of them."""
        c = AUDIT_EVENTS.c
        stmt = select(AUDIT_EVENTS)
        if request_id is not None:
            stmt = stmt.where(c.request_id == request_id)
        if since is not None:
            after = c.at >= since
            # with a request id, its index (request_id, id) is the better path
            stmt = stmt.where(after if request_id is not None else narrow(after))
        stmt = stmt.order_by(c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [row_to_event(row) for row in self._session.execute(stmt)]

    # --- messages ----------------------------------------------------------------------------

    def add_message(self, ref: MessageRef) -> None:
        """Record where a message went; a second ref for the same (request, purpose) replaces it."""
        self._session.execute(_UPSERT_MESSAGE_PG if self._postgres else _UPSERT_MESSAGE, message_columns(ref))

    def messages(self, request_id: str) -> list[MessageRef]:
        return [row_to_message(row) for row in self._session.execute(_MESSAGES, {"request_id": request_id})]

    # --- lockouts (store.lockouts) ------------------------------------------------------------

    def lockout(self, user_id: str) -> Lockout | None:
        return lockout_table.get(self._session, user_id)

    def add_lockout(self, lockout: Lockout) -> bool:
        return lockout_table.add(self._session, lockout, is_unique_violation)

    def remove_lockout(self, user_id: str) -> bool:
        return lockout_table.remove(self._session, user_id)

    def lockouts(self, *, limit: int = 100) -> list[Lockout]:
        return lockout_table.every(self._session, limit)

    # --- SSM sessions of grants (store.sessions) ---------------------------------------------

    def sessions(self, request_id: str) -> list[NodeSession]:
        return session_table.of_request(self._session, request_id)

    def save_session(self, session: NodeSession) -> str | None:
        return session_table.save(self._session, session)

    def sessions_due(self, polled_before: datetime, ended_after: datetime, *, limit: int = 500) -> list[AccessRequest]:
        return session_table.due(self._session, polled_before, ended_after, limit)

    def sessions_polled(self, request_id: str, at: datetime, *, final: bool) -> None:
        session_table.polled(self._session, request_id, at, final)

    # --- the outbox (store.outbox) -----------------------------------------------------------

    def owe(self, intent: Intent, at: datetime) -> None:
        if intent.send is Send.EVENT and self._owes_events is not None and not self._owes_events():
            return  # no [events] destination: a lifecycle event owed to nobody is not written
        outbox.add(self._session, intent, at)

    def owed(self, request_ids: Sequence[str] | None = None, *, limit: int = 500) -> list[Owed]:
        return outbox.owed(self._session, request_ids, limit)

    def claim_owed(self, owed_id: int, now: datetime, until: datetime) -> bool:
        return outbox.claim(self._session, owed_id, now, until)

    def owed_sent(self, owed_id: int, at: datetime) -> None:
        outbox.sent(self._session, owed_id, at)

    def owed_failed(self, owed_id: int, *, attempts: int, retry_at: datetime, done: frozenset[str],
                    error: str, dead: bool) -> None:
        outbox.failed(self._session, owed_id, attempts=attempts, retry_at=retry_at, done=done, error=error,
                      dead=dead)

    def owed_counts(self) -> Mapping[str, int]:
        return outbox.counts(self._session)

    def retry_owed_now(self, now: datetime) -> int:
        return outbox.retry_now(self._session, now)

    # --- helpers -----------------------------------------------------------------------------

    def _requests(self, stmt: Select[Any]) -> list[AccessRequest]:
        return [row_to_request(row) for row in self._session.execute(stmt)]

    def _skip_locked(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.with_for_update(skip_locked=True) if self._postgres else stmt


class SqlUnitOfWork:
    """core.ports.UnitOfWork: one session, one transaction per ``with`` block.

    ``with SqlUnitOfWork(factory) as uow: ...; uow.commit()`` — leaving the block without
    ``commit()`` (or with an exception) rolls back; the session is always closed.
    """

    repo: Repository

    def __init__(self, session_factory: sessionmaker[Session], *,
                 owes_events: Callable[[], bool] | None = None) -> None:
        """``owes_events``: whether lifecycle events have a destination now (``[events]``); without one they are
        not written to the outbox. None: always written."""
        self._session_factory = session_factory
        self._session: Session | None = None
        self._owes_events = owes_events

    @property
    def session(self) -> Session:
        """The open session (for the read helpers of store.queries)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._session

    def __enter__(self) -> SqlUnitOfWork:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        self._session = self._session_factory()
        self.repo = SqlRepository(self._session, self._owes_events)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            session.rollback()  # a no-op after commit() unless more work was done since
        finally:
            session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


if TYPE_CHECKING:  # the adapters satisfy the ports
    _repository: type[Repository] = SqlRepository
    _unit_of_work: type[UnitOfWork] = SqlUnitOfWork
