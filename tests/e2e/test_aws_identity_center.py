"""Grants to an IAM Identity Center user, end to end: signed HTTP into /slack/events, the fake Slack Web API
over HTTP, moto's sso-admin (with Identity Center's asynchronous statuses from fakes/aws_server.py) and
a real database. Alice is the Identity Store user ``arn:aws:identitystore:::user/<id>`` in ``[identities]``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aws.gateway import AwsGateway
from aws.identity_center import IdentityCenterConfig
from bot.policies import PolicyHolder
from bot.root import account_roles
from bot.settings import Settings
from core.idc import idc_user_principal
from core.model import State
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.stack import Stack
from tests.aws.e2e_support import (
    AUDIT,
    ERIN_USER,
    FAST_ELECTION,
    HOME,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
)
from tests.helpers import events

PORTAL = "https://d-9067a4c2b0.awsapps.com/start"
USER_ID = "9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11"
ALICE_IDC = idc_user_principal(USER_ID)
ALICE_SSO = "alice@example.com"  # her Identity Center user name: the session name of her role sessions


class IdcStack(Stack):
    """The Stack with ``[identity_center]`` given to the gateway (the policy file's table once it has one);
    Identity Center's statuses are waited for at most 0.3 s, and botocore gives up after 2 attempts."""

    def aws_gateway(self, settings: Settings, policies: PolicyHolder) -> Any:
        instance, store = self.aws.identity_center()
        config = IdentityCenterConfig(instance, store, "us-east-1", PORTAL)
        return AwsGateway(self.aws.session, "us-east-1", endpoint_url=self.aws.endpoint_url, account_id=HOME,
                          accounts=lambda: account_roles(policies()), max_attempts=2, identity_center=config,
                          idc_timeout=0.3, idc_poll=0.01)


@pytest.fixture
def stack(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], tmp_path: Path,
          database_url: str) -> Iterator[Stack]:
    aws, nodes = fake_aws
    fake_slack.clear()
    policies = policy_file({cast.ALICE: ALICE_IDC, "erin@example.com": ERIN_USER}, {"reconcile_interval": "1s"})
    made = IdcStack(tmp_path, policies=policies, database_url=database_url, slack=fake_slack, aws=aws,
                    nodes=nodes, sweep_seconds=0.2, settings={"retry_backoff_seconds": 0.1, **FAST_ELECTION})
    try:
        made.start()
        scheduler_of(made)  # expiry, retries and reconciliation run in the scheduler
        yield made
    finally:
        made.stop()
        aws.clear_faults()


