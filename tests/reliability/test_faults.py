"""Faults: AWS throttling, 5xx and AccessDenied on every call jitbot makes, Slack answering 429/5xx or dropping
the connection, the database locked for a moment. Each is retried or reported, never a lost transition, never
a silent failure: the person acting gets a clear answer, or the requester or the audit channel is told.

The bot here uses a gateway whose botocore does not retry (``max_attempts=1``) and a 0.1 s retry backoff, so
that jitbot's own handling shows at once (botocore's retries are covered in tests/e2e/test_aws_failures.py,
Slack's 429 with Retry-After and a Slack that stays down in tests/e2e/test_slack_resilience.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from core.model import AccessRequest, State
from core.reconcile import reconcile
from core.submit import RequestInput, submit
from fakes import cast
from fakes.aws import SECOND_ACCOUNT, FakeAws
from fakes.slack_api import FakeSlack
from handlers import ids
from tests.helpers import eventually
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    AUDIT,
    RelStack,
    actions,
    ctx,
    get,
    messages,
    policies_of,
    policy_file,
    said,
    settled,
    world,
)

SRE = "C0SREAPPR"
DM = f"D{cast.ALICE}"
FAR_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/rel-far-bob"
#: approvers never looked up before their test (the bot caches Slack profiles), for the Slack faults
FRESH = [f"U0FLT{i:04d}" for i in range(4)]
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": ["S0SRELEAD", *FRESH], "required": 1}]


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, fake_aws: tuple[FakeAws, dict[str, str]],
          fake_slack: FakeSlack) -> RelStack:
    aws, _ = fake_aws
    stack_slack = fake_slack
    aws.add_account(SECOND_ACCOUNT, "jitbot")
    aws.create_role("rel-far-bob", SECOND_ACCOUNT)
    # a grantee of its own (per database too): its reconciliation must not meet the grants other databases made
    role = aws.create_role(f"rel-faults-{uuid.uuid4().hex[:8]}")
    for user in FRESH:
        stack_slack.add_user(user, email=f"{user.lower()}@example.com", name=user)
    extra = f'[accounts]\n"{SECOND_ACCOUNT}" = {{ role_arn = "arn:aws:iam::{SECOND_ACCOUNT}:role/jitbot" }}'
    policies = policy_file(LEVELS, identities={cast.ALICE: role, cast.BOB: FAR_ROLE}, extra=extra)
    made = module_stacks(policies, max_attempts=1, sweep_seconds=0.2, settings={"retry_backoff_seconds": 0.1})
    made.grantee = role
    return made


@pytest.fixture(autouse=True)
def no_fault_left(stack: RelStack) -> Iterator[None]:
    yield
    stack.aws.clear_faults()
    stack.slack.clear()


def _node(stack: RelStack, account: str | None = None) -> tuple[str, str]:
    """A node of its own for each case (lookups are cached by reference): (name, id)."""
    name = f"flt-{uuid.uuid4().hex[:8]}"
    return name, stack.aws.add_instance(name, {"Environment": "prod"}, account=account)


def _pending(stack: RelStack, requester: str = cast.ALICE, node: str | None = None) -> str:
    made = submit(ctx(stack), RequestInput(requester, node or _node(stack)[0], "fault injection", "1h"))
    return made.request.id


def _active(stack: RelStack) -> AccessRequest:
    rid = _pending(stack)
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    return get(stack, rid)


# -- AWS ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    operation: str
    code: str
    answer: str  # what the requester is told
    managed: bool = False  # look up a hybrid node (mi-…): its tags come from ListTagsForResource
    far: bool = False  # a node of the second account, reached through sts:AssumeRole


AWS_BUSY = "AWS did not answer"
CANNOT_LOOK = "jitbot cannot look up nodes"
LOOKUPS = [
    Lookup("ec2:DescribeInstances", "RequestLimitExceeded", AWS_BUSY),
    Lookup("ec2:DescribeInstances", "InternalError", AWS_BUSY),
    Lookup("ec2:DescribeInstances", "UnauthorizedOperation", CANNOT_LOOK),
    Lookup("ssm:DescribeInstanceInformation", "ThrottlingException", AWS_BUSY),
    Lookup("ssm:DescribeInstanceInformation", "InternalServerError", AWS_BUSY),
    Lookup("ssm:DescribeInstanceInformation", "AccessDeniedException", CANNOT_LOOK),
    Lookup("ssm:ListTagsForResource", "ThrottlingException", AWS_BUSY, managed=True),
    Lookup("sts:AssumeRole", "Throttling", AWS_BUSY, far=True),
]


@pytest.mark.parametrize("fault", LOOKUPS, ids=lambda f: f"{f.operation}-{f.code}")
def test_a_failed_lookup_is_explained_and_records_nothing(stack: RelStack, fault: Lookup,
                                                          figures: Counter[str]) -> None:
    if fault.managed:
        name = f"flt-{uuid.uuid4().hex[:8]}"
        stack.aws.add_managed_node(name, {"Environment": "prod"})
        reference = name
    elif fault.far:
        name, _ = _node(stack, SECOND_ACCOUNT)
        reference = f"{SECOND_ACCOUNT}/{name}"
    else:
        reference = _node(stack)[0]
    requester = cast.BOB if fault.far else cast.ALICE
    before = world(stack)
    stack.aws.fail_next(fault.operation, fault.code)
    figures["faults injected: AWS"] += 1
    answer = stack.slash(requester, f"request {reference} 1h look at it")
    figures["requests: faults"] += 1
    assert fault.answer in answer and fault.code in answer and ":boom:" not in answer, answer
    after = world(stack)
    assert after.requests == before.requests and after.events == before.events
    answer = stack.slash(requester, f"request {reference} 1h look at it")  # AWS is fine again
    figures["requests: faults"] += 1
    assert "submitted" in answer, answer


@pytest.mark.parametrize("code", ["Throttling", "ServiceFailure"])
def test_a_grant_aws_did_not_confirm_is_retried_and_said(stack: RelStack, code: str,
                                                         figures: Counter[str]) -> None:
    rid = _pending(stack)
    stack.aws.fail_next("iam:PutRolePolicy", code, times=2)
    figures["faults injected: AWS"] += 2
    answer = stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    figures["requests: faults"] += 1
    assert "AWS has not confirmed the grant yet" in answer, answer
    active = eventually(lambda: (r := get(stack, rid)).state is State.ACTIVE and r, timeout=15, what="the grant")
    assert f"jitbot-{rid}" in policies_of(stack) and active.expires_at is not None
    trail = actions(stack, rid)
    assert trail == ["submitted", "approve", "approved", "grant_retry", "grant_retry", "granted"], trail
    said(stack, DM, rid, "Access granted")
    said(stack, AUDIT, rid, "granted")
    figures["audit trails checked against the expected trail"] += 1


def test_a_grant_aws_refuses_fails_the_request_and_says_why(stack: RelStack, figures: Counter[str]) -> None:
    rid = _pending(stack)
    stack.aws.fail_next("iam:PutRolePolicy", "AccessDenied", message="not authorized to perform iam:PutRolePolicy")
    figures["faults injected: AWS"] += 1
    answer = stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    figures["requests: faults"] += 1
    assert "AWS refused the grant" in answer and "AccessDenied" in answer, answer
    assert get(stack, rid).state is State.FAILED and f"jitbot-{rid}" not in policies_of(stack)
    assert actions(stack, rid) == ["submitted", "approve", "approved", "grant_failed"]
    said(stack, DM, rid, "could not be granted")
    said(stack, AUDIT, rid, "AccessDenied")
    figures["audit trails checked against the expected trail"] += 1


REVOCATIONS = [("iam:DeleteRolePolicy", "Throttling"), ("iam:DeleteRolePolicy", "ServiceUnavailable"),
               ("ssm:DescribeSessions", "ThrottlingException"), ("ssm:DescribeSessions", "InternalServerError"),
               ("ssm:TerminateSession", "ThrottlingException"), ("ssm:TerminateSession", "InternalServerError")]


@pytest.mark.parametrize(("operation", "code"), REVOCATIONS)
def test_a_revocation_aws_did_not_confirm_is_retried_until_it_does(stack: RelStack, operation: str, code: str,
                                                                   figures: Counter[str]) -> None:
    active = _active(stack)
    owner = f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{stack.grantee.rsplit('/', 1)[-1]}/alice"
    session = stack.aws.start_session(active.node.id, owner)
    stack.aws.fail_next(operation, code)
    figures["faults injected: AWS"] += 1
    answer = stack.slash(cast.ALICE, f"release {active.id}")
    figures["requests: faults"] += 1
    assert "has ended" in answer and "not confirmed" in answer, answer  # not "the permission is removed"
    done = settled(stack, active.id)
    assert done.state is State.REVOKED and f"jitbot-{active.id}" not in policies_of(stack)
    assert [s["Status"] for s in stack.aws.sessions(active.node.id) if s["SessionId"] == session] == ["Terminated"]
    trail = actions(stack, active.id)
    # the sessions go on record (core.sessions) once AWS ended them, just before the revocation is confirmed
    assert trail[-5:] == ["revoked", "revoke_retry", "session_opened", "session_ended", "revocation_confirmed"], trail
    said(stack, DM, active.id, "was released")
    assert len(messages(stack, DM, active.id, "was released")) == 1
    figures["audit trails checked against the expected trail"] += 1


def test_reconciliation_reports_what_aws_did_not_answer(stack: RelStack, figures: Counter[str]) -> None:
    """A principal's listing here; a grant's check (``GetRolePolicy``, only for grants older than
    ``core.reconcile.SETTLE``) in test_revocations.py, whose clock can make a grant old."""
    active = _active(stack)
    for operation in ("iam:ListRolePolicies",):
        before = world(stack)  # (reads IAM too: before the fault)
        stack.aws.fail_next(operation, "Throttling")
        figures["faults injected: AWS"] += 1
        report = reconcile(ctx(stack))
        assert len(report.errors) == 1 and "Throttling" in report.errors[0], report.lines()
        assert not report.removed and not report.revoked, report.lines()
        assert world(stack).requests == before.requests and f"jitbot-{active.id}" in policies_of(stack)
    assert not reconcile(ctx(stack)).errors


# -- Slack -------------------------------------------------------------------------------------------------------
def test_slack_dropping_connections_429_and_5xx_once_are_retried(stack: RelStack, figures: Counter[str]) -> None:
    rid = _pending(stack)
    stack.slack.reset_connections("users.info")  # the approver's profile (is the account active?)
    stack.slack.fail_next("chat.update", status=503)  # the approval message losing its buttons
    stack.slack.fail_next("conversations.open", status=502)  # the requester's DM (a load balancer's 502)
    stack.slack.fail_next("chat.postMessage", status=429, retry_after=0)  # the first notice posted
    stack.slack.fail_next("response_url", status=500)  # the approver's ephemeral answer
    figures["faults injected: Slack"] += 5
    assert "access was granted" in stack.click(FRESH[0], ids.APPROVE, rid, SRE)
    figures["requests: faults"] += 1
    said(stack, DM, rid, "Access granted")
    said(stack, AUDIT, rid, "granted")
    assert stack.slack.wait_for(lambda c: c.method == "chat.update" and rid in str(c.params.get("text"))).ok
    calls = stack.slack.calls
    faulted = [(i, c) for i, c in enumerate(calls) if c.fault is not None]
    assert sorted(c.method for _, c in faulted) == ["chat.postMessage", "chat.update", "conversations.open",
                                                   "response_url", "users.info"], faulted
    for i, call in faulted:  # each was tried again, and went through
        assert any(c.method == call.method and c.ok and c.params.get("channel") == call.params.get("channel")
                   for c in calls[i + 1:]), call


def test_slack_failing_beyond_retries_is_reported(stack: RelStack, figures: Counter[str]) -> None:
    """The approver's profile cannot be read: the click is refused with a reference and changes nothing, and
    the same click works once Slack answers again. A DM that cannot be sent still leaves the audit line, and is
    sent by the outbox's retry, once (the audit line is not sent again)."""
    rid = _pending(stack)
    stack.slack.fail_next("users.info", times=5, status=502)
    figures["faults injected: Slack"] += 5
    before = world(stack)
    answer = stack.click(FRESH[1], ids.APPROVE, rid, SRE)
    figures["requests: faults"] += 1
    assert "Something went wrong" in answer and "reference" in answer, answer
    after = world(stack)
    assert (after.requests, after.events, after.iam) == (before.requests, before.events, before.iam)
    stack.slack.clear()
    stack.slack.fail_next("conversations.open", times=5, status=500)
    figures["faults injected: Slack"] += 5
    assert "access was granted" in stack.click(FRESH[1], ids.APPROVE, rid, SRE)
    figures["requests: faults"] += 1
    said(stack, AUDIT, rid, "granted")  # the requester's DM failed: the audit channel still has it …
    said(stack, DM, rid, "Access granted")  # … and the DM, owed in the outbox, goes out at its next attempt
    assert len(messages(stack, AUDIT, rid, "granted")) == 1 and len(messages(stack, DM, rid, "Access granted")) == 1


