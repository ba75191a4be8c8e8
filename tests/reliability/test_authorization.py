"""The authorization matrix: every action × every kind of actor, over signed HTTP.

The request was made by Alice under a two-level policy: level 1 "SRE lead" (Sam, Tina, and Ghost, a deleted
Slack account), level 2 "Manager" (Carol, Dave, Sam, Ghost). Sam approved level 1. So, at level 2:

* requester: Alice;                       * approver of this level: Dave;
* approver of another level: Tina;        * approver who already approved: Sam (at level 1; one level per person);
* outsider: Oscar (in no group);          * deleted Slack user: Ghost (listed at both levels, but deleted).

An allowed cell must do what it says (state, audit trail, IAM); a refused cell must answer with its message and
leave the database, the audit trail, IAM and what Slack shows exactly as they were.

One person has one live request per node (``core.checks.same_node``), so the requests live on distinct
nodes: the pending one refused actors share on web-1, the active one on dev-1, the fresh ones allowed actors get
on pci-db (the previous fresh one ended first), break-glass (exempt from the rule) on a node of its own.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.access import cancel, release
from core.approvals import decide
from core.model import State
from core.submit import RequestInput, submit
from fakes import cast
from fakes.aws import FakeAws
from handlers import commands, ids
from tests.helpers import valid_view
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    RelStack,
    actions,
    answer_after,
    answers,
    assert_unchanged,
    ctx,
    get,
    policies_of,
    policy_file,
    settled,
    world,
)

MGR = "C0MGRAPPR"
DM = f"D{cast.ALICE}"
ACTORS = {
    "requester": cast.ALICE,
    "approver of this level": cast.DAVE,
    "approver of another level": cast.TINA,
    "approver who already approved": cast.SAM,
    "outsider": cast.OSCAR,
    "deleted Slack user": cast.GHOST,
}
LEVELS = [{"name": "SRE lead", "channel": "C0SREAPPR", "approvers": ["S0SRELEAD", cast.GHOST], "required": 1},
          {"name": "Manager", "channel": MGR, "approvers": [cast.CAROL, cast.DAVE, cast.SAM, cast.GHOST],
           "required": 1}]

OWN = "cannot approve or reject your own request"
NOT_THIS_LEVEL = "Only the approvers of level 2 ('Manager')"
DECIDER = {"requester": OWN, "approver of this level": None, "approver of another level": NOT_THIS_LEVEL,
           "approver who already approved": "one person counts at one level at most", "outsider": NOT_THIS_LEVEL,
           "deleted Slack user": "Your Slack account cannot approve"}


def _requester_only(message: str) -> dict[str, str | None]:
    return {name: None if name == "requester" else message for name in ACTORS}


#: action → actor → None (allowed) or a fragment of the refusal the actor must get
MATRIX: dict[str, dict[str, str | None]] = {
    "approve": DECIDER,
    "reject": DECIDER,
    "cancel": _requester_only("Only the requester can cancel"),
    "release": _requester_only("Only the requester can release"),
    "revoke": {"requester": "Only an approver of policy 'two-levels' (other than the requester)",
               "approver of this level": None, "approver of another level": None,
               "approver who already approved": None, "outsider": "Only an approver of policy 'two-levels'",
               "deleted Slack user": "Your Slack account cannot revoke"},
    "extend": _requester_only("Only the requester of"),
    # break-glass: the reviewers are level 1's approvers (Sam, Tina), never the one who used it
    "review": {"requester": "You cannot review your own break-glass use", "approver of this level":
               "Only the level-1 approvers", "approver of another level": None, "approver who already approved": None,
               "outsider": "Only the level-1 approvers", "deleted Slack user": "Your Slack account cannot review"},
}
CELLS = [(action, actor) for action, row in MATRIX.items() for actor in row]


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker) -> RelStack:
    return module_stacks(policy_file(LEVELS, name="two-levels",
                                     extra=f'[breakglass]\nrequesters = ["{cast.ALICE}"]\nmax_duration = "1h"'))


@pytest.fixture(scope="module")
def nodes(fake_aws: tuple[FakeAws, dict[str, str]]) -> dict[str, str]:
    """Where each kind of request lives: refused actors share one pending and one active request, allowed
    actors get fresh ones, one at a time."""
    return {"_pending": "web-1", "_active": "dev-1", "fresh": "pci-db", "_breakglass": fake_aws[1]["batch"]}


def _end_live(stack: RelStack, node: str) -> None:
    """End Alice's live requests on ``node`` (the previous fresh one, and its extension), revocations confirmed."""
    with ctx(stack).uow() as uow:
        live = [r for r in uow.repo.by_requester(cast.ALICE, [State.PENDING, State.ACTIVE])
                if node in (r.node.name, r.node.id)]
    for request in sorted(live, key=lambda r: r.state is State.ACTIVE):  # the pending extension first
        if request.state is State.PENDING:
            cancel(ctx(stack), request.id, cast.ALICE)
        else:
            release(ctx(stack), request.id, cast.ALICE)
            settled(stack, request.id)


