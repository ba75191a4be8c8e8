"""The Identity Store and IAM-tag adapters on moto: who an email is (primary email or user name, never a secondary
email), groups by name or id, the enterprise attributes, answers kept at most 60 s, failures as ``Unavailable``."""

from __future__ import annotations

import uuid

import pytest

from aws.clients import Clients
from aws.identitystore import AwsIdentityStore
from aws.tags import IamPrincipalTags
from core.errors import NotFound, Unavailable
from core.policy.schema import IdentityCenter
from fakes.aws import DEFAULT_ACCOUNT, FakeAws
from fakes.aws_identity import add_idc_group, add_idc_user

REGION = "us-east-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store_id() -> str:
    return "d-" + uuid.uuid4().hex[:10]


def adapter(aws: FakeAws, store_id: str, clock: Clock | None = None) -> AwsIdentityStore:
    config = IdentityCenter(instance_arn="arn:aws:sso:::instance/ssoins-0123456789abcdef",
                            identity_store_id=store_id, region=REGION)
    clients = Clients(aws.session, region=REGION, endpoint_url=aws.endpoint_url, account_id=DEFAULT_ACCOUNT,
                      max_attempts=1)
    return AwsIdentityStore(clients, lambda: config, clock=clock or Clock())


def test_an_email_is_a_primary_email_or_a_user_name(moto_aws: FakeAws, store_id: str) -> None:
    store = adapter(moto_aws, store_id)
    primary = add_idc_user(moto_aws, store_id, "pat", emails=[{"Value": "home@x.example", "Primary": False},
                                                               {"Value": "pat@x.example", "Primary": True}])
    named = add_idc_user(moto_aws, store_id, "lee@x.example", "lee.work@x.example")
    assert store.users_by_email("pat@x.example") == (primary,)
    assert store.users_by_email("home@x.example") == ()  # a secondary email says nothing about who this is
    assert store.users_by_email("lee@x.example") == (named,)
    assert store.users_by_email("nobody@x.example") == ()


def test_users_groups_and_attributes(moto_aws: FakeAws, store_id: str) -> None:
    store = adapter(moto_aws, store_id)
    user = add_idc_user(moto_aws, store_id, "kim", "kim@x.example",
                        attributes={"costCenter": "CC-1", "division": "Ops", "department": "not JITNA's"})
    group = add_idc_group(moto_aws, store_id, "Platform SRE", [user])
    found = store.user(user)
    assert found.email == "kim@x.example" and dict(found.attributes) == {"costCenter": "CC-1", "division": "Ops"}
    assert store.group("Platform SRE") == store.group(group)
    assert store.group("Platform SRE") is not None and store.group("Platform SRE").group_id == group  # type: ignore[union-attr]
    assert store.group("No such group") is None
    assert store.group_member_ids(group) == {user} and store.groups_of(user) == {group}
    with pytest.raises(NotFound):
        store.user(str(uuid.uuid4()))


def test_answers_are_kept_at_most_60_seconds(moto_aws: FakeAws, store_id: str) -> None:
    clock = Clock()
    store = adapter(moto_aws, store_id, clock)
    first = add_idc_user(moto_aws, store_id, "ann", "ann@x.example")
    group = add_idc_group(moto_aws, store_id, "Approvers", [first])
    assert store.group_member_ids(group) == {first}
    second = add_idc_user(moto_aws, store_id, "bea", "bea@x.example")
    moto_aws.client("identitystore").create_group_membership(IdentityStoreId=store_id, GroupId=group,
                                                             MemberId={"UserId": second})
    clock.now += 59
    assert store.group_member_ids(group) == {first}  # still the answer read a minute ago
    clock.now += 1.5
    assert store.group_member_ids(group) == {first, second}


def test_failures_are_unavailable_and_not_kept(moto_aws: FakeAws, store_id: str) -> None:
    store = adapter(moto_aws, store_id)
    add_idc_user(moto_aws, store_id, "cy", "cy@x.example")
    moto_aws.fail_next("identitystore:GetUserId", "AccessDeniedException", message="not allowed")
    with pytest.raises(Unavailable, match="IAM Identity Center did not answer: AccessDeniedException: not allowed"):
        store.users_by_email("cy@x.example")
    assert len(store.users_by_email("cy@x.example")) == 1


def test_principal_tags_of_roles_and_users(moto_aws: FakeAws) -> None:
    suffix = uuid.uuid4().hex[:8]
    role = moto_aws.create_role(f"tagged-{suffix}")
    user = moto_aws.create_user(f"tagged-{suffix}")
    iam = moto_aws.client("iam")
    iam.tag_role(RoleName=f"tagged-{suffix}", Tags=[{"Key": "AccessLevel", "Value": "Elevated"}])
    iam.tag_user(UserName=f"tagged-{suffix}", Tags=[{"Key": "Team", "Value": "web"}])
    clients = Clients(moto_aws.session, region=REGION, endpoint_url=moto_aws.endpoint_url,
                      account_id=DEFAULT_ACCOUNT, max_attempts=1)
    tags = IamPrincipalTags(clients)
    assert tags.principal_tags(role) == {"AccessLevel": "Elevated"}
    assert tags.principal_tags(user) == {"Team": "web"}
    with pytest.raises(Unavailable, match="NoSuchEntity"):
        tags.principal_tags(f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/missing-{suffix}")
