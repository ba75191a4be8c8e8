"""Several nodes from the request form and from ``/jit explain`` (signed HTTP, the fake Slack, moto): the form's
picker takes several nodes, the durations follow the first one's policy, the submission is one request for them all
(the same rules as ``/jit request web-1,web-2``, each refusal on the node field, nothing recorded); a form opened
with the single select of old still submits; ``/jit explain`` explains a list, in English and in Japanese."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from core.model import AccessRequest, State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.aws.e2e_support import ALICE_ROLE, FAR, FAST_ELECTION, HOME, SRE, approval_for, policy_file, until
from tests.e2e import slack_steps as slack
from tests.e2e.test_aws_multinode import fleet, fleet_policy

StackFactory = Callable[..., Stack]
REGION = "us-east-1"


def _requests_of(stack: Stack, user: str) -> list[AccessRequest]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.by_requester(user)


def _option(stack: Stack, user: str, view: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [o for o in slack.options(stack, user, view, name) if o["text"]["text"].startswith(f"{name} (")]
    return found


def _picker(view: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == ids.NODE_BLOCK)["element"]  # type: ignore[no-any-return]


def test_two_nodes_picked_in_the_form_are_one_request_granting_both(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid)), settings=FAST_ELECTION)
    nodes = fleet(stack, uid, 2)
    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    first, second = _option(stack, cast.ALICE, view, f"mn0-{uid}"), _option(stack, cast.ALICE, view, f"mn1-{uid}")
    assert first["description"]["text"].startswith(f"fleet-{uid}: approval by SRE")
    view = slack.pick(stack, cast.ALICE, view, first, t0)
    t1 = time.time()
    view = slack.pick(stack, cast.ALICE, view, [first, second], t1)
    assert [o["value"] for o in _picker(view)["initial_options"]] == [first["value"], second["value"]]
    assert [o["value"] for o in slack.duration_block(view)["element"]["options"]][-1] == "2h"  # fleet's maximum
    assert "Up to 3 of its nodes in one request." in str(view["blocks"])

    before = slack.answers(stack)
    response = slack.submit(stack, cast.ALICE, view, node=[first, second], duration="1h", reason="roll out the fix")
    assert response.status == 200 and not response.json()
    assert f"submitted under policy 'fleet-{uid}'" in slack.answer_after(stack, before)["text"]
    rid, approval = approval_for(stack, nodes[0], SRE, t0)
    assert all(n in approval["text"] for n in nodes)
    stack.click(cast.SAM, ids.APPROVE, rid, SRE)
    grant = until(stack, rid, lambda r: r.state is State.ACTIVE, f"{rid} granted")
    assert [n.id for n in grant.nodes] == nodes and grant.policy == f"fleet-{uid}"
    assert [r.id for r in _requests_of(stack, cast.ALICE)] == [rid]
    document = stack.aws.inline_policies(ALICE_ROLE)[f"jitbot-{rid}"]
    start = next(s for s in document["Statement"] if s["Sid"] == "JitbotStartSession")
    assert [r for r in start["Resource"] if ":instance/" in r] == [
        f"arn:aws:ec2:{REGION}:{HOME}:instance/{n}" for n in nodes]


def test_nodes_that_cannot_go_in_one_request_are_refused_on_the_node_field(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid, max_nodes=2)), settings=FAST_ELECTION)
    nodes = fleet(stack, uid, 3)
    plain = stack.aws.add_instance(f"plain-{uid}")  # under the file's "one-sre" policy
    far = stack.aws.add_instance(f"far-{uid}", {"Fleet": uid}, account=FAR)
    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    fleet_options = [_option(stack, cast.ALICE, view, f"mn{i}-{uid}") for i in range(3)]
    other = _option(stack, cast.ALICE, view, f"plain-{uid}")
    view = slack.pick(stack, cast.ALICE, view, [fleet_options[0], other], t0)
    assert f"fleet-{uid}" in str(view["blocks"])  # the durations follow the first node picked

    far_option = {"text": {"type": "plain_text", "text": f"far-{uid}"}, "value": f"{FAR}/{REGION}/{far}"}
    cases = [
        ([fleet_options[0], other], ["different policies", f"mn0-{uid} ({nodes[0]}): 'fleet-{uid}'",
                                     f"plain-{uid} ({plain}): 'one-sre'"]),
        (fleet_options, ["You asked for 3 nodes", f"policy 'fleet-{uid}' allows at most 2 in one request"]),
        ([fleet_options[0], far_option], ["one account and region", FAR]),
        ([], ["Pick a node"]),
    ]
    for picked, words in cases:
        found = slack.errors(slack.submit(stack, cast.ALICE, view, node=picked, duration="1h", reason="deploy"))
        assert list(found) == [ids.NODE_BLOCK], found
        assert all(w in found[ids.NODE_BLOCK] for w in words), (words, found)
    assert _requests_of(stack, cast.ALICE) == []


def test_a_form_opened_with_the_single_select_of_old_still_submits(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(extra=fleet_policy(uid)), settings=FAST_ELECTION)
    [node] = fleet(stack, uid, 1)
    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    option = _option(stack, cast.ALICE, view, f"mn0-{uid}")
    view = slack.pick(stack, cast.ALICE, view, option, t0)
    old = slack.selected(option)  # {"type": "external_select", "selected_option": …}, as the view of old sent it
    assert slack.submit(stack, cast.ALICE, view, node_state=old, duration="30m", reason="check").status == 200
    rid, _ = approval_for(stack, node, SRE, t0)
    [made] = _requests_of(stack, cast.ALICE)
    assert made.id == rid and [n.id for n in made.nodes] == [node] and made.state is State.PENDING


def _speaks_japanese(stack: Stack, user: str) -> None:
    info = cast.USERS[user]
    stack.slack.workspace.add_user(user, str(info["email"]), str(info["name"]), str(info.get("title", "")),
                                   locale="ja-JP")


def test_explain_a_list_in_english_and_in_japanese(stack_factory: StackFactory) -> None:
    uid = uuid.uuid4().hex[:8]
    stack = stack_factory(policy_file(settings={"language": "auto"}, extra=fleet_policy(uid, max_nodes=2)),
                          settings=FAST_ELECTION)
    _speaks_japanese(stack, cast.BOB)
    nodes = fleet(stack, uid, 3)
    plain = stack.aws.add_instance(f"plain-{uid}")

    same = stack.slash(cast.ALICE, f"explain mn0-{uid}, mn1-{uid} 1h")
    assert same.startswith(f"*If Alice ({cast.ALICE}) asks for these 2 nodes in one request (account {HOME}, "
                           f"{REGION}) for 1h:*"), same
    assert f"  • mn0-{uid} ({nodes[0]}): Fleet={uid}, Name=mn0-{uid}" in same and f"mn1-{uid} ({nodes[1]})" in same
    assert f"All 2 fall under the same policy, 'fleet-{uid}', which decides for them all:" in same
    assert "1. SRE: 1 approval from" in same and f"up to 2 nodes under policy 'fleet-{uid}'" in same
    assert "would be refused" not in same and "Policies that match" not in same
    assert "would be refused: policy" in stack.slash(cast.ALICE, f"explain tag:Fleet={uid}")  # 3 > max_nodes

    apart = stack.slash(cast.ALICE, f"explain mn0-{uid},plain-{uid}")
    assert "These nodes fall under different policies" in apart and "Node by node:" in apart
    assert f"  • mn0-{uid} ({nodes[0]}): needs approval under manual-approval policy 'fleet-{uid}'" in apart
    assert f"  • plain-{uid} ({plain}): needs approval under manual-approval policy 'one-sre'" in apart
    assert "Decision:" not in apart and "`/jit explain &lt;node&gt;`" in apart

    one = stack.slash(cast.ALICE, f"explain mn0-{uid}")  # one node: the answer of old
    assert one.startswith(f"*If Alice ({cast.ALICE}) asks for mn0-{uid} ({nodes[0]}) (account {HOME}")
    assert "Policies that match:" in one and "these" not in one

    same_ja = stack.slash(cast.BOB, f"explain mn0-{uid},mn1-{uid}")
    assert "2 台のノード" in same_ja and f"mn1-{uid} ({nodes[1]})" in same_ja and "asks for" not in same_ja
    apart_ja = stack.slash(cast.BOB, f"explain mn0-{uid},plain-{uid}")
    assert "異なるポリシー" in apart_ja and "ノードごと" in apart_ja and "different" not in apart_ja
    assert stack.slash(cast.BOB, f"explain mn0-{uid} 1h now") == (
        ":warning: ノード（1 台、カンマ区切りの一覧、またはタグ指定）と、必要なら期間を指定してください。"
        "使い方: `/jit explain &lt;node&gt;[,&lt;node&gt;…] [duration]`")
    assert "1 台のノード" in stack.slash(cast.BOB, f"breakglass mn0-{uid},mn1-{uid} fire")
    assert "one node, in an emergency" in stack.slash(cast.ALICE, f"breakglass mn0-{uid},mn1-{uid} fire")
    assert _requests_of(stack, cast.ALICE) == [] and _requests_of(stack, cast.BOB) == []
