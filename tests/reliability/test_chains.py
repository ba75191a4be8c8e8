"""Extension chains end when their access ends: a revoke (or a release) ends the whole chain, and every link's
IAM policy is deleted with the same retries as any revocation.

Reproduced through the real path: signed HTTP into /slack/events (``/jit`` commands, Approve clicks), the fake
Slack Web API over HTTP, moto for IAM and SSM. The bot's own sweep runs every five minutes only (longer than these
tests): the tests run ``core.sweep.sweep`` where the scheduler would, so each retry happens when the test says.

* revoke a grant whose extension waits for approval, then approve the extension: nothing is granted, the
  extension is cancelled (buttons gone, requester told, audited), no policy is left in IAM;
* the same after a release by the requester;
* an extension already approved, whose grant AWS has not confirmed yet when the grant is revoked: never granted;
* revoke and the last approval at the same moment: whichever wins, no access is left;
* revoke a link that an extension has taken over: the live link of the chain ends;
* the superseded grant's policy, whose delete AWS refuses for a while: retried with backoff, alerted after
  ``ALERT_AFTER_ATTEMPTS``, removed in the end; and revoking the chain meanwhile removes it too.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from core import sweep
from core.access import ALERT_AFTER_ATTEMPTS
from core.model import AccessRequest, State
from fakes import cast
from fakes.aws import FakeAws
from handlers import ids
from tests.helpers import eventually
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    AUDIT,
    RelStack,
    actions,
    answers,
    ctx,
    get,
    messages,
    policies_of,
    policy_file,
    said,
)

SRE = "C0CHAINS1"
DM = f"D{cast.ALICE}"
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": [cast.SAM, cast.TINA], "required": 1}]
RID = re.compile(r"\bR[0-9A-Z]{8}\b")


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, fake_aws: tuple[FakeAws, dict[str, str]]) -> RelStack:
    aws, _ = fake_aws
    # a grantee of its own (per database too), so that counting its policies is exact
    role = aws.create_role(f"rel-chains-{uuid.uuid4().hex[:8]}")
    policies = policy_file(LEVELS, identities={cast.ALICE: role})
    made = module_stacks(policies, max_attempts=1, sweep_seconds=300, settings={"retry_backoff_seconds": 0.05})
    made.grantee = role
    return made


@pytest.fixture(autouse=True)
def no_fault_left(stack: RelStack) -> Iterator[None]:
    yield
    stack.aws.clear_faults()
    stack.aws.delay = 0.0


def _rid(text: str) -> str:
    found = RID.search(text)
    assert found is not None, text
    return found.group(0)


def _active(stack: RelStack) -> AccessRequest:
    """A granted request of Alice's on a node of its own, through /jit request and an Approve click."""
    node = f"chain-{uuid.uuid4().hex[:8]}"
    stack.aws.add_instance(node, {"Environment": "prod"})
    rid = _rid(stack.slash(cast.ALICE, f"request {node} 1h investigate the chain"))
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    active = get(stack, rid)
    assert active.state is State.ACTIVE and f"jitbot-{rid}" in policies_of(stack)
    return active


def _extension(stack: RelStack, old: str) -> str:
    answer = stack.slash(cast.ALICE, f"extend {old} 30m the migration is slow")
    assert f"(extending {old})" in answer and "Waiting for level 1" in answer, answer
    return _rid(answer.replace(old, ""))


def _buttons(stack: RelStack, request_id: str) -> list[str]:
    """The action ids still shown on the request's approval messages, as Slack shows them now."""
    with ctx(stack).uow() as uow:
        refs = [r for r in uow.repo.messages(request_id) if r.purpose.startswith("level-")]
    assert refs, request_id
    shown: list[str] = []
    for ref in refs:
        message = stack.slack.message(ref.channel, ref.ts)
        assert message is not None
        for block in message.get("blocks", []):
            shown += [e.get("action_id", "") for e in block.get("elements", []) if block.get("type") == "actions"]
    return shown


def _no_access_left(stack: RelStack, *request_ids: str) -> None:
    left = policies_of(stack) & {f"jitbot-{rid}" for rid in request_ids}
    assert not left, left
    live = [rid for rid in request_ids if not get(stack, rid).state.is_final]
    assert not live, live


def _sweep_until(stack: RelStack, done: Callable[[], bool], what: str, times: int = 200) -> None:
    """Run the sweep (as the scheduler would) until ``done()`` holds."""
    for _ in range(times):
        if done():
            return
        sweep.sweep(ctx(stack))
        threading.Event().wait(0.02)  # let the retry backoff (0.05 s) run out
    raise AssertionError(f"the sweep never got to {what}")


