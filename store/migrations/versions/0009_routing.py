"""Approval routing: escalated levels (``requests.escalated_level``) and approvals for less than was asked
(``decisions.duration_seconds``).

A level with ``escalate_after`` that waited that long without a decision is escalated by the sweep: its
``escalate_to`` are asked too and count for that level from then on. The level escalated is kept on the request,
so that it holds across restarts and on every replica, and so that the sweep escalates a level once. An approver
may approve for less than was asked: the duration chosen is kept with the decision, and the grant is the shortest.

Revision ID: 0009
Revises: 0007 (the lead re-chains it after 0008, session records)
Create Date: 2025-01-09 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("escalated_level", sa.Integer(), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("duration_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("duration_seconds")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("escalated_level")
