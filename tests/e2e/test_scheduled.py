"""Scheduled access end to end (signed HTTP into /slack/events, the fake Slack, moto, the clock moved by the
test): approved ahead, granted at the start and not before, its expiry counted from the start; cancelled before
it; refused without ``max_start_ahead`` or beyond it; kept across a restart; checked again at the start."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from core.model import State
from core.sweep import sweep
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from playground.clock import ShiftedClock
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, events, eventually, request

StackFactory = Callable[..., Stack]
ROLE = "alice"


def policies(ahead: str | None = "12h", max_duration: str = "4h", manual: bool = True) -> str:
    kind = "manual_approval" if manual else "auto_approval"
    levels = """
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
""" if manual else ""
    return f"""
[settings]
audit_channel = "C0AUDIT01"
reminder_interval = "0"
expiry_warning = "0"
[identities]
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
[[{kind}]]
name = "night-work"
targets = "all"
max_duration = "{max_duration}"
{f'max_start_ahead = "{ahead}"' if ahead else ""}
{levels}"""


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def at(moment: datetime) -> str:
    """``at 2026-12-07 09:30`` (the policy file's timezone is UTC)."""
    return f"at {moment:%Y-%m-%d %H:%M}"


def jit_policies(stack: Stack) -> list[str]:
    return list(stack.aws.client("iam").list_role_policies(RoleName=ROLE)["PolicyNames"])


def submit_and_approve(stack: Stack, start: datetime) -> str:
    answer = stack.slash(cast.ALICE, f"request web-1 2h {at(start)} night deploy")
    assert f"Once approved, access starts at {start:%Y-%m-%d %H:%M}" in answer
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert "it is scheduled, and access is granted at its start" in stack.click(cast.SAM, ids.APPROVE, rid)
    return rid


def test_approved_ahead_granted_at_the_start_with_the_expiry_from_the_start(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(), clock=clock)
    start = minute(clock.now()) + timedelta(hours=3)
    rid = submit_and_approve(stack, start)
    assert stack.runtime is not None
    sweep(stack.runtime.ctx)  # before the start, a sweep grants nothing
    held = request(stack, rid)
    assert (held.state, held.starts_at, held.granted_at) == (State.APPROVED, start, None)
    assert f"jitbot-{rid}" not in jit_policies(stack)
    assert f"starts at {start:%Y-%m-%d %H:%M}" in stack.slash(cast.ALICE, "list")
    submitted = next(e for e in events(stack, rid) if e.action == "submitted")
    assert submitted.detail["starts_at"] == start.isoformat()

    clock.jump(timedelta(hours=3, seconds=5))
    eventually(lambda: request(stack, rid).state is State.ACTIVE, timeout=15, what="the grant at the start")
    granted = request(stack, rid)
    assert granted.expires_at == start + timedelta(hours=2)  # from the start, not from the sweep that granted it
    assert granted.granted_at is not None and granted.granted_at >= start
    assert f"jitbot-{rid}" in jit_policies(stack)


def test_the_requester_cancels_before_the_start(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(manual=False), clock=clock)
    start = minute(clock.now()) + timedelta(hours=1)
    answer = stack.slash(cast.ALICE, f"request web-1 2h {at(start)} night deploy")
    rid = answer.split("*")[1]
    assert f"scheduled: granted at {start:%Y-%m-%d %H:%M}" in answer and f"/jit cancel {rid}" in answer
    assert request(stack, rid).state is State.APPROVED
    assert "scheduled to start at" in stack.slash(cast.ALICE, "request web-1 1h something else")
    t0 = time.time()
    assert slack.sim(stack).event({"type": "app_home_opened", "user": cast.ALICE, "channel": f"D{cast.ALICE}",
                                   "tab": "home"}).status == 200
    home = eventually(lambda: next((c.params["view"] for c in stack.slack.calls_to("views.publish")
                                    if c.params.get("user_id") == cast.ALICE and c.at >= t0
                                    and "scheduled: granted at" in str(c.params["view"])), None),
                      what="Alice's App Home with the scheduled request")
    assert f"granted at {start:%Y-%m-%d %H:%M}" in str(home) and ids.CANCEL in str(home)  # and its Cancel button
    assert "Only the requester can cancel" in stack.slash(cast.SAM, f"cancel {rid}")
    assert stack.slash(cast.ALICE, f"cancel {rid}") == f"Request *{rid}* is cancelled."
    cancelled = next(e for e in events(stack, rid) if e.action == "cancelled")
    assert (cancelled.detail["from"], cancelled.detail["to"]) == ("approved", "cancelled")
    clock.jump(timedelta(hours=1, seconds=5))
    assert stack.runtime is not None
    sweep(stack.runtime.ctx)
    assert request(stack, rid).state is State.CANCELLED
    assert f"jitbot-{rid}" not in jit_policies(stack)
    assert "is cancelled; only pending requests" in stack.slash(cast.ALICE, f"cancel {rid}")


def test_refused_without_max_start_ahead_beyond_it_or_in_the_past(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(ahead=None), clock=clock)
    soon = minute(clock.now()) + timedelta(hours=1)
    refused = stack.slash(cast.ALICE, f"request web-1 2h {at(soon)} night deploy")
    assert "Policy 'night-work' does not allow scheduled access (it sets no max_start_ahead)" in refused
    stack.shutdown_bot()
    stack.policies_path.write_text(policies(ahead="12h"), "utf-8")
    stack.boot()
    far = minute(clock.now()) + timedelta(hours=13)
    assert "is more than 12h ahead, the most policy 'night-work' allows (max_start_ahead)" in stack.slash(
        cast.ALICE, f"request web-1 2h {at(far)} night deploy")
    past = minute(clock.now()) - timedelta(hours=1)
    assert "has already passed" in stack.slash(cast.ALICE, f"request web-1 2h {at(past)} night deploy")
    assert "is not a date" in stack.slash(cast.ALICE, "request web-1 2h at 2026-02-30 09:30 night deploy")
    assert "Give a time after the date" in stack.slash(cast.ALICE, "request web-1 2h at 2026-02-03 night deploy")
    assert "You have no pending or active requests." in stack.slash(cast.ALICE, "list")


def test_a_restart_between_approval_and_start_still_grants_at_the_start(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(), clock=clock)
    start = minute(clock.now()) + timedelta(hours=2)
    rid = submit_and_approve(stack, start)
    stack.shutdown_bot()
    stack.boot()  # nothing in memory: the database holds the start
    assert stack.runtime is not None
    sweep(stack.runtime.ctx)
    assert request(stack, rid).state is State.APPROVED
    stack.shutdown_bot()
    clock.jump(timedelta(hours=2, minutes=10))  # jitbot is down at the start
    stack.boot()
    eventually(lambda: request(stack, rid).state is State.ACTIVE, timeout=15, what="the grant after the restart")
    assert request(stack, rid).expires_at == start + timedelta(hours=2)
    assert f"jitbot-{rid}" in jit_policies(stack)


def test_a_policy_that_changed_before_the_start_is_checked_again(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(), clock=clock)
    start = minute(clock.now()) + timedelta(hours=1)
    rid = submit_and_approve(stack, start)
    stack.shutdown_bot()
    stack.policies_path.write_text(policies(max_duration="1h"), "utf-8")  # now allows less than was approved
    stack.boot()
    clock.jump(timedelta(hours=1, seconds=5))
    eventually(lambda: request(stack, rid).state is State.FAILED, timeout=15, what="the refusal at the start")
    reason = "policy 'night-work' now allows at most 1h, less than the 2h approved"
    assert reason in (request(stack, rid).end_reason or "")
    assert f"jitbot-{rid}" not in jit_policies(stack)
    eventually(lambda: [c for c in stack.slack.messages(f"D{cast.ALICE}") if reason in str(c.params)],
               what="Alice told why")


def test_a_policy_removed_before_the_start_fails_the_request(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(), clock=clock)
    start = minute(clock.now()) + timedelta(hours=1)
    rid = submit_and_approve(stack, start)
    stack.shutdown_bot()
    stack.policies_path.write_text(policies().replace('name = "night-work"', 'name = "day-work"'), "utf-8")
    stack.boot()
    clock.jump(timedelta(hours=1, seconds=5))
    eventually(lambda: request(stack, rid).state is State.FAILED, timeout=15, what="the refusal at the start")
    assert "policy 'night-work' is no longer in the policy file" in (request(stack, rid).end_reason or "")
    assert f"jitbot-{rid}" not in jit_policies(stack)


def test_the_request_form_takes_a_start_when_the_policy_allows_one(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(), clock=clock)
    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    web = next(o for o in slack.options(stack, cast.ALICE, view, "web-1")
               if o["text"]["text"] == f"web-1 ({stack.nodes['web-1']})")
    view = slack.pick(stack, cast.ALICE, view, web, t0)
    field = next(b for b in view["blocks"] if b.get("block_id") == ids.START_BLOCK)
    assert field["optional"] is True and "at most 12h ahead" in field["hint"]["text"]
    found = slack.errors(slack.submit(stack, cast.ALICE, view, node=web, duration="2h", reason="x", start="soon"))
    assert list(found) == [ids.START_BLOCK] and "'soon' is not a time of day" in found[ids.START_BLOCK]
    start = minute(clock.now()) + timedelta(hours=4)
    response = slack.submit(stack, cast.ALICE, view, node=web, duration="2h", reason="night deploy",
                            start=f"{start:%Y-%m-%d %H:%M}")
    assert response.status == 200 and not response.json()
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    made = request(stack, rid)
    assert (made.state, made.starts_at, made.duration) == (State.PENDING, start, timedelta(hours=2))


def test_explain_says_how_far_ahead(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies())
    assert "Access may be scheduled up to 12h ahead" in stack.slash(cast.ALICE, "explain web-1")
