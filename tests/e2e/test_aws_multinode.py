"""Several nodes in one request, end to end (signed HTTP, the fake Slack, moto): a list or a tag selector is one
request, one approval path and one grant whose IAM statement lists each node's ARN; revocation and expiry end the
sessions on every node; the refusals (nodes under different policies, more than ``max_nodes``, an unknown node,
a node listed twice, nodes in different accounts) say why and record nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from core.model import AccessRequest, State
from fakes import cast
from fakes.stack import Stack
from tests.aws.e2e_support import (
    ALICE_ROLE,
    AUDIT,
    FAR,
    FAST_ELECTION,
    HOME,
    SRE,
    approval_for,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
)
from tests.helpers import events

StackFactory = Callable[..., Stack]
ALICE_SESSION = f"arn:aws:sts::{HOME}:assumed-role/alice/alice@example.com"
REGION = "us-east-1"


def fleet_policy(uid: str, max_nodes: int = 3) -> str:
    """A manual policy for the nodes tagged ``Fleet = uid`` (more specific than the file's ``targets = "all"``)."""
    return f"""
[[manual_approval]]
name = "fleet-{uid}"
targets = {{ tags = {{ Fleet = "{uid}" }} }}
max_duration = "2h"
max_nodes = {max_nodes}
  [[manual_approval.levels]]
  name = "SRE"
  channel = "{SRE}"
  approvers = ["S0SRELEAD"]
"""


def fleet(stack: Stack, uid: str, count: int, account: str | None = None) -> list[str]:
    return [stack.aws.add_instance(f"mn{i}-{uid}", {"Fleet": uid}, account=account) for i in range(count)]


def _active(stack: Stack, sid: str) -> bool:
    return any(s["SessionId"] == sid for s in stack.aws.sessions(state="Active"))


def _arns(stack: Stack, grant: AccessRequest) -> list[str]:
    document = stack.aws.inline_policies(ALICE_ROLE)[f"jitbot-{grant.id}"]
    start = next(s for s in document["Statement"] if s["Sid"] == "JitbotStartSession")
    return [r for r in start["Resource"] if ":instance/" in r]


def _requests_of(stack: Stack, user: str) -> list[AccessRequest]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.by_requester(user)


def test_a_list_is_one_approval_one_grant_on_each_node_and_revocation_ends_every_session(
        stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid)), settings=FAST_ELECTION)
    nodes = fleet(stack, uid, 3)
    elsewhere = stack.aws.add_instance(f"other-{uid}")
    grant = granted(stack, cast.ALICE, f"request mn0-{uid}, mn1-{uid},mn2-{uid} 1h roll out the fix", nodes[0])
    assert grant.state is State.ACTIVE and grant.policy == f"fleet-{uid}"
    assert [n.id for n in grant.nodes] == nodes
    assert len([r for r in _requests_of(stack, cast.ALICE) if r.policy == f"fleet-{uid}"]) == 1
    # one approval message listing every node, one IAM policy whose statement lists each node's ARN
    _, approval = approval_for(stack, nodes[0])
    assert all(n in approval["text"] for n in nodes)
    assert all(n in json.dumps(approval["blocks"]) for n in nodes)
    assert _arns(stack, grant) == [f"arn:aws:ec2:{REGION}:{HOME}:instance/{n}" for n in nodes]
    said(stack, f"D{cast.ALICE}", grant.id, "Access granted", *nodes)

    mine = [stack.aws.start_session(n, ALICE_SESSION) for n in nodes]
    kept = [stack.aws.start_session(elsewhere, ALICE_SESSION)]  # her session on a node outside the grant
    assert "is revoked" in stack.slash(cast.TINA, f"revoke {grant.id} the rollout is over")
    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.REVOKED, 3)
    assert not any(_active(stack, s) for s in mine)
    assert all(_active(stack, s) for s in kept)
    assert f"jitbot-{grant.id}" not in stack.aws.inline_policies(ALICE_ROLE)
    said(stack, AUDIT, grant.id, "revoked", "3 sessions terminated")


def test_a_tag_selector_is_resolved_once_and_expiry_ends_the_sessions_on_every_node(
        stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid)), settings=FAST_ELECTION)
    nodes = fleet(stack, uid, 2)
    scheduler_of(stack)  # the expiry needs it
    grant = granted(stack, cast.ALICE, f"request tag:Fleet={uid} 3s quick look", nodes[0])
    assert grant.state is State.ACTIVE and sorted(n.id for n in grant.nodes) == sorted(nodes)
    submitted = next(e for e in events(stack, grant.id) if e.action == "submitted")
    assert sorted(n["id"] for n in submitted.detail["nodes"]) == sorted(nodes)
    fleet(stack, uid, 1)  # tagged after the request: not part of it, ever
    sessions = [stack.aws.start_session(n, ALICE_SESSION) for n in nodes]

    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.EXPIRED, 2)
    assert sorted(n.id for n in done.nodes) == sorted(nodes)
    assert not any(_active(stack, s) for s in sessions)
    said(stack, AUDIT, grant.id, "expired", "2 sessions terminated")


def test_refusals_say_why_and_record_nothing(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid, max_nodes=2)), settings=FAST_ELECTION)
    nodes = fleet(stack, uid, 3)
    plain = stack.aws.add_instance(f"plain-{uid}")  # under the file's "one-sre" policy
    far = stack.aws.add_instance(f"far-{uid}", {"Fleet": uid}, account=FAR)

    answer = stack.slash(cast.ALICE, f"request mn0-{uid},plain-{uid} 1h deploy")
    assert "different policies" in answer
    assert f"mn0-{uid} ({nodes[0]}): 'fleet-{uid}'" in answer and f"plain-{uid} ({plain}): 'one-sre'" in answer

    answer = stack.slash(cast.ALICE, f"request mn0-{uid},mn1-{uid},mn2-{uid} 1h deploy")
    assert "You asked for 3 nodes" in answer and f"policy 'fleet-{uid}' allows at most 2 in one request" in answer

    answer = stack.slash(cast.ALICE, f"request mn0-{uid},mn9-{uid} 1h deploy")
    assert f"mn9-{uid}" in answer and "No " in answer

    answer = stack.slash(cast.ALICE, f"request mn0-{uid},{nodes[0]} 1h deploy")
    assert f"'mn0-{uid}' and '{nodes[0]}' are the same node ({nodes[0]}): list each node once." in answer
    assert f"'mn1-{uid}' is listed twice" in stack.slash(cast.ALICE, f"request mn1-{uid},mn1-{uid} 1h deploy")

    answer = stack.slash(cast.ALICE, f"request mn0-{uid},{FAR}/{far} 1h deploy")
    assert "one account and region" in answer and FAR in answer

    answer = stack.slash(cast.ALICE, f"request tag:Fleet={uid} 1h deploy")  # 3 here and 1 in the far account
    assert "one account and region" in answer
    assert f"`{HOME}/{REGION}/tag:Fleet={uid}`" in answer and f"`{FAR}/{REGION}/tag:Fleet={uid}`" in answer

    assert [r.id for r in _requests_of(stack, cast.ALICE) if uid in (r.node.name or "")] == []
