"""Tables of the store (SQLAlchemy 2.x typed declarative models).

Column names equal the mapped attribute names. Every datetime column is :class:`UTCDateTime`:
timezone-aware UTC in, timezone-aware UTC out, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from core.model import Kind, State

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text (fixed width, so text
    order is time order). Naive datetimes are refused: the domain's clock is aware UTC, and guessing
    the zone of a naive value is how audit trails drift by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: use timezone-aware UTC")
        utc = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return utc
        return utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL.
JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit ids on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY aliases the rowid.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


def _in_values(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RequestRow(Base):
    """One access request (core.model.AccessRequest), its node flattened into ``node_*`` columns."""

    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requester: Mapped[str] = mapped_column(String(64))
    principal_arn: Mapped[str] = mapped_column(String(2048))
    node_id: Mapped[str] = mapped_column(String(64))
    node_account: Mapped[str] = mapped_column(String(32))
    node_region: Mapped[str] = mapped_column(String(32))
    node_name: Mapped[str | None] = mapped_column(String(255))
    node_tags: Mapped[dict[str, str]] = mapped_column(JSONType)
    node_ping_status: Mapped[str | None] = mapped_column(String(32))
    node_platform: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current_level: Mapped[int] = mapped_column(Integer)
    ticket: Mapped[str | None] = mapped_column(String(255))
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(Text)
    ended_by: Mapped[str | None] = mapped_column(String(64))
    extends: Mapped[str | None] = mapped_column(String(32))
    reminders_sent: Mapped[int] = mapped_column(Integer)
    last_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned: Mapped[bool] = mapped_column(Boolean)
    needs_cleanup: Mapped[bool] = mapped_column(Boolean)
    cleanup_attempts: Mapped[int] = mapped_column(Integer)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sessions_ended: Mapped[int | None] = mapped_column(Integer)
    notice_due: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: the approval level escalated by the sweep (migration 0009)
    escalated_level: Mapped[int | None] = mapped_column(Integer)
    #: scheduled access: granted at this moment, not before (migration 0010)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a request for several nodes: the nodes after ``node_*``, each as ``_node_dict`` writes it (migration 0011)
    more_nodes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)

    __table_args__ = (
        CheckConstraint(_in_values("state", [s.value for s in State]), name="state"),
        CheckConstraint(_in_values("kind", [k.value for k in Kind]), name="kind"),
        # due_expiries; in_states (prefix "state")
        Index(None, "state", "expires_at"),
        # due_work: approved and not leased
        Index(None, "state", "lease_until"),
        # due_work: cleanup pending and not leased
        Index(None, "needs_cleanup", "lease_until"),
        # by_requester, newest first
        Index(None, "requester", "created_at"),
        # time ranges (digest, export); with "state" it covers count_by_state_since without the table
        Index(None, "created_at", "state"),
        # purge_before: finished requests ended before a cutoff
        Index(None, "ended_at"),
        # the digest's unreviewed break-glass requests: a rare kind among a year of requests (migration 0002)
        Index(None, "kind", "created_at"),
        # by_requester in the live states: one person's few live requests among all theirs (migration 0003)
        Index(None, "requester", "state", "created_at"),
        # due_work: an end-of-access notice not sent yet (migration 0005)
        Index(None, "notice_due", "lease_until"),
    )


class DecisionRow(Base):
    """One approver's decision at one level of one request; one per approver and request."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32), ForeignKey("requests.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    approver: Mapped[str] = mapped_column(String(64))
    approve: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: an approval for less than was asked (migration 0009)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("request_id", "approver"),)


class AuditEventRow(Base):
    """Append-only audit trail. ``request_id`` is deliberately not a foreign key: the trail outlives
    purged requests and records events about requests that were never stored (refusals)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index(None, "at"),
        Index(None, "request_id", "id"),
    )


class MessageRow(Base):
    """A Slack message posted for a request: one per (request, purpose)."""

    __tablename__ = "messages"

    request_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(64))


class HomeViewRow(Base):
    """When a person last opened their App Home (``app_home_opened``): the notifier republishes only the homes
    opened recently (``handlers.refresher``). One row per person who ever opened it; nothing to purge (a row per
    member of the workspace at most), nothing worth copying when moving databases."""

    __tablename__ = "home_views"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LockoutRow(Base):
    """A person locked out by a revoker (``/jit lockout``, core.model.Lockout): one row while it lasts; ``/jit
    unlock`` deletes it (the audit trail keeps both). Migration 0006."""

    __tablename__ = "lockouts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message jitbot owes (core.outbox), written in the transaction of the change that owes it.

    ``state``: "due" until sent, then "sent"; "dead" when given up on. ``next_attempt_at`` is both the backoff
    and the sender's claim (pushed forward while an item is being sent). ``payload`` is the serialized intent
    (store.outbox). ``request_id`` is not a foreign key: a refusal's notice has no request, and an item outlives
    nothing it needs (a notice carries the request as it was).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))
    send: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in_values("state", ["due", "sent", "dead"]), name="state"),
        # the sender's queue: what is due, in the order owed
        Index(None, "state", "id"),
        # one request's messages (sent right after its change), in order
        Index(None, "request_id", "id"),
        # retention: sent items purged with the history
        Index(None, "created_at"),
    )


class SessionRow(Base):
    """An SSM session the holder of a grant opened on its node (core.model.NodeSession), read from Session
    Manager (``DescribeSessions``) while the grant was active and once more after it ended. Purged with its
    request. Migration 0008."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), ForeignKey("requests.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(32))
    document: Mapped[str | None] = mapped_column(String(2048))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    log: Mapped[str | None] = mapped_column(String(16))
    log_url: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # a request's sessions, in the order they started
        Index(None, "request_id", "started_at"),
        # the digest: sessions started in a window
        Index(None, "started_at"),
    )


class SessionPollRow(Base):
    """When a grant's sessions were last read (core.sessions), and whether for good. Migration 0008."""

    __tablename__ = "session_polls"

    request_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    final: Mapped[bool] = mapped_column(Boolean)
