"""The SSM sessions of grants (core.sessions): ``sessions``, one row per session a grant's holder opened on its
node, and ``session_polls``, when each grant's sessions were last read. Both go with their request.

Revision ID: 0008
Revises: 0007
Create Date: 2025-01-08 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("document", sa.String(2048), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("log", sa.String(16), nullable=True),
        sa.Column("log_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name="fk_sessions_request_id_requests",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_request_id_started_at", "sessions", ["request_id", "started_at"])
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_table(
        "session_polls",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name="fk_session_polls_request_id_requests",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id", name="pk_session_polls"),
    )


def downgrade() -> None:
    op.drop_table("session_polls")
    op.drop_index("ix_sessions_started_at", table_name="sessions")
    op.drop_index("ix_sessions_request_id_started_at", table_name="sessions")
    op.drop_table("sessions")
