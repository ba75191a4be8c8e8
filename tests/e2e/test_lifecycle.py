"""One request from ``/jit request`` to revocation, through signed HTTP, the fake Slack and moto."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.helpers import approval_post, button_value, events, eventually, request

ALICE_ROLE = "arn:aws:iam::123456789012:role/alice"
BOB_ROLE = "arn:aws:iam::123456789012:role/bob"


def _granted_policy(stack: Stack, principal: str, request_id: str) -> dict | None:
    return stack.aws.inline_policies(principal).get(f"jitbot-{request_id}")


def test_two_levels_grant_then_revocation_at_expiry(stack: Stack) -> None:
    answer = stack.slash(cast.ALICE, "request web-1 3s disk full on /var")
    assert "submitted" in answer and "SRE lead" in answer

    level1 = approval_post(stack, "C0SREAPPR")
    rid = button_value(level1, ids.APPROVE)
    assert button_value(level1, ids.REJECT) == rid
    assert request(stack, rid).state is State.PENDING

    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid)
    level2 = approval_post(stack, "C0MGRAPPR")
    assert button_value(level2, ids.APPROVE) == rid
    # level 1's message was updated in place: no buttons any more, and who approved
    update = stack.slack.wait_for(lambda c: c.method == "chat.update" and c.params["ts"] and
                                  "<@U0SAM0001> approved" in str(c.params["blocks"]))
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]

    assert "1 more approval" in stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    assert request(stack, rid).state is State.PENDING
    assert "access was granted" in stack.click(cast.DAVE, ids.APPROVE, rid, "C0MGRAPPR")

    active = request(stack, rid)
    assert active.state is State.ACTIVE and active.expires_at is not None
    document = _granted_policy(stack, ALICE_ROLE, rid)
    assert document is not None
    condition = document["Statement"][0]["Condition"]["DateLessThan"]["aws:CurrentTime"]
    assert condition == active.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    dm = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params["channel"] == f"D{cast.ALICE}"
                              and "aws ssm start-session" in c.params.get("text", ""))
    assert web1(stack) in dm.params["text"]

    ended = eventually(lambda: (r := request(stack, rid)).state is State.EXPIRED and not r.needs_cleanup and r,
                       timeout=15, what="expiry and revocation")
    assert ended.ended_at is not None
    assert _granted_policy(stack, ALICE_ROLE, rid) is None
    stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params["channel"] == f"D{cast.ALICE}"
                         and "expired" in c.params.get("text", ""))
    actions = [e.action for e in events(stack, rid)]
    assert actions == ["submitted", "approve", "level_approved", "approve", "approve", "approved", "granted",
                       "expired", "revocation_confirmed"]


def web1(stack: Stack) -> str:
    return stack.nodes["web-1"]


def test_auto_approval_grants_at_once(stack: Stack) -> None:
    answer = stack.slash(cast.BOB, "request dev-1 30m run a migration")
    assert "access to" in answer and "granted" in answer
    rid = answer.split("*")[1]
    assert request(stack, rid).state is State.ACTIVE
    assert _granted_policy(stack, BOB_ROLE, rid) is not None
    audit = stack.slack.wait_for(lambda c: c.params.get("channel") == "C0AUDIT01" and rid in c.params.get("text", ""))
    assert "granted (auto)" in audit.params["text"]


def test_deny_all_refuses_and_records(stack: Stack) -> None:
    answer = stack.slash(cast.MALLORY, "request pci-db 1h look at the payments table")
    assert "denied by policy 'contractors-off-pci'" in answer
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert uow.repo.by_requester(cast.MALLORY) == []
        refused = [e for e in uow.repo.events() if e.action == "request_refused"]
    assert refused and refused[-1].detail["policy"] == "contractors-off-pci"
    assert not stack.slack.messages("C0SREAPPR")


DENY_AUTO = """
[settings]
audit_channel = "C0AUDIT01"
[identities]
U0BOB0001 = "arn:aws:iam::123456789012:role/bob"
[[deny]]
name = "no-self-service-today"
targets = { tags = { Environment = "dev" } }
block = "auto"
[[auto_approval]]
name = "dev-self-service"
targets = { tags = { Environment = "dev" } }
max_duration = "8h"
[[manual_approval]]
name = "anything"
targets = "all"
max_duration = "2h"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["S0SRELEAD"]
"""


def test_deny_auto_falls_back_to_manual_approval(stack_factory) -> None:
    stack = stack_factory(DENY_AUTO)
    answer = stack.slash(cast.BOB, "request dev-1 1h debugging")
    assert "Waiting for level 1" in answer
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert request(stack, rid).state is State.PENDING
    assert _granted_policy(stack, BOB_ROLE, rid) is None


def test_rejection_with_reason_ends_the_request(stack: Stack) -> None:
    stack.slash(cast.ALICE, "request web-1 1h deploy hotfix")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert stack.sim is not None
    response = stack.sim.block_action(cast.SAM, ids.REJECT, rid, trigger_id="T123")
    assert response.status == 200
    opened = stack.slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == ids.REJECT_VIEW
    empty = stack.sim.view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: ""}},
                                      private_metadata=opened.params["view"]["private_metadata"])
    assert empty.json()["response_action"] == "errors"
    assert request(stack, rid).state is State.PENDING
    stack.sim.view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: "use the runbook"}},
                              private_metadata=opened.params["view"]["private_metadata"])
    rejected = eventually(lambda: (r := request(stack, rid)).state is State.REJECTED and r, what="rejection")
    assert rejected.end_reason == "use the runbook"
    stack.slack.wait_for(lambda c: c.params.get("channel") == f"D{cast.ALICE}" and
                         "use the runbook" in c.params.get("text", ""))


def test_approval_rules_refuse_with_reasons(stack: Stack) -> None:
    stack.slash(cast.SAM, "request web-1 1h restart nginx")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert "cannot approve or reject your own" in stack.click(cast.SAM, ids.APPROVE, rid)
    assert "Only the approvers of level 1" in stack.click(cast.OSCAR, ids.APPROVE, rid)
    assert "Only the approvers of level 1" in stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    assert "There is no request RNOPE" in stack.click(cast.TINA, ids.APPROVE, "RNOPE")
    assert request(stack, rid).state is State.PENDING and request(stack, rid).current_level == 0
    assert "level 2" in stack.click(cast.TINA, ids.APPROVE, rid)
    assert "already" in stack.click(cast.TINA, ids.APPROVE, rid)
    assert [e.action for e in events(stack, rid)].count("approve") == 1


SAME_PERSON_TWICE = """
[identities]
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
[[manual_approval]]
name = "two-step"
targets = "all"
max_duration = "1h"
  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0CAROL01"]
  [[manual_approval.levels]]
  channel = "C0MGRAPPR"
  approvers = ["U0CAROL01", "U0DAVE001"]
