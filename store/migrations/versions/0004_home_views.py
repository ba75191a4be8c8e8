"""Record when each person last opened their App Home: only homes opened recently are republished on a change.

Republishing every concerned home (requester and approvers, groups expanded) on every change was the bot's
largest CPU consumer under load (25-36 % of GIL-holding samples, see BENCHMARKS.md), mostly for people who
never look at the tab. The table lives in the database so that every replica sees the opens another received.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_views",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_home_views"),
    )


def downgrade() -> None:
    op.drop_table("home_views")
