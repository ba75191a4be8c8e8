"""Clients per account: the home account's own credentials, other accounts' assumed and refreshed."""

from __future__ import annotations

import pytest
from moto.sts.models import sts_backends

from aws.clients import AccountNotConfigured, Clients
from fakes.aws import DEFAULT_ACCOUNT, SECOND_ACCOUNT, FakeAws

ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/jitbot"


def assumptions() -> int:
    """How often jitbot's role in the second account was assumed (moto keeps them in this process)."""
    return sum(1 for r in sts_backends[SECOND_ACCOUNT]["aws"].assumed_roles
               if r.role_arn == ROLE and r.session_name == "jitbot")


def clients(moto_aws: FakeAws, **options: object) -> Clients:
    return Clients(moto_aws.session, region="us-east-1", endpoint_url=moto_aws.endpoint_url,
                   accounts=lambda: {SECOND_ACCOUNT: ROLE}, **options)  # type: ignore[arg-type]


def test_home_account_and_assumed_account(moto_aws: FakeAws) -> None:
    made = clients(moto_aws)
    assert made.home_account() == DEFAULT_ACCOUNT
    assert made.accounts() == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]
    assert made.sts().get_caller_identity()["Account"] == DEFAULT_ACCOUNT
    there = made.iam(SECOND_ACCOUNT).get_role(RoleName="jitbot")["Role"]["Arn"]
    assert there == ROLE
    assert made.iam(SECOND_ACCOUNT) is made.iam(SECOND_ACCOUNT)  # clients are kept
    with pytest.raises(AccountNotConfigured, match="999988887777"):
        made.ec2("999988887777", "us-east-1")


def test_assumed_credentials_are_reused_then_refreshed_before_expiry(moto_aws: FakeAws) -> None:
    long_lived = clients(moto_aws, assume_role_seconds=3600).ec2(SECOND_ACCOUNT, "us-east-1")
    before = assumptions()
    for _ in range(3):
        long_lived.describe_instances()
    assert assumptions() == before + 1  # assumed once, lazily, and kept

    # 15-minute credentials are always inside botocore's 15-minute advisory window: refreshed on each use
    short_lived = clients(moto_aws, assume_role_seconds=900).ec2(SECOND_ACCOUNT, "us-east-1")
    before = assumptions()
    for _ in range(3):
        short_lived.describe_instances()
    assert assumptions() >= before + 3


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch, moto_aws: FakeAws) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Clients(moto_aws.session).region == "eu-central-1"
    monkeypatch.delenv("AWS_REGION")
    assert Clients(moto_aws.session).region == "us-west-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert Clients(moto_aws.session).region == "us-east-1"  # the session's own (the fake's)
