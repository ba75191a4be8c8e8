"""Who is looking at their App Home: when each person last opened it (``home_views``, migration 0004).

Implements ``handlers.refresher.HomeViews`` (structurally; store does not import handlers). The rows live in
the database, not in the process, because several replicas share it and Slack delivers ``app_home_opened`` to
any of them while the change that needs a republish may happen on another. Each call is its own short
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import Engine, Executable, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from store.models import HomeViewRow

#: user ids per ``IN (…)`` of ``watching``: far below SQLite's and PostgreSQL's limits on bound parameters;
#: a change concerns a requester and the approvers of one level, so one query answers nearly every batch
CHUNK: Final = 500


#: built once and bound at each call (asked after every message about a request: store.updates)
_WATCHING = select(HomeViewRow.user_id).where(
    HomeViewRow.user_id.in_(bindparam("users", expanding=True)),
    HomeViewRow.opened_at >= bindparam("since", type_=HomeViewRow.__table__.c.opened_at.type))


class SqlHomeViews:
    """``opened`` records an open (an upsert on SQLite and PostgreSQL); ``watching`` says who opened since when."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def opened(self, user: str, at: datetime) -> None:
        """``user`` opened their App Home at ``at`` (timezone-aware); the latest open replaces the earlier one."""
        values = {"user_id": user, "opened_at": at}
        stmt: Executable
        if self._engine.dialect.name == "postgresql":
            pg = postgresql.insert(HomeViewRow).values(values)
            stmt = pg.on_conflict_do_update(index_elements=[HomeViewRow.user_id],
                                            set_={"opened_at": pg.excluded.opened_at})
        else:
            lite = sqlite.insert(HomeViewRow).values(values)
            stmt = lite.on_conflict_do_update(index_elements=[HomeViewRow.user_id],
                                              set_={"opened_at": lite.excluded.opened_at})
        with self._engine.begin() as connection:
            connection.execute(stmt)

    def recent(self, since: datetime, limit: int = 1000) -> set[str]:
        """Everyone who opened their App Home at or after ``since`` (the most recent ``limit`` of them)."""
        stmt = (select(HomeViewRow.user_id).where(HomeViewRow.opened_at >= since)
                .order_by(HomeViewRow.opened_at.desc()).limit(limit))
        with self._engine.connect() as connection:
            return set(connection.scalars(stmt))

    def watching(self, users: Iterable[str], since: datetime) -> set[str]:
        """Those of ``users`` who opened their App Home at or after ``since``: one query per ``CHUNK`` users."""
        wanted = sorted(set(users))
        found: set[str] = set()
        if not wanted:
            return found
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), CHUNK):
                found.update(connection.scalars(_WATCHING, {"users": wanted[start:start + CHUNK], "since": since}))
        return found
