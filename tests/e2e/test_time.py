"""Time, end to end with real short windows (seconds): warning before expiry, reminder and timeout,
a restart with overdue and future grants, and jobs run twice acting once."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.scheduler import Scheduler
from core import sweep
from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.helpers import approval_post, button_value, events, eventually, request, valid_blocks

BOB_ROLE = "arn:aws:iam::123456789012:role/bob"
StackFactory = Callable[..., Stack]


def policies(**settings: str) -> str:
    values = {"timezone": "Asia/Tokyo", "audit_channel": "C0AUDIT01", "approval_timeout": "1h",
              "reminder_interval": "0", "expiry_warning": "0", **settings}
    lines = "\n".join(f'{key} = "{value}"' for key, value in values.items())
    return f"""
[settings]
{lines}
[identities]
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
U0BOB0001 = "arn:aws:iam::123456789012:role/bob"
[[auto_approval]]
name = "dev-self-service"
requesters = ["S0DEVS"]
targets = {{ tags = {{ Environment = "dev" }} }}
max_duration = "1h"
[[manual_approval]]
name = "anything"
targets = "all"
max_duration = "1h"
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""


def dms(stack: Stack, user: str, *words: str) -> list[dict[str, Any]]:
    return [c.params for c in stack.slack.messages(f"D{user}")
            if all(w in c.params.get("text", "") for w in words)]


def auto_grant(stack: Stack, duration: str, node: str = "dev-1") -> str:
    answer = stack.slash(cast.BOB, f"request {node} {duration} quick look")
    assert "granted" in answer, answer
    return answer.split("*")[1]


def scheduler_of(stack: Stack) -> Scheduler:
    """The running scheduler (on PostgreSQL it starts once this replica wins the leader election)."""
    def running() -> Scheduler | None:
        scheduler = stack.runtime.scheduler if stack.runtime else None
        return scheduler if scheduler is not None and scheduler.running else None

    return eventually(running, timeout=30, what="the scheduler")


def policy_present(stack: Stack, rid: str) -> bool:
    return f"jitbot-{rid}" in stack.aws.inline_policies(BOB_ROLE)


def test_warning_before_expiry_by_dm_and_in_the_thread(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies(expiry_warning="2s"))
    stack.slash(cast.ALICE, "request web-1 3s rotate the logs")
    approval = approval_post(stack, "C0SREAPPR")
    rid = button_value(approval, ids.APPROVE)
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)
    eventually(lambda: request(stack, rid).state is State.EXPIRED and not request(stack, rid).needs_cleanup,
               timeout=15, what="expiry")
    expired = eventually(lambda: dms(stack, cast.ALICE, rid, "expired"), what="the expiry notice")
    warning = dms(stack, cast.ALICE, rid, "ends")
    assert len(warning) == 1 and len(expired) == 1
    assert re.search(r"\(\d+s left\)", warning[0]["text"]), warning[0]["text"]  # the time left, in words
    calls = stack.slack.messages(f"D{cast.ALICE}")
    assert [c.params for c in calls].index(warning[0]) < [c.params for c in calls].index(expired[0])
    valid_blocks(warning[0]["blocks"])
    thread = [c.params for c in stack.slack.messages("C0SREAPPR") if c.params.get("thread_ts")]
    assert any("ends" in t.get("text", "") for t in thread)
    actions = [e.action for e in events(stack, rid)]
    assert actions[-4:] == ["granted", "expiry_warned", "expired", "revocation_confirmed"]


