"""SQLite's plans for the questions about one person: their live requests are found through an index, not by
reading every request they ever made (figures in BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event

from core.model import State
from store.uow import SqlUnitOfWork
from tests.store.conftest import build_request

LIVE = [State.PENDING, State.APPROVED, State.ACTIVE]


def _plans(engine: Engine, run: Callable[[], object]) -> list[str]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        return [" ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, tuple(p)))
                for s, p in seen]


def test_live_requests_of_one_person_use_the_requester_state_index(
        engine: Engine, uow_factory: Callable[[], SqlUnitOfWork]) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner is the one that needs the hint")
    with uow_factory() as uow:
        for n in range(30):
            uow.repo.add(build_request(id=f"RP{n:07d}", state=State.EXPIRED if n % 10 else State.ACTIVE))
        uow.commit()

    def live() -> object:
        with uow_factory() as uow:
            found = uow.repo.by_requester("U0ALICE01", LIVE)
        assert {r.state for r in found} == {State.ACTIVE} and len(found) == 3
        return found

    assert ["ix_requests_requester_state_created_at" in plan for plan in _plans(engine, live)] == [True]
