"""AWS failing, end to end: botocore's retries, jitbot's own retry with backoff until AWS confirms a revocation,
the audit-channel alert after repeated failure, and a grant AWS refuses (the request fails, and says why).

These tests run with ``retry_backoff_seconds`` = 0.1 (0.1, 0.2, 0.4 … s instead of 2, 4, 8 … s) and a gateway
whose botocore gives up after 2 attempts, so that jitbot's own retries show within a second or two."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.access import ALERT_AFTER_ATTEMPTS
from core.model import State
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.stack import Stack
from handlers import ids
from tests.aws.e2e_support import (
    ALICE_ROLE,
    AUDIT,
    FAST_ELECTION,
    SRE,
    QuickRetryStack,
    approval_for,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
    settle,
    texts,
    until,
)
from tests.helpers import events, eventually, request


@pytest.fixture
def stack(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], tmp_path: Path,
          database_url: str) -> Iterator[Stack]:
    aws, nodes = fake_aws
    fake_slack.clear()
    made = QuickRetryStack(tmp_path, policies=policy_file(), database_url=database_url, slack=fake_slack, aws=aws,
                           nodes=nodes, sweep_seconds=0.2, settings={"retry_backoff_seconds": 0.1, **FAST_ELECTION})
    try:
        made.start()
        scheduler_of(made)  # retries run in the sweep
        yield made
    finally:
        made.stop()
        aws.clear_faults()


def _node(stack: Stack, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, stack.aws.add_instance(name, {"Environment": "prod"})


def _actions(stack: Stack, rid: str) -> list[str]:
    return [e.action for e in events(stack, rid)]


def test_throttled_revocation_is_retried_until_aws_confirms(stack: Stack) -> None:
    name, node = _node(stack, "thr")
    # once: botocore's own retry absorbs it
    first = granted(stack, cast.ALICE, f"request {name} 1h first", node)
    stack.aws.fail_next("iam:DeleteRolePolicy", "Throttling", times=1)
    stack.slash(cast.ALICE, f"release {first.id}")
    assert ended(stack, first.id).state is State.REVOKED
    assert "revoke_retry" not in _actions(stack, first.id)

    # beyond botocore's attempts: jitbot's own retry, after a backoff, then AWS confirms
    second = granted(stack, cast.ALICE, f"request {name} 1h second", node)
    stack.aws.fail_next("iam:DeleteRolePolicy", "Throttling", times=QuickRetryStack.max_attempts)
    stack.slash(cast.ALICE, f"release {second.id}")
    done = ended(stack, second.id)
    assert done.state is State.REVOKED and f"jitbot-{second.id}" not in stack.aws.inline_policies(ALICE_ROLE)
    actions = _actions(stack, second.id)
    assert actions.count("revoke_retry") == 1 and actions[-1] == "revocation_confirmed"
    retry = next(e for e in events(stack, second.id) if e.action == "revoke_retry")
    assert "Throttling" in retry.detail["error"]
    said(stack, AUDIT, second.id, "released")
    settle()
    for rid in (first.id, second.id):  # one notice each, and no alert
        assert len([t for t in texts(stack, AUDIT, rid) if "released" in t]) == 1
        assert len(texts(stack, f"D{cast.ALICE}", f"*{rid}* to")) == 1
    assert not texts(stack, AUDIT, "revocation is failing")


def test_repeated_failure_alerts_the_audit_channel_and_keeps_retrying(stack: Stack) -> None:
    name, node = _node(stack, "den")
    grant = granted(stack, cast.ALICE, f"request {name} 1h fix the disk", node)
    stack.aws.fail_next("iam:DeleteRolePolicy", "AccessDenied", times=10,
                        message="jitbot is not authorized to perform iam:DeleteRolePolicy")
    stack.slash(cast.ALICE, f"release {grant.id}")

    alert = said(stack, AUDIT, grant.id, "revocation is failing", "AccessDenied", timeout=15)
    assert cast.ALICE in alert.params["text"] and node in alert.params["text"]  # names the grant
    eventually(lambda: request(stack, grant.id).cleanup_attempts > ALERT_AFTER_ATTEMPTS, timeout=15,
               what="retries continuing after the alert")
    assert request(stack, grant.id).needs_cleanup
    assert f"jitbot-{grant.id}" in stack.aws.inline_policies(ALICE_ROLE)  # (DateLessThan still bounds it)

    stack.aws.clear_faults()  # jitbot's permission is fixed
    done = ended(stack, grant.id)
    assert f"jitbot-{grant.id}" not in stack.aws.inline_policies(ALICE_ROLE)
    assert done.sessions_ended == 0
    said(stack, f"D{cast.ALICE}", grant.id, "released")
    assert len(texts(stack, AUDIT, "revocation is failing")) == 1  # alerted once, not at every attempt
    retries = [e.detail["attempt"] for e in events(stack, grant.id) if e.action == "revoke_retry"]
    assert retries == list(range(1, len(retries) + 1)) and len(retries) > ALERT_AFTER_ATTEMPTS


def test_access_denied_on_grant_fails_the_request_and_says_why(stack: Stack) -> None:
    name, node = _node(stack, "nop")
    stack.slash(cast.ALICE, f"request {name} 1h restart the app")
    rid, _ = approval_for(stack, node)
    stack.aws.fail_next("iam:PutRolePolicy", "AccessDenied",
                        message="User jitbot is not authorized to perform: iam:PutRolePolicy")
    stack.click(cast.SAM, ids.APPROVE, rid)

    failed = until(stack, rid, lambda r: r.state is State.FAILED, "failed request")
    assert failed.end_reason is not None and "AccessDenied" in failed.end_reason
    assert f"jitbot-{rid}" not in stack.aws.inline_policies(ALICE_ROLE)
    assert _actions(stack, rid)[-1] == "grant_failed"
    said(stack, f"D{cast.ALICE}", rid, "could not be granted", "not authorized to perform: iam:PutRolePolicy")
    said(stack, SRE, "grant failed", "AccessDenied", thread=True)
    said(stack, AUDIT, rid, "FAILED", "AccessDenied")
    assert "failed" in stack.slash(cast.ALICE, f"status {rid}")
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:  # nothing left to retry
        assert rid not in [r.id for r in uow.repo.due_work(failed.created_at.replace(year=2100))]