def _pending(stack: RelStack, node: str) -> str:
    """Alice's request, approved by Sam at level 1, waiting at level 2."""
    made = submit(ctx(stack), RequestInput(cast.ALICE, node, "matrix: look at the logs", "1h"))
    decide(ctx(stack), made.request.id, cast.SAM, approve=True)
    assert get(stack, made.request.id).current_level == 1
    return made.request.id


def _active(stack: RelStack, node: str) -> str:
    rid = _pending(stack, node)
    decide(ctx(stack), rid, cast.CAROL, approve=True)
    assert get(stack, rid).state is State.ACTIVE and f"jitbot-{rid}" in policies_of(stack)
    return rid


def _breakglass(stack: RelStack, node: str) -> str:
    if "breakglass" not in commands.SUBCOMMANDS:
        pytest.skip("break-glass has no Slack surface yet (`/jit breakglass` and its Review button): no review row")
    from core.breakglass import BreakglassInput, breakglass

    return breakglass(ctx(stack), BreakglassInput(cast.ALICE, node, "matrix: the site is down", "30m")).id


@dataclass(frozen=True)
class Action:
    state: Callable[[RelStack, str], str]  # makes a request in the state the action needs, on that node
    run: Callable[[RelStack, str, str], str]  # (stack, actor, request id) → the actor's answer
    check: Callable[[RelStack, str, str, list[str]], None]  # what an allowed actor must have done


def _click(action_id: str, channel: str) -> Callable[[RelStack, str, str], str]:
    def run(stack: RelStack, actor: str, rid: str) -> str:
        return stack.click(actor, action_id, rid, channel)
    return run


def _slash(template: str) -> Callable[[RelStack, str, str], str]:
    def run(stack: RelStack, actor: str, rid: str) -> str:
        return stack.slash(actor, template.format(rid=rid))
    return run


def _modal(action_id: str, callback_id: str, values: dict[str, dict[str, object]]) -> Callable[..., str]:
    """A button that opens a modal, then its submission. A refused clicker gets no modal; they then forge the
    submission (a copy of the modal with the request id in its private_metadata), which must be refused too."""
    def run(stack: RelStack, actor: str, rid: str) -> str:
        assert stack.sim is not None
        since, before = time.time(), len(answers(stack))
        assert stack.sim.block_action(actor, action_id, rid, channel_id=MGR).status == 200
        found = stack.slack.wait_for(lambda c: (c.method == "views.open" and c.at >= since)
                                     or (c.method == "response_url" and len(answers(stack)) > before), timeout=15)
        if found.method == "views.open":
            valid_view(found.params["view"])
            metadata = found.params["view"]["private_metadata"]
            first = None
        else:
            first = answer_after(stack, before)
            metadata = json.dumps({"id": rid, "response_url": stack.slack.make_response_url()})
        before = len(answers(stack))
        response = stack.sim.view_submission(actor, callback_id, values, private_metadata=metadata)
        assert response.status == 200 and not response.body.strip(), response.body
        second = answer_after(stack, before)
        if first is not None:
            assert first.split(":warning:")[-1].strip()[:40] in second, (first, second)
        return second
    return run


