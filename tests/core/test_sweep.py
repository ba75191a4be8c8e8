"""core.sweep on the in-memory fakes with a fake clock: warnings, reminders, timeouts, exactly once."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from core import sweep
from core.approvals import decide
from core.model import Notice, State
from tests.fakes_core import T0, FakeWorld

CORE = Path(__file__).resolve().parents[2] / "core"


def hours_since_t0(world: FakeWorld) -> float:
    return (world.clock.now() - T0) / timedelta(hours=1)


# --- expiry warning ---------------------------------------------------------------------------------


def test_warning_comes_once_in_the_last_ten_minutes() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(hours=1))
    world.clock.advance(minutes=49)
    assert sweep.sweep(world.ctx).warned == []
    world.clock.advance(minutes=1)
    assert sweep.sweep(world.ctx).warned == [grant.id]
    [event] = world.notifier.notices(Notice.WARNING)
    assert event.request.id == grant.id
    assert world.get(grant.id).warned
    world.clock.advance(minutes=5)
    assert sweep.sweep(world.ctx).warned == []  # never twice
    assert sweep.warn(world.ctx, grant, world.clock.now()) is False
    assert len(world.notifier.notices(Notice.WARNING)) == 1
    assert world.actions(grant.id) == ["expiry_warned"]
    world.clock.advance(minutes=5)
    assert sweep.sweep(world.ctx).expired == [grant.id]
    assert world.get(grant.id).state is State.EXPIRED
    assert [e.notice for e in world.notifier.notices()] == [Notice.WARNING, Notice.EXPIRED]


def test_no_warning_for_a_grant_shorter_than_the_warning() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(minutes=5))
    world.clock.advance(minutes=1)
    assert sweep.sweep(world.ctx).warned == []
    world.clock.advance(minutes=4)
    assert sweep.sweep(world.ctx).expired == [grant.id]
    assert world.notifier.notices(Notice.WARNING) == []


def test_an_early_expiry_job_does_nothing() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(hours=1))
    world.clock.advance(minutes=59, seconds=59)
    assert sweep.expire_due(world.ctx) == []
    assert world.get(grant.id).state is State.ACTIVE
    world.clock.advance(seconds=1)
    assert sweep.expire_due(world.ctx) == [grant.id]
    assert world.access.revoked == [grant.id]


# --- reminders and the timeout ----------------------------------------------------------------------


def walk(world: FakeWorld, until_hours: float, step: timedelta = timedelta(minutes=10)) -> list[float]:
    """Sweep every ``step`` until ``until_hours`` after T0; the hours at which reminders went out."""
    at = []
    while hours_since_t0(world) + step / timedelta(hours=1) <= until_hours + 1e-9:
        world.clock.advance(step)
        report = sweep.sweep(world.ctx)
        at += [round(hours_since_t0(world), 2)] * len(report.reminded)
    return at


def test_reminders_come_at_growing_intervals_then_the_request_times_out() -> None:
    world = FakeWorld()
    pending = world.add()
    assert walk(world, 23.9) == [1, 3, 6, 10, 15, 21]  # 1h, then 2h, 3h, 4h, 5h, 6h apart
    reminders = world.notifier.notices(Notice.REMINDER)
    assert [e.level for e in reminders] == [0] * 6
    sent = [s for s in world.notifier.sent if s.event and s.event.notice is Notice.REMINDER]
    assert all([r.purpose for r in s.refs] == ["level-0"] for s in sent)  # in the waiting level's thread
    assert world.get(pending.id).reminders_sent == 6
    assert world.actions(pending.id) == ["reminded"] * 6
    assert walk(world, 24.0) == []
    assert world.get(pending.id).state is State.TIMED_OUT


def test_a_sweep_run_twice_at_once_reminds_once() -> None:
    world = FakeWorld()
    world.add()
    world.clock.advance(hours=1)
    reports = [sweep.sweep(world.ctx), sweep.sweep(world.ctx)]
    assert [len(r.reminded) for r in reports] == [1, 0]
    world.clock.advance(minutes=119)  # the second reminder waits two intervals
    assert sweep.sweep(world.ctx).reminded == []
    world.clock.advance(minutes=1)
    assert len(sweep.sweep(world.ctx).reminded) == 1


def test_the_second_level_counts_its_reminders_from_its_own_start() -> None:
    world = FakeWorld()
    pending = world.add()
    assert walk(world, 5) == [1, 3]
    outcome = decide(world.ctx, pending.id, "U0SAM0001", approve=True)
    assert outcome.level_done and world.get(pending.id).current_level == 1
    assert walk(world, 5.5) == []  # not at once, although the request is five hours old
    assert walk(world, 9) == [6, 8]  # one interval after level 2 opened, then two more
    reminders = [s for s in world.notifier.sent if s.event and s.event.notice is Notice.REMINDER]
    assert [(s.event.level, [r.purpose for r in s.refs]) for s in reminders[-2:] if s.event] == \
        [(1, ["level-1"]), (1, ["level-1"])]


def test_a_level_whose_message_was_given_up_on_gets_it_again_with_its_reminder() -> None:
    """Slack refused the approval message (the outbox gave it up): the reminder owes it again, before itself, so
    the approvers get their buttons and the reminder goes into the new message's thread; once, not per reminder."""
    world = FakeWorld()
    pending = world.add()
    del world.db.tables.messages[(pending.id, "level-0")]  # the post was given up on: nothing recorded
    assert walk(world, 1) == [1]
    kinds = [(s.kind, s.level if s.kind == "post" else [r.purpose for r in s.refs]) for s in world.notifier.sent]
    assert kinds == [("post", 0), ("announce", ["level-0"])]
    with world.ctx.uow() as uow:
        assert [m.purpose for m in uow.repo.messages(pending.id)] == ["level-0"]
    assert walk(world, 3) == [3]  # the next reminder finds the message: not posted twice
    assert [s.kind for s in world.notifier.sent] == ["post", "announce", "announce"]
    assert world.actions(pending.id) == ["reminded", "reminded"]


