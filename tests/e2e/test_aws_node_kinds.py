"""Nodes of every kind, end to end: SSM ping status shown to requester and approvers (offline still
requestable, with a warning), hybrid managed nodes (``mi-…``), a node in a second account through its
``[accounts]`` role, a region prefix, and policies whose targets name accounts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.aws.e2e_support import (
    ALICE_ROLE,
    AUDIT,
    FAR,
    FAST_ELECTION,
    HOME,
    MGR,
    SRE,
    approval_for,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
)
from tests.helpers import request

StackFactory = Callable[..., Stack]
ALICE_SESSION = f"arn:aws:sts::{HOME}:assumed-role/alice/alice@example.com"


def test_ping_status_is_shown_and_an_offline_node_can_still_be_requested(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    lost = stack.aws.add_instance(f"lost-{uid}", {"Environment": "prod"}, ping="ConnectionLost")
    fine = stack.aws.add_instance(f"fine-{uid}", {"Environment": "prod"})

    answer = stack.slash(cast.ALICE, f"request lost-{uid} 1h agent looks dead")
    assert ":warning:" in answer and "ConnectionLost" in answer and "submitted" in answer
    rid, approval = approval_for(stack, lost)
    assert "SSM: ConnectionLost" in json.dumps(approval["blocks"])  # the approvers see it too
    assert request(stack, rid).state is State.PENDING and request(stack, rid).node.ping_status == "ConnectionLost"

    answer = stack.slash(cast.ALICE, f"request fine-{uid} 1h routine check")
    assert ":warning:" not in answer
    first, approval = approval_for(stack, fine)
    assert "SSM: Online" in json.dumps(approval["blocks"])
    assert "is cancelled" in stack.slash(cast.ALICE, f"cancel {first}")  # one live request per person and node

    stack.aws.set_ping(fine, "Inactive")  # the agent stopped since: the next lookup (by id) says so
    answer = stack.slash(cast.ALICE, f"request {fine} 1h look again")
    assert ":warning:" in answer and "Inactive" in answer


def test_managed_node_by_name_and_id_granted_then_expired(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_managed_node(f"onprem-{uid}", {"Environment": "prod", "Site": "dc1"})
    scheduler_of(stack)  # the expiry needs it

    grant = granted(stack, cast.ALICE, f"request onprem-{uid} 3s patch the kernel", node)
    assert grant.state is State.ACTIVE and grant.node.id == node and grant.node.tags["Site"] == "dc1"
    policy = stack.aws.inline_policies(ALICE_ROLE)[f"jitbot-{grant.id}"]
    assert policy["Statement"][0]["Resource"][0] == f"arn:aws:ssm:us-east-1:{HOME}:managed-instance/{node}"
    said(stack, f"D{cast.ALICE}", grant.id, f"--target {node}")
    session = stack.aws.start_session(node, ALICE_SESSION)

    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.EXPIRED, 1)
    assert not [s for s in stack.aws.sessions(node, "Active") if s["SessionId"] == session]
    said(stack, AUDIT, grant.id, "expired", "1 session terminated")

    before = time.time()
    stack.slash(cast.ALICE, f"request {node} 1h by its id")
    second, _ = approval_for(stack, node, after=before)  # a second request, on the mi- id itself
    assert second != grant.id and request(stack, second).node.id == node


def test_second_account_node_through_the_accounts_role(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    far_role = f"far-{uid}"
    far_account_only = f"""
[[manual_approval]]
name = "far-account"
targets = {{ accounts = ["{FAR}"] }}
max_duration = "1h"
  [[manual_approval.levels]]
  channel = "{MGR}"
  approvers = ["{cast.CAROL}"]
"""
    stack = stack_factory(policy_file({cast.ALICE: f"arn:aws:iam::{FAR}:role/{far_role}"}, extra=far_account_only),
                          settings=FAST_ELECTION)
    stack.aws.add_account(FAR)
    principal = stack.aws.create_role(far_role, account=FAR)
    node = stack.aws.add_instance(f"far-{uid}", {"Environment": "prod"}, account=FAR)
    stack.aws.add_instance(f"far-{uid}", {"Environment": "prod"})  # the same Name in the home account

    # the account prefix picks the node; the policy naming the account wins over "all"
    grant = granted(stack, cast.ALICE, f"request {FAR}/far-{uid} 1h check replication", node, cast.CAROL, MGR)
    assert (grant.state, grant.policy, grant.node.account) == (State.ACTIVE, "far-account", FAR)
    policy = stack.aws.inline_policies(principal)[f"jitbot-{grant.id}"]
    assert policy["Statement"][0]["Resource"][0] == f"arn:aws:ec2:us-east-1:{FAR}:instance/{node}"
    assert f"jitbot-{grant.id}" not in stack.aws.inline_policies(ALICE_ROLE)

    session = stack.aws.start_session(node, f"arn:aws:sts::{FAR}:assumed-role/{far_role}/alice@example.com")
    assert "has ended" in stack.slash(cast.ALICE, f"release {grant.id}")
    done = ended(stack, grant.id)
    assert done.sessions_ended == 1 and not stack.aws.sessions(node, "Active")
    assert f"jitbot-{grant.id}" not in stack.aws.inline_policies(principal)
    assert session in {s["SessionId"] for s in stack.aws.sessions(node, "History")}
    said(stack, AUDIT, grant.id, "1 session terminated")

    # without a prefix, the Name is looked up in the home account, where "far-account" does not apply
    before = time.time()
    stack.slash(cast.ALICE, f"request far-{uid} 1h the home one")
    rid, approval = approval_for(stack, "i-", SRE, before)
    assert request(stack, rid).policy == "one-sre" and request(stack, rid).node.account == HOME
    assert f"{HOME} / us-east-1" in json.dumps(approval["blocks"])


def test_region_prefix_grants_and_revokes_in_that_region(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"west-{uid}", {"Environment": "prod"}, region="us-west-2")
    assert f"west-{uid}" in stack.slash(cast.ALICE, f"request west-{uid} 1h wrong region")  # not in us-east-1

    grant = granted(stack, cast.ALICE, f"request us-west-2/west-{uid} 1h disk full", node)
    assert (grant.state, grant.node.region) == (State.ACTIVE, "us-west-2")
    policy = stack.aws.inline_policies(ALICE_ROLE)[f"jitbot-{grant.id}"]
    assert policy["Statement"][0]["Resource"][0] == f"arn:aws:ec2:us-west-2:{HOME}:instance/{node}"
    said(stack, f"D{cast.ALICE}", f"--target {node} --region us-west-2")
    stack.aws.start_session(node, ALICE_SESSION)
    assert "is revoked" in stack.slash(cast.SAM, f"revoke {grant.id} wrong region after all")
    assert ended(stack, grant.id).sessions_ended == 1
    assert stack.click(cast.TINA, ids.APPROVE, grant.id)  # buttons of an ended request change nothing
    assert request(stack, grant.id).state is State.REVOKED
