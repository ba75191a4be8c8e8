"""Several nodes in one request (``core.selection``, ``core.checks.policy_for_all``): a list or a tag selector,
resolved once at submission; one deciding policy for them all, at most its ``max_nodes``; each node once, in one
account and region; a refusal names the node it is about and records nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.access import end_access
from core.errors import InvalidInput, JitError, NodeNotFound, NotAllowed
from core.model import AccessRequest, Node, State
from core.policy import load_policies, parse_policies
from core.schedule import refusal_at_start
from core.submit import RequestInput, submit
from tests.fakes_core import FakeNodes, FakeWorld

ALICE = "U0ALICE01"
ACCOUNT, FAR = "111122223333", "444455556666"


def node(number: int, role: str = "web", account: str = ACCOUNT, region: str = "eu-west-1",
         env: str = "prod") -> Node:
    return Node(f"i-0{number:016x}", account, region, name=f"{role}-{number}",
                tags={"Environment": env, "Role": role})


WEB = [node(1), node(2), node(3)]
DEV = node(4, "dev", env="dev")
ELSEWHERE = node(5, account=FAR)
OTHER_REGION = node(6, region="us-east-1")
DB = node(7, "db")

HEAD = f"""
[settings]
audit_channel = "C0AUDIT01"

[identities]
U0ALICE01 = "arn:aws:iam::{ACCOUNT}:role/alice"
"""

AUTO = HEAD + """
[[auto_approval]]
name = "web-fleet"
targets = { tags = { Role = "web" } }
max_duration = "2h"
max_nodes = 3

[[auto_approval]]
name = "dev"
targets = { tags = { Environment = "dev" } }
max_duration = "2h"
"""

MANUAL = HEAD + """
[[manual_approval]]
name = "production"
targets = "all"
max_duration = "2h"
max_nodes = 5

  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0CAROL01"]
