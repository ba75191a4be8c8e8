"""Every method of SqlRepository / SqlUnitOfWork, on each backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import AccessRequest, AuditEvent, Decision, Kind, Lockout, MessageRef, Node, State
from store.convert import FIELD_COLUMNS
from store.uow import SqlUnitOfWork

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
UowFactory = Callable[[], SqlUnitOfWork]
Stored = Callable[..., AccessRequest]
Make = Callable[..., AccessRequest]


def fetch(uow_factory: UowFactory, request_id: str) -> AccessRequest:
    with uow_factory() as uow:
        request = uow.repo.get(request_id)
    assert request is not None
    return request


# --- add / get -------------------------------------------------------------------------------


def test_every_access_request_field_is_mapped() -> None:
    assert {f.name for f in dataclasses.fields(AccessRequest)} == set(FIELD_COLUMNS)


def test_add_and_get_round_trip_every_field(uow_factory: UowFactory, make_request: Make) -> None:
    request = make_request(
        state=State.ACTIVE,
        kind=Kind.BREAKGLASS,
        current_level=1,
        ticket="OPS-42",
        granted_at=T0 + timedelta(minutes=1),
        expires_at=T0 + timedelta(hours=2, minutes=1),
        ended_at=T0 + timedelta(hours=3),
        end_reason="done",
        ended_by="U0BOB0001",
        extends="R00000000",
        reminders_sent=2,
        last_reminder_at=T0 + timedelta(seconds=30, microseconds=123456),
        warned=True,
        needs_cleanup=True,
        cleanup_attempts=3,
        lease_until=T0 + timedelta(minutes=5),
        sessions_ended=4,
        duration=timedelta(hours=1, minutes=30),
        more_nodes=(Node("i-0fedcba9876543210", "111122223333", "eu-west-1", name="web-2", tags={"Role": "web"},
                         ping_status="Online", platform="Linux"),
                    Node("i-0aaaabbbbccccdddd", "111122223333", "eu-west-1")),
    )
    with uow_factory() as uow:
        uow.repo.add(request)
        uow.commit()
    loaded = fetch(uow_factory, request.id)
    assert loaded == request
    assert isinstance(loaded.state, State)
    assert isinstance(loaded.kind, Kind)
    assert isinstance(loaded.levels, tuple)
    assert isinstance(loaded.levels[1].approvers, tuple)
    assert loaded.node.arn == request.node.arn
    assert [n.id for n in loaded.nodes] == [request.node.id, "i-0fedcba9876543210", "i-0aaaabbbbccccdddd"]


def test_minimal_request_round_trip(uow_factory: UowFactory, make_request: Make) -> None:
    request = make_request(node=Node(id="mi-0123456789abcdef0", account="1", region="r"), levels=(),
                           kind=Kind.AUTO)
    with uow_factory() as uow:
        uow.repo.add(request)
        uow.commit()
    assert fetch(uow_factory, request.id) == request


def test_get_missing_is_none(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert uow.repo.get("RNOTTHERE") is None
        assert uow.repo.get("RNOTTHERE", for_update=True) is None


def test_get_for_update(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored()
    with uow_factory() as uow:
        assert uow.repo.get(request.id, for_update=True) == request


def test_add_duplicate_id_fails(uow_factory: UowFactory, stored: Stored, make_request: Make) -> None:
    request = stored()
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.repo.add(make_request(id=request.id))


# --- the conditional updates: tests/store/test_store_updates.py --------------------------------


# --- decisions -------------------------------------------------------------------------------


def test_duplicate_decision_is_false_and_transaction_usable(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored()
    first = Decision(request_id=request.id, level=0, approver="U0BOB0001", approve=True, at=T0, comment="ok")
    again = Decision(request_id=request.id, level=1, approver="U0BOB0001", approve=False, at=T0)
    other = Decision(request_id=request.id, level=0, approver="U0CAROL01", approve=False,
                     at=T0 + timedelta(seconds=1))
    with uow_factory() as uow:
        assert uow.repo.add_decision(first) is True
        assert uow.repo.add_decision(again) is False
        # the outer transaction survived the failed savepoint
        assert uow.repo.add_decision(other) is True
        assert uow.repo.next_level(request.id, 0)
        uow.repo.add_event(AuditEvent(request_id=request.id, at=T0, actor="U0BOB0001", action="approve"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.decisions(request.id) == [first, other]
        assert uow.repo.add_decision(again) is False
        assert len(uow.repo.events(request.id)) == 1
    assert fetch(uow_factory, request.id).current_level == 1


def test_decision_for_unknown_request_raises(uow_factory: UowFactory) -> None:
    decision = Decision(request_id="RNOTTHERE", level=0, approver="U1", approve=True, at=T0)
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.repo.add_decision(decision)


def test_decisions_of_unknown_request_empty(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert uow.repo.decisions("RNOTTHERE") == []


# --- audit events ----------------------------------------------------------------------------


def test_events_filters_and_order(uow_factory: UowFactory, stored: Stored) -> None:
    a, b = stored(), stored()
    written = [
        AuditEvent(request_id=a.id, at=T0 + timedelta(minutes=2), actor="U1", action="submit",
                   detail={"node": "i-1", "levels": [1, 2], "nested": {"x": None}}),
        AuditEvent(request_id=None, at=T0, actor="system", action="reconcile", detail={"removed": 0}),
        AuditEvent(request_id=b.id, at=T0 + timedelta(minutes=1), actor="U2", action="submit"),
        AuditEvent(request_id=a.id, at=T0 + timedelta(minutes=3), actor="U3", action="approve",
                   detail={"at": T0, "state": State.ACTIVE, "groups": ("S1",)}),
    ]
    with uow_factory() as uow:
        for event in written:
            uow.repo.add_event(event)
        uow.commit()
    with uow_factory() as uow:
        everything = uow.repo.events()
        assert [e.action for e in everything] == ["submit", "reconcile", "submit", "approve"]  # id order
        ids = [e.id for e in everything if e.id is not None]
        assert len(ids) == 4
        assert ids == sorted(ids)
        assert everything[0] == dataclasses.replace(written[0], id=ids[0])
        # values JSON cannot hold are stored in their JSON form
        assert everything[3].detail == {"at": T0.isoformat(), "state": "active", "groups": ["S1"]}
        assert [e.actor for e in uow.repo.events(a.id)] == ["U1", "U3"]
        assert [e.actor for e in uow.repo.events(since=T0 + timedelta(minutes=1))] == ["U1", "U2", "U3"]
        assert [e.actor for e in uow.repo.events(a.id, since=T0 + timedelta(minutes=3))] == ["U3"]
        assert [e.actor for e in uow.repo.events(limit=2)] == ["U1", "system"]
        assert uow.repo.events("RNOTTHERE") == []


# --- messages --------------------------------------------------------------------------------


def test_messages_add_list_and_replace(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored()
    refs = [MessageRef(request.id, "level-1", "C2", "2.0"), MessageRef(request.id, "dm", "D1", "1.0"),
            MessageRef(request.id, "level-0", "C1", "1.5")]
    with uow_factory() as uow:
        for ref in refs:
            uow.repo.add_message(ref)
        uow.repo.add_message(MessageRef(request.id, "level-0", "C1", "9.9"))  # re-posted: replaces
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.messages(request.id) == [
            MessageRef(request.id, "dm", "D1", "1.0"),
            MessageRef(request.id, "level-0", "C1", "9.9"),
            MessageRef(request.id, "level-1", "C2", "2.0"),
        ]
        assert uow.repo.messages("RNOTTHERE") == []


# --- listings --------------------------------------------------------------------------------


def test_in_states(uow_factory: UowFactory, stored: Stored) -> None:
    late = stored(state=State.PENDING, created_at=T0 + timedelta(minutes=2))
    early = stored(state=State.PENDING, created_at=T0)
    active = stored(state=State.ACTIVE, created_at=T0 + timedelta(minutes=1))
    stored(state=State.EXPIRED)
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.in_states([State.PENDING])] == [early.id, late.id]
        both = uow.repo.in_states([State.PENDING, State.ACTIVE])
        assert [r.id for r in both] == [early.id, active.id, late.id]
        assert [r.id for r in uow.repo.in_states([State.PENDING], limit=1)] == [early.id]
        assert uow.repo.in_states([]) == []
        assert uow.repo.in_states([State.FAILED]) == []


def test_by_requester_newest_first(uow_factory: UowFactory, stored: Stored) -> None:
    old = stored(requester="U1", state=State.EXPIRED, created_at=T0)
    new = stored(requester="U1", state=State.PENDING, created_at=T0 + timedelta(hours=1))
    mid = stored(requester="U1", state=State.ACTIVE, created_at=T0 + timedelta(minutes=1))
    stored(requester="U2", created_at=T0 + timedelta(hours=2))
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.by_requester("U1")] == [new.id, mid.id, old.id]
        assert [r.id for r in uow.repo.by_requester("U1", [State.PENDING, State.ACTIVE])] == [new.id, mid.id]
        assert [r.id for r in uow.repo.by_requester("U1", limit=1)] == [new.id]
        assert uow.repo.by_requester("U1", []) == []
        assert uow.repo.by_requester("U9") == []


def test_due_expiries(uow_factory: UowFactory, stored: Stored) -> None:
    second = stored(state=State.ACTIVE, expires_at=T0)
    first = stored(state=State.ACTIVE, expires_at=T0 - timedelta(minutes=5), warned=True)
    stored(state=State.ACTIVE, expires_at=T0 + timedelta(seconds=1))  # not yet
    stored(state=State.EXPIRED, expires_at=T0 - timedelta(hours=1))  # already ended
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.due_expiries(T0)] == [first.id, second.id]
        assert [r.id for r in uow.repo.due_expiries(T0, limit=1)] == [first.id]
        assert [r.id for r in uow.repo.due_expiries(T0, unwarned=True)] == [second.id]
        assert uow.repo.due_expiries(T0 - timedelta(hours=1)) == []


def test_due_work(uow_factory: UowFactory, stored: Stored) -> None:
    past, future = T0 - timedelta(seconds=1), T0 + timedelta(seconds=30)
    due = [
        stored(state=State.APPROVED, created_at=T0 - timedelta(minutes=9)),
        stored(state=State.APPROVED, lease_until=past, created_at=T0 - timedelta(minutes=8)),
        stored(state=State.EXPIRED, needs_cleanup=True, created_at=T0 - timedelta(minutes=7)),
        stored(state=State.REVOKED, needs_cleanup=True, lease_until=past,
               created_at=T0 - timedelta(minutes=6)),
        stored(state=State.ACTIVE, needs_cleanup=True, created_at=T0 - timedelta(minutes=5)),
        stored(state=State.EXPIRED, notice_due=True, lease_until=past, created_at=T0 - timedelta(minutes=4)),
    ]
    stored(state=State.EXPIRED, notice_due=True, lease_until=future)  # its notice is being sent
    stored(state=State.APPROVED, lease_until=future)  # leased
    stored(state=State.APPROVED, lease_until=T0)  # lease ends now: not yet past
    stored(state=State.EXPIRED, needs_cleanup=True, lease_until=future)  # leased
    stored(state=State.ACTIVE)  # nothing to do
    stored(state=State.PENDING)
    stored(state=State.EXPIRED)
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.due_work(T0)] == [r.id for r in due]
        assert [r.id for r in uow.repo.due_work(T0, limit=2)] == [r.id for r in due[:2]]


# --- unit of work ----------------------------------------------------------------------------


def test_sessions_polled_records_the_poll_then_updates_it(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored(state=State.ACTIVE, granted_at=T0, expires_at=T0 + timedelta(hours=1))
    with uow_factory() as uow:
        assert [r.id for r in uow.repo.sessions_due(T0, T0)] == [request.id]  # never polled
        uow.repo.sessions_polled(request.id, T0, final=False)  # the first poll: a row of its own
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.sessions_due(T0 - timedelta(minutes=1), T0) == []
        uow.repo.sessions_polled(request.id, T0 + timedelta(minutes=5), final=False)  # the next: that row, updated
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.sessions_due(T0 + timedelta(minutes=1), T0) == []
        assert [r.id for r in uow.repo.sessions_due(T0 + timedelta(minutes=5), T0)] == [request.id]


def test_uow_rolls_back_without_commit(uow_factory: UowFactory, make_request: Make) -> None:
    request = make_request()
    with uow_factory() as uow:
        uow.repo.add(request)
    with uow_factory() as uow:
        assert uow.repo.get(request.id) is None


def test_uow_rolls_back_on_exception(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored()
    def fail_midway() -> None:
        with uow_factory() as uow:
            uow.repo.move(request, State.CANCELLED)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert fetch(uow_factory, request.id).state is State.PENDING


def test_uow_commit_then_more_work_is_rolled_back(uow_factory: UowFactory, stored: Stored) -> None:
    request = stored()
    with uow_factory() as uow:
        uow.repo.next_level(request.id, 0)
        uow.commit()
        uow.repo.record_reminder(request.id, 1, 0, T0)
    loaded = fetch(uow_factory, request.id)
    assert loaded.current_level == 1
    assert loaded.reminders_sent == 0


def test_uow_is_reusable_but_not_reentrant(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    with pytest.raises(RuntimeError):
        uow.commit()
    with uow:
        with pytest.raises(RuntimeError), uow:
            pass
        assert uow.repo.events() == []
    with uow:
        assert uow.session.is_active



# --- lockouts (migration 0006) ---------------------------------------------------------------


def test_lockouts(uow_factory: UowFactory) -> None:
    first = Lockout("U0ALICE01", "U0CAROL01", "credentials leaked", T0)
    second = Lockout("U0BOB0001", "U0DAVE001", "left the company", T0 + timedelta(minutes=1))
    with uow_factory() as uow:
        assert uow.repo.lockout(first.user_id) is None
        assert uow.repo.add_lockout(second) and uow.repo.add_lockout(first)
        assert not uow.repo.add_lockout(dataclasses.replace(first, by="U0DAVE001"))  # the transaction survives
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.lockout(first.user_id) == first
        assert uow.repo.lockouts() == [first, second] and uow.repo.lockouts(limit=1) == [first]
        assert uow.repo.remove_lockout(first.user_id) and not uow.repo.remove_lockout(first.user_id)
        uow.commit()
    with uow_factory() as uow:
        assert uow.repo.lockouts() == [second]
