"""Session termination, end to end: on release, revoke and expiry jitbot deletes the grant, then ends the
requester's live SSM sessions on that node (owned by their user ARN, or by an assumed-role ARN of their role)
and says how many, in the DM, the approval thread and the audit line."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from core.model import State
from fakes import cast
from fakes.stack import Stack
from tests.aws.e2e_support import (
    ALICE_ROLE,
    AUDIT,
    ERIN_USER,
    FAST_ELECTION,
    HOME,
    SRE,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
)
from tests.helpers import events

StackFactory = Callable[..., Stack]
ALICE_SESSION = f"arn:aws:sts::{HOME}:assumed-role/alice/alice@example.com"


def _active(stack: Stack, sid: str) -> bool:
    return any(s["SessionId"] == sid for s in stack.aws.sessions(state="Active"))


def test_release_ends_the_users_own_sessions_on_that_node_only(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"ses-{uid}", {"Environment": "prod"})
    elsewhere = stack.aws.add_instance(f"other-{uid}")
    grant = granted(stack, cast.ERIN, f"request ses-{uid} 1h read the logs", node)
    assert grant.state is State.ACTIVE and grant.principal_arn == ERIN_USER

    mine = [stack.aws.start_session(node, ERIN_USER), stack.aws.start_session(node, ERIN_USER,
                                                                                 status="Disconnected")]
    kept = [stack.aws.start_session(node, ALICE_SESSION),          # someone else on the same node
            stack.aws.start_session(elsewhere, ERIN_USER)]         # Erin on another node
    answer = stack.slash(cast.ERIN, f"release {grant.id}")
    assert "has ended" in answer

    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.REVOKED, 2)
    assert not any(_active(stack, s) for s in mine)
    assert all(_active(stack, s) for s in kept)
    confirmed = [e for e in events(stack, grant.id) if e.action == "revocation_confirmed"]
    assert [e.detail["sessions_ended"] for e in confirmed] == [2]
    assert f"jitbot-{grant.id}" not in stack.aws.inline_policies(ERIN_USER)
    said(stack, f"D{cast.ERIN}", grant.id, "released by the requester", "2 sessions terminated")
    said(stack, SRE, "released by the requester", "2 sessions terminated", thread=True)
    said(stack, AUDIT, grant.id, "2 sessions terminated")


def test_revoke_ends_sessions_opened_through_the_role(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    stack.aws.create_role("alice2")  # a role whose name starts like alice's: its sessions are not hers
    node = stack.aws.add_instance(f"rev-{uid}", {"Environment": "prod"})
    grant = granted(stack, cast.ALICE, f"request rev-{uid} 1h restart nginx", node)
    assert grant.state is State.ACTIVE and grant.principal_arn == ALICE_ROLE

    mine = [stack.aws.start_session(node, ALICE_SESSION),
            stack.aws.start_session(node, f"arn:aws:sts::{HOME}:assumed-role/alice/botocore-session-1")]
    kept = [stack.aws.start_session(node, f"arn:aws:sts::{HOME}:assumed-role/alice2/alice@example.com"),
            stack.aws.start_session(node, ERIN_USER)]
    assert "Only an approver" in stack.slash(cast.ERIN, f"revoke {grant.id} not mine to revoke")
    answer = stack.slash(cast.TINA, f"revoke {grant.id} laptop reported stolen")
    assert "is revoked" in answer

    done = ended(stack, grant.id)
    assert (done.state, done.ended_by, done.sessions_ended) == (State.REVOKED, cast.TINA, 2)
    assert not any(_active(stack, s) for s in mine)
    assert all(_active(stack, s) for s in kept)
    said(stack, f"D{cast.ALICE}", f"revoked by <@{cast.TINA}>: laptop reported stolen", "2 sessions terminated")
    said(stack, SRE, "laptop reported stolen", "2 sessions terminated", thread=True)
    said(stack, AUDIT, grant.id, "revoked", "2 sessions terminated")


def test_expiry_ends_sessions_and_counts_them(stack_factory: StackFactory) -> None:
    stack = stack_factory(policy_file(), settings=FAST_ELECTION)
    uid = uuid.uuid4().hex[:8]
    node = stack.aws.add_instance(f"exp-{uid}", {"Environment": "prod"})
    scheduler_of(stack)  # the expiry needs it
    grant = granted(stack, cast.ALICE, f"request exp-{uid} 3s quick look", node)
    session = stack.aws.start_session(node, ALICE_SESSION)

    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.EXPIRED, 1)
    assert not _active(stack, session)
    said(stack, AUDIT, grant.id, "expired", "1 session terminated")
    said(stack, SRE, "Access expired", "1 session terminated", thread=True)
