"""bot.scheduler on the in-memory fakes: which grants have jobs, and how expiry jobs coalesce.

The scheduler is not started here: APScheduler keeps the jobs added before ``start`` and answers for them.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.scheduler import ARM_AHEAD, ARM_EVERY, Coalesced, LeaderAlarms, Scheduler
from core.audit import Action
from core.digest import last_slot
from core.model import State
from tests.fakes_core import POLICIES, T0, FakeWorld

#: the digest at 18:00 in Tokyo: 09:00 UTC, T0
DIGEST_AT_T0 = POLICIES.replace("[settings]\n", '[settings]\ndigest_time = "18:00"\n')


def test_only_grants_within_the_horizon_get_jobs_and_the_arm_job_brings_the_rest() -> None:
    world = FakeWorld()
    warning = world.ctx.policies().settings.expiry_warning
    soon = world.grant(timedelta(minutes=30))
    later = world.grant(ARM_AHEAD + ARM_EVERY + warning + timedelta(hours=2))
    scheduler = Scheduler(world.ctx)

    assert scheduler.rebuild() == 1
    assert scheduler.next_run(f"expire:{soon.id}") == soon.expires_at
    assert scheduler.next_run(f"warn:{soon.id}") == (soon.expires_at or world.clock.now()) - warning
    assert scheduler.next_run(f"expire:{later.id}") is None
    scheduler.arm(later)  # a grant activated now, ending beyond the horizon: armed later
    assert scheduler.next_run(f"expire:{later.id}") is None

    world.clock.advance(hours=2, minutes=1)
    assert scheduler.rebuild() == 2
    assert scheduler.next_run(f"expire:{later.id}") == later.expires_at
    assert scheduler.next_run(f"warn:{later.id}") == (later.expires_at or world.clock.now()) - warning
    scheduler.disarm(later.id)
    assert scheduler.next_run(f"expire:{later.id}") is None and scheduler.next_run(f"warn:{later.id}") is None


def test_an_expiry_job_ends_every_grant_due_with_it() -> None:
    world = FakeWorld()
    grants = [world.grant(timedelta(minutes=30), requester=f"U{n}") for n in range(5)]
    alarms = LeaderAlarms()  # as the composition root wires it: the Context's port, on the leader's scheduler
    world.ctx = replace(world.ctx, alarms=alarms)
    scheduler = Scheduler(world.ctx)
    alarms.follow(scheduler)
    scheduler.rebuild()
    world.clock.advance(minutes=30)

    scheduler._expire(grants[0].id)  # the first job to fire

    assert all(world.get(g.id).state is State.EXPIRED for g in grants)
    assert sorted(world.access.revoked) == sorted(g.id for g in grants)
    for grant in grants:  # the others' jobs are gone: they would have found nothing to do
        assert scheduler.next_run(f"expire:{grant.id}") is None


def test_calls_during_a_run_make_one_more_run() -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            release.wait(5)

    coalesced = Coalesced(work)
    first = threading.Thread(target=coalesced)
    first.start()
    assert started.wait(5)
    for _ in range(10):  # ten jobs firing while the first run is under way return at once
        coalesced()
    assert runs == [0]
    release.set()
    first.join(5)
    assert runs == [0, 1]  # one more run covers all ten
    coalesced()
    assert runs == [0, 1, 2]


def test_a_failing_run_does_not_block_the_next() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database down")

    coalesced = Coalesced(work)
    with pytest.raises(RuntimeError):
        coalesced()
    coalesced()
    assert len(calls) == 2


def test_a_digest_missed_while_down_is_posted_late_once() -> None:
    world = FakeWorld(DIGEST_AT_T0)
    posted: list[str] = []

    def post(digest: object) -> str:
        posted.append(f"ts-{len(posted)}")
        return posted[-1]

    scheduler = Scheduler(world.ctx, post_digest=post)
    assert scheduler.catch_up_digest() is None  # a first start: no digest was ever missed
    assert scheduler.run_digest() is not None  # the cron job, on time
    assert scheduler.run_digest() is None and posted == ["ts-0"]  # this slot's digest is posted

    world.clock.advance(days=1, hours=1)  # down over the next 18:00, back an hour later
    assert scheduler.catch_up_digest() is not None
    assert scheduler.catch_up_digest() is None and scheduler.run_digest() is None
    events = world.reports.events((Action.DIGEST_POSTED,), T0 - timedelta(days=1), world.clock.now() + timedelta(1),
                                  limit=5)
    assert [(e.detail["late"], e.detail["ts"]) for e in events] == [(True, "ts-1"), (False, "ts-0")]
    assert events[0].detail["scheduled"] == "2025-03-04T09:00:00+00:00"

    world.clock.advance(days=9)  # down for over a week: the old digests are not worth posting
    assert scheduler.catch_up_digest() is None and posted == ["ts-0", "ts-1"]


def test_the_digest_slot_follows_the_time_zone() -> None:
    settings = FakeWorld(DIGEST_AT_T0).ctx.policies().settings
    assert last_slot(settings, T0) == T0 == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # 18:00 in Tokyo
    assert last_slot(settings, T0 - timedelta(minutes=1)) == T0 - timedelta(days=1)
    assert last_slot(settings, datetime(2025, 3, 3, 14, 59, tzinfo=UTC)) == T0  # 23:59 in Tokyo
    assert last_slot(settings, datetime(2025, 3, 3, 15, 0, tzinfo=UTC)) == T0  # Tokyo's next day, before 18:00
