"""Keep the end-of-access notice on record until it is sent: ``requests.notice_due``.

A burst of expiries confirms its revocations first and sends the notices after the whole batch (the policy
deletion is what matters for security). A process that died in between lost those notices; now the
confirmation sets ``notice_due`` in its transaction and sending clears it, so the sweep sends what a crash left.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("notice_due", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_requests_notice_due_lease_until", "requests", ["notice_due", "lease_until"])


def downgrade() -> None:
    op.drop_index("ix_requests_notice_due_lease_until", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("notice_due")
