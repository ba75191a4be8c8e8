"""``narrow`` renders SQLite's likelihood() hint as a predicate an index can serve, and nothing elsewhere."""

from __future__ import annotations

from sqlalchemy import Dialect, and_, or_, select
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from store.hints import narrow
from store.models import RequestRow


def render(dialect: Dialect) -> str:
    stmt = select(RequestRow.id).where(
        or_(and_(narrow(RequestRow.state == "approved"), RequestRow.warned),
            narrow(RequestRow.needs_cleanup.is_(True)))
    )
    return " ".join(str(stmt.compile(dialect=dialect)).split())


def test_sqlite_gets_likelihood_without_comparison() -> None:
    sql = render(SQLiteDialect_pysqlite())
    assert "likelihood(requests.state = ?, 0.001) AND requests.warned = 1 OR " in sql
    assert "likelihood(requests.needs_cleanup IS 1, 0.001)" in sql
    assert "= 1 OR" in sql
    assert "0.001) = 1" not in sql


def test_other_dialects_get_the_bare_term_in_parentheses() -> None:
    sql = render(PGDialect_psycopg())  # type: ignore[no-untyped-call]
    assert "likelihood" not in sql
    assert "(requests.state = %(state_1)s::VARCHAR) AND requests.warned OR (requests.needs_cleanup IS true)" in sql
