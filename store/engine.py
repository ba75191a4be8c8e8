"""Engines and sessions. Nothing is built at import time: call :func:`make_engine`."""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

#: How long a SQLite writer waits for the write lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _json_default(value: Any) -> Any:
    """JSON for the values audit details tend to carry (datetimes, enums, durations, sets)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, AbstractSet | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; ``postgres://`` and ``postgresql://`` mean psycopg 3 (the driver jitbot ships)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL, echo: bool) -> Engine:
    memory = _is_memory(url)
    kwargs: dict[str, Any] = {}
    if memory:
        # one connection shared by every session: the database lives as long as the engine
        kwargs["poolclass"] = StaticPool
    engine = create_engine(
        url,
        echo=echo,
        json_serializer=json_dumps,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # sqlite3 must not emit BEGIN itself: SQLAlchemy emits BEGIN IMMEDIATE below (the documented
        # pysqlite recipe), so a writer takes the write lock when it starts instead of failing
        # with SQLITE_BUSY when it upgrades a read snapshot.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite (file or ``:memory:``) or PostgreSQL through psycopg 3.

    SQLite: WAL, foreign keys on, 30 s busy timeout, every transaction ``BEGIN IMMEDIATE`` (writers
    queue on the lock), connections usable from any thread; ``:memory:`` shares one connection.
    PostgreSQL: a pool with pre-ping, so connections dropped by a failover are replaced.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, echo)
    if backend == "postgresql":
        return create_engine(parsed, echo=echo, pool_pre_ping=True, json_serializer=json_dumps)
    raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite:/// or postgresql+psycopg://")


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``. Objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
