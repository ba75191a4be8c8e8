"""One scheduler among replicas: the replica holding a PostgreSQL advisory lock leads.

The lock lives on a dedicated connection (session-level ``pg_try_advisory_lock``), checked by a keep-alive
every few seconds. When the leader dies, PostgreSQL drops its session and the lock with it; a follower
polling every ``interval`` seconds takes over and rebuilds its jobs from the database. Even if two replicas
believed they led for a moment, every job's effect is a conditional update or a ``SKIP LOCKED`` claim, so
nothing is done twice. On SQLite a single replica is assumed (and said in the logs).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Literal

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from store.engine import normalize_url

log = logging.getLogger(__name__)

def lock_key(database: str, schema: str) -> int:
    """The advisory lock key: one per database and schema, so separate deployments never contend."""
    digest = hashlib.blake2b(f"jitbot-scheduler:{database}.{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)

Role = Literal["single", "leader", "follower", "stopped"]


class Leadership:
    def __init__(self, database_url: str, on_elected: Callable[[], None], on_deposed: Callable[[], None],
                 interval: float = 5.0) -> None:
        self.url = normalize_url(database_url)
        self.postgres = self.url.get_backend_name() == "postgresql"
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = interval
        self.role: Role = "stopped"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._key = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.postgres:
            log.info("SQLite store: a single replica is assumed; this process runs the scheduler")
            self.role = "single"
            self.on_elected()
            return
        self.role = "follower"
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        with self._lock:
            if self.role in ("leader", "single"):
                self.on_deposed()
            self._release()
            self.role = "stopped"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # a database hiccup must not kill the election thread
                log.exception("leader election check failed")
                self._lose()
            self._stop.wait(self.interval)

    def _tick(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if self.role == "leader":
                assert self._conn is not None
                self._conn.execute(text("SELECT 1"))  # keep-alive: raises if the session is gone
                return
            if self._conn is None:
                self._conn = self._connect()
                where = self._conn.execute(text("SELECT current_database(), current_schema()")).one()
                self._key = lock_key(str(where[0]), str(where[1]))
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
            if not got:
                return
            self.role = "leader"
        log.info("elected scheduler leader")
        self.on_elected()

    def _connect(self) -> Connection:
        engine = create_engine(self.url, poolclass=NullPool, connect_args={
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
            "application_name": "jitbot-leader"})
        conn = engine.connect()
        conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def _lose(self) -> None:
        with self._lock:
            was_leader = self.role == "leader"
            self.role = "follower"
            self._release()
        if was_leader:
            log.warning("lost the scheduler leadership; stopping the scheduler")
            self.on_deposed()

    def _release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
