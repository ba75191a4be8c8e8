"""Events out, end to end (issue 19, item 3): every lifecycle transition published from the outbox to an EventBridge
bus (moto; a rule copies the bus's events to an SQS queue the test reads) and to a signed webhook (a local
receiver), in order, with retries while a sink is down and nothing lost; Slack and the acks never wait on them.
Time is the bot's fake clock: an hour of a webhook answering 500 passes in an instant."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core import events
from core.audit import Action
from core.model import Send
from fakes import cast
from fakes.aws import FakeAws
from fakes.stack import Stack
from tests.aws.e2e_support import FAST_ELECTION, ended, granted, policy_file, said, scheduler_of
from tests.fakes_core import FakeClock
from tests.helpers import eventually

StackFactory = Callable[..., Stack]
SECRET = "whsec-" + "x" * 24
LIFECYCLE = ["Request Submitted", "Request Approved", "Access Granted", "Access Revoked"]


class Receiver:
    """An HTTPS webhook's stand-in on loopback: answers ``status`` (200 unless told), keeps what it took."""

    def __init__(self) -> None:
        self.status = 200
        self.taken: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status
                if status == 200:
                    receiver.taken.append(({k.lower(): v for k, v in self.headers.items()}, body))
                else:
                    receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status != 200 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jitbot-events"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.taken]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


def _stack(stack_factory: StackFactory, clock: FakeClock, *, bus: str | None, url: str | None) -> Stack:
    lines = ["[events]"] + ([f'eventbridge_bus = "{bus}"'] if bus else []) + ([f'webhook_url = "{url}"'] if url else [])
    return stack_factory(policy_file(extra="\n".join(lines) + "\n"), clock=clock,
                         settings={**FAST_ELECTION, "jitbot_webhook_secret": SECRET})


def _lifecycle(stack: Stack, prefix: str) -> str:
    """A request, approved, granted, released by its requester: its id once AWS confirmed the end."""
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"{prefix}-{uid}", {"Environment": "prod"})
    grant = granted(stack, cast.ALICE, f"request {prefix}-{uid} 1h check the queue", node)
    assert "has ended" in stack.slash(cast.ALICE, f"release {grant.id}")
    ended(stack, grant.id)
    return grant.id


def _owed_events(stack: Stack, rid: str) -> list[tuple[str, int, str | None]]:
    """(state, attempts, last error) of the request's event items in the outbox."""
    from sqlalchemy import select

    from store.models import OutboxRow

    assert stack.runtime is not None
    with stack.runtime.sessions() as session:
        rows = session.execute(select(OutboxRow.state, OutboxRow.attempts, OutboxRow.last_error)
                               .where(OutboxRow.request_id == rid, OutboxRow.send == Send.EVENT.value)
                               .order_by(OutboxRow.id)).all()
    return [(r.state, r.attempts, r.last_error) for r in rows]


def _from_queue(stack: Stack, queue: str, rid: str, count: int) -> list[dict[str, Any]]:
    """The request's events as the bus's rule delivered them to the queue, once ``count`` have arrived."""
    got: list[dict[str, Any]] = []

    def arrived() -> list[dict[str, Any]] | None:
        got.extend(e for e in stack.aws.events_on(queue) if e["detail"]["request_id"] == rid)
        return got if len(got) >= count else None

    return eventually(arrived, what=f"{count} events on the bus")


def test_every_transition_reaches_the_bus_and_the_signed_webhook_in_order(
        stack_factory: StackFactory, clock: FakeClock, receiver: Receiver, fake_aws: tuple[FakeAws, Any]) -> None:
    bus, queue = fake_aws[0].event_queue(f"jit-{uuid.uuid4().hex[:8]}")
    stack = _stack(stack_factory, clock, bus=bus, url=receiver.url)
    rid = _lifecycle(stack, "evt")

    on_bus = _from_queue(stack, queue, rid, len(LIFECYCLE))
    at_hook = eventually(lambda: len(receiver.taken) >= len(LIFECYCLE) and receiver.events(), what="webhook events")
    assert [e["detail-type"] for e in on_bus] == LIFECYCLE
    assert [e["detail-type"] for e in at_hook] == LIFECYCLE
    assert all(e["source"] == "jitbot" for e in on_bus + at_hook)
    assert [e["detail"]["id"] for e in on_bus] == [e["id"] for e in at_hook]  # one id per event, both sinks
    assert [(e["detail"]["from"], e["detail"]["to"]) for e in at_hook] == [
        (None, "pending"), ("pending", "approved"), ("approved", "active"), ("active", "revoked")]
    last = at_hook[-1]["detail"]
    assert (last["actor"], last["reason"], last["request"]["node"]["region"]) == (
        cast.ALICE, "released by the requester", "us-east-1")
    for headers, body in receiver.taken:  # each request signed as Slack signs its own
        stamp = headers["x-jitbot-request-timestamp"]
        expected = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-jitbot-signature"], expected)
        assert headers["x-jitbot-event-id"] == json.loads(body)["id"]
    assert [s for s, _, _ in _owed_events(stack, rid)] == ["sent"] * len(LIFECYCLE)


