"""Schema migrations (Alembic), configured in code: no alembic.ini, independent of the working directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: pg_advisory_xact_lock key: replicas starting together run the migration one after the other.
_MIGRATION_LOCK_KEY = 0x6A6974626F74  # "jitbot"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for jitbot's migrations (usable with ``alembic.command``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def _engine(target: str | Engine) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = make_engine(target)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``url`` (or an existing Engine, e.g. an in-memory SQLite one) to ``revision``.

    The whole upgrade is one transaction (SQLite and PostgreSQL both have transactional DDL); on
    PostgreSQL it first takes an advisory lock, so concurrent upgrades wait instead of colliding.
    """
    with _engine(url) as engine, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str | Engine) -> str | None:
    """The revision the database is at; None for a database that was never migrated."""
    with _engine(url) as engine, engine.connect() as connection:
        return _current(connection)


def head_revision() -> str:
    """The newest revision of the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def is_up_to_date(url: str | Engine) -> bool:
    return current_revision(url) == head_revision()


def migration_state(url: str | Engine) -> str:
    """"head" (the database is at this code's newest revision), "ahead" (at a revision this code does not ship:
    a newer jitbot migrated it during a rolling upgrade) or "behind" (never migrated, or older)."""
    current = current_revision(url)
    if current == head_revision():
        return "head"
    if current is None:
        return "behind"
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    return "behind" if current in known else "ahead"
