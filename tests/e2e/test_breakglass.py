"""Break-glass end to end: signed HTTP, the fake Slack, moto and a real database, through the review."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.breakglass import unreviewed_breakglass
from core.model import Kind, State
from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from handlers.ids import NOTE_BLOCK, NOTE_INPUT, REVIEW, REVIEW_VIEW, VERDICT_BLOCK, VERDICT_INPUT
from tests.helpers import button_value, events, eventually, request, valid_blocks, valid_view

ALICE_ROLE = "arn:aws:iam::123456789012:role/alice"
POLICIES = REPO_POLICIES.read_text("utf-8") + """
[breakglass]
requesters = ["U0ALICE01", "S0CONTRACT"]
max_duration = "30m"
"""


def unreviewed(stack: Stack) -> list[str]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return [r.id for r in unreviewed_breakglass(uow)]


def alert(stack: Stack, channel: str, rid: str) -> dict[str, Any]:
    call = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel
                                and rid in c.params.get("text", "") and "blocks" in c.params, timeout=10)
    valid_blocks(call.params["blocks"])
    return call.params


def review_modal(stack: Stack, user: str, rid: str) -> dict[str, Any]:
    assert stack.sim is not None
    before = len(stack.slack.calls_to("views.open"))
    assert stack.sim.block_action(user, REVIEW, rid, channel_id="C0SREAPPR", trigger_id="T42").status == 200
    stack.slack.wait_for(lambda c: c.method == "views.open" and len(stack.slack.calls_to("views.open")) > before)
    view = stack.slack.calls_to("views.open")[before].params["view"]
    valid_view(view)
    return view


def test_breakglass_from_use_to_review(stack_factory: Any) -> None:
    stack: Stack = stack_factory(POLICIES)
    assert "not among the [breakglass] requesters" in stack.slash(cast.BOB, "breakglass web-1 the site is down")
    assert "at most 30m" in stack.slash(cast.ALICE, "breakglass web-1 2h the site is down")
    assert "needs a reason" in stack.slash(cast.ALICE, "breakglass web-1 20m")

    answer = stack.slash(cast.ALICE, "breakglass web-1 the database is down")
    rid = answer.split("*")[1]
    assert f"Break-glass *{rid}*: access to `{stack.nodes['web-1']}` (web-1) granted until" in answer
    assert "level 1 ('SRE lead') of policy 'production' must review it" in answer
    granted = request(stack, rid)
    assert granted.state is State.ACTIVE and granted.kind is Kind.BREAKGLASS
    assert granted.duration == timedelta(minutes=30) and granted.policy == "production"
    assert f"jitbot-{rid}" in stack.aws.inline_policies(ALICE_ROLE)

    loud = alert(stack, "C0AUDIT01", rid)
    assert loud["text"].startswith("<!here> Break-glass")
    assert "<!here>" in json.dumps(loud["blocks"]) and button_value(loud, REVIEW) == rid
    approvers = alert(stack, "C0SREAPPR", rid)
    assert approvers["text"].startswith("<!subteam^S0SRELEAD> Break-glass")
    assert "<!here>" not in approvers["text"] and "<!subteam^S0SRELEAD>" in json.dumps(approvers["blocks"])
    assert button_value(approvers, REVIEW) == rid
    stack.slack.wait_for(lambda c: c.params.get("channel") == f"D{cast.ALICE}"
                         and "aws ssm start-session" in c.params.get("text", ""))
    assert unreviewed(stack) == [rid]

    assert "cannot review your own" in stack.click(cast.ALICE, REVIEW, rid)
    assert "Only the level-1 approvers of policy 'production'" in stack.click(cast.CAROL, REVIEW, rid)
    view = review_modal(stack, cast.SAM, rid)
    assert view["callback_id"] == REVIEW_VIEW
    assert stack.sim is not None
    empty = stack.sim.view_submission(cast.SAM, REVIEW_VIEW, {NOTE_BLOCK: {NOTE_INPUT: " "}},
                                      private_metadata=view["private_metadata"])
    assert set(empty.json()["errors"]) == {VERDICT_BLOCK, NOTE_BLOCK}
    assert unreviewed(stack) == [rid]
    verdict = {"type": "radio_buttons", "selected_option": {"value": "justified"}}
    stack.sim.view_submission(cast.SAM, REVIEW_VIEW, {VERDICT_BLOCK: {VERDICT_INPUT: verdict},
                                                      NOTE_BLOCK: {NOTE_INPUT: "checked the incident channel"}},
                              private_metadata=view["private_metadata"])
    stack.slack.wait_for(lambda c: c.method == "response_url"
                         and c.params.get("text") == f"Recorded: break-glass {rid} reviewed as justified.")
    reviewed = [e for e in events(stack, rid) if e.action == "breakglass_reviewed"]
    assert reviewed[0].actor == cast.SAM
    sre_leads = sorted([cast.SAM, cast.TINA])
    assert reviewed[0].detail == {"justified": True, "note": "checked the incident channel", "state": "active",
                                  "eligible_by": {"via": ["S0SRELEAD"], "groups": {"S0SRELEAD": {
                                      "members": sre_leads, "count": 2,
                                      "sha256": hashlib.sha256("\n".join(sre_leads).encode()).hexdigest()}}}}
    assert unreviewed(stack) == []
    for channel in ("C0AUDIT01", "C0SREAPPR"):
        update = stack.slack.wait_for(lambda c, ch=channel: c.method == "chat.update" and c.params["channel"] == ch
                                      and "Reviewed by <@U0SAM0001>" in json.dumps(c.params["blocks"]))
        valid_blocks(update.params["blocks"])
        assert not [b for b in update.params["blocks"] if b["type"] == "actions"]
    stack.slack.wait_for(lambda c: c.params.get("channel") == "C0AUDIT01" and c.params.get("thread_ts")
                         and "reviewed by <@U0SAM0001>: justified" in c.params.get("text", ""))
    assert "already reviewed" in stack.click(cast.TINA, REVIEW, rid)

    assert "is revoked" in stack.slash(cast.SAM, f"revoke {rid} the incident is over")
    eventually(lambda: request(stack, rid).state is State.REVOKED and not request(stack, rid).needs_cleanup,
               what="revocation")
    assert [e.action for e in events(stack, rid)] == ["submitted", "breakglass", "granted", "breakglass_reviewed",
                                                      "revoked", "revocation_confirmed"]


def test_breakglass_respects_deny_all_and_needs_a_reviewer(stack_factory: Any, tmp_path: Path) -> None:
    text = POLICIES.replace('targets = "all"', 'targets = { tags = { Environment = "prod" }, accounts = '
                                               '["999999999999"] }')
    stack: Stack = stack_factory(text)
    answer = stack.slash(cast.MALLORY, "breakglass pci-db card data leak")
    assert "cannot override deny policy 'contractors-off-pci'" in answer and 'block = "all"' in answer
    assert "No manual-approval policy covers dev-1" in stack.slash(cast.ALICE, "breakglass dev-1 build farm down")
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert uow.repo.by_requester(cast.MALLORY) == [] and uow.repo.by_requester(cast.ALICE) == []
        refused = [e for e in uow.repo.events() if e.action == "breakglass_refused"]
    assert [e.actor for e in refused] == [cast.MALLORY, cast.ALICE]
    assert refused[0].detail["node_name"] == "pci-db"
    assert not [c for c in stack.slack.messages("C0AUDIT01") if "<!here>" in c.params.get("text", "")]