def _node(stack: Stack, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, stack.aws.add_instance(name, {"Environment": "prod"})


def _active(stack: Stack, sid: str) -> bool:
    return any(s["SessionId"] == sid for s in stack.aws.sessions(state="Active"))


def test_request_approval_assignment_expiry(stack: Stack) -> None:
    name, node = _node(stack, "idc")
    grant = granted(stack, cast.ALICE, f"request {name} 4s check the deploy", node)
    assert grant.state is State.ACTIVE and grant.principal_arn == ALICE_IDC and grant.expires_at is not None

    permission_set = f"jitbot-{grant.id}"
    found = stack.aws.permission_sets()[permission_set]
    assert found["assignments"] == [(HOME, USER_ID)]
    start = found["policy"]["Statement"][0]
    assert start["Resource"][0] == f"arn:aws:ec2:us-east-1:{HOME}:instance/{node}"
    assert start["Condition"]["DateLessThan"] == {"aws:CurrentTime": grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert stack.aws.idc_role_policy(permission_set, HOME) == found["policy"]

    dm = said(stack, f"D{cast.ALICE}", grant.id, "Access granted").params["text"]
    assert f"<{PORTAL}/#/console?account_id={HOME}&amp;role_name={permission_set}|" in dm
    assert f"sso_role_name = {permission_set}" in dm and f"sso_account_id = {HOME}" in dm
    assert f"aws sso login --profile jit-{grant.id}" in dm
    assert f"aws ssm start-session --target {node} --region us-east-1 --profile jit-{grant.id}" in dm

    session = stack.aws.start_session(node, stack.aws.idc_session_owner(permission_set, ALICE_SSO))
    other = stack.aws.start_session(node, stack.aws.idc_session_owner("jitbot-R0THERS0", "bob@example.com"))
    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.EXPIRED, 1)
    assert not _active(stack, session) and _active(stack, other)
    assert permission_set not in stack.aws.permission_sets()  # assignment and permission set gone
    assert stack.aws.idc_role_policy(permission_set, HOME) is None
    said(stack, AUDIT, grant.id, "expired", "1 session terminated")


@pytest.mark.parametrize("statuses", [("IN_PROGRESS", "FAILED"), ("IN_PROGRESS",)], ids=["failed", "timeout"])
def test_provisioning_failed_or_timed_out_is_retried(stack: Stack, statuses: tuple[str, ...]) -> None:
    name, node = _node(stack, "idc-retry")
    stack.aws.idc_statuses("CreateAccountAssignment", *statuses, reason="Internal failure")
    grant = granted(stack, cast.ALICE, f"request {name} 1h retry me", node)
    assert grant.state is State.ACTIVE
    retries = [e for e in events(stack, grant.id) if e.action == "grant_retry"]
    assert len(retries) == 1
    assert ("FAILED (Internal failure)" if "FAILED" in statuses else "still IN_PROGRESS") in retries[0].detail["error"]
    assert stack.aws.permission_sets()[f"jitbot-{grant.id}"]["assignments"] == [(HOME, USER_ID)]
    stack.slash(cast.ALICE, f"release {grant.id}")
    ended(stack, grant.id)


def test_quota_reached_is_a_clear_refusal_and_nothing_is_granted(stack: Stack) -> None:
    name, node = _node(stack, "idc-quota")
    stack.aws.fail_next("sso:CreateAccountAssignment", "ServiceQuotaExceededException",
                        message="Number of provisioned permission sets in the account exceeds the quota")
    grant = granted(stack, cast.ALICE, f"request {name} 1h over quota", node)
    assert grant.state is State.FAILED
    said(stack, f"D{cast.ALICE}", grant.id, "could not be granted", "quota is reached")
    assert f"jitbot-{grant.id}" not in stack.aws.permission_sets()  # created, then removed: nothing half-granted


def test_failed_revocation_is_retried_then_confirmed(stack: Stack) -> None:
    name, node = _node(stack, "idc-revoke")
    grant = granted(stack, cast.ALICE, f"request {name} 1h revoke me", node)
    session = stack.aws.start_session(node, stack.aws.idc_session_owner(f"jitbot-{grant.id}", ALICE_SSO))
    stack.aws.idc_statuses("DeleteAccountAssignment", "FAILED", reason="Internal failure")
    assert "is revoked" in stack.slash(cast.TINA, f"revoke {grant.id} done here")
    done = ended(stack, grant.id)
    assert (done.state, done.sessions_ended) == (State.REVOKED, 1) and not _active(stack, session)
    actions = [e.action for e in events(stack, grant.id)]
    assert actions.count("revoke_retry") == 1 and actions[-1] == "revocation_confirmed"
    assert f"jitbot-{grant.id}" not in stack.aws.permission_sets()


def test_reconciliation_removes_a_leftover_permission_set_and_keeps_live_grants(stack: Stack) -> None:
    name, node = _node(stack, "idc-live")
    live = granted(stack, cast.ALICE, f"request {name} 1h still working", node)
    sso = stack.aws.client("sso-admin")
    instance, _ = stack.aws.identity_center()
    leftover = f"jitbot-R0{uuid.uuid4().hex[:6].upper()}"
    made = sso.create_permission_set(InstanceArn=instance, Name=leftover,
                                     Description=f"jitbot: left over for {ALICE_IDC}")
    arn = made["PermissionSet"]["PermissionSetArn"]
    anything = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}]}
    sso.put_inline_policy_to_permission_set(InstanceArn=instance, PermissionSetArn=arn,
                                            InlinePolicy=json.dumps(anything))
    sso.create_account_assignment(InstanceArn=instance, TargetId=HOME, TargetType="AWS_ACCOUNT",
                                  PermissionSetArn=arn, PrincipalType="USER", PrincipalId=USER_ID)

    said(stack, AUDIT, ":broom:", leftover, ALICE_IDC, timeout=15)  # a reconciliation pass ran
    found = stack.aws.permission_sets()
    assert leftover not in found and stack.aws.idc_role_policy(leftover, HOME) is None
    assert found[f"jitbot-{live.id}"]["assignments"] == [(HOME, USER_ID)]  # explained by a live grant: kept
    assert not any(e.action == "drift_removed" for e in events(stack, live.id))
    stack.slash(cast.ALICE, f"release {live.id}")
    ended(stack, live.id)
