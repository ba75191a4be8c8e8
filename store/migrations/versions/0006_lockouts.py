"""People locked out by a revoker: ``lockouts``.

``/jit lockout <user> <reason>`` ends every live request and grant of that person and refuses their new ones
until ``/jit unlock``. The lockout lives in the database, so that it holds across restarts and on every replica;
the audit trail keeps who locked whom out and who let them back in.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lockouts",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("locked_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_lockouts"),
    )


def downgrade() -> None:
    op.drop_table("lockouts")