# -- the database ------------------------------------------------------------------------------------------------
@contextmanager
def _locked(stack: RelStack, rid: str, seconds: float) -> Iterator[threading.Thread]:
    """Another connection holds the write lock (SQLite) or the request's row (PostgreSQL) for ``seconds``."""
    url = stack.database_url
    taken = threading.Event()

    def hold() -> None:
        if url.startswith("sqlite"):
            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            conn.execute("ROLLBACK")
            conn.close()
            return
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("SELECT id FROM requests WHERE id = :id FOR UPDATE"), {"id": rid})
            taken.set()
            time.sleep(seconds)
        engine.dispose()

    holder = threading.Thread(target=hold, name="lock-holder")
    holder.start()
    assert taken.wait(10)
    try:
        yield holder
    finally:
        holder.join(30)


def test_a_click_while_the_database_is_locked_waits_and_counts_once(stack: RelStack,
                                                                    figures: Counter[str]) -> None:
    rid = _pending(stack)
    with _locked(stack, rid, 1.0):
        figures["faults injected: database locked"] += 1
        answer = stack.click(cast.TINA, ids.APPROVE, rid, SRE)
        figures["requests: faults"] += 1
    assert "access was granted" in answer, answer
    active = get(stack, rid)
    assert active.state is State.ACTIVE and actions(stack, rid) == ["submitted", "approve", "approved", "granted"]
    with _locked(stack, rid, 1.0):  # and a release arriving while it is locked again
        figures["faults injected: database locked"] += 1
        answer = stack.slash(cast.ALICE, f"release {rid}")
        figures["requests: faults"] += 1
    assert "has ended" in answer, answer
    assert settled(stack, rid).state is State.REVOKED and f"jitbot-{rid}" not in policies_of(stack)
    assert actions(stack, rid)[-2:] == ["revoked", "revocation_confirmed"]
    figures["audit trails checked against the expected trail"] += 1
