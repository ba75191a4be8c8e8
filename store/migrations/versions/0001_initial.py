"""Initial schema: requests, decisions, audit_events, messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the values at the time of this revision (never import them from the models).
STATES = ("pending", "approved", "active", "expired", "revoked", "rejected", "cancelled", "timed_out", "failed")
KINDS = ("auto", "manual", "breakglass")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _bigid() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("principal_arn", sa.String(2048), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("node_account", sa.String(32), nullable=False),
        sa.Column("node_region", sa.String(32), nullable=False),
        sa.Column("node_name", sa.String(255), nullable=True),
        sa.Column("node_tags", _json(), nullable=False),
        sa.Column("node_ping_status", sa.String(32), nullable=True),
        sa.Column("node_platform", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("levels", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("current_level", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(255), nullable=True),
        sa.Column("granted_at", _ts(), nullable=True),
        sa.Column("expires_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("ended_by", sa.String(64), nullable=True),
        sa.Column("extends", sa.String(32), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("last_reminder_at", _ts(), nullable=True),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("needs_cleanup", sa.Boolean(), nullable=False),
        sa.Column("cleanup_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("sessions_ended", sa.Integer(), nullable=True),
        sa.CheckConstraint(_in("state", STATES), name="ck_requests_state"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_requests_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
    )
    op.create_index("ix_requests_state_expires_at", "requests", ["state", "expires_at"])
    op.create_index("ix_requests_state_lease_until", "requests", ["state", "lease_until"])
    op.create_index("ix_requests_needs_cleanup_lease_until", "requests", ["needs_cleanup", "lease_until"])
    op.create_index("ix_requests_requester_created_at", "requests", ["requester", "created_at"])
    op.create_index("ix_requests_created_at_state", "requests", ["created_at", "state"])
    op.create_index("ix_requests_ended_at", "requests", ["ended_at"])

    op.create_table(
        "decisions",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(64), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name="fk_decisions_request_id_requests", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.UniqueConstraint("request_id", "approver", name="uq_decisions_request_id_approver"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(32), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_request_id_id", "audit_events", ["request_id", "id"])

    op.create_table(
        "messages",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ts", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name="fk_messages_request_id_requests", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", "purpose", name="pk_messages"),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_index("ix_audit_events_request_id_id", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("decisions")
    op.drop_index("ix_requests_ended_at", table_name="requests")
    op.drop_index("ix_requests_created_at_state", table_name="requests")
    op.drop_index("ix_requests_requester_created_at", table_name="requests")
    op.drop_index("ix_requests_needs_cleanup_lease_until", table_name="requests")
    op.drop_index("ix_requests_state_lease_until", table_name="requests")
    op.drop_index("ix_requests_state_expires_at", table_name="requests")
    op.drop_table("requests")
