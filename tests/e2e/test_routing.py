"""Approval routing end to end (signed HTTP into /slack/events, the fake Slack, moto): escalation of a level that
waits, and approvers who approve for less."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from playground.clock import ShiftedClock
from tests.e2e.slack_steps import answer_after, answers, send
from tests.helpers import approval_post, button_value, events, eventually, request, valid_blocks

StackFactory = Callable[..., Stack]


def policies(escalation: str = "", max_duration: str = "4h") -> str:
    return f"""
[settings]
audit_channel = "C0AUDIT01"
approval_timeout = "24h"
reminder_interval = "0"
expiry_warning = "0"
[identities]
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
[[manual_approval]]
name = "anything"
targets = "all"
max_duration = "{max_duration}"
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
  {escalation}
"""


# Alice, the requester, is among the fallback approvers: she must never count for her own request
ESCALATION = 'escalate_after = "30m"\n  escalate_to = ["U0CAROL01", "U0ALICE01"]'


def thread_replies(stack: Stack, channel: str, ts: str) -> list[str]:
    return [str(c.params.get("text", "")) for c in stack.slack.messages(channel) if c.params.get("thread_ts") == ts]


def root_ts(stack: Stack, channel: str) -> str:
    call = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel
                                and "thread_ts" not in c.params and "blocks" in c.params)
    assert call.response is not None
    return str(call.response["ts"])


def test_a_level_escalates_after_its_time_and_the_fallback_approver_decides(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(ESCALATION), clock=clock)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    ts = root_ts(stack, "C0SREAPPR")
    # before the escalation, the fallback approver does not count, and the requester never does
    refused = stack.click(cast.CAROL, ids.APPROVE, rid)
    assert "Only the approvers of level 1 ('SRE lead') (and, once it is escalated" in refused
    assert "cannot approve or reject your own request" in stack.click(cast.ALICE, ids.APPROVE, rid)
    assert request(stack, rid).escalated_level is None
    clock.jump(timedelta(minutes=31))
    eventually(lambda: request(stack, rid).escalated_level == 0, timeout=15, what="the escalation")
    escalated = [e for e in events(stack, rid) if e.action == "escalated"]
    assert len(escalated) == 1 and escalated[0].detail["escalate_to"] == [cast.CAROL, cast.ALICE]
    assert escalated[0].detail["after"] == "30m"
    reply = eventually(lambda: [t for t in thread_replies(stack, "C0SREAPPR", ts) if "Escalated" in t],
                       what="the escalation in the level's thread")[0]
    assert f"<@{cast.CAROL}>" in reply and f"<@{cast.ALICE}>" not in reply  # never the requester
    eventually(lambda: [c for c in stack.slack.messages(f"D{cast.ALICE}")
                        if "fallback approvers have been asked" in c.params.get("text", "")], what="Alice's DM")
    # still not the requester, whoever lists her
    assert "cannot approve or reject your own request" in stack.click(cast.ALICE, ids.APPROVE, rid)
    assert "access was granted" in stack.click(cast.CAROL, ids.APPROVE, rid)
    approve = next(e for e in events(stack, rid) if e.action == "approve")
    assert approve.actor == cast.CAROL and approve.detail["eligible_by"]["escalation"] is True
    assert request(stack, rid).state is State.ACTIVE


def test_escalation_in_another_channel_survives_a_restart(stack_factory: StackFactory) -> None:
    clock = ShiftedClock()
    stack = stack_factory(policies(ESCALATION + '\n  escalate_channel = "C0MGRAPPR"'), clock=clock)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    stack.shutdown_bot()  # jitbot is down when the level's time runs out
    clock.jump(timedelta(minutes=45))
    stack.boot()
    eventually(lambda: request(stack, rid).escalated_level == 0, timeout=15, what="the escalation")
    post = approval_post(stack, "C0MGRAPPR")
    assert button_value(post, ids.APPROVE) == rid  # the same buttons, in the other channel
    assert post["text"].startswith(f"Escalated: <@{cast.CAROL}>, Access request {rid}")  # never the requester
    assert "Escalated" in str(post["blocks"])
    # the level's thread says where they were asked, without mentioning them a second time
    reply = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == "C0SREAPPR"
                                 and c.params.get("thread_ts") and "Escalated after" in str(c.params.get("text")))
    assert reply.params["text"] == ":rotating_light: Escalated after 30m: its fallback approvers were asked in " \
                                   "<#C0MGRAPPR>."
    assert "access was granted" in stack.click(cast.CAROL, ids.APPROVE, rid, channel="C0MGRAPPR")
    for channel in ("C0SREAPPR", "C0MGRAPPR"):  # both messages lose their buttons
        update = stack.slack.wait_for(lambda c, channel=channel: c.method == "chat.update"
                                      and c.params.get("channel") == channel
                                      and "This level is approved" in str(c.params.get("blocks")))
        valid_blocks(update.params["blocks"])
        assert not [b for b in update.params["blocks"] if b["type"] == "actions"]
    assert [e.action for e in events(stack, rid)].count("escalated") == 1


def test_explain_shows_the_escalation(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies(ESCALATION))
    text = stack.slash(cast.ALICE, "explain web-1")
    assert "Escalation: after 30m without a decision" in text
    assert "You are among them, but nobody approves their own request." in text


# -- approving for less ----------------------------------------------------------------------------------------
TWO_LEVELS = """
  [[manual_approval.levels]]
  name = "Manager"
  channel = "C0MGRAPPR"
  approvers = ["U0CAROL01"]
