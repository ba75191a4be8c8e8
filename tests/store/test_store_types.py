"""Timestamps are aware UTC on the way out whatever the zone on the way in; naive ones are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from core.model import AccessRequest, AuditEvent, State
from store.uow import SqlUnitOfWork

TOKYO = timezone(timedelta(hours=9))
NEW_YORK = timezone(timedelta(hours=-5))


def test_aware_datetimes_round_trip_as_utc(uow_factory: Callable[[], SqlUnitOfWork],
                                           make_request: Callable[..., AccessRequest]) -> None:
    created = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=TOKYO)
    expires = datetime(2025, 2, 28, 20, 0, 0, 1, tzinfo=NEW_YORK)
    request = make_request(state=State.ACTIVE, created_at=created, expires_at=expires)
    with uow_factory() as uow:
        uow.repo.add(request)
        uow.repo.add_event(AuditEvent(request_id=request.id, at=created, actor="U1", action="x"))
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.repo.get(request.id)
        event = uow.repo.events(request.id)[0]
    assert loaded is not None
    for value, original in ((loaded.created_at, created), (loaded.expires_at, expires), (event.at, created)):
        assert value == original
        assert value is not None
        assert value.tzinfo is UTC
    assert loaded.created_at == datetime(2025, 3, 1, 0, 30, 15, 123456, tzinfo=UTC)
    assert loaded.expires_at == datetime(2025, 3, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_comparisons_use_the_instant_not_the_wall_time(uow_factory: Callable[[], SqlUnitOfWork],
                                                       make_request: Callable[..., AccessRequest]) -> None:
    # 10:00 in Tokyo is 01:00 UTC: due at 02:00 UTC even though "10:00" > "02:00" as text
    request = make_request(state=State.ACTIVE, expires_at=datetime(2025, 1, 1, 10, tzinfo=TOKYO))
    with uow_factory() as uow:
        uow.repo.add(request)
        uow.commit()
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.due_expiries(datetime(2025, 1, 1, 2, tzinfo=UTC))] == [request.id]
        assert uow.repo.due_expiries(datetime(2025, 1, 1, 9, 59, tzinfo=TOKYO)) == []


def test_naive_datetimes_are_refused(uow_factory: Callable[[], SqlUnitOfWork],
                                     make_request: Callable[..., AccessRequest]) -> None:
    with uow_factory() as uow, pytest.raises(StatementError, match="naive datetime"):
        uow.repo.add(make_request(created_at=datetime(2025, 1, 1, 12)))
    with uow_factory() as uow, pytest.raises(StatementError, match="naive datetime"):
        uow.repo.due_expiries(datetime(2025, 1, 1, 12))
