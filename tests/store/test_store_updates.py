"""The conditional updates of the Repository port (``move``, the claims of AWS steps, …), on each backend and on
the in-memory fake of the core tests, which must agree with the store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.model import AccessRequest, Changes, Expect, NodeSession, State
from core.ports import UnitOfWork
from store.convert import FIELD_COLUMNS
from tests.fakes_core import InMemoryDatabase, InMemoryUnitOfWork

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
Uows = Callable[[], UnitOfWork]
Make = Callable[..., AccessRequest]


@pytest.fixture(params=["store", "fake"])
def uows(request: pytest.FixtureRequest, uow_factory: Callable[[], UnitOfWork], engine: Engine) -> Uows:
    if request.param == "store":
        return uow_factory
    if engine.dialect.name != "sqlite":
        pytest.skip("the fake is tried once")
    db = InMemoryDatabase()
    return lambda: InMemoryUnitOfWork(db)


@pytest.fixture
def put(uows: Uows, make_request: Make) -> Make:
    def store(**overrides: object) -> AccessRequest:
        request = make_request(**overrides)
        with uows() as uow:
            uow.repo.add(request)
            uow.commit()
        return request

    return store


def load(uows: Uows, request_id: str) -> AccessRequest:
    with uows() as uow:
        request = uow.repo.get(request_id)
    assert request is not None
    return request


def test_changes_are_request_fields_and_columns() -> None:
    for f in dataclasses.fields(Changes):
        if f.name == "duration":  # never cleared; stored in seconds
            assert FIELD_COLUMNS[f.name](timedelta(minutes=30)) == {"duration_seconds": 1800}
        else:
            assert FIELD_COLUMNS[f.name](None) == {f.name: None}


def test_move_succeeds_once(uows: Uows, put: Make) -> None:
    request = put()
    for expected in (True, False):
        with uows() as uow:
            moved = uow.repo.move(request, State.CANCELLED, Changes(ended_at=T0, end_reason="winner"))
            uow.commit()
        assert moved is expected
    loaded = load(uows, request.id)
    assert (loaded.state, loaded.ended_at, loaded.end_reason) == (State.CANCELLED, T0, "winner")


def test_an_unknown_request_changes_nothing(uows: Uows, make_request: Make) -> None:
    ghost = make_request(id="RNOTTHERE", state=State.APPROVED, needs_cleanup=True)
    with uows() as uow:
        repo = uow.repo
        assert not repo.move(ghost, State.ACTIVE)
        assert not repo.claim_grant(ghost.id, T0, LATER)
        assert not repo.claim_cleanup(ghost.id, T0, LATER)
        assert not repo.confirm_cleanup(ghost.id, 0)
        assert not repo.mark_warned(ghost.id)


def test_move_writes_every_change_and_clears_with_none(uows: Uows, put: Make) -> None:
    request = put(state=State.APPROVED, lease_until=LATER, end_reason="old")
    changes = Changes(ended_at=T0, end_reason=None, ended_by="jitbot", granted_at=T0, expires_at=LATER,
                      needs_cleanup=True, cleanup_attempts=2, lease_until=None)
    with uows() as uow:
        assert uow.repo.move(request, State.FAILED, changes)
        # a read in the same transaction sees the update
        assert uow.repo.get(request.id) == changes.apply(request, State.FAILED)
        uow.commit()
    assert load(uows, request.id) == changes.apply(request, State.FAILED)
    assert load(uows, request.id).end_reason is None


def test_move_leaves_what_is_kept(uows: Uows, put: Make) -> None:
    request = put(state=State.APPROVED, lease_until=LATER, cleanup_attempts=3)
    with uows() as uow:
        assert uow.repo.move(request, State.REVOKED, Changes(needs_cleanup=True))
        uow.commit()
    loaded = load(uows, request.id)
    assert (loaded.lease_until, loaded.cleanup_attempts, loaded.needs_cleanup) == (LATER, 3, True)


def test_move_expects_the_level(uows: Uows, put: Make) -> None:
    request = put(current_level=1)
    with uows() as uow:
        assert not uow.repo.move(request, State.APPROVED, expect=Expect(current_level=0))
        assert uow.repo.move(request, State.APPROVED, expect=Expect(current_level=1))
        uow.commit()
    assert load(uows, request.id).state is State.APPROVED


def test_move_expects_a_free_lease(uows: Uows, put: Make) -> None:
    request = put(state=State.APPROVED, lease_until=T0 + timedelta(seconds=30))
    with uows() as uow:
        assert not uow.repo.move(request, State.FAILED, expect=Expect(lease_free_at=T0))
        # equal is not past
        assert not uow.repo.move(request, State.FAILED, expect=Expect(lease_free_at=T0 + timedelta(seconds=30)))
        assert uow.repo.move(request, State.FAILED, expect=Expect(lease_free_at=T0 + timedelta(seconds=31)))


@pytest.mark.parametrize("step", ["grant", "cleanup"])
def test_a_claim_holds_until_its_lease_lapses(uows: Uows, put: Make, step: str) -> None:
    request = put(state=State.APPROVED) if step == "grant" else put(state=State.EXPIRED, needs_cleanup=True)
    with uows() as uow:
        claim = uow.repo.claim_grant if step == "grant" else uow.repo.claim_cleanup
        # free (NULL) → claimed until T0+30s
        assert claim(request.id, T0, T0 + timedelta(seconds=30))
        # still held at T0+10s
        assert not claim(request.id, T0 + timedelta(seconds=10), T0 + timedelta(seconds=40))
        # equal is not past
        assert not claim(request.id, T0 + timedelta(seconds=30), T0 + timedelta(seconds=60))
        # lapsed at T0+31s
        assert claim(request.id, T0 + timedelta(seconds=31), T0 + timedelta(seconds=61))
        uow.commit()
    assert load(uows, request.id).lease_until == T0 + timedelta(seconds=61)


def test_grant_steps_need_an_approved_request(uows: Uows, put: Make) -> None:
    approved, active = put(state=State.APPROVED), put(state=State.ACTIVE)
    with uows() as uow:
        repo = uow.repo
        assert not repo.claim_grant(active.id, T0, LATER)
        assert not repo.retry_grant_later(active.id, 1, LATER)
        assert not repo.free_grant(active.id)
        assert repo.retry_grant_later(approved.id, 2, LATER)
        assert repo.get(approved.id) == approved.with_changes(cleanup_attempts=2, lease_until=LATER)
        assert repo.free_grant(approved.id)
        assert repo.get(approved.id) == approved.with_changes(cleanup_attempts=2)
        uow.commit()
    assert load(uows, active.id) == active


def test_cleanup_steps_need_a_pending_cleanup(uows: Uows, put: Make) -> None:
    ended = put(state=State.EXPIRED, needs_cleanup=True, lease_until=T0)
    clean = put(state=State.EXPIRED)
    with uows() as uow:
        repo = uow.repo
        assert not repo.claim_cleanup(clean.id, LATER, LATER)
        assert not repo.retry_cleanup_later(clean.id, 1, LATER)
        assert not repo.free_cleanup(clean.id)
        assert not repo.confirm_cleanup(clean.id, 1)
        assert repo.retry_cleanup_later(ended.id, 3, LATER)
        assert repo.get(ended.id) == ended.with_changes(cleanup_attempts=3, lease_until=LATER)
        assert repo.free_cleanup(ended.id)
        assert repo.get(ended.id) == ended.with_changes(cleanup_attempts=3, lease_until=None)
        assert repo.claim_cleanup(ended.id, T0, LATER)
        assert repo.confirm_cleanup(ended.id, 4)
        # confirmed once: a second worker's confirmation changes nothing
        assert not repo.confirm_cleanup(ended.id, 0)
        uow.commit()
    loaded = load(uows, ended.id)
    assert (loaded.needs_cleanup, loaded.lease_until, loaded.sessions_ended, loaded.cleanup_attempts) == \
        (False, None, 4, 3)
    assert load(uows, clean.id) == clean


def test_next_level_once_and_reminders_reset(uows: Uows, put: Make) -> None:
    request = put(current_level=0, reminders_sent=2, last_reminder_at=T0)
    with uows() as uow:
        assert uow.repo.next_level(request.id, 0)
        assert not uow.repo.next_level(request.id, 0)
        uow.commit()
    loaded = load(uows, request.id)
    assert (loaded.current_level, loaded.reminders_sent, loaded.last_reminder_at) == (1, 0, None)
    with uows() as uow:
        assert uow.repo.move(loaded, State.CANCELLED)
        assert not uow.repo.next_level(request.id, 1)  # no longer pending


def test_mark_warned_once_and_only_while_active(uows: Uows, put: Make) -> None:
    active, approved = put(state=State.ACTIVE), put(state=State.APPROVED)
    with uows() as uow:
        assert uow.repo.mark_warned(active.id)
        assert not uow.repo.mark_warned(active.id)
        assert not uow.repo.mark_warned(approved.id)
        uow.commit()
    assert load(uows, active.id).warned and not load(uows, approved.id).warned


def test_record_reminder_counts_each_reminder_once(uows: Uows, put: Make) -> None:
    request = put(current_level=1, reminders_sent=1)
    with uows() as uow:
        assert not uow.repo.record_reminder(request.id, 0, 1, T0)  # another level
        assert not uow.repo.record_reminder(request.id, 1, 0, T0)  # a count already passed
        assert uow.repo.record_reminder(request.id, 1, 1, T0)
        assert not uow.repo.record_reminder(request.id, 1, 1, LATER)  # the same reminder, again
        uow.commit()
    loaded = load(uows, request.id)
    assert (loaded.reminders_sent, loaded.last_reminder_at) == (2, T0)


def test_escalate_once_per_level_and_only_while_pending_there(uows: Uows, put: Make) -> None:
    request = put(current_level=1)
    done = put(state=State.CANCELLED)
    with uows() as uow:
        assert not uow.repo.escalate(request.id, 0)  # not the waiting level
        assert uow.repo.escalate(request.id, 1)
        assert not uow.repo.escalate(request.id, 1)  # a second sweep, or a second replica
        assert not uow.repo.escalate(done.id, 0)
        uow.commit()
    assert load(uows, request.id) == request.with_changes(escalated_level=1)
    with uows() as uow:
        assert uow.repo.next_level(request.id, 1)
        assert uow.repo.escalate(request.id, 2)  # the next level escalates on its own
        uow.commit()
    assert load(uows, request.id).escalated_level == 2


def test_a_session_ends_once_and_never_opens_again(uows: Uows, put: Make) -> None:
    """Two reads may see one session open then ended, or (Active and History both read) ended then open: its end
    is recorded once, and a stale open view never undoes it."""
    request = put(state=State.ACTIVE)
    opened = NodeSession("s-1", request.id, "arn:aws:iam::123456789012:user/alice", "Connected",
                         "SSM-SessionManagerRunShell", started_at=T0)
    ended = dataclasses.replace(opened, status="Terminated", ended_at=LATER)
    answers = []
    for seen in (opened, ended, opened, ended, ended):
        with uows() as uow:
            answers.append(uow.repo.save_session(seen))
            uow.commit()
    assert answers == ["new", "ended", None, None, None]
    with uows() as uow:
        [kept] = uow.repo.sessions(request.id)
    assert (kept.status, kept.ended_at) == ("Terminated", LATER)
