"""Nothing said is lost: every message jitbot owes is recorded with the change that owes it (the outbox,
``core.outbox``) and sent from there.

1. A real ``jitbot serve`` dies (``os._exit(137)`` at a failpoint of ``bot.failpoints``) after the change that owes
   each kind of message is committed and before Slack is asked: the approval message, its update, a notice's DM,
   thread reply and audit line (granted, and the end-of-access notice that ``notice_due`` used to carry), the
   break-glass announcements and their review. Restarted, it sends each one, once.
2. Slack down for a while (every post, update and DM refused with 503) while requests move on: afterwards every
   message goes out, in the order owed per request (a thread reply after the message it replies to).
3. A message Slack refuses for good (the bot is not in the channel): given up on at once ("dead"), audited,
   logged and counted in ``jitbot_outbox_dead``; the messages after it still go.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.model import State
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.slack_calls import RecordedCall
from fakes.slack_client import SlackSimulator
from handlers import ids
from handlers.ids import NOTE_BLOCK, NOTE_INPUT, REVIEW_VIEW, VERDICT_BLOCK, VERDICT_INPUT
from store.uow import SqlUnitOfWork
from tests.e2e.test_replicas import free_port
from tests.helpers import eventually
from tests.reliability.conftest import StackMaker
from tests.reliability.support import AUDIT, RelStack, actions, get, policy_file, trail
from tests.reliability.test_crashes import SECRET, Db, Server

pytestmark = pytest.mark.slow

ROLE_NAME = "rel-outbox"
ROLE = f"arn:aws:iam::{cast.ACCOUNT}:role/{ROLE_NAME}"
SRE = "C0SREAPPR"
DM = f"D{cast.ALICE}"
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": ["S0SRELEAD"], "required": 1}]
BREAKGLASS = '[breakglass]\nrequesters = ["U0ALICE01"]\nmax_duration = "30m"'


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]],
           database_url: str) -> Iterator[Server]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one process: on PostgreSQL a dead process's claim waits for its lease (core.outbox)")
    aws, _ = fake_aws
    aws.create_role(ROLE_NAME)
    policies = tmp_path / "policies.toml"
    policies.write_text(policy_file(LEVELS, identities={cast.ALICE: ROLE}, extra=BREAKGLASS), "utf-8")
    env = {**os.environ, **aws.env(), "SLACK_BOT_TOKEN": "xoxb-outbox", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake_slack.url, "DATABASE_URL": database_url, "JIT_POLICIES": str(policies),
           "HOST": "127.0.0.1", "SWEEP_SECONDS": "0.5", "LEADER_SECONDS": "0.5", "LOG_FORMAT": "json"}
    made = Server(env, tmp_path, free_port())
    try:
        yield made
    finally:
        made.stop()


def _latest(db: Db) -> str:
    with SqlUnitOfWork(db.sessions) as uow:
        [newest] = uow.repo.by_requester(cast.ALICE, limit=1)
    return newest.id


def _posts(slack: FakeSlack, channel: str, *needles: str, thread: str | None = None) -> list[RecordedCall]:
    return [c for c in slack.messages(channel) if all(n in str(c.params.get("text", "")) for n in needles)
            and c.params.get("thread_ts") == thread]


def _one(slack: FakeSlack, channel: str, *needles: str, thread: str | None = None) -> RecordedCall:
    eventually(lambda: _posts(slack, channel, *needles, thread=thread), timeout=30,
               what=f"{needles} in {channel}")
    return _posts(slack, channel, *needles, thread=thread)[0]


def _updates(slack: FakeSlack, channel: str, ts: str) -> list[RecordedCall]:
    return [c for c in slack.calls_to("chat.update") if c.params.get("channel") == channel and c.params.get("ts") == ts]


def _owed(db: Db) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return [(r.send, r.state) for r in conn.execute(text("SELECT send, state FROM outbox WHERE state != 'sent'"))]


def test_a_crash_before_each_kind_of_message_loses_none(server: Server, fake_slack: FakeSlack,
                                                        database_url: str, figures: Counter[str]) -> None:
    db = Db(database_url)
    slack = fake_slack
    slack.clear()
    sim = SlackSimulator(server.url, SECRET, slack)

    # the request is recorded with its approval message owed; the process dies before posting it
    server.start("approval.post")
    server.wait_up()
    assert sim.command(cast.ALICE, "request web-1 8s outbox crash test").status == 200
    server.wait_crash("approval.post")
    rid = _latest(db)
    assert not _posts(slack, SRE, rid)

    # back up: the message and the submission's notices go out; the approval dies before the update
    server.start("approval.update")
    server.wait_up()
    approval = _one(slack, SRE, rid)
    _one(slack, DM, rid, "waiting for level 1")
    _one(slack, AUDIT, rid, "requested")
    ts = str(approval.response["ts"]) if approval.response else ""
    with contextlib.suppress(OSError):  # the process may die before its answer leaves: the decision stands
        sim.block_action(cast.SAM, ids.APPROVE, rid, channel_id=SRE)
    server.wait_crash("approval.update")
    assert not _updates(slack, SRE, ts)

    # back up: the update goes out, the grant is applied, and the process dies before saying so
    server.start("notice.granted")
    server.wait_crash("notice.granted")
    assert len(_updates(slack, SRE, ts)) == 1 and get_state(db, rid) is State.ACTIVE
    assert not _posts(slack, DM, rid, "Access granted")

    # back up: "granted" goes out; at expiry, the revocation is confirmed and the process dies before saying so
    server.start("notice.expired")
    _one(slack, DM, rid, "Access granted")
    _one(slack, SRE, "Access granted", thread=ts)
    _one(slack, AUDIT, rid, "granted")
    server.wait_crash("notice.expired")
    assert get_state(db, rid) is State.EXPIRED and not db.get(rid).needs_cleanup
    assert not _posts(slack, DM, rid, "expired")

    # back up: "expired" goes out; break-glass is granted, and the process dies before announcing it
    server.start("breakglass.alert")
    server.wait_up()
    _one(slack, DM, rid, "expired")
    _one(slack, SRE, "Access expired", thread=ts)
    _one(slack, AUDIT, rid, "access expired")
    assert sim.command(cast.ALICE, "breakglass web-1 10m the database is down").status == 200
    server.wait_crash("breakglass.alert")
    glass = _latest(db)
    assert glass != rid and get_state(db, glass) is State.ACTIVE and not _posts(slack, AUDIT, glass)

    # back up: the announcements go out (and the grant's DM); the review dies before they are updated
    server.start("breakglass.reviewed")
    server.wait_up()
    loud = _one(slack, AUDIT, glass, "Break-glass")
    quiet = _one(slack, SRE, glass, "Break-glass")
    _one(slack, DM, glass, "Access granted")
    verdict = {"type": "radio_buttons", "selected_option": {"value": "justified"}}
    with contextlib.suppress(OSError):
        sim.view_submission(cast.SAM, REVIEW_VIEW, {VERDICT_BLOCK: {VERDICT_INPUT: verdict},
                                                    NOTE_BLOCK: {NOTE_INPUT: "checked the incident channel"}},
                            private_metadata=json.dumps({"id": glass}))
    server.wait_crash("breakglass.reviewed")
    assert "breakglass_reviewed" in db.actions(glass)

    # back up: the review is shown
    server.start()
    server.wait_up()
    for call in (loud, quiet):
        ts_of = str(call.response["ts"]) if call.response else ""
        eventually(lambda c=call, t=ts_of: _updates(slack, str(c.params["channel"]), t), timeout=30,
                   what="the announcement updated with the review")
    _one(slack, AUDIT, glass, "reviewed by", thread=str(loud.response["ts"]) if loud.response else None)
    eventually(lambda: not _owed(db), timeout=30, what="nothing owed")
    server.stop()
    figures["crashes survived"] += 6
    figures["restarts"] += server.boots - 1

    # each message once: a crash before the post sends it after the restart, never twice
    counts = [len(_posts(slack, SRE, rid)), len(_updates(slack, SRE, ts)),
              len(_posts(slack, DM, rid, "waiting for level 1")), len(_posts(slack, AUDIT, rid, "requested")),
              len(_posts(slack, DM, rid, "Access granted")), len(_posts(slack, SRE, "Access granted", thread=ts)),
              len(_posts(slack, AUDIT, rid, "granted")), len(_posts(slack, DM, rid, "expired")),
              len(_posts(slack, SRE, "Access expired", thread=ts)), len(_posts(slack, AUDIT, rid, "access expired")),
              len(_posts(slack, AUDIT, glass, "Break-glass")), len(_posts(slack, SRE, glass, "Break-glass")),
              len(_posts(slack, DM, glass, "Access granted"))]
    assert counts == [1] * len(counts), counts
    figures["owed messages checked after a crash"] += len(counts)
    db.engine.dispose()


def get_state(db: Db, request_id: str) -> State:
    return db.get(request_id).state


# -- Slack down, then back ---------------------------------------------------------------------------------------
#: the first retry waits this long, doubling (production: 2 s): a 6-second outage here is the same schedule of
#: attempts as a 4-minute outage with the production backoff (2, 4, 8 … 128 s: 7 attempts)
BACKOFF = 0.05
DOWN = ("chat.postMessage", "chat.update", "conversations.open")


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker) -> RelStack:
    return module_stacks(policy_file(LEVELS, settings={"expiry_warning": "0"}), sweep_seconds=0.2,
                         settings={"retry_backoff_seconds": BACKOFF})


def _answer(stack: RelStack, user: str, command: str) -> str:
    answer = stack.slash(user, command)
    assert "*" in answer, answer
    return answer


def test_after_a_slack_outage_every_message_goes_out_in_order(stack: RelStack, figures: Counter[str]) -> None:
    stack.slack.clear()
    first = _answer(stack, cast.ALICE, "request web-1 1h outbox outage one").split("*")[1]
    approval_one = _one(stack.slack, SRE, first)
    for method in DOWN:  # Slack answers 503 to every post, update and DM from now on
        stack.slack.fail_next(method, times=100_000, status=503)
    down_since = time.time()
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, first)
    second = _answer(stack, cast.ALICE, "request pci-db 1h outbox outage two").split("*")[1]
    assert "cancelled" in _answer(stack, cast.ALICE, f"cancel {second}").lower()
    assert "ended" in _answer(stack, cast.ALICE, f"release {first}")
    eventually(lambda: _attempts(stack) >= 7, timeout=60, what="seven attempts of the first message owed")
    figures["faults injected: Slack outage (seconds)"] += round(time.time() - down_since)
    assert get(stack, first).state is State.REVOKED  # the lifecycle went on without Slack
    stack.slack.clear()  # Slack is back

    eventually(lambda: not _due(stack), timeout=60, what="every owed message sent")
    ts_one = str(approval_one.response["ts"]) if approval_one.response else ""
    approval_two = _one(stack.slack, SRE, second)
    ts_two = str(approval_two.response["ts"]) if approval_two.response else ""
    said = stack.slack.messages()
    # the first request: its approval message updated, then "granted", then "released" (DM, thread, audit)
    assert _order(said, [(DM, first, "Access granted"), (DM, first, "released")])
    assert _order(said, [(AUDIT, first, "granted"), (AUDIT, first, "released")])
    assert _order(said, [(SRE, "Access granted", ts_one), (SRE, "released", ts_one)])
    assert len(_updates(stack.slack, SRE, ts_one)) == 1
    # the second: its approval message first, then the rest, the cancellation in its thread
    assert _order(said, [(SRE, second, None), (DM, second, "waiting"), (DM, second, "cancelled")])
    assert _order(said, [(SRE, second, None), (SRE, "Cancelled", ts_two)])
    assert len(_updates(stack.slack, SRE, ts_two)) == 1  # its buttons went
    assert len(_posts(stack.slack, DM, first, "Access granted")) == 1
    assert "message_undelivered" not in actions(stack, first) + actions(stack, second)
    figures["requests: outbox"] += 2


def _attempts(stack: RelStack) -> int:
    with stack.runtime.ctx.uow() as uow:  # type: ignore[union-attr]
        return max((item.attempts for item in uow.repo.owed()), default=0)


def _due(stack: RelStack) -> int:
    with stack.runtime.ctx.uow() as uow:  # type: ignore[union-attr]
        return int(uow.repo.owed_counts()["due"])


def _order(said: list[RecordedCall], wanted: list[tuple[str, str, str | None]]) -> bool:
    """Each (channel, needle, needle-or-thread) once, in this order among ``said``."""
    at = []
    for channel, one, two in wanted:
        found = [i for i, c in enumerate(said) if c.params.get("channel") == channel
                 and one in str(c.params.get("text", "")) and (
                     (two is None and not c.params.get("thread_ts")) or (two is not None and (
                         c.params.get("thread_ts") == two or two in str(c.params.get("text", "")))))]
        assert len(found) == 1, (channel, one, two, found)
        at.append(found[0])
    return at == sorted(at)


# -- a message Slack refuses for good ------------------------------------------------------------------------
def test_a_message_slack_refuses_is_a_visible_dead_letter(stack: RelStack, caplog: pytest.LogCaptureFixture,
                                                          figures: Counter[str]) -> None:
    stack.slack.clear()
    before = _metric(stack, "jitbot_outbox_dead")
    stack.slack.set_not_member(SRE)  # the bot was removed from the approvers' channel
    try:
        with caplog.at_level("ERROR", logger="core.outbox"):
            rid = _answer(stack, cast.ALICE, "request dev-1 1h outbox dead letter").split("*")[1]
            _one(stack.slack, DM, rid, "waiting for level 1")  # the messages after it still go
            _one(stack.slack, AUDIT, rid, "requested")
    finally:
        stack.slack.add_channel(SRE, is_member=True)
    [dead] = [e for e in trail(stack, rid) if e.action == "message_undelivered"]
    assert dead.detail["send"] == "approval" and "not_in_channel" in dead.detail["error"]
    assert [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert _metric(stack, "jitbot_outbox_dead") == before + 1
    assert not _posts(stack.slack, SRE, rid)  # given up on: not retried
    figures["requests: outbox"] += 1


def _metric(stack: RelStack, name: str) -> float:
    with urllib.request.urlopen(f"{stack.app_url}/metrics", timeout=5) as answer:  # noqa: S310 - loopback
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")

