"""The outbox: every message jitbot owes, recorded in the transaction of the change that owes it (core.outbox).

It takes over from ``requests.notice_due`` (migration 0005), which kept only the end-of-access notice: each
request whose notice was still due gets an outbox item saying it (the request as it is then), and the flag is
cleared. The column stays (nothing sets it any more).

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    outbox = op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("send", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('due', 'sent', 'dead')", name="ck_outbox_state"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])
    op.create_index("ix_outbox_request_id_id", "outbox", ["request_id", "id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    requests = sa.table("requests", sa.column("id", sa.String), sa.column("notice_due", sa.Boolean),
                        sa.column("created_at", sa.String))
    bind = op.get_bind()
    due = [row.id for row in bind.execute(sa.select(requests.c.id).where(requests.c.notice_due.is_(True))
                                          .order_by(requests.c.created_at, requests.c.id))]
    now = datetime.now(UTC)
    if bind.dialect.name != "postgresql":  # SQLite keeps UTC wall time (store.models.UTCDateTime)
        now = now.replace(tzinfo=None)
    if due:
        op.bulk_insert(outbox, [{"request_id": rid, "send": "notice", "payload": {"ended": True}, "state": "due",
                                 "created_at": now, "attempts": 0, "next_attempt_at": now} for rid in due])
        bind.execute(sa.update(requests).where(requests.c.notice_due.is_(True)).values(notice_due=False))


def downgrade() -> None:
    op.drop_table("outbox")
