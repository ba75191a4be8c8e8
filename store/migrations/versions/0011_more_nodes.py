"""Requests for several nodes (``requests.more_nodes``): one request, one approval path, one grant whose statement
lists each node.

The first node stays in the ``node_*`` columns, so a request of one node (every request before this revision)
is unchanged and its ``more_nodes`` is NULL; the nodes after it are kept as a JSON list, each as resolved at
submission (id, account, region, name, tags, ping status, platform): what is approved is what is granted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("more_nodes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("more_nodes")
