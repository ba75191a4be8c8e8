"""The migration builds exactly the models' schema; engine settings; revision helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from core.model import AccessRequest, Kind, State
from store.engine import create_session_factory, make_engine, normalize_url
from store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    is_up_to_date,
    migration_state,
    upgrade,
)
from store.models import Base
from store.uow import SqlUnitOfWork


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        names = set(inspect(connection).get_table_names())
    assert {"requests", "decisions", "audit_events", "messages", "home_views", "lockouts", "alembic_version"} <= names


def test_migrated_indexes(engine: Engine) -> None:
    inspector = inspect(engine)
    requests = {tuple(ix["column_names"]) for ix in inspector.get_indexes("requests")}
    assert {("state", "expires_at"), ("requester", "created_at"), ("state", "lease_until"),
            ("created_at", "state"), ("needs_cleanup", "lease_until"), ("ended_at",),
            ("kind", "created_at"), ("requester", "state", "created_at")} <= requests
    events = {tuple(ix["column_names"]) for ix in inspector.get_indexes("audit_events")}
    assert {("at",), ("request_id", "id")} <= events
    outbox = {tuple(ix["column_names"]) for ix in inspector.get_indexes("outbox")}
    assert {("state", "id"), ("request_id", "id"), ("created_at",)} <= outbox


def test_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    assert not is_up_to_date(url)
    upgrade(url)
    upgrade(url)  # idempotent
    assert current_revision(url) == head_revision() == "0011"
    assert is_up_to_date(url)


def test_a_database_a_newer_release_migrated_is_ahead_not_behind(tmp_path: Path) -> None:
    """A rolling upgrade migrates first; the old replicas then see a revision they do not ship and stay ready."""
    url = f"sqlite:///{tmp_path / 'ahead.db'}"
    assert migration_state(url) == "behind"
    command.upgrade(alembic_config(url), "0005")
    assert migration_state(url) == "behind"
    upgrade(url)
    assert migration_state(url) == "head"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    assert migration_state(url) == "ahead" and not is_up_to_date(url)


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    assert current_revision(url) is None
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_in_memory_sqlite_through_an_engine() -> None:
    engine = make_engine("sqlite:///:memory:")
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with SqlUnitOfWork(create_session_factory(engine)) as uow:
            assert uow.repo.events() == []
    finally:
        engine.dispose()


def test_migration_template_is_shipped() -> None:
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        assert engine.dialect.name != "postgresql"
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_sqlite_transactions_begin_immediate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'immediate.db'}")
    statements: list[str] = []
    try:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert statements[:2] == ["BEGIN IMMEDIATE", "SELECT 1"]


def test_postgres_engine_settings(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    assert engine.dialect.driver == "psycopg"
    assert engine.pool._pre_ping


def test_urls() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://u@h/db")


def test_every_state_and_kind_is_accepted_by_the_schema(uow_factory: Callable[[], SqlUnitOfWork],
                                                        make_request: Callable[..., AccessRequest]) -> None:
    """The migration's CHECK constraints list every State and Kind of core.model (a new value needs a
    migration)."""
    requests = [make_request(state=state) for state in State] + [make_request(kind=kind) for kind in Kind]
    with uow_factory() as uow:
        for request in requests:
            uow.repo.add(request)
        uow.commit()
    for request in requests:
        with uow_factory() as uow:
            assert uow.repo.get(request.id) == request


def test_unknown_state_is_refused_by_the_schema(uow_factory: Callable[[], SqlUnitOfWork],
                                                stored: Callable[..., AccessRequest]) -> None:
    request = stored()
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.session.execute(text("UPDATE requests SET state = 'bogus' WHERE id = :id"), {"id": request.id})
