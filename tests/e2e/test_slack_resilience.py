"""Slack misbehaving (429 with Retry-After, persistent 500s) and AWS slow: no state change is lost or held
up, failures are logged, the approval message comes back with the next reminder."""

from __future__ import annotations

import logging

import pytest

from core.model import State
from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from handlers import ids
from tests.aws.e2e_support import FAST_ELECTION, scheduler_of
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, events, eventually, request


def _messages(stack: Stack, rid: str) -> set[str]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return {ref.purpose for ref in uow.repo.messages(rid)}


def _submitted(stack: Stack, user: str = cast.ALICE) -> str:
    rid = slack.slash(stack, user, "request web-1 1h deploy hotfix")["text"].split("*")[1]
    assert button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE) == rid
    return rid


def test_rate_limited_post_is_retried_after_retry_after(stack: Stack) -> None:
    rid = _submitted(stack)
    stack.slack.fail_next("chat.postMessage", times=1, status=429, retry_after=1)
    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid)
    level2 = approval_post(stack, "C0MGRAPPR")  # it arrived, after the 429
    assert button_value(level2, ids.APPROVE) == rid
    [limited] = [c for c in stack.slack.calls_to("chat.postMessage", include_faults=True) if c.fault == "429"]
    assert limited.params["channel"] == "C0MGRAPPR" and limited.status == 429
    assert request(stack, rid).current_level == 1
    assert eventually(lambda: "level-1" in _messages(stack, rid), what="level 2's message recorded")
    assert "1 more approval" in stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")


NO_REMINDERS = REPO_POLICIES.read_text("utf-8").replace('reminder_interval = "1h"', 'reminder_interval = "0"')


def test_persistent_server_errors_never_lose_a_state_change(stack_factory, caplog: pytest.LogCaptureFixture) -> None:
    """The level 2 message meets Slack's 500s beyond the client's own retries: the decision stands, the other
    notices go out, and the message owed is posted by the outbox's retry (no reminder needed), once."""
    stack = stack_factory(NO_REMINDERS, settings=FAST_ELECTION)
    rid = _submitted(stack)
    caplog.set_level(logging.ERROR, logger="handlers.slack_api")
    # the level 2 message meets a 500 at its first attempt and at both retries of the client's handler
    stack.slack.fail_next("chat.postMessage", times=3, status=500)
    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid)  # the answer goes by response_url
    assert request(stack, rid).current_level == 1  # the decision stands
    failed = [c for c in stack.slack.calls_to("chat.postMessage", include_faults=True) if c.fault == "500"]
    assert [c.params["channel"] for c in failed] == ["C0MGRAPPR"] * 3
    assert [r for r in caplog.records if r.getMessage() == "slack call failed"
            and getattr(r, "slack_method", "") == "chat.postMessage"]

    scheduler_of(stack)  # on PostgreSQL, test stacks take turns at running the scheduler (and its outbox run)
    posted = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0MGRAPPR"
                                  and "thread_ts" not in c.params, timeout=20)
    assert button_value(approval_post(stack, "C0MGRAPPR"), ids.APPROVE) == rid
    eventually(lambda: "level-1" in _messages(stack, rid), what="the late message recorded")
    # the notice owed after it waited for it: the DM pointing at level 2 follows the message it points to
    assert posted.at <= slack.dm_after(stack, cast.ALICE, 0, "Level 1 approved").at
    assert "1 more approval" in stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    assert request(stack, rid).state is State.PENDING
    assert len([c for c in stack.slack.messages("C0MGRAPPR") if not c.params.get("thread_ts")]) == 1


def test_an_approval_message_slack_refused_comes_back_with_the_reminder(stack_factory) -> None:
    """Slack refuses level 1's message for good (the outbox gives it up at once): the level's next reminder posts
    it again, buttons and all, and the reminder goes into its thread; approvers can then decide."""
    stack = stack_factory(REPO_POLICIES.read_text("utf-8").replace('reminder_interval = "1h"',
                                                                   'reminder_interval = "2s"'), settings=FAST_ELECTION)
    scheduler_of(stack)
    stack.slack.fail_next("chat.postMessage", error="not_in_channel")  # the first post: level 1's message
    rid = slack.slash(stack, cast.ALICE, "request web-1 1h deploy hotfix")["text"].split("*")[1]
    eventually(lambda: "message_undelivered" in [e.action for e in events(stack, rid)], what="the post given up on")
    [refused] = [c for c in stack.slack.calls_to("chat.postMessage", include_faults=True) if c.fault]
    assert refused.params["channel"] == "C0SREAPPR"

    posted = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0SREAPPR"
                                  and "thread_ts" not in c.params, timeout=20)
    assert button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE) == rid
    eventually(lambda: "level-0" in _messages(stack, rid), what="the message recorded")
    root_ts = posted.response["ts"] if posted.response else None
    reminder = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts") == root_ts,
                                    timeout=20)
    assert "<!subteam^S0SRELEAD>" in reminder.params["text"] and rid in reminder.params["text"]
    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid)
    assert len([c for c in stack.slack.messages("C0SREAPPR") if not c.params.get("thread_ts")]) == 1


def test_commands_are_acknowledged_before_slow_aws_work(stack: Stack) -> None:
    stack.aws.delay = 1.0  # every AWS call takes a second
    try:
        before = slack.answers(stack)
        assert slack.sim(stack).command(cast.BOB, "request dev-1 30m slow day").status == 200
        assert slack.answers(stack) == before  # acknowledged: the answer comes after the AWS work
        answer = slack.answer_after(stack, before, timeout=60)["text"]
    finally:
        stack.aws.delay = 0.0
    assert "granted until" in answer
    rid = answer.split("*")[1]
    assert request(stack, rid).state is State.ACTIVE
    slack.slash(stack, cast.BOB, f"release {rid}")
    eventually(lambda: not request(stack, rid).needs_cleanup and request(stack, rid).state is State.REVOKED,
               what="release")
