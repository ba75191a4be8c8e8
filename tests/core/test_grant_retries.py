"""A grant AWS does not confirm: retried with backoff by the sweep, then given up on, told, and cleaned up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from core import sweep
from core.access import GRANT_GIVE_UP_AFTER, activate
from core.errors import TransientAwsError
from core.model import AccessRequest, Notice, State
from tests.fakes_core import FakeAccess, FakeWorld


class FlakyAccess(FakeAccess):
    """Applies the policy, then fails to confirm, ``fail_grants`` times (a timeout after the write landed)."""

    def __init__(self, fail_grants: int) -> None:
        super().__init__()
        self.fail_grants = fail_grants

    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        super().grant(request, expires_at, documents)
        if self.fail_grants:
            self.fail_grants -= 1
            raise TransientAwsError("ServiceUnavailable: try again")


def flaky_world(fail_grants: int) -> FakeWorld:
    world = FakeWorld()
    world.access = FlakyAccess(fail_grants)
    world.ctx = replace(world.ctx, access=world.access, retry_backoff=timedelta(seconds=1))
    return world


def run_sweeps(world: FakeWorld, times: int) -> None:
    for _ in range(times):
        world.clock.advance(seconds=30)
        sweep.sweep(world.ctx)


def test_a_grant_confirmed_on_a_later_attempt_becomes_active() -> None:
    world = flaky_world(fail_grants=2)
    request = world.add(state=State.APPROVED)
    assert activate(world.ctx, request.id) is None
    assert world.get(request.id).state is State.APPROVED
    run_sweeps(world, 3)
    active = world.get(request.id)
    assert active.state is State.ACTIVE
    assert world.actions(request.id).count("grant_retry") == 2
    assert [e.request.id for e in world.notifier.notices(Notice.GRANTED)] == [request.id]


def test_a_grant_never_confirmed_fails_is_told_once_and_its_policy_is_removed() -> None:
    world = flaky_world(fail_grants=100)
    request = world.add(state=State.APPROVED)
    activate(world.ctx, request.id)
    run_sweeps(world, GRANT_GIVE_UP_AFTER + 3)
    failed = world.get(request.id)
    assert failed.state is State.FAILED
    assert "did not confirm the grant" in (failed.end_reason or "")
    assert not failed.needs_cleanup  # the policy AWS may have applied was deleted by the cleanup
    assert not world.access.has_grant(request)
    assert [e.request.id for e in world.notifier.notices(Notice.FAILED)] == [request.id]
    assert not world.notifier.notices(Notice.REVOKED)  # no second, confusing notice for the cleanup
    actions = world.actions(request.id)
    assert actions.count("grant_retry") == GRANT_GIVE_UP_AFTER - 1
    assert actions[-2:] == ["grant_failed", "revocation_confirmed"]
