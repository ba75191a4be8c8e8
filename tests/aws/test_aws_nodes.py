"""Node lookup against moto (and the fake's SSM extension): ids, names, prefixes, accounts, search, cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aws.errors import NodeLookupError
from aws.gateway import AwsGateway
from aws.nodes import parse_reference
from core.errors import AmbiguousNode, NodeNotFound, TransientAwsError
from core.i18n import Catalogs
from fakes.aws import DEFAULT_ACCOUNT, SECOND_ACCOUNT, FakeAws


def test_by_instance_id(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"web-{uid}", {"Environment": "prod"})
    node = gateway.resolve(iid)
    assert (node.id, node.account, node.region, node.name) == (iid, DEFAULT_ACCOUNT, "us-east-1", f"web-{uid}")
    assert node.tags == {"Name": f"web-{uid}", "Environment": "prod"}
    assert (node.ping_status, node.platform) == ("Online", "Linux")
    assert node.arn == f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{iid}"


def test_by_name_and_ping_from_ssm(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"db-{uid}", ping="ConnectionLost", platform="Windows")
    node = gateway.resolve(f"db-{uid}")
    assert (node.id, node.ping_status, node.platform) == (iid, "ConnectionLost", "Windows")


def test_unmanaged_instance_has_no_ping(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"bare-{uid}", managed=False)
    assert gateway.resolve(iid).ping_status is None


def test_ambiguous_name_lists_candidates(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    first = moto_aws.add_instance(f"twin-{uid}")
    second = moto_aws.add_instance(f"twin-{uid}")
    hybrid = moto_aws.add_managed_node(f"twin-{uid}")
    with pytest.raises(AmbiguousNode) as caught:
        gateway.resolve(f"twin-{uid}")
    assert sorted(caught.value.candidates) == sorted(f"twin-{uid} ({i})" for i in (first, second, hybrid))
    assert f"twin-{uid} ({first})" in str(caught.value)


def test_unknown_node(gateway: AwsGateway, uid: str) -> None:
    with pytest.raises(NodeNotFound, match=f"named 'ghost-{uid}' in account {DEFAULT_ACCOUNT}"):
        gateway.resolve(f"ghost-{uid}")
    with pytest.raises(NodeNotFound, match="No node 'i-0000000000deadbee'") as caught:
        gateway.resolve("i-0000000000deadbee")
    assert caught.value.say(Catalogs().get("ja")) == (f"アカウント {DEFAULT_ACCOUNT} (us-east-1) にノード "
                                                      "'i-0000000000deadbee' はありません。")
    with pytest.raises(NodeNotFound, match="No node 'mi-00000000000000000'"):
        gateway.resolve("mi-00000000000000000")
    with pytest.raises(NodeNotFound, match="Which node"):
        gateway.resolve("us-east-1/")


def test_terminated_instance_is_gone(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"old-{uid}")
    moto_aws.client("ec2").terminate_instances(InstanceIds=[iid])
    with pytest.raises(NodeNotFound):
        gateway.resolve(iid)


def test_managed_node_by_id_and_name(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    mid = moto_aws.add_managed_node(f"onprem-{uid}", {"Environment": "dev"}, ping="Inactive")
    node = gateway.resolve(mid)
    assert (node.id, node.name, node.ping_status, node.account) == (mid, f"onprem-{uid}", "Inactive",
                                                                    DEFAULT_ACCOUNT)
    assert node.tags == {"Name": f"onprem-{uid}", "Environment": "dev"}
    assert node.arn.endswith(f":managed-instance/{mid}")
    assert gateway.resolve(f"onprem-{uid}").id == mid


def test_region_prefix(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"eu-{uid}", region="eu-west-1")
    node = gateway.resolve(f"eu-west-1/eu-{uid}")
    assert (node.id, node.region, node.ping_status) == (iid, "eu-west-1", "Online")
    assert gateway.resolve(f"eu-west-1/{iid}").id == iid
    with pytest.raises(NodeNotFound, match=r"\(us-east-1\)"):
        gateway.resolve(f"eu-{uid}")


def test_second_account_through_assume_role(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    iid = moto_aws.add_instance(f"far-{uid}", account=SECOND_ACCOUNT)
    mid = moto_aws.add_managed_node(f"farm-{uid}", account=SECOND_ACCOUNT)
    node = gateway.resolve(f"{SECOND_ACCOUNT}/far-{uid}")
    assert (node.id, node.account, node.ping_status) == (iid, SECOND_ACCOUNT, "Online")
    assert node.arn == f"arn:aws:ec2:us-east-1:{SECOND_ACCOUNT}:instance/{iid}"
    assert gateway.resolve(f"{SECOND_ACCOUNT}/us-east-1/{mid}").account == SECOND_ACCOUNT
    assert gateway.resolve(iid).account == SECOND_ACCOUNT  # an id is looked for in every configured account
    with pytest.raises(NodeNotFound):
        gateway.resolve(f"far-{uid}")  # a name only in the home account unless prefixed
    # the gateway's own clients there really act as the assumed role
    identity = gateway.clients.ec2(SECOND_ACCOUNT, "us-east-1")
    assert identity.describe_instances(InstanceIds=[iid])["Reservations"][0]["OwnerId"] == SECOND_ACCOUNT


def test_unconfigured_account(gateway: AwsGateway) -> None:
    with pytest.raises(NodeLookupError, match="Account 999988887777 is not configured"):
        gateway.resolve("999988887777/web-1")


def test_search_by_id_or_name(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    a = moto_aws.add_instance(f"api-{uid}-1")
    b = moto_aws.add_managed_node(f"API-{uid}-2")
    c = moto_aws.add_instance(f"api-{uid}-3", account=SECOND_ACCOUNT)
    found = gateway.search(f"api-{uid}")
    assert [n.id for n in found] == [a, b, c]
    assert [n.id for n in gateway.search(f"api-{uid}", limit=2)] == [a, b]
    assert [n.id for n in gateway.search(a[2:])] == [a]
    assert [n.id for n in gateway.search(f"{SECOND_ACCOUNT}/api-{uid}")] == [c]


def test_results_are_cached_briefly(moto_aws: FakeAws, make_gateway: Callable[..., AwsGateway],
                                    uid: str) -> None:
    now = [0.0]
    gateway = make_gateway(cache_seconds=30, clock=lambda: now[0])
    iid = moto_aws.add_instance(f"cache-{uid}")
    assert gateway.resolve(f"cache-{uid}").ping_status == "Online"
    moto_aws.set_ping(iid, "ConnectionLost")
    moto_aws.fail_next("ec2:DescribeInstances", "UnauthorizedOperation")  # would fail if AWS were asked
    assert gateway.resolve(f"cache-{uid}").ping_status == "Online"
    moto_aws.clear_faults()
    now[0] = 31.0
    assert gateway.resolve(f"cache-{uid}").ping_status == "ConnectionLost"


def test_lookup_failures(moto_aws: FakeAws, gateway: AwsGateway, uid: str) -> None:
    moto_aws.fail_next("ec2:DescribeInstances", "UnauthorizedOperation", status=403)
    with pytest.raises(NodeLookupError, match="UnauthorizedOperation"):
        gateway.resolve(f"x-{uid}")
    moto_aws.fail_next("ssm:DescribeInstanceInformation", "InternalServerError", times=3)
    moto_aws.add_instance(f"y-{uid}")
    with pytest.raises(TransientAwsError, match="InternalServerError"):
        gateway.resolve(f"y-{uid}")


def test_reference_grammar() -> None:
    assert parse_reference("web-1") == (None, None, "web-1")
    assert parse_reference("us-east-1/i-0abc") == (None, "us-east-1", "i-0abc")
    assert parse_reference("444455556666/web-1") == ("444455556666", None, "web-1")
    assert parse_reference("444455556666/eu-west-2/web-1") == ("444455556666", "eu-west-2", "web-1")
    assert parse_reference("us-gov-west-1/444455556666/a/b") == ("444455556666", "us-gov-west-1", "a/b")
    assert parse_reference(" team/web ") == (None, None, "team/web")
