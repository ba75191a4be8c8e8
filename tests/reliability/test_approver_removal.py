"""Removing an approver takes effect (issue 14, 1.6), over signed HTTP with the fake Slack and moto.

A request records its levels when it is made (``LevelSnapshot``), so that adding an approver later gives them no
say over it. Removing one must count at once: after a reload, a person the policy in force no longer names for a
level cannot decide it, by button or by ``/jit pending``. When the request's policy is gone from the file (removed
or renamed: jitbot cannot tell the two apart), nobody can approve it any more; its recorded approvers can still
reject it, which only closes it.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from core.model import State
from fakes import cast
from handlers import ids
from tests.helpers import eventually
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    RelStack,
    actions,
    answers,
    assert_unchanged,
    ctx,
    get,
    policies_of,
    policy_file,
    world,
)
from tests.reliability.test_authorization import REVIEW_VALUES, _modal

SRE = "C0SREAPPR"
BOTH = [{"name": "SRE lead", "channel": SRE, "approvers": [cast.SAM, cast.TINA], "required": 1}]
TINA_ONLY = [{"name": "SRE lead", "channel": SRE, "approvers": [cast.TINA], "required": 1}]
assert REVIEW_VALUES  # the modal helper comes from the authorization matrix


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker) -> RelStack:
    return module_stacks(policy_file(BOTH, name="ops"), settings={"policy_poll_seconds": 0.05})


def _reload(stack: RelStack, text: str) -> None:
    """Write the policy file and wait until the bot has it in force (the watch polls every 50 ms)."""
    if stack.policies_path.read_text("utf-8") == text:
        return
    with ctx(stack).uow() as uow:
        before = sum(1 for e in uow.repo.events() if e.action == "policies_reloaded")
    time.sleep(0.01)
    stack.policies_path.write_text(text, "utf-8")

    def reloaded() -> bool:
        with ctx(stack).uow() as uow:
            return sum(1 for e in uow.repo.events() if e.action == "policies_reloaded") > before
    eventually(reloaded, timeout=20, what="the policy reload")


def _pending(stack: RelStack, node: str) -> str:
    answer = stack.slash(cast.ALICE, f"request {node} 1h rotate the logs")
    assert "submitted" in answer, answer
    with ctx(stack).uow() as uow:
        [request] = [r for r in uow.repo.by_requester(cast.ALICE, [State.PENDING]) if r.node.name == node]
    return request.id


def _waiting_for(stack: RelStack, user: str) -> str:
    """``/jit pending`` as ``user``: the answer's text and blocks (the ids are in the blocks)."""
    before = len(answers(stack))
    stack.slash(user, "pending")
    params = answers(stack)[before].params
    return f"{params.get('text')} {params.get('blocks')}"


def test_an_approver_removed_from_the_file_can_no_longer_decide(stack: RelStack, figures: Counter[str]) -> None:
    rid = _pending(stack, "web-1")
    assert rid in _waiting_for(stack, cast.SAM)
    _reload(stack, policy_file(TINA_ONLY, name="ops"))

    assert rid not in _waiting_for(stack, cast.SAM)
    before = world(stack)
    for action_id in (ids.APPROVE, ids.REJECT):
        answer = stack.click(cast.SAM, action_id, rid, SRE)
        assert "You are no longer an approver of level 1 ('SRE lead') of policy 'ops'" in answer, answer
    assert_unchanged(stack, before, "a decision by a removed approver")
    figures["refusals checked unchanged"] += 2

    assert rid in _waiting_for(stack, cast.TINA)
    assert "access was granted" in stack.click(cast.TINA, ids.APPROVE, rid, SRE)
    assert get(stack, rid).state is State.ACTIVE and f"jitbot-{rid}" in policies_of(stack)
    assert "is revoked" in stack.slash(cast.TINA, f"revoke {rid} done with it")
    _reload(stack, policy_file(BOTH, name="ops"))


def test_an_added_approver_gets_no_say_over_an_earlier_request(stack: RelStack, figures: Counter[str]) -> None:
    _reload(stack, policy_file(TINA_ONLY, name="ops"))
    rid = _pending(stack, "dev-1")
    _reload(stack, policy_file(BOTH, name="ops"))
    before = world(stack)
    answer = stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    assert "Only the approvers of level 1 ('SRE lead')" in answer, answer
    assert_unchanged(stack, before, "a decision by an approver added after the request")
    figures["refusals checked unchanged"] += 1
    assert "is cancelled" in stack.slash(cast.ALICE, f"cancel {rid}")


def test_a_request_whose_policy_is_gone_can_be_rejected_not_approved(stack: RelStack,
                                                                     figures: Counter[str]) -> None:
    rid = _pending(stack, "pci-db")
    _reload(stack, policy_file(BOTH, name="ops-renamed"))
    before = world(stack)
    answer = stack.click(cast.TINA, ids.APPROVE, rid, SRE)
    assert f"Request {rid} can no longer be approved: policy 'ops' no longer has level 1" in answer, answer
    assert rid not in _waiting_for(stack, cast.TINA)
    assert_unchanged(stack, before, "an approval under a policy that is gone")
    figures["refusals checked unchanged"] += 1

    reject = _modal(ids.REJECT, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: "policy retired"}})
    assert "You rejected request" in reject(stack, cast.TINA, rid)
    assert get(stack, rid).state is State.REJECTED and actions(stack, rid)[-2:] == ["reject", "rejected"]
    _reload(stack, policy_file(BOTH, name="ops"))
