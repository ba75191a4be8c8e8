"""core.outbox on the in-memory fakes: per-request order, parts sent once, backoff, and the dead letter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from core.errors import Undelivered
from core.model import Event, MessageRef, Notice
from core.outbox import MAX_ATTEMPTS, deliver
from core.submit import RequestInput, submit
from tests.fakes_core import FakeWorld, RecordingNotifier


class Flaky(RecordingNotifier):
    """Slack refusing the audit line (after the DM went) while ``down``, and approval posts while ``posts_down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.posts_down = False
        self.dms: list[str] = []

    def post_approval(self, request, level, decisions):  # type: ignore[no-untyped-def]
        if self.posts_down:
            raise Undelivered("chat.postMessage: 503")
        return super().post_approval(request, level, decisions)

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        if "dm" not in done:
            self.dms.append(event.notice.value)
        if self.down:
            raise Undelivered("chat.postMessage: 503", sent=frozenset({"dm"}))
        super().announce(event, refs, done)


def _world() -> tuple[FakeWorld, Flaky]:
    world = FakeWorld()
    world.notifier = notifier = Flaky()
    world.ctx = replace(world.ctx, notifier=notifier)
    return world, notifier


def _owed(world: FakeWorld) -> list[tuple[str, int]]:
    with world.ctx.uow() as uow:
        return [(item.intent.send.value, item.attempts) for item in uow.repo.owed()]


def test_a_part_that_went_out_is_not_sent_again_and_the_rest_waits_its_turn() -> None:
    world, slack = _world()
    request = submit(world.ctx, RequestInput("U0ALICE01", "web-1", "disk full", "1h")).request
    assert _owed(world) == [("notice", 1)]  # the approval message went; the notice's audit line did not
    slack.down = False
    assert deliver(world.ctx).sent == []  # backing off: not yet
    world.clock.advance(seconds=2)
    assert len(deliver(world.ctx).sent) == 1 and _owed(world) == []
    assert slack.dms == ["submitted"]  # the DM went once
    assert [e.request.id for e in slack.notices(Notice.SUBMITTED)] == [request.id]


def test_a_thread_reply_waits_for_its_approval_message() -> None:
    world, slack = _world()
    slack.down, slack.posts_down = False, True
    request = submit(world.ctx, RequestInput("U0ALICE01", "web-1", "disk full", "1h")).request
    assert _owed(world) == [("approval", 1), ("notice", 0)]  # the notice waits behind the message
    assert slack.notices() == []
    slack.posts_down = False
    world.clock.advance(seconds=2)
    deliver(world.ctx)
    assert _owed(world) == [] and [s.kind for s in slack.sent] == ["post", "announce"]
    assert request.id == slack.sent[0].request.id


def test_after_its_attempts_a_message_is_dead_and_no_longer_holds_the_others() -> None:
    world, slack = _world()
    slack.posts_down = True
    slack.down = False
    request = submit(world.ctx, RequestInput("U0ALICE01", "web-1", "disk full", "1h")).request
    for _ in range(MAX_ATTEMPTS):
        world.clock.advance(minutes=5, seconds=1)
        deliver(world.ctx)
    assert _owed(world) == []  # the approval message is dead, and the notice behind it went
    assert [e.notice for e in slack.notices(request_id=request.id)] == [Notice.SUBMITTED]
    assert world.actions(request.id)[-1] == "message_undelivered"
    with world.ctx.uow() as uow:
        assert uow.repo.owed_counts() == {"due": 0, "dead": 1}
    world.clock.advance(timedelta(hours=1))
    assert deliver(world.ctx).sent == []  # never tried again