"""


def test_one_person_counts_at_one_level_only(stack_factory) -> None:
    stack = stack_factory(SAME_PERSON_TWICE)
    stack.slash(cast.ALICE, "request web-1 10m check logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    approval_post(stack, "C0MGRAPPR")
    assert "one person counts at one level at most" in stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    assert request(stack, rid).current_level == 1
    assert "access was granted" in stack.click(cast.DAVE, ids.APPROVE, rid, "C0MGRAPPR")


def test_unsigned_and_badly_signed_requests_get_401(stack: Stack) -> None:
    assert stack.sim is not None
    body = b"command=%2Fjit&text=request+web-1+1h+x&user_id=U0ALICE01"
    assert stack.sim.raw(body, {"Content-Type": "application/x-www-form-urlencoded"}).status == 401
    assert stack.sim.command(cast.ALICE, "request web-1 1h x", secret="not-the-secret").status == 401
    assert stack.sim.command(cast.ALICE, "request web-1 1h x", timestamp=int(time.time()) - 600).status == 401
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert uow.repo.by_requester(cast.ALICE) == []


def test_restart_after_expiry_revokes_on_start(stack: Stack) -> None:
    answer = stack.slash(cast.BOB, "request dev-1 4s quick look")
    rid = answer.split("*")[1]
    expires_at = request(stack, rid).expires_at
    assert expires_at is not None
    assert _granted_policy(stack, BOB_ROLE, rid) is not None
    stack.shutdown_bot()  # jitbot is down when the grant expires
    assert request_state_in_db(stack.database_url, rid) == "active"  # it stopped before the expiry
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    assert _granted_policy(stack, BOB_ROLE, rid) is not None  # (IAM's DateLessThan already denies it)
    stack.boot()
    eventually(lambda: request(stack, rid).state is State.EXPIRED and not request(stack, rid).needs_cleanup,
               timeout=10, what="revocation after restart")
    assert _granted_policy(stack, BOB_ROLE, rid) is None


def request_state_in_db(url: str, request_id: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT state FROM requests WHERE id = :id"), {"id": request_id}).scalar())
    finally:
        engine.dispose()


def test_bad_input_is_explained_and_changes_nothing(stack: Stack) -> None:
    cases = {
        "request nosuch-node 1h x": "nosuch-node",
        "request batch 1h x": "matches 2 nodes",
        "request web-1 9h too long": "at most 4h",
        "request web-1 5x not a duration": "'5x' is not a duration",
        "request web-1 0s zero": "shorter than the minimum",
        "request web-1 1h": "reason",
        "request web-1": "reason",
        "frobnicate": "Unknown subcommand",
    }
    for text, expected in cases.items():
        answer = stack.slash(cast.ALICE, text)
        assert expected in answer, (text, answer)
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert uow.repo.by_requester(cast.ALICE) == []