# -- 1. a revoke ends the whole chain ----------------------------------------------------------------------------
def test_revoke_then_approve_the_extension_grants_nothing(stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    assert _buttons(stack, ext) == [ids.APPROVE, ids.APPROVE_FOR, ids.REJECT]  # 30m asked: "Approve for 15m"
    answer = stack.slash(cast.TINA, f"revoke {old.id} suspicious activity")
    assert "revoked" in answer, answer
    # the attack: the extension's approver clicks Approve on the message they still had open
    answer = stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    figures["requests: chains"] += 2
    assert "already cancelled" in answer and "granted" not in answer, answer
    eventually(lambda: not get(stack, old.id).needs_cleanup, what="the revocation")
    _no_access_left(stack, old.id, ext)
    assert get(stack, old.id).state is State.REVOKED
    cancelled = get(stack, ext)
    assert cancelled.state is State.CANCELLED and cancelled.ended_by == cast.TINA
    assert cancelled.end_reason == f"{old.id} was revoked (suspicious activity)"
    assert _buttons(stack, ext) == []
    said(stack, DM, ext, "cancelled", f"{old.id} was revoked")
    said(stack, AUDIT, ext, "cancelled")
    assert actions(stack, ext) == ["submitted", "cancelled"]
    assert actions(stack, old.id)[-2:] == ["revoked", "revocation_confirmed"]
    assert len(messages(stack, DM, ext, "cancelled")) == 1
    figures["audit trails checked against the expected trail"] += 1


def test_release_cancels_the_pending_extension(stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    answer = stack.slash(cast.ALICE, f"release {old.id}")
    figures["requests: chains"] += 2
    assert "ended" in answer, answer
    cancelled = get(stack, ext)
    assert cancelled.state is State.CANCELLED and cancelled.ended_by == cast.ALICE
    assert _buttons(stack, ext) == []
    said(stack, DM, ext, "cancelled", f"{old.id} was released")
    answer = stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    assert "already cancelled" in answer, answer
    eventually(lambda: not get(stack, old.id).needs_cleanup, what="the revocation")
    _no_access_left(stack, old.id, ext)
    assert actions(stack, ext) == ["submitted", "cancelled"]


def test_an_approved_extension_whose_grant_is_retrying_is_never_granted_after_the_revoke(
        stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    stack.aws.fail_next("iam:PutRolePolicy", "Throttling")  # the extension's grant is not confirmed at once
    figures["faults injected: AWS"] += 1
    answer = stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    assert "AWS has not confirmed the grant yet" in answer, answer
    assert get(stack, ext).state is State.APPROVED
    assert "revoked" in stack.slash(cast.TINA, f"revoke {old.id} stop everything")
    figures["requests: chains"] += 2
    _sweep_until(stack, lambda: get(stack, ext).state.is_final and not get(stack, ext).needs_cleanup,
                 "the extension's retry")
    failed = get(stack, ext)
    assert failed.state is State.FAILED and failed.end_reason is not None
    assert f"{old.id} was revoked" in failed.end_reason
    _no_access_left(stack, old.id, ext)
    assert "granted" not in actions(stack, ext)
    assert _buttons(stack, ext) == []
    said(stack, DM, ext, "could not be granted", f"{old.id} was revoked")


def _at_once(stack: RelStack, old_id: str, ext: str) -> list[str]:
    """The approver clicks Approve on the extension as another revokes the access it extends, at the same
    moment (a barrier), each on their own HTTP connection; returns both answers."""
    assert stack.sim is not None
    sim = stack.sim
    start = threading.Barrier(2)
    before = len(answers(stack))

    def approve() -> None:
        start.wait()
        assert sim.block_action(cast.SAM, ids.APPROVE, ext, channel_id=SRE).status == 200

    def revoke() -> None:
        start.wait()
        assert sim.command(cast.TINA, f"revoke {old_id} race").status == 200

    threads = [threading.Thread(target=approve), threading.Thread(target=revoke)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return eventually(lambda: len(answers(stack)) >= before + 2 and
                      [str(c.params.get("text")) for c in answers(stack)[before:before + 2]], timeout=30,
                      what="both answers")


def test_revoke_and_the_last_approval_at_once_leave_no_access(stack: RelStack, figures: Counter[str]) -> None:
    """Whichever lands first (AWS answers slowly, so each side is mid-way when the other acts), nothing stays."""
    for _ in range(3):
        old = _active(stack)
        ext = _extension(stack, old.id)
        stack.aws.delay = 0.3
        told = _at_once(stack, old.id, ext)
        stack.aws.delay = 0.0
        figures["requests: chains"] += 2
        assert any(" is revoked" in t for t in told) and not any(":boom:" in t for t in told), told
        _sweep_until(stack, lambda old_id=old.id, ext=ext: all(
            (r := get(stack, rid)).state.is_final and not r.needs_cleanup for rid in (old_id, ext)),
            "the end of the chain")
        _no_access_left(stack, old.id, ext)
        # which side won: revoked (the grant first), failed (the revoke mid-grant), cancelled (the revoke first)
        figures[f"chain races ending the extension {get(stack, ext).state.value}"] += 1


def test_revoking_a_superseded_link_ends_the_live_one(stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    assert get(stack, old.id).end_reason == f"extended by {ext}"
    answer = stack.slash(cast.TINA, f"revoke {old.id} the whole thing")
    figures["requests: chains"] += 2
    assert ext in answer and "revoked" in answer, answer
    eventually(lambda: not get(stack, ext).needs_cleanup, what="the revocation")
    revoked = get(stack, ext)
    assert revoked.state is State.REVOKED and revoked.ended_by == cast.TINA
    _no_access_left(stack, old.id, ext)
    said(stack, DM, ext, "was revoked")


# -- 2. a superseded grant's policy is cleaned like any other ----------------------------------------------------
def test_a_superseded_policy_aws_will_not_delete_is_retried_alerted_and_removed(
        stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    owner = f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{stack.grantee.rsplit('/', 1)[-1]}/alice"
    session = stack.aws.start_session(old.node.id, owner)
    stack.aws.fail_next("iam:DeleteRolePolicy", "Throttling", times=ALERT_AFTER_ATTEMPTS)
    figures["faults injected: AWS"] += ALERT_AFTER_ATTEMPTS
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    superseded = get(stack, old.id)
    assert superseded.state is State.EXPIRED and superseded.needs_cleanup
    assert f"jitbot-{old.id}" in policies_of(stack) and f"jitbot-{ext}" in policies_of(stack)
    _sweep_until(stack, lambda: not get(stack, old.id).needs_cleanup, "the superseded policy's removal")
    assert policies_of(stack) >= {f"jitbot-{ext}"} and f"jitbot-{old.id}" not in policies_of(stack)
    trail = actions(stack, old.id)
    assert trail[trail.index("superseded"):] == (["superseded"] + ["revoke_retry"] * ALERT_AFTER_ATTEMPTS
                                                 + ["revocation_confirmed"]), trail
    said(stack, AUDIT, old.id, "revocation is failing")
    # the extension carries on: the session stays, and nobody is told that access ended
    assert [s["Status"] for s in stack.aws.sessions(old.node.id) if s["SessionId"] == session] != ["Terminated"]
    assert not messages(stack, DM, old.id, "expired") and not messages(stack, DM, old.id, "revoked")
    assert get(stack, ext).state is State.ACTIVE
    stack.slash(cast.ALICE, f"release {ext}")
    eventually(lambda: not get(stack, ext).needs_cleanup, what="the release")
    _no_access_left(stack, old.id, ext)
    figures["audit trails checked against the expected trail"] += 1


def test_revoking_the_chain_removes_the_policy_of_every_link(stack: RelStack, figures: Counter[str]) -> None:
    old = _active(stack)
    ext = _extension(stack, old.id)
    stack.aws.fail_next("iam:DeleteRolePolicy", "Throttling")  # the superseded link's first delete
    figures["faults injected: AWS"] += 1
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, ext, SRE)
    assert get(stack, old.id).needs_cleanup and f"jitbot-{old.id}" in policies_of(stack)
    owner = f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{stack.grantee.rsplit('/', 1)[-1]}/alice"
    session = stack.aws.start_session(old.node.id, owner)
    assert "revoked" in stack.slash(cast.TINA, f"revoke {ext} incident")
    figures["requests: chains"] += 1
    # no sweep ran: the revoke itself removed both links' policies
    eventually(lambda: not get(stack, ext).needs_cleanup and not get(stack, old.id).needs_cleanup,
               what="every link cleaned")
    _no_access_left(stack, old.id, ext)
    assert [s["Status"] for s in stack.aws.sessions(old.node.id) if s["SessionId"] == session] == ["Terminated"]