def test_no_reminders_when_the_interval_is_zero() -> None:
    world = FakeWorld(policies=_with('reminder_interval = "0"'))
    world.add()
    assert walk(world, 23.9) == []


def test_timeout_removes_the_buttons_and_tells_the_requester() -> None:
    world = FakeWorld(policies=_with('approval_timeout = "2d"'))
    pending = world.add(current_level=1)
    world.clock.advance(days=2)
    world.clock.advance(seconds=-1)
    assert sweep.sweep(world.ctx).timed_out == []
    world.clock.advance(seconds=1)
    assert sweep.sweep(world.ctx).timed_out == [pending.id]
    done = world.get(pending.id)
    assert done.state is State.TIMED_OUT and done.ended_at == world.clock.now()
    # both approval messages are re-rendered from the timed-out request (a pending one has buttons)
    updates = world.notifier.updates(pending.id)
    assert sorted(u.refs[0].purpose for u in updates) == ["level-0", "level-1"]
    assert all(u.request.state is State.TIMED_OUT for u in updates)
    [told] = world.notifier.notices(Notice.TIMED_OUT)
    assert told.request.requester == "U0ALICE01"
    assert world.actions(pending.id) == ["reminded", "timed_out"]  # one catch-up reminder, not 47
    assert sweep.sweep(world.ctx).timed_out == [] and len(world.notifier.notices(Notice.TIMED_OUT)) == 1


def _with(setting: str) -> str:
    from tests.fakes_core import POLICIES

    key = setting.split(" ")[0]
    if re.search(rf"^{key} = ", POLICIES, flags=re.M):
        return re.sub(rf"^{key} = .*$", setting, POLICIES, flags=re.M)
    return POLICIES.replace("[settings]\n", f"[settings]\n{setting}\n", 1)


# --- exactly once -----------------------------------------------------------------------------------


