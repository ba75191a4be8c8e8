"""store.homes.SqlHomeViews on SQLite and PostgreSQL: who opened their App Home since when."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.exc import StatementError

from store.homes import CHUNK, SqlHomeViews
from store.models import HomeViewRow
from tests.store.conftest import T0

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0001", "U0CAROL01"


@pytest.fixture
def homes(engine: Engine) -> SqlHomeViews:
    with engine.begin() as connection:  # the PostgreSQL schema is shared by the session's tests
        connection.execute(delete(HomeViewRow))
    return SqlHomeViews(engine)


def test_opened_upserts_and_watching_filters_by_time(homes: SqlHomeViews, engine: Engine) -> None:
    assert homes.watching([ALICE, BOB], T0) == set()
    homes.opened(ALICE, T0 - timedelta(hours=2))
    homes.opened(BOB, T0)
    assert homes.watching([ALICE, BOB, CAROL], T0 - timedelta(hours=1)) == {BOB}

    homes.opened(ALICE, T0 + timedelta(minutes=5))  # opened again: the latest opening counts
    assert homes.watching([ALICE, BOB, CAROL], T0 - timedelta(hours=1)) == {ALICE, BOB}
    assert homes.watching([ALICE, BOB], T0 + timedelta(minutes=5)) == {ALICE}  # "since" is inclusive
    assert homes.watching([], T0) == set()
    with engine.connect() as connection:
        rows = {user: at for user, at in connection.execute(select(HomeViewRow.user_id, HomeViewRow.opened_at))}
    assert rows == {ALICE: T0 + timedelta(minutes=5), BOB: T0}
    assert rows[ALICE].tzinfo is not None


def test_times_in_other_zones_compare_as_instants(homes: SqlHomeViews) -> None:
    paris = timezone(timedelta(hours=1))
    homes.opened(ALICE, (T0 + timedelta(minutes=1)).astimezone(paris))
    assert homes.watching([ALICE], T0) == {ALICE}
    assert homes.watching([ALICE], T0.astimezone(paris) + timedelta(minutes=2)) == set()
    with pytest.raises(StatementError, match="naive datetime"):
        homes.opened(BOB, T0.replace(tzinfo=None))


def test_watching_asks_once_per_chunk_of_users(homes: SqlHomeViews, engine: Engine) -> None:
    many = [f"U{i:08d}" for i in range(CHUNK + 10)]
    homes.opened(many[0], T0)
    homes.opened(many[-1], T0)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert homes.watching(many, T0) == {many[0], many[-1]}
        assert len(statements) == 2
        statements.clear()
        assert homes.watching(many[:50], T0) == {many[0]}
        assert len(statements) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_recent_lists_everyone_looking_since_newest_first(homes: SqlHomeViews) -> None:
    homes.opened(ALICE, T0 - timedelta(hours=2))
    homes.opened(BOB, T0)
    homes.opened(CAROL, T0 + timedelta(minutes=1))
    assert homes.recent(T0 - timedelta(hours=1)) == {BOB, CAROL}
    assert homes.recent(T0 - timedelta(hours=3), limit=1) == {CAROL}
    assert homes.recent(T0 + timedelta(hours=1)) == set()
