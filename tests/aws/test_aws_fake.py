"""The fake's own contract: what it adds to moto answers like AWS, through plain boto3."""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fakes.aws import DEFAULT_ACCOUNT, SECOND_ACCOUNT, FakeAws


def test_env_is_returned_not_set(moto_aws: FakeAws) -> None:
    env = moto_aws.env()
    assert env["AWS_ENDPOINT_URL"] == moto_aws.endpoint_url.rstrip("/")
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"]) == ("testing", "testing",
                                                                                           "us-east-1")
    assert os.environ.get("AWS_ENDPOINT_URL") != env["AWS_ENDPOINT_URL"]
    sts = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], region_name=env["AWS_REGION"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).client(
        "sts", endpoint_url=env["AWS_ENDPOINT_URL"])
    assert sts.get_caller_identity()["Account"] == DEFAULT_ACCOUNT


def test_instance_information_filters_and_pages(moto_aws: FakeAws, uid: str) -> None:
    ids = [moto_aws.add_instance(f"ii-{uid}", {"Batch": uid}) for _ in range(3)]
    ids += [moto_aws.add_managed_node(f"ii-{uid}", {"Batch": uid}, ping="ConnectionLost") for _ in range(3)]
    moto_aws.add_instance(f"ii-{uid}", {"Batch": uid}, managed=False)  # not managed: absent
    ssm = moto_aws.client("ssm")
    pages = ssm.get_paginator("describe_instance_information").paginate(
        Filters=[{"Key": "tag:Batch", "Values": [uid]}], PaginationConfig={"PageSize": 5})
    listed = [item for page in pages for item in page["InstanceInformationList"]]
    assert sorted(i["InstanceId"] for i in listed) == sorted(ids)
    kinds = {i["InstanceId"]: (i["ResourceType"], i["PingStatus"]) for i in listed}
    assert kinds[ids[0]] == ("EC2Instance", "Online") and kinds[ids[-1]] == ("ManagedInstance", "ConnectionLost")
    online = ssm.describe_instance_information(
        Filters=[{"Key": "tag:Batch", "Values": [uid]}, {"Key": "PingStatus", "Values": ["Online"]}])
    assert sorted(i["InstanceId"] for i in online["InstanceInformationList"]) == sorted(ids[:3])
    legacy = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [ids[4]]}])
    assert [i["InstanceId"] for i in legacy["InstanceInformationList"]] == [ids[4]]
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=ids[4])["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Name": f"ii-{uid}", "Batch": uid}
    with pytest.raises(ClientError, match="InvalidResourceId"):
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId="mi-00000000000000000")


def test_sessions_by_state_and_owner(moto_aws: FakeAws, uid: str) -> None:
    target = moto_aws.add_managed_node(f"s-{uid}")
    alice = f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/alice-{uid}"
    bob = f"arn:aws:sts::{DEFAULT_ACCOUNT}:assumed-role/bob-{uid}/bob"
    first, second = moto_aws.start_session(target, alice), moto_aws.start_session(target, bob)
    ssm = moto_aws.client("ssm")
    ssm.terminate_session(SessionId=first)
    ssm.terminate_session(SessionId=first)  # terminating twice is fine
    active = ssm.describe_sessions(State="Active", Filters=[{"key": "Target", "value": target}])["Sessions"]
    history = ssm.describe_sessions(State="History", Filters=[{"key": "Owner", "value": alice}])["Sessions"]
    assert [s["SessionId"] for s in active] == [second] and active[0]["Owner"] == bob
    assert [(s["SessionId"], s["Status"]) for s in history] == [(first, "Terminated")] and "EndDate" in history[0]
    assert moto_aws.sessions(target, "History")[0]["SessionId"] == first
    with pytest.raises(ClientError, match="DoesNotExistException"):
        ssm.terminate_session(SessionId=f"nobody-{uid}")
    with pytest.raises(ClientError, match="DoesNotExistException"):  # a session lives in its account
        moto_aws.client("ssm", SECOND_ACCOUNT).terminate_session(SessionId=second)


def test_faults_answer_in_each_protocol(moto_aws: FakeAws, uid: str) -> None:
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})
    session = moto_aws.session()
    cases = [("ec2", "ec2:DescribeInstances", "UnauthorizedOperation", 403, lambda c: c.describe_instances()),
             ("iam", "iam.ListRoles", "Throttling", 400, lambda c: c.list_roles()),
             ("ssm", "DescribeSessions", "ServiceUnavailable", 503, lambda c: c.describe_sessions(State="Active"))]
    for service, operation, code, status, call in cases:
        client = session.client(service, endpoint_url=moto_aws.endpoint_url, config=once)  # type: ignore[call-overload]
        moto_aws.fail_next(operation, code)
        with pytest.raises(ClientError) as caught:
            call(client)
        assert caught.value.response["Error"]["Code"] == code
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        call(client)  # only the next call failed


def test_second_account_is_separate(moto_aws: FakeAws, uid: str) -> None:
    moto_aws.add_instance(f"acct-{uid}", account=SECOND_ACCOUNT)
    tag = [{"Name": "tag:Name", "Values": [f"acct-{uid}"]}]
    assert moto_aws.client("ec2").describe_instances(Filters=tag)["Reservations"] == []
    there = moto_aws.client("ec2", SECOND_ACCOUNT).describe_instances(Filters=tag)["Reservations"]
    assert there[0]["OwnerId"] == SECOND_ACCOUNT
    assert moto_aws.client("sts", SECOND_ACCOUNT).get_caller_identity()["Account"] == SECOND_ACCOUNT