def test_a_reminder_mentions_the_approvers_then_the_request_times_out(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies(reminder_interval="1s", approval_timeout="3s"))
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    approval = approval_post(stack, "C0SREAPPR")
    rid = button_value(approval, ids.APPROVE)
    timed_out = eventually(lambda: (r := request(stack, rid)).state is State.TIMED_OUT and r, timeout=15,
                           what="the timeout")
    assert timed_out.end_reason == "no decision before the approval timeout"
    ts = stack.slack.calls_to("chat.postMessage")
    root = next(c for c in ts if c.params.get("channel") == "C0SREAPPR" and "thread_ts" not in c.params)
    root_ts = root.response["ts"] if root.response else None
    reminders = [c.params for c in stack.slack.messages("C0SREAPPR") if c.params.get("thread_ts") == root_ts
                 and "<!subteam^S0SRELEAD>" in c.params.get("text", "")]
    assert len(reminders) == 1  # the second would be due with the timeout, which wins
    update = stack.slack.wait_for(lambda c: c.method == "chat.update" and c.params.get("ts") == root_ts
                                  and "imed out" in str(c.params.get("blocks")))
    valid_blocks(update.params["blocks"])
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]  # the buttons are gone
    stack.slack.wait_for(lambda c: c.params.get("channel") == f"D{cast.ALICE}" and rid in c.params.get("text", "")
                         and "timed out" in c.params.get("text", ""))
    assert [e.action for e in events(stack, rid)] == ["submitted", "reminded", "timed_out"]
    assert "already timed out" in stack.click(cast.SAM, ids.APPROVE, rid)


def test_restart_revokes_overdue_grants_at_once_and_arms_future_ones(stack_factory: StackFactory) -> None:
    # two grants at once, so on two nodes (one live request per person and node): self-service on every node
    stack = stack_factory(policies().replace('targets = { tags = { Environment = "dev" } }', 'targets = "all"', 1))
    overdue, future = auto_grant(stack, "1s"), auto_grant(stack, "6s", stack.nodes["batch"])
    first_end = request(stack, overdue).expires_at
    assert first_end is not None
    stack.shutdown_bot()  # jitbot is down when the first grant expires
    time.sleep(max(0.0, (first_end - datetime.now(UTC)).total_seconds()) + 0.2)
    stack.boot()
    assert scheduler_of(stack).next_run(f"expire:{future}") == request(stack, future).expires_at
    eventually(lambda: request(stack, overdue).state is State.EXPIRED and not policy_present(stack, overdue),
               timeout=10, what="the overdue revocation")
    assert request(stack, future).state is State.ACTIVE and policy_present(stack, future)
    done = eventually(lambda: (r := request(stack, future)).state is State.EXPIRED and not r.needs_cleanup and r,
                      timeout=15, what="the future revocation")
    assert done.ended_at is not None and done.expires_at is not None and done.ended_at >= done.expires_at
    assert not policy_present(stack, future)
    for rid in (overdue, future):
        eventually(lambda rid=rid: dms(stack, cast.BOB, rid, "expired"), what="the expiry notice")
        assert len(dms(stack, cast.BOB, rid, "expired")) == 1
        assert [e.action for e in events(stack, rid)].count("revocation_confirmed") == 1


def test_expiry_jobs_and_sweeps_run_at_once_revoke_and_tell_once(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies(), sweep_seconds=60)  # only this test's threads act
    scheduler = scheduler_of(stack)
    rid = auto_grant(stack, "2s")
    scheduler.disarm(rid)
    assert stack.runtime is not None
    ctx = stack.runtime.ctx
    expires = request(stack, rid).expires_at
    assert expires is not None
    eventually(lambda: ctx.clock.now() > expires, what="the expiry")
    barrier = threading.Barrier(6)
    results: list[object] = []

    def run(job: Callable[[], object]) -> None:
        barrier.wait()
        results.append(job())

    jobs = [lambda: sweep.sweep(ctx)] * 3 + [lambda: sweep.expire_due(ctx)] * 3
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    done = request(stack, rid)
    assert done.state is State.EXPIRED and not done.needs_cleanup and not policy_present(stack, rid)
    assert len(dms(stack, cast.BOB, rid, "expired")) == 1
    actions = [e.action for e in events(stack, rid)]
    assert actions.count("expired") == 1 and actions.count("revocation_confirmed") == 1
    assert len(results) == 6
