"""Grants to IAM Identity Center users on moto (sso-admin, extended by fakes/aws_server.py with Identity
Center's asynchronous statuses): one permission set per request, assigned in the node's account, waited for,
retried, refused on quotas without leaving anything behind, and removed with the person's sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from aws.gateway import AwsGateway
from aws.identity_center import IdentityCenterConfig
from core.errors import GrantRefused, TransientAwsError
from core.idc import idc_user_principal
from core.model import AccessRequest, Node
from fakes.aws import FakeAws

MakeRequest = Callable[..., AccessRequest]
DOCS = ["SSM-SessionManagerRunShell"]


def expiry() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture(scope="module")
def idc(moto_aws: FakeAws) -> IdentityCenterConfig:
    instance, store = moto_aws.identity_center()
    return IdentityCenterConfig(instance, store, moto_aws.region, "https://d-1234567890.awsapps.com/start")


@pytest.fixture(scope="module")
def gateway(make_gateway: Callable[..., AwsGateway], idc: IdentityCenterConfig) -> AwsGateway:
    """Waits for Identity Center's statuses at most 0.3 s, polling every 10 ms (production: 45 s, every 1 s)."""
    return make_gateway(cache_seconds=0, identity_center=idc, idc_timeout=0.3, idc_poll=0.01)


