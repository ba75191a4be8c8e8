"""core.sweep.expire_due and core.access.cleanup_many: many grants ended at once, on the in-memory fakes.

A burst of expiries is ended in batches (one transaction each), revoked on AWS in parallel, confirmed
together, and the notices trail the revocations. Each grant still gets its own audit trail and one notice.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from core import sweep
from core.access import cleanup_many
from core.model import AccessRequest, Changes, Event, MessageRef, Notice, State
from core.outbox import deliver, retry_owed
from tests.fakes_core import FakeAccess, FakeWorld, RecordingNotifier


class WatchedAccess(FakeAccess):
    """Notes, at each revocation, how many notices had gone out and which threads revoke."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__()
        self.world = world
        self.notices_seen: list[int] = []
        self.threads: set[str] = set()

    def revoke(self, request: AccessRequest) -> int:
        self.notices_seen.append(len(self.world.notifier.notices()))
        self.threads.add(threading.current_thread().name)
        return super().revoke(request)


def burst(world: FakeWorld, count: int) -> list[AccessRequest]:
    """``count`` grants ending in the same second, and one ending an hour later."""
    grants = [world.grant(timedelta(minutes=30), requester=f"U{n:04d}") for n in range(count)]
    world.grant(timedelta(minutes=90))
    return grants


def test_a_burst_is_ended_in_batches_each_grant_audited_and_told_once() -> None:
    world = FakeWorld()
    access = WatchedAccess(world)
    world.ctx = replace(world.ctx, access=access)
    grants = burst(world, sweep.EXPIRE_BATCH * 2 + 30)
    for grant in grants:  # the fake AWS holds their policies
        access.grant(grant, grant.expires_at or world.clock.now(), [])
    world.clock.advance(minutes=30)

    ended = sweep.expire_due(world.ctx)

    assert sorted(ended) == sorted(g.id for g in grants)
    assert sorted(access.revoked) == sorted(ended)
    assert access.notices_seen == [0] * len(grants)  # every policy was deleted before the first notice
    assert len(access.threads) > 1  # the AWS calls ran in parallel
    expired = world.notifier.notices(Notice.EXPIRED)
    assert sorted(e.request.id for e in expired) == sorted(ended)
    for event in expired:  # the notice carries the request as it ended
        assert event.request.state is State.EXPIRED and not event.request.needs_cleanup
        assert event.reason == sweep.EXPIRED_REASON
    for grant in grants[:3] + grants[-3:]:
        done = world.get(grant.id)
        assert done.state is State.EXPIRED and not done.needs_cleanup and done.lease_until is None
        assert done.ended_by == "jitbot" and done.ended_at == world.clock.now()
        assert world.actions(grant.id) == ["expired", "revocation_confirmed"]
    assert sweep.expire_due(world.ctx) == []  # nothing twice
    assert len(world.notifier.notices(Notice.EXPIRED)) == len(grants)
    assert len(world.ctx.access.revoked) == len(grants)


def test_one_failing_revocation_in_a_batch_is_retried_alone() -> None:
    world = FakeWorld()
    grants = burst(world, 5)
    world.access.fail_revokes = 1
    world.clock.advance(minutes=30)

    assert sorted(sweep.expire_due(world.ctx)) == sorted(g.id for g in grants)

    left = [g for g in grants if world.get(g.id).needs_cleanup]
    assert len(left) == 1
    [failing] = left
    assert world.actions(failing.id) == ["expired", "revoke_retry"]
    assert world.get(failing.id).cleanup_attempts == 1
    assert len(world.notifier.notices(Notice.EXPIRED)) == 4  # the failing one is told when AWS confirms
    assert sweep.sweep(world.ctx).cleaned == []  # its lease (the backoff) still holds
    world.clock.advance(seconds=3)
    assert sweep.sweep(world.ctx).cleaned == [failing.id]
    assert world.actions(failing.id) == ["expired", "revoke_retry", "revocation_confirmed"]
    assert len(world.notifier.notices(Notice.EXPIRED)) == 5


def test_cleanup_many_leaves_the_grants_another_worker_holds() -> None:
    world = FakeWorld()
    grants = burst(world, 3)
    world.clock.advance(minutes=30)
    now = world.clock.now()
    with world.ctx.uow() as uow:  # another worker ended all three and holds the lease of the first
        for n, grant in enumerate(grants):
            uow.repo.move(grant, State.EXPIRED, Changes(needs_cleanup=True, ended_at=now,
                                                        lease_until=now + timedelta(minutes=1) if n == 0 else None))
        uow.commit()

    assert sorted(cleanup_many(world.ctx, [world.get(g.id) for g in grants])) == sorted(g.id for g in grants[1:])
    assert world.get(grants[0].id).needs_cleanup
    assert sorted(world.access.revoked) == sorted(g.id for g in grants[1:])


def test_expire_due_from_four_threads_ends_each_grant_once() -> None:
    world = FakeWorld()
    grants = burst(world, 40)
    world.clock.advance(minutes=30)
    results: list[list[str]] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(sweep.expire_due(world.ctx))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(i for r in results for i in r) == sorted(g.id for g in grants)
    assert sorted(world.access.revoked) == sorted(g.id for g in grants)
    assert len(world.notifier.notices(Notice.EXPIRED)) == len(grants)


class DownOnce(RecordingNotifier):
    """Slack (or the process) fails while the first ``fail`` notices are being sent."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the process died while sending")
        super().announce(event, refs, done)


def _owed(world: FakeWorld) -> list[str]:
    with world.ctx.uow() as uow:
        return [item.intent.request_id for item in uow.repo.owed()]


def test_a_notice_not_sent_after_the_revocation_is_retried_from_the_outbox_once() -> None:
    world = FakeWorld()
    world.notifier = DownOnce(fail=1)
    world.ctx = replace(world.ctx, notifier=world.notifier)
    grants = burst(world, 3)
    world.clock.advance(minutes=30)

    assert len(sweep.expire_due(world.ctx)) == 3
    assert len(world.notifier.notices(Notice.EXPIRED)) == 2  # one failed on the way
    [due] = [g for g in grants if g.id in _owed(world)]  # it stays owed, in the outbox
    assert not world.get(due.id).needs_cleanup  # the revocation itself is confirmed
    assert deliver(world.ctx).sent == []  # backing off

    world.clock.advance(seconds=3)
    assert len(deliver(world.ctx).sent) == 1
    [late] = [e for e in world.notifier.notices(Notice.EXPIRED) if e.request.id == due.id]
    assert late.request.state is State.EXPIRED and late.sessions == 0
    assert _owed(world) == [] and deliver(world.ctx).sent == []  # once
    assert all(not world.get(g.id).notice_due for g in grants)


def test_after_a_restart_a_lost_notice_goes_out_at_the_first_run() -> None:
    world = FakeWorld()
    world.notifier = DownOnce(fail=1)
    world.ctx = replace(world.ctx, notifier=world.notifier)
    [grant] = burst(world, 1)
    world.clock.advance(minutes=30)
    sweep.expire_due(world.ctx)
    assert _owed(world) == [grant.id] and world.notifier.notices(Notice.EXPIRED) == []

    assert retry_owed(world.ctx) == 1  # the scheduler starts again
    assert len(deliver(world.ctx).sent) == 1
    assert [e.request.id for e in world.notifier.notices(Notice.EXPIRED)] == [grant.id]
