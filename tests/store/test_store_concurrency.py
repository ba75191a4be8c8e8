"""Concurrent writers: the conditional update lets exactly one win; PostgreSQL skips locked rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.model import AccessRequest, Changes, State
from store.uow import SqlUnitOfWork

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
THREADS = 20


def test_racing_conditional_updates_one_winner(uow_factory: Callable[[], SqlUnitOfWork],
                                               stored: Callable[..., AccessRequest]) -> None:
    request = stored()
    barrier = threading.Barrier(THREADS)

    def approve(i: int) -> bool:
        barrier.wait(timeout=30)
        with uow_factory() as uow:
            current = uow.repo.get(request.id, for_update=True)
            assert current is not None
            won = uow.repo.move(request, State.APPROVED, Changes(end_reason=f"winner {i}"))
            uow.commit()
            return won

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(approve, range(THREADS)))
    assert results.count(True) == 1
    with uow_factory() as uow:
        final = uow.repo.get(request.id)
    assert final is not None
    assert final.state is State.APPROVED
    assert final.end_reason == f"winner {results.index(True)}"


def test_racing_lease_claims_one_winner(uow_factory: Callable[[], SqlUnitOfWork],
                                        stored: Callable[..., AccessRequest]) -> None:
    request = stored(state=State.APPROVED)
    barrier = threading.Barrier(THREADS)

    def claim(_: int) -> bool:
        barrier.wait(timeout=30)
        with uow_factory() as uow:
            won = uow.repo.claim_grant(request.id, T0, T0 + timedelta(seconds=30))
            uow.commit()
            return won

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        assert list(pool.map(claim, range(THREADS))).count(True) == 1


def test_due_work_skips_rows_locked_elsewhere(engine: Engine, uow_factory: Callable[[], SqlUnitOfWork],
                                              stored: Callable[..., AccessRequest]) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serializes whole transactions (BEGIN IMMEDIATE)")
    first = stored(state=State.APPROVED, created_at=T0)
    second = stored(state=State.ACTIVE, needs_cleanup=True, expires_at=T0,
                    created_at=T0 + timedelta(seconds=1))
    with uow_factory() as holder:
        assert [r.id for r in holder.repo.due_work(T0, limit=1)] == [first.id]
        assert [r.id for r in holder.repo.due_expiries(T0)] == [second.id]
        with uow_factory() as other:
            assert [r.id for r in other.repo.due_work(T0)] == []  # both rows locked by holder
            assert other.repo.due_expiries(T0) == []
    with uow_factory() as after:
        assert [r.id for r in after.repo.due_work(T0)] == [first.id, second.id]