def _approved(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    assert get(stack, rid).state is State.ACTIVE and f"jitbot-{rid}" in policies_of(stack)
    assert trail == ["approve", "approved", "granted"]


def _rejected(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    done = get(stack, rid)
    assert (done.state, done.ended_by, done.end_reason) == (State.REJECTED, actor, "not this way")
    assert trail == ["reject", "rejected"] and f"jitbot-{rid}" not in policies_of(stack)


def _cancelled(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    assert get(stack, rid).state is State.CANCELLED and trail == ["cancelled"]


def _ended_by(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    done = settled(stack, rid)
    assert (done.state, done.ended_by) == (State.REVOKED, actor) and f"jitbot-{rid}" not in policies_of(stack)
    assert actions(stack, rid)[-2:] == ["revoked", "revocation_confirmed"]


def _extended(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    assert trail == [] and get(stack, rid).state is State.ACTIVE
    with ctx(stack).uow() as uow:
        extensions = [r for r in uow.repo.by_requester(cast.ALICE) if r.extends == rid]
    assert len(extensions) == 1 and extensions[0].state is State.PENDING


def _reviewed(stack: RelStack, actor: str, rid: str, trail: list[str]) -> None:
    assert trail == ["breakglass_reviewed"] and trail_actor(stack, rid) == actor


def trail_actor(stack: RelStack, rid: str) -> str:
    with ctx(stack).uow() as uow:
        return str(uow.repo.events(rid)[-1].actor)


REVIEW_VALUES: dict[str, dict[str, object]] = {
    "verdict": {"verdict_input": {"type": "radio_buttons", "selected_option": {"value": "justified"}}},
    "note": {"note_input": "checked the incident channel"}}
ACTIONS: dict[str, Action] = {
    "approve": Action(_pending, _click(ids.APPROVE, MGR), _approved),
    "reject": Action(_pending, _modal(ids.REJECT, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT:
                                                                                     "not this way"}}), _rejected),
    "cancel": Action(_pending, _click(ids.CANCEL, DM), _cancelled),
    "release": Action(_active, _click(ids.RELEASE, DM), _ended_by),
    "revoke": Action(_active, _slash("revoke {rid} suspicious activity"), _ended_by),
    "extend": Action(_active, _slash("extend {rid} 30m need more time"), _extended),
    "review": Action(_breakglass, lambda stack, actor, rid: _modal(
        "jit_breakglass_review", "jit_breakglass_review_view", REVIEW_VALUES)(stack, actor, rid), _reviewed),
}

SUCCESS = {"approve": "access was granted", "reject": "You rejected request", "cancel": "is cancelled",
           "release": "has ended", "revoke": "is revoked", "extend": "submitted", "review": "reviewed as justified"}


@pytest.fixture(scope="module")
def shared(stack: RelStack) -> dict[str, str]:
    """Requests that refused actors act on, one per state: refusals change nothing, so they can share."""
    return {}


@pytest.mark.parametrize(("action", "actor"), CELLS, ids=[f"{a}-{b.replace(' ', '_')}" for a, b in CELLS])
def test_matrix(stack: RelStack, nodes: dict[str, str], shared: dict[str, str], action: str, actor: str,
                figures: Counter[str]) -> None:
    spec, refusal, who = ACTIONS[action], MATRIX[action][actor], ACTORS[actor]
    state = spec.state.__name__
    if state not in shared:
        shared[state] = spec.state(stack, nodes[state])
    if refusal is None:  # an allowed actor gets a fresh one (break-glass, exempt from one-per-node, alongside)
        fresh = nodes[state] if state == "_breakglass" else nodes["fresh"]
        if state != "_breakglass":
            _end_live(stack, fresh)
        rid = spec.state(stack, fresh)
    else:
        rid = shared[state]
    before, trail_before = world(stack), actions(stack, rid)
    answer = spec.run(stack, who, rid)
    figures["requests: authorization"] += 1
    assert ":boom:" not in answer, answer
    if refusal is not None:
        assert refusal in answer, f"{action} by the {actor}: expected a refusal with {refusal!r}, got {answer!r}"
        assert_unchanged(stack, before, f"{action} by the {actor}")
        figures["refusals checked unchanged"] += 1
        return
    assert SUCCESS[action] in answer, f"{action} by the {actor}: {answer!r}"
    spec.check(stack, who, rid, actions(stack, rid)[len(trail_before):])
    figures["allowed actions checked"] += 1


def test_a_second_review_is_refused(stack: RelStack, nodes: dict[str, str], figures: Counter[str]) -> None:
    rid = _breakglass(stack, nodes["_breakglass"])
    run = ACTIONS["review"].run
    assert "reviewed as justified" in run(stack, cast.TINA, rid)
    before = world(stack)
    assert "already reviewed" in run(stack, cast.SAM, rid)
    assert_unchanged(stack, before, "a second review")
    figures["requests: authorization"] += 2