"""


def world_of(policies: str) -> FakeWorld:
    world = FakeWorld(policies)
    world.ctx = replace(world.ctx, nodes=FakeNodes([*WEB, DEV, ELSEWHERE, OTHER_REGION, DB]))
    return world


def ask(world: FakeWorld, nodes: str) -> AccessRequest:
    return submit(world.ctx, RequestInput(ALICE, nodes, "deploy the fleet", "1h")).request


def refused(world: FakeWorld, nodes: str, kind: type[JitError] = NotAllowed) -> str:
    """The refusal, checked to have recorded no request and granted nothing; it is about the node field."""
    before = dict(world.db.tables.requests)
    with pytest.raises(kind) as err:
        ask(world, nodes)
    assert world.db.tables.requests == before
    assert world.access.policies == {} or all(not p for p in world.access.policies.values())
    assert err.value.field == "node"
    return str(err.value)


def test_a_list_is_one_request_one_grant_with_every_node_in_order() -> None:
    world = world_of(AUTO)
    request = ask(world, "web-3,web-1, web-2")
    assert request.state is State.ACTIVE and request.policy == "web-fleet"
    assert [n.id for n in request.nodes] == [WEB[2].id, WEB[0].id, WEB[1].id]
    assert request.node == WEB[2] and request.more_nodes == (WEB[0], WEB[1])
    assert len(world.db.tables.requests) == 1
    submitted = [e for e in world.db.tables.events if e.action == "submitted"]
    assert [n["name"] for n in submitted[0].detail["nodes"]] == ["web-3", "web-1", "web-2"]


def test_a_tag_selector_resolves_once_to_the_nodes_tagged_then() -> None:
    world = world_of(AUTO)
    world.ctx = replace(world.ctx, nodes=FakeNodes([*WEB, DEV]))
    request = ask(world, "tag:Role=web")
    assert sorted(n.id for n in request.nodes) == sorted(n.id for n in WEB)
    world.ctx = replace(world.ctx, nodes=FakeNodes([*WEB, node(8)]))  # a fourth web node appears later
    stored = world.ctx.find(request.id)
    assert stored is not None and len(stored.nodes) == 3  # what was approved is what is granted


def test_one_node_stays_as_it_was() -> None:
    world = world_of(AUTO)
    request = ask(world, "dev-4")
    assert request.more_nodes == () and request.nodes == (DEV,)
    submitted = [e for e in world.db.tables.events if e.action == "submitted"]
    assert "nodes" not in submitted[0].detail


def test_more_nodes_than_max_nodes_is_refused_with_the_limit() -> None:
    world = world_of(AUTO)
    world.ctx = replace(world.ctx, nodes=FakeNodes([*WEB, node(8), DEV]))
    text = refused(world, "tag:Role=web")
    assert "4 nodes" in text and "policy 'web-fleet' allows at most 3 in one request (max_nodes)" in text


def test_the_default_max_nodes_is_one() -> None:
    world = world_of(AUTO.replace("max_nodes = 3\n", ""))
    text = refused(world, "web-1,web-2")
    assert "allows at most 1 in one request (max_nodes)" in text


def test_nodes_under_different_policies_are_refused_listing_which_falls_under_which() -> None:
    world = world_of(AUTO)
    text = refused(world, "web-1,dev-4")
    assert "different policies" in text
    assert f"web-1 ({WEB[0].id}): 'web-fleet'" in text and f"dev-4 ({DEV.id}): 'dev'" in text


def test_a_node_no_policy_lets_through_refuses_the_whole_request_naming_it() -> None:
    world = world_of(AUTO)
    text = refused(world, "web-1,db-7")
    assert "db-7" in text
    refusals = [e for e in world.db.tables.events if e.action == "request_refused"]
    assert [e.detail["node"] for e in refusals] == [DB.id]  # audited, for the node refused


def test_an_unknown_node_is_refused_naming_it() -> None:
    world = world_of(AUTO)
    assert "web-9" in refused(world, "web-1,web-9", NodeNotFound)


def test_a_node_listed_twice_is_refused() -> None:
    world = world_of(AUTO)
    assert refused(world, "web-1,web-2,web-1", InvalidInput) == "'web-1' is listed twice: list each node once."
    text = refused(world, f"web-1,{WEB[0].id}", InvalidInput)
    assert text == f"'web-1' and '{WEB[0].id}' are the same node ({WEB[0].id}): list each node once."


def test_nodes_in_different_accounts_or_regions_are_refused() -> None:
    world = world_of(MANUAL)
    text = refused(world, "web-1,web-5")
    assert "one account and region" in text and FAR in text and "separate requests" in text
    assert "us-east-1" in refused(world, "web-1,web-6")
    across = refused(world, "tag:Role=web")  # a selector across accounts: say how to narrow it
    assert f"`{ACCOUNT}/eu-west-1/tag:Role=web`" in across


def test_bad_lists_and_selectors_say_how_to_write_them() -> None:
    world = world_of(AUTO)
    assert "empty entry" in refused(world, "web-1,,web-2", InvalidInput)
    assert "stands alone" in refused(world, "tag:Role=web,web-1", InvalidInput)
    assert "tag:<key>=<value>" in refused(world, "tag:Role", InvalidInput)
    assert "No node is tagged Role=cache" in refused(world, "tag:Role=cache", NodeNotFound)


def test_a_second_request_for_one_of_the_nodes_is_refused_naming_it() -> None:
    world = world_of(MANUAL)
    first = ask(world, "web-1,web-2")
    assert first.state is State.PENDING
    text = refused(world, "web-2", JitError)
    assert first.id in text and "web-2" in text


def test_revocation_covers_the_request_once_and_the_policy_names_each_node() -> None:
    world = world_of(AUTO)
    request = ask(world, "web-1,web-2")
    assert end_access(world.ctx, request.id, State.REVOKED, actor=ALICE, reason="done")
    assert world.access.revoked == [request.id]


def test_a_scheduled_request_beyond_a_lowered_max_nodes_is_not_granted_at_its_start() -> None:
    world = world_of(AUTO)
    request = ask(world, "web-1,web-2")
    lowered = parse_policies(AUTO.replace("max_nodes = 3", "max_nodes = 1"))
    reason = refusal_at_start(lowered, request)
    assert reason is not None and "at most 1 node(s)" in reason
    assert refusal_at_start(parse_policies(AUTO), request) is None


def test_a_cedar_forbid_on_one_node_refuses_the_whole_list_naming_that_node(tmp_path: Path) -> None:
    pytest.importorskip("cedarpy")
    (tmp_path / "policies.cedar").write_text(
        '@id("no-web-2")\n@block("all")\nforbid (principal, action, resource == AWS::EC2::Instance::"'
        f'{WEB[1].id}");\n', "utf-8")
    (tmp_path / "policies.toml").write_text(
        MANUAL.replace("[settings]\n", '[settings]\ncedar_policies = "policies.cedar"\n', 1), "utf-8")
    world = world_of(MANUAL)
    world.policy_file = load_policies(tmp_path / "policies.toml")
    text = refused(world, "web-1,web-2,web-3")
    assert text == f"Access to web-2 ({WEB[1].id}) is denied by policy 'no-web-2'."
    assert ask(world, "web-1,web-3").state is State.PENDING  # the others alone go through
