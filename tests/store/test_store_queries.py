"""Digest, export and retention helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.model import AccessRequest, AuditEvent, Decision, MessageRef, Node, State
from store.queries import (
    NodeCount,
    RequesterCount,
    count_by_state_since,
    purge_before,
    top_nodes,
    top_requesters,
)
from store.uow import SqlUnitOfWork

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
UowFactory = Callable[[], SqlUnitOfWork]
Stored = Callable[..., AccessRequest]


def node(node_id: str, name: str | None = None) -> Node:
    return Node(id=node_id, account="111122223333", region="eu-west-1", name=name)


def test_counts_and_tops(uow_factory: UowFactory, stored: Stored) -> None:
    stored(requester="U0OLD", state=State.EXPIRED, created_at=T0 - timedelta(days=2), node=node("i-old"))
    stored(requester="U1", state=State.PENDING, created_at=T0, node=node("i-a", "web-1"))
    stored(requester="U1", state=State.ACTIVE, created_at=T0 + timedelta(hours=1), node=node("i-a", "web-1"))
    stored(requester="U2", state=State.ACTIVE, created_at=T0 + timedelta(hours=2), node=node("i-b"))
    stored(requester="U3", state=State.REJECTED, created_at=T0 + timedelta(hours=3), node=node("i-c", "db"))
    stored(requester="U2", state=State.EXPIRED, created_at=T0 + timedelta(days=1), node=node("i-b"))
    with uow_factory() as uow:
        counts = count_by_state_since(uow.session, T0)
        expected = {"pending": 1, "active": 2, "rejected": 1, "expired": 1}
        assert counts == {s.value: 0 for s in State} | expected
        assert count_by_state_since(uow.session, T0, T0 + timedelta(days=1))["expired"] == 0
        assert top_requesters(uow.session, T0, 2) == [RequesterCount("U1", 2), RequesterCount("U2", 2)]
        assert top_requesters(uow.session, T0, 5, until=T0 + timedelta(hours=2))[0] == ("U1", 2)
        assert top_nodes(uow.session, T0, 3) == [NodeCount("i-a", "web-1", 2), NodeCount("i-b", None, 2),
                                                 NodeCount("i-c", "db", 1)]
        assert top_nodes(uow.session, T0 + timedelta(days=5)) == []


def test_purge_before(uow_factory: UowFactory, stored: Stored) -> None:
    cutoff = T0
    old = stored(state=State.EXPIRED, created_at=T0 - timedelta(days=3), ended_at=T0 - timedelta(days=2))
    old_no_end = stored(state=State.REJECTED, created_at=T0 - timedelta(days=3))
    still_cleaning = stored(state=State.EXPIRED, needs_cleanup=True, ended_at=T0 - timedelta(days=2),
                            created_at=T0 - timedelta(days=3))
    recent = stored(state=State.REVOKED, created_at=T0 - timedelta(days=3),
                    ended_at=T0 + timedelta(minutes=1))
    live = stored(state=State.ACTIVE, created_at=T0 - timedelta(days=3))
    with uow_factory() as uow:
        uow.repo.add_decision(Decision(request_id=old.id, level=0, approver="U9", approve=True, at=T0))
        uow.repo.add_message(MessageRef(old.id, "dm", "D1", "1.0"))
        uow.repo.add_event(AuditEvent(request_id=old.id, at=T0 - timedelta(days=2), actor="U9", action="a"))
        uow.repo.add_event(AuditEvent(request_id=old.id, at=T0 - timedelta(days=1), actor="U9", action="b"))
        uow.repo.add_event(AuditEvent(request_id=None, at=T0, actor="system", action="c"))
        uow.commit()
    with uow_factory() as uow:
        assert purge_before(uow.session, cutoff) == (2, 2)
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.get(old.id) is None
        assert uow.repo.get(old_no_end.id) is None
        for kept in (still_cleaning, recent, live):
            assert uow.repo.get(kept.id) == kept
        assert uow.repo.decisions(old.id) == []
        assert uow.repo.messages(old.id) == []
        assert [e.action for e in uow.repo.events()] == ["c"]
        assert purge_before(uow.session, cutoff) == (0, 0)


def test_purge_before_in_batches(uow_factory: UowFactory, stored: Stored) -> None:
    for i in range(5):
        request = stored(state=State.EXPIRED, created_at=T0 - timedelta(days=3), ended_at=T0 - timedelta(days=2))
        with uow_factory() as uow:
            uow.repo.add_event(AuditEvent(request_id=request.id, at=T0 - timedelta(days=2, minutes=i),
                                          actor="U1", action="x"))
            uow.commit()
    batches = []
    while True:
        with uow_factory() as uow:
            batch = purge_before(uow.session, T0, limit=2)
            uow.commit()
        if batch == (0, 0):
            break
        batches.append(batch)
    assert batches == [(2, 2), (2, 2), (1, 1)]