"""


def select_options(params: dict[str, Any]) -> list[dict[str, Any]]:
    for block in params["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("action_id") == ids.APPROVE_FOR:
                return list(element["options"])
    return []


def choose(stack: Stack, user: str, channel: str, value: str) -> str:
    """Pick an option of "Approve for…" on a message in ``channel``, as Slack sends it; the ephemeral answer."""
    before = answers(stack)
    payload = {
        "type": "block_actions", "token": "x", "api_app_id": stack.slack.app_id, "trigger_id": "1.2.3",
        "team": {"id": stack.slack.team_id, "domain": stack.slack.team_domain},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": stack.slack.team_id},
        "channel": {"id": channel, "name": channel.lower()}, "response_url": stack.slack.make_response_url(),
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.0"},
        "actions": [{"type": "static_select", "action_id": ids.APPROVE_FOR, "block_id": "decide-0",
                     "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                     "action_ts": "1.0"}],
    }
    assert send(stack, payload).status == 200
    return str(answer_after(stack, before)["text"])


def test_approvers_approve_for_less_and_the_shortest_wins(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies() + TWO_LEVELS)
    stack.slash(cast.ALICE, "request web-1 4h rotate the logs")
    first = approval_post(stack, "C0SREAPPR")
    rid = button_value(first, ids.APPROVE)
    offered = [o["value"] for o in select_options(first)]
    assert offered == [f"{rid}:{s}" for s in (900, 1800, 3600, 7200)]  # below the 4h asked
    # a forged value (longer than asked, or not offered) is refused and changes nothing
    assert "for less only by one of the durations offered" in choose(stack, cast.SAM, "C0SREAPPR", f"{rid}:86400")
    assert "for less only by one of the durations offered" in choose(stack, cast.SAM, "C0SREAPPR", f"{rid}:1000")
    assert "not one of the durations offered" in choose(stack, cast.SAM, "C0SREAPPR", f"{rid}:soon")
    assert request(stack, rid).current_level == 0
    assert "You approved for 2h" in choose(stack, cast.SAM, "C0SREAPPR", f"{rid}:7200")
    second = approval_post(stack, "C0MGRAPPR")
    assert "Approved so far for at most 2h" in str(second["blocks"])
    answer = choose(stack, cast.CAROL, "C0MGRAPPR", f"{rid}:3600")
    assert "You approved for 1h" in answer and "access was granted" in answer
    granted = request(stack, rid)
    assert granted.state is State.ACTIVE and granted.duration == timedelta(hours=1)
    assert granted.expires_at is not None and granted.granted_at is not None
    assert granted.expires_at - granted.granted_at == timedelta(hours=1)
    approved = next(e for e in events(stack, rid) if e.action == "approved")
    assert approved.detail["requested"] == "4h" and approved.detail["granted"] == "1h"
    assert approved.detail["chosen_by"] == cast.CAROL
    assert [e.detail.get("duration") for e in events(stack, rid) if e.action == "approve"] == ["2h", "1h"]
    eventually(lambda: [c for c in stack.slack.messages(f"D{cast.ALICE}")
                        if "for *1h*, less than the 4h you asked for" in c.params.get("text", "")],
               what="the requester is told")


def test_no_shorter_choice_below_the_shortest_offered(stack_factory: StackFactory) -> None:
    stack = stack_factory(policies())
    stack.slash(cast.ALICE, "request web-1 15m rotate the logs")
    post = approval_post(stack, "C0SREAPPR")
    assert select_options(post) == []