@pytest.fixture
def node(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> Node:
    return gateway.resolve(moto_aws.add_instance(f"idc-{uid}"))


@pytest.fixture
def person() -> str:
    return idc_user_principal(str(uuid.uuid4()))


def test_grant_is_a_permission_set_assigned_in_the_nodes_account_then_revoked(
        moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    name, until = f"jitbot-{request.id}", expiry()
    gateway.grant(request, until, DOCS)

    found = moto_aws.permission_sets()[name]
    user_id = person.rsplit("/", 1)[-1]
    assert found["assignments"] == [(node.account, user_id)]
    assert found["description"].endswith(f" for {person}")
    start, own = found["policy"]["Statement"]
    assert start["Resource"][0] == node.arn
    assert start["Condition"]["DateLessThan"] == {"aws:CurrentTime": until.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert own["Condition"]["DateLessThan"] == start["Condition"]["DateLessThan"]
    assert moto_aws.idc_role_policy(name, node.account) == found["policy"]  # provisioned by the assignment
    assert gateway.has_grant(request)
    assert gateway.jit_policies(person) == [name]
    assert person in gateway.jit_principals()

    later = until + timedelta(minutes=5)  # a retry (or a re-application) writes and provisions again
    gateway.grant(request, later, DOCS)
    again = moto_aws.permission_sets()[name]
    assert again["assignments"] == found["assignments"]
    expected = {"aws:CurrentTime": later.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert again["policy"]["Statement"][0]["Condition"]["DateLessThan"] == expected
    assert moto_aws.idc_role_policy(name, node.account) == again["policy"]

    mine = moto_aws.start_session(node.id, moto_aws.idc_session_owner(name, "alice@example.com"))
    others = [moto_aws.start_session(node.id, moto_aws.idc_session_owner("jitbot-R0THER00", "bob@example.com")),
              moto_aws.start_session(node.id, moto_aws.idc_session_owner(f"{name}9", "eve@example.com")),
              moto_aws.start_session(node.id, f"arn:aws:sts::{node.account}:assumed-role/{name}/alice")]
    assert gateway.revoke(request) == 1
    status = {s["SessionId"]: s["Status"] for s in moto_aws.sessions(node.id)}
    assert status[mine] == "Terminated" and all(status[s] == "Connected" for s in others)
    assert name not in moto_aws.permission_sets()
    assert moto_aws.idc_role_policy(name, node.account) is None
    assert not gateway.has_grant(request) and gateway.jit_policies(person) == []
    assert gateway.revoke(request) == 0  # already gone counts as done


def test_waits_for_the_assignment_to_be_provisioned(moto_aws: FakeAws, gateway: AwsGateway,
                                                    make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    moto_aws.idc_statuses("CreateAccountAssignment", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED")
    gateway.grant(request, expiry(), DOCS)
    assert gateway.has_grant(request)
    gateway.revoke(request)


def test_provisioning_timeout_is_retried_with_the_existing_assignment(
        moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    moto_aws.idc_statuses("CreateAccountAssignment", "IN_PROGRESS")  # never done within the timeout
    with pytest.raises(TransientAwsError, match=r"still IN_PROGRESS after 0\.3 s"):
        gateway.grant(request, expiry(), DOCS)
    gateway.grant(request, expiry(), DOCS)  # the sweep's retry: provisions the assignment that exists
    found = moto_aws.permission_sets()[f"jitbot-{request.id}"]
    assert len(found["assignments"]) == 1 and gateway.has_grant(request)
    gateway.revoke(request)


def test_failed_assignment_is_retried(moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest,
                                      node: Node, person: str) -> None:
    request = make_request(node, person)
    moto_aws.idc_statuses("CreateAccountAssignment", "IN_PROGRESS", "FAILED", reason="Internal failure")
    with pytest.raises(TransientAwsError, match="FAILED \\(Internal failure\\)"):
        gateway.grant(request, expiry(), DOCS)
    assert not gateway.has_grant(request)
    gateway.grant(request, expiry(), DOCS)
    assert gateway.has_grant(request)
    gateway.revoke(request)


def test_quota_of_permission_sets_is_a_clear_refusal(moto_aws: FakeAws, gateway: AwsGateway,
                                                     make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    moto_aws.fail_next("sso:CreatePermissionSet", "ServiceQuotaExceededException",
                       message="Number of permission sets exceeds the quota")
    with pytest.raises(GrantRefused, match=r"Identity Center's quota is reached .*ask AWS to raise the quota\."):
        gateway.grant(request, expiry(), DOCS)
    assert f"jitbot-{request.id}" not in moto_aws.permission_sets()


@pytest.mark.parametrize("failure", ["exception", "status"])
def test_quota_at_assignment_leaves_nothing_behind(moto_aws: FakeAws, gateway: AwsGateway, failure: str,
                                                   make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    if failure == "exception":
        moto_aws.fail_next("sso:CreateAccountAssignment", "ServiceQuotaExceededException")
    else:
        moto_aws.idc_statuses("CreateAccountAssignment", "FAILED",
                              reason="Provisioned permission sets per account quota exceeded")
    with pytest.raises(GrantRefused, match="quota"):
        gateway.grant(request, expiry(), DOCS)
    assert f"jitbot-{request.id}" not in moto_aws.permission_sets()  # nothing half-granted


def test_failed_revocation_is_transient_then_confirmed(moto_aws: FakeAws, gateway: AwsGateway,
                                                       make_request: MakeRequest, node: Node, person: str) -> None:
    request = make_request(node, person)
    gateway.grant(request, expiry(), DOCS)
    name = f"jitbot-{request.id}"
    moto_aws.idc_statuses("DeleteAccountAssignment", "FAILED", reason="Internal failure")
    with pytest.raises(TransientAwsError, match="deleting the assignment"):
        gateway.revoke(request)
    # the inline policy went first, and the account's role was re-provisioned without it: no access meanwhile
    assert moto_aws.idc_role_policy(name, node.account) == {}
    assert not gateway.has_grant(request)
    assert gateway.revoke(request) == 0
    assert name not in moto_aws.permission_sets()


@pytest.mark.parametrize("removed", ["assignment", "inline policy", "permission set"])
def test_a_grant_removed_by_hand_is_seen_missing(moto_aws: FakeAws, gateway: AwsGateway, removed: str,
                                                 make_request: MakeRequest, node: Node, person: str) -> None:
    """What reconciliation asks (``has_grant``) when someone took the access away in Identity Center."""
    request = make_request(node, person)
    gateway.grant(request, expiry(), DOCS)
    sso, (instance, _) = moto_aws.client("sso-admin"), moto_aws.identity_center()
    arn = moto_aws.permission_sets()[f"jitbot-{request.id}"]["arn"]
    if removed == "assignment":
        sso.delete_account_assignment(InstanceArn=instance, TargetId=node.account, TargetType="AWS_ACCOUNT",
                                      PermissionSetArn=arn, PrincipalType="USER", PrincipalId=person.rsplit("/")[-1])
    elif removed == "inline policy":
        sso.delete_inline_policy_from_permission_set(InstanceArn=instance, PermissionSetArn=arn)
    else:
        sso.delete_permission_set(InstanceArn=instance, PermissionSetArn=arn)
    assert not gateway.has_grant(request)
    gateway.revoke(request)  # the cleanup that follows removes whatever is left
    assert f"jitbot-{request.id}" not in moto_aws.permission_sets()


def test_two_grants_for_one_person_at_once_keep_both(moto_aws: FakeAws, gateway: AwsGateway,
                                                     make_request: MakeRequest, node: Node, person: str) -> None:
    requests = [make_request(node, person) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda r: gateway.grant(r, expiry(), DOCS), requests))
    assert all(gateway.has_grant(r) for r in requests)
    assert gateway.jit_policies(person) == sorted(f"jitbot-{r.id}" for r in requests)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(gateway.revoke, requests[:2]))
    assert [gateway.has_grant(r) for r in requests] == [False, False, True, True]
    for request in requests[2:]:
        gateway.revoke(request)


def test_without_identity_center_configured(make_gateway: Callable[..., AwsGateway],
                                            make_request: MakeRequest, node: Node, person: str) -> None:
    plain = make_gateway(cache_seconds=0)
    request = make_request(node, person)
    with pytest.raises(GrantRefused, match=r"Identity Center user, but \[identity_center\] is not configured"):
        plain.grant(request, expiry(), DOCS)
    with pytest.raises(TransientAwsError, match="not configured"):
        plain.revoke(request)
    assert plain.jit_principals() == []


def test_a_grant_of_several_nodes_is_one_permission_set_listing_each_and_revocation_ends_sessions_on_each(
        moto_aws: FakeAws, gateway: AwsGateway, make_request: MakeRequest, node: Node, person: str,
        uid: str) -> None:
    second, third = (gateway.resolve(moto_aws.add_instance(f"idc{i}-{uid}")) for i in (2, 3))
    request = make_request(node, person).with_changes(more_nodes=(second, third))
    name = f"jitbot-{request.id}"
    gateway.grant(request, expiry(), DOCS)

    found = moto_aws.permission_sets()[name]
    assert found["assignments"] == [(node.account, person.rsplit("/", 1)[-1])]  # one account, one assignment
    assert "and 2 other node(s)" in found["description"] and found["description"].endswith(f" for {person}")
    start = found["policy"]["Statement"][0]
    assert start["Resource"][:3] == [node.arn, second.arn, third.arn]
    owner = moto_aws.idc_session_owner(name, "alice@example.com")
    mine = [moto_aws.start_session(n.id, owner) for n in (node, second, third)]
    assert gateway.sessions(request, datetime.now(UTC) - timedelta(minutes=5), None)[0].request_id == request.id
    assert len(gateway.sessions(request, datetime.now(UTC) - timedelta(minutes=5), None)) == 3
    assert gateway.revoke(request) == 3
    ended = {s["SessionId"]: s["Status"] for s in moto_aws.sessions()}
    assert all(ended[s] == "Terminated" for s in mine)
    assert name not in moto_aws.permission_sets()