def test_a_webhook_answering_500_for_an_hour_loses_nothing_and_holds_up_no_one(
        stack_factory: StackFactory, clock: FakeClock, receiver: Receiver) -> None:
    stack = _stack(stack_factory, clock, bus=None, url=receiver.url)
    scheduler = scheduler_of(stack)
    receiver.status = 500
    rid = _lifecycle(stack, "down")  # acked, approved, granted, released while the webhook fails
    said(stack, f"D{cast.ALICE}", rid, "released by the requester")  # Slack was not held back
    assert receiver.taken == [] and receiver.refused >= 1
    for _ in range(12):  # an hour, five minutes at a time: the scheduler's outbox run retries what is due
        clock.advance(minutes=5)
        before = receiver.refused
        # the scheduler's outbox run, as its interval job runs it (called here too: a loaded machine may be slow to
        # get to the job, and this test is about what a run does, not when the interval fires)
        eventually(lambda before=before: (scheduler.run_outbox(), receiver.refused > before)[1], timeout=30,
                   what="a retry of the webhook")
    owed = _owed_events(stack, rid)
    assert [s for s, _, _ in owed] == ["due"] * len(LIFECYCLE)  # none given up on
    assert owed[0][1] >= 10 and "answered 500" in (owed[0][2] or "")
    assert all(attempts == 0 for _, attempts, _ in owed[1:])  # held back in order behind the first

    receiver.status = 200
    clock.advance(minutes=5)
    got = eventually(lambda: (scheduler.run_outbox(), len(receiver.taken) >= len(LIFECYCLE) and receiver.events())[1],
                     timeout=30, what="the events")
    assert [e["detail-type"] for e in got] == LIFECYCLE  # all of them, once, in order
    assert [s for s, _, _ in _owed_events(stack, rid)] == ["sent"] * len(LIFECYCLE)


def test_an_event_bus_that_does_not_exist_is_a_clear_error_and_nothing_is_lost(
        stack_factory: StackFactory, clock: FakeClock) -> None:
    name = f"late-{uuid.uuid4().hex[:8]}"
    bus = f"arn:aws:events:us-east-1:{cast.ACCOUNT}:event-bus/{name}"
    stack = _stack(stack_factory, clock, bus=bus, url=None)
    scheduler_of(stack)
    rid = _lifecycle(stack, "nobus")
    owed = eventually(lambda: (o := _owed_events(stack, rid)) and o[0][1] >= 1 and o, what="a failed attempt")
    assert f"the event bus {bus} does not exist" in (owed[0][2] or "")
    assert all(state == "due" for state, _, _ in owed)

    _, queue = stack.aws.event_queue(name)  # the operator creates the bus
    clock.advance(minutes=10)
    got = _from_queue(stack, queue, rid, len(LIFECYCLE))
    assert [e["detail-type"] for e in got] == LIFECYCLE


def test_an_event_still_failing_after_a_day_is_a_visible_dead_letter(
        stack_factory: StackFactory, clock: FakeClock, receiver: Receiver) -> None:
    stack = _stack(stack_factory, clock, bus=None, url=receiver.url)
    scheduler = scheduler_of(stack)
    receiver.status = 503
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"dead-{uid}", {"Environment": "prod"})
    stack.slash(cast.ALICE, f"request dead-{uid} 1h look")
    rid = eventually(lambda: (o := [r for r in _requests(stack) if r.node.id == node]) and o[0].id, what="request")
    for _ in range(10):  # the scheduler's outbox run is driven here: its interval under load is not the subject
        clock.advance(events.RETRY_FOR / 8)
        before = receiver.refused
        eventually(lambda before=before: (scheduler.run_outbox(), receiver.refused > before
                                          or _owed_events(stack, rid)[0][0] == "dead")[1], timeout=30, what="a retry")
    owed = eventually(lambda: (scheduler.run_outbox(), (o := _owed_events(stack, rid)) and o[0][0] == "dead"
                               and o)[1], timeout=30, what="a dead letter")
    assert "answered 503" in (owed[0][2] or "")
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        dead = [e for e in uow.repo.events(rid) if e.action == Action.MESSAGE_UNDELIVERED]
    assert dead and dead[0].detail["send"] == "event" and dead[0].detail["event"]


def _requests(stack: Stack) -> list[Any]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.by_requester(cast.ALICE)


def test_the_webhook_sends_nothing_unsigned(stack_factory: StackFactory, clock: FakeClock,
                                           receiver: Receiver) -> None:
    lines = f'[events]\nwebhook_url = "{receiver.url}"\n'
    stack = stack_factory(policy_file(extra=lines), clock=clock, settings=FAST_ELECTION)  # no secret
    rid = _lifecycle(stack, "nosig")
    owed = eventually(lambda: (o := _owed_events(stack, rid)) and o[0][1] >= 1 and o, what="a failed attempt")
    assert "JITBOT_WEBHOOK_SECRET is not set" in (owed[0][2] or "") and receiver.taken == []
