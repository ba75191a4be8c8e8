"""Fixtures of the store tests: an engine per backend (SQLite always, PostgreSQL when
JITBOT_TEST_DATABASE_URL names one), built through the Alembic migration."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.model import AccessRequest, Kind, LevelSnapshot, Node, State, new_request_id
from store.engine import create_session_factory, make_engine
from store.migrate import upgrade
from store.uow import SqlUnitOfWork

PG_ENV = "JITBOT_TEST_DATABASE_URL"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TABLES = ("messages", "decisions", "audit_events", "requests", "home_views", "outbox")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema of the PostgreSQL test database, migrated to head, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"jitbot_store_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'jitbot.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        sqlite = make_engine(request.getfixturevalue("sqlite_url"))
        yield sqlite
        sqlite.dispose()
        return
    postgres: Engine = request.getfixturevalue("postgres_engine")
    with postgres.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    yield postgres


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return create_session_factory(engine)


@pytest.fixture
def uow_factory(factory: sessionmaker[Session]) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(factory)


def build_request(**overrides: Any) -> AccessRequest:
    values: dict[str, Any] = {
        "id": new_request_id(),
        "requester": "U0ALICE01",
        "principal_arn": "arn:aws:iam::111122223333:role/alice",
        "node": Node(
            id="i-0123456789abcdef0",
            account="111122223333",
            region="eu-west-1",
            name="web-1",
            tags={"Environment": "prod", "Name": "web-1"},
            ping_status="Online",
            platform="Linux",
        ),
        "reason": "disk full on /var",
        "duration": timedelta(hours=2),
        "policy": "production",
        "kind": Kind.MANUAL,
        "levels": (
            LevelSnapshot(name="SRE lead", channel="C0SREAPPR", approvers=("S0SRELEAD",), required=1),
            LevelSnapshot(name="Manager", channel="C0MGRAPPR", approvers=("U0CAROL01", "U0DAVE001"),
                          required=2),
        ),
        "state": State.PENDING,
        "created_at": T0,
    }
    values.update(overrides)
    return AccessRequest(**values)


@pytest.fixture
def make_request() -> Callable[..., AccessRequest]:
    """``make_request(**field overrides)`` → an AccessRequest with a fresh id."""
    return build_request


@pytest.fixture
def stored(uow_factory: Callable[[], SqlUnitOfWork]) -> Callable[..., AccessRequest]:
    """``stored(**field overrides)`` → an AccessRequest added and committed."""

    def store(**overrides: Any) -> AccessRequest:
        request = build_request(**overrides)
        with uow_factory() as uow:
            uow.repo.add(request)
            uow.commit()
        return request

    return store
