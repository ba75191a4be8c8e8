"""core.pending on the in-memory fakes: when pending revocations are said again, what the alert says, and that
two schedulers believing they lead at once say it once (the end-to-end story is in
tests/reliability/test_revocations.py)."""

from __future__ import annotations

import threading
from datetime import timedelta

from core.model import Notice, State
from core.pending import ALERTED, NAMED, REALERT_EVERY, realert
from tests.fakes_core import FakeWorld


def _ended(world: FakeWorld, n: int, attempts: int = 4) -> list[str]:
    now = world.clock.now()
    return [world.add(requester=f"U{i:08d}", state=State.REVOKED, ended_at=now, needs_cleanup=True,
                      cleanup_attempts=attempts).id for i in range(n)]


def _alerts(world: FakeWorld) -> list[str]:
    return [a for a in world.actions() if a == ALERTED]


def test_said_again_every_15_minutes_while_pending_and_then_no_more() -> None:
    world = FakeWorld()
    ids = _ended(world, NAMED + 2)
    world.clock.advance(REALERT_EVERY - timedelta(seconds=1))
    assert realert(world.ctx) is None  # nothing pending for 15 minutes yet

    world.clock.advance(seconds=1)
    about = realert(world.ctx)
    assert about is not None and about.id == ids[0]
    [event] = world.notifier.notices(Notice.REVOKE_FAILING)
    assert event.reason is not None and f"{NAMED + 2} revocation(s) pending for more than 15m" in event.reason
    assert ", ".join(ids[1:NAMED]) + "…" in event.reason and ids[NAMED] not in event.reason
    assert "4 failed attempt(s)" in event.reason
    with world.ctx.uow() as uow:
        [record] = [e for e in uow.repo.events() if e.action == ALERTED]
    assert record.request_id is None and record.detail["pending"] == NAMED + 2
    assert record.detail["requests"] == ids[:NAMED] and record.detail["oldest"] == ids[0]

    world.clock.advance(REALERT_EVERY - timedelta(seconds=1))
    assert realert(world.ctx) is None and len(_alerts(world)) == 1
    world.clock.advance(seconds=1)
    assert realert(world.ctx) is not None and len(_alerts(world)) == 2

    with world.ctx.uow() as uow:  # AWS confirmed every one
        for rid in ids:
            uow.repo.confirm_cleanup(rid, 0)
        uow.commit()
    world.clock.advance(REALERT_EVERY)
    assert realert(world.ctx) is None and len(_alerts(world)) == 2


def test_an_active_grant_past_its_end_counts_as_pending() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(minutes=30))  # the expiry never ran (jitbot down, a broken job)
    world.clock.advance(minutes=30)
    assert world.reports.unconfirmed_revocations(world.clock.now()) == (0, 1)
    world.clock.advance(REALERT_EVERY)
    about = realert(world.ctx)
    assert about is not None and about.id == grant.id


def test_two_schedulers_at_once_say_it_once() -> None:
    world = FakeWorld()
    _ended(world, 3)
    world.clock.advance(REALERT_EVERY)
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        realert(world.ctx)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_alerts(world)) == 1 and len(world.notifier.notices(Notice.REVOKE_FAILING)) == 1
