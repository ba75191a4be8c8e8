"""Granting and revoking on moto: inline policies on roles and users, sessions ended, failures sorted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from aws.gateway import AwsGateway
from core.errors import GrantRefused, TransientAwsError
from core.model import AccessRequest, Node
from fakes.aws import SECOND_ACCOUNT, FakeAws

MakeRequest = Callable[..., AccessRequest]
DOCS = ["SSM-SessionManagerRunShell"]


def expiry() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture
def node(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> Node:
    return gateway.resolve(moto_aws.add_instance(f"web-{uid}", {"Environment": "prod"}))


@pytest.mark.parametrize("kind", ["role", "user"])
def test_grant_then_revoke(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node,
                           uid: str, kind: str) -> None:
    arn = moto_aws.create_role(f"alice-{uid}") if kind == "role" else moto_aws.create_user(f"bob-{uid}")
    request = make_request(node, arn)
    until = expiry()
    gateway.grant(request, until, DOCS)
    policy = moto_aws.inline_policies(arn)[f"jitbot-{request.id}"]
    start = policy["Statement"][0]
    assert start["Action"] == "ssm:StartSession"
    assert start["Resource"][0] == node.arn
    assert start["Condition"]["DateLessThan"] == {"aws:CurrentTime": until.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert gateway.has_grant(request)
    assert gateway.jit_policies(arn) == [f"jitbot-{request.id}"]
    gateway.grant(request, until, DOCS)  # idempotent: same name, same document
    assert list(moto_aws.inline_policies(arn)) == [f"jitbot-{request.id}"]

    assert gateway.revoke(request) == 0
    assert moto_aws.inline_policies(arn) == {}
    assert not gateway.has_grant(request)
    assert gateway.revoke(request) == 0  # already gone counts as done


def test_revoke_ends_the_principals_sessions_on_that_node_only(
        moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node, uid: str) -> None:
    role = moto_aws.create_role(f"carol-{uid}")
    user = moto_aws.create_user(f"dave-{uid}")
    other_node = moto_aws.add_instance(f"other-{uid}")
    as_role = f"arn:aws:sts::{moto_aws.account}:assumed-role/carol-{uid}/carol@example.com"
    mine = [moto_aws.start_session(node.id, as_role),
            moto_aws.start_session(node.id, f"arn:aws:sts::{moto_aws.account}:assumed-role/carol-{uid}/cli"),
            moto_aws.start_session(node.id, as_role, status="Disconnected")]
    theirs = [moto_aws.start_session(node.id, user),  # a user's session
              moto_aws.start_session(node.id, f"arn:aws:sts::{moto_aws.account}:assumed-role/carol-{uid}x/a"),
              moto_aws.start_session(other_node, as_role)]  # mine, but on another node
    assert mine[0].startswith("carol@example.com-")
    request = make_request(node, role)
    gateway.grant(request, expiry(), DOCS)

    assert gateway.revoke(request) == 3
    ended = {s["SessionId"]: s["Status"] for s in moto_aws.sessions()}
    assert all(ended[s] == "Terminated" for s in mine)
    assert all(ended[s] == "Connected" for s in theirs)
    assert gateway.revoke(request) == 0
    # the user's own revocation takes exactly its session
    assert gateway.revoke(make_request(node, user)) == 1
    assert {s["SessionId"] for s in moto_aws.sessions(node.id, "Active")} == {theirs[1]}


def test_revoke_pages_through_many_sessions(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest,
                                            node: Node, uid: str) -> None:
    user = moto_aws.create_user(f"erin-{uid}")
    for _ in range(45):  # the fake answers 20 a page unless asked for more
        moto_aws.start_session(node.id, user)
    assert gateway.revoke(make_request(node, user)) == 45
    assert moto_aws.sessions(node.id, "Active") == []


def test_throttled_delete_is_retried_by_botocore(moto_aws: FakeAws, gateway: AwsGateway,
                                                  make_request: MakeRequest, node: Node, uid: str) -> None:
    arn = moto_aws.create_role(f"frank-{uid}")
    request = make_request(node, arn)
    gateway.grant(request, expiry(), DOCS)
    moto_aws.fail_next("iam:DeleteRolePolicy", "Throttling", times=1)
    assert gateway.revoke(request) == 0
    assert moto_aws.inline_policies(arn) == {}


def test_revoke_not_confirmed_is_transient(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest,
                                           node: Node, uid: str) -> None:
    arn = moto_aws.create_role(f"gina-{uid}")
    request = make_request(node, arn)
    gateway.grant(request, expiry(), DOCS)
    moto_aws.fail_next("iam:DeleteRolePolicy", "ServiceUnavailable", times=3)  # every attempt
    with pytest.raises(TransientAwsError, match="ServiceUnavailable"):
        gateway.revoke(request)
    assert gateway.has_grant(request)
    moto_aws.fail_next("iam:DeleteRolePolicy", "AccessDenied")  # even a refusal: cleanup must keep trying
    with pytest.raises(TransientAwsError, match="AccessDenied"):
        gateway.revoke(request)
    moto_aws.fail_next("ssm:TerminateSession", "InternalServerError", times=3)
    moto_aws.start_session(node.id, f"arn:aws:sts::{moto_aws.account}:assumed-role/gina-{uid}/s")
    with pytest.raises(TransientAwsError, match="InternalServerError"):
        gateway.revoke(request)
    assert not gateway.has_grant(request)  # the policy went first
    assert gateway.revoke(request) == 1


@pytest.mark.parametrize(("code", "operation"), [
    ("AccessDenied", "iam:PutRolePolicy"),
    ("LimitExceeded", "iam:PutRolePolicy"),
    ("MalformedPolicyDocument", "PutRolePolicy"),
])
def test_grant_refusals(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node,
                        uid: str, code: str, operation: str) -> None:
    arn = moto_aws.create_role(f"hank-{uid}")
    moto_aws.fail_next(operation, code)
    with pytest.raises(GrantRefused, match=code):
        gateway.grant(make_request(node, arn), expiry(), DOCS)
    assert moto_aws.inline_policies(arn) == {}


def test_grant_to_a_missing_role_is_refused(gateway: AwsGateway, make_request: MakeRequest, node: Node,
                                            uid: str) -> None:
    ghost = f"arn:aws:iam::{node.account}:role/ghost-{uid}"
    with pytest.raises(GrantRefused, match="NoSuchEntity"):
        gateway.grant(make_request(node, ghost), expiry(), DOCS)
    assert gateway.revoke(make_request(node, ghost)) == 0  # nothing to take back
    assert gateway.jit_policies(ghost) == []


def test_grant_throttled_throughout_is_transient(moto_aws: FakeAws, gateway: AwsGateway,
                                                 make_request: MakeRequest, node: Node, uid: str) -> None:
    arn = moto_aws.create_user(f"ivan-{uid}")
    moto_aws.fail_next("iam:PutUserPolicy", "Throttling", times=3)
    with pytest.raises(TransientAwsError, match="Throttling"):
        gateway.grant(make_request(node, arn), expiry(), DOCS)


def test_grant_refuses_what_cannot_work(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest,
                                        node: Node, uid: str) -> None:
    arn = moto_aws.create_role(f"judy-{uid}")
    with pytest.raises(GrantRefused, match="not a valid SSM document name"):
        gateway.grant(make_request(node, arn), expiry(), ["no spaces please"])
    elsewhere = f"arn:aws:iam::{SECOND_ACCOUNT}:role/judy-{uid}"
    with pytest.raises(GrantRefused, match="sessions are authorised in the node's account"):
        gateway.grant(make_request(node, elsewhere), expiry(), DOCS)
    with pytest.raises(GrantRefused, match="not an IAM role or user ARN"):
        gateway.grant(make_request(node, "alice"), expiry(), DOCS)
    with pytest.raises(TransientAwsError):
        gateway.revoke(make_request(node, "alice"))  # never "done" when it could not even try


def test_second_account_grant_and_revoke(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest,
                                         uid: str) -> None:
    far = gateway.resolve(f"{SECOND_ACCOUNT}/{moto_aws.add_instance(f'far-{uid}', account=SECOND_ACCOUNT)}")
    role = moto_aws.create_role(f"kim-{uid}", account=SECOND_ACCOUNT)
    session = moto_aws.start_session(far.id, f"arn:aws:sts::{SECOND_ACCOUNT}:assumed-role/kim-{uid}/kim")
    request = make_request(far, role)
    gateway.grant(request, expiry(), DOCS)
    policy = moto_aws.inline_policies(role)[f"jitbot-{request.id}"]
    assert policy["Statement"][0]["Resource"][0] == f"arn:aws:ec2:us-east-1:{SECOND_ACCOUNT}:instance/{far.id}"
    assert moto_aws.inline_policies(moto_aws.create_role(f"kim-{uid}")) == {}  # not in the home account
    assert gateway.revoke(request) == 1
    assert moto_aws.inline_policies(role) == {}
    assert [s["Status"] for s in moto_aws.sessions(far.id)] == ["Terminated"]
    assert session.startswith("kim-")


def test_unconfigured_account_is_refused_then_retried(make_gateway: Callable[..., AwsGateway],
                                                       make_request: MakeRequest, uid: str) -> None:
    lonely = make_gateway(accounts={})
    far = Node(id="i-0123456789abcdef0", account=SECOND_ACCOUNT, region="us-east-1")
    role = f"arn:aws:iam::{SECOND_ACCOUNT}:role/lee-{uid}"
    with pytest.raises(GrantRefused, match="not configured"):
        lonely.grant(make_request(far, role), expiry(), DOCS)
    with pytest.raises(TransientAwsError, match="not configured"):
        lonely.revoke(make_request(far, role))


def test_reconciliation_helpers(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node,
                                uid: str) -> None:
    arn = moto_aws.create_role(f"mia-{uid}", path="/team/")
    iam = moto_aws.client("iam")
    iam.put_role_policy(RoleName=f"mia-{uid}", PolicyName="not-ours", PolicyDocument='{"Version":"2012-10-17",'
                        '"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}')
    first, second = make_request(node, arn), make_request(node, arn)
    gateway.grant(first, expiry(), DOCS)
    gateway.grant(second, expiry(), DOCS)
    assert gateway.jit_policies(arn) == sorted([f"jitbot-{first.id}", f"jitbot-{second.id}"])
    gateway.delete_policy(arn, f"jitbot-{first.id}")
    gateway.delete_policy(arn, f"jitbot-{first.id}")  # already gone: fine
    assert gateway.jit_policies(arn) == [f"jitbot-{second.id}"]
    assert sorted(moto_aws.inline_policies(arn)) == sorted(["not-ours", f"jitbot-{second.id}"])