def _at_once(n: int, action: object) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action()  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_expire_from_four_threads_revokes_and_tells_once() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(hours=1))
    world.clock.advance(hours=1)
    results = _at_once(4, lambda: sweep.expire_due(world.ctx))
    assert sorted(results, key=len) == [[], [], [], [grant.id]]
    assert world.access.revoked == [grant.id]
    assert len(world.notifier.notices(Notice.EXPIRED)) == 1
    assert world.actions(grant.id) == ["expired", "revocation_confirmed"]


def test_sweeps_from_four_threads_act_once_on_everything() -> None:
    world = FakeWorld()
    grants = [world.grant(timedelta(hours=1)) for _ in range(3)]
    pending = world.add()
    world.clock.advance(hours=1)
    reports = _at_once(4, lambda: sweep.sweep(world.ctx))
    assert sorted(i for r in reports for i in r.expired) == sorted(g.id for g in grants)  # type: ignore[attr-defined]
    assert sum(len(r.reminded) for r in reports) == 1  # type: ignore[attr-defined]
    assert sorted(world.access.revoked) == sorted(g.id for g in grants)
    assert len(world.notifier.notices(Notice.EXPIRED)) == 3
    assert len(world.notifier.notices(Notice.REMINDER, pending.id)) == 1


def test_a_failing_revocation_is_retried_by_the_sweep_and_alerted_once() -> None:
    world = FakeWorld()
    grant = world.grant(timedelta(hours=1))
    world.access.fail_revokes = 3
    world.clock.advance(hours=1)
    assert sweep.sweep(world.ctx).expired == [grant.id]
    assert world.get(grant.id).needs_cleanup
    for _ in range(10):
        world.clock.advance(seconds=30)
        sweep.sweep(world.ctx)
    done = world.get(grant.id)
    assert not done.needs_cleanup and world.access.revoked == [grant.id]
    assert len(world.notifier.notices(Notice.REVOKE_FAILING)) == 1
    assert len(world.notifier.notices(Notice.EXPIRED)) == 1
    assert world.actions(grant.id).count("revoke_retry") == 3


# --- retention --------------------------------------------------------------------------------------


def test_retention_purges_in_batches_and_audits_the_counts() -> None:
    world = FakeWorld(policies=_with('retention = "30d"'))
    old = [world.add(state=State.EXPIRED, ended_at=T0) for _ in range(5)]
    kept = world.add(state=State.ACTIVE)
    from core.context import record

    with world.ctx.uow() as uow:
        for request in old:
            record(uow, request.id, "jitbot", "expired", T0)
        uow.commit()
    world.clock.advance(days=31)
    pauses: list[int] = []
    purged = sweep.purge_history(world.ctx, batch=2, pause=lambda: pauses.append(1))
    assert (purged.requests, purged.events, purged.batches) == (5, 5, 3)
    assert purged.cutoff == world.clock.now() - timedelta(days=30)
    assert len(pauses) == 2
    assert set(world.db.tables.requests) == {kept.id}
    [audit] = [e for e in world.db.tables.events if e.action == "retention_purged"]
    assert audit.detail == {"cutoff": purged.cutoff.isoformat(), "retention": "30d", "requests": 5,
                            "events": 5, "batches": 3}
    again = sweep.purge_history(world.ctx)
    assert (again.requests, again.events, again.batches) == (0, 0, 1)


def test_retention_needs_the_reports_port() -> None:
    world = FakeWorld()
    world.ctx = replace(world.ctx, reports=None)
    with pytest.raises(RuntimeError, match="retention needs the store"):
        sweep.purge_history(world.ctx)


# --- clock discipline -------------------------------------------------------------------------------


def test_core_asks_the_clock_port_for_the_time() -> None:
    forbidden = re.compile(r"datetime\.now|datetime\.utcnow|date\.today|time\.time\(|time\.monotonic|"
                           r"^\s*import time\b|^\s*from time import")
    offenders = [f"{path.relative_to(CORE.parent)}:{n}: {line.strip()}"
                 for path in sorted(CORE.rglob("*.py"))
                 for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if forbidden.search(line)]
    assert offenders == []
