"""The request modal over signed HTTP: open (command, shortcut), node typeahead, node picked, submit with
per-field errors, submit valid."""

from __future__ import annotations

import time
from datetime import timedelta

from core.model import State
from core.policy.schema import MAX_NODES
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, eventually, request


def _labels(found: list[dict]) -> list[str]:
    return [o["text"]["text"] for o in found]


def _option_values(block: dict) -> list[str]:
    return [o["value"] for o in block["element"]["options"]]


def _requests(stack: Stack, user: str) -> list:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.by_requester(user)


def test_modal_round_trip_with_errors_per_field(stack: Stack) -> None:
    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    assert view["callback_id"] == ids.REQUEST_VIEW and view["submit"]["text"] == "Request"
    picker = next(b for b in view["blocks"] if b.get("block_id") == ids.NODE_BLOCK)
    assert picker["element"]["type"] == "multi_external_select" and picker["dispatch_action"] is True
    assert picker["element"]["max_selected_items"] == MAX_NODES
    # before a node is picked: choices up to the longest policy Alice may use (production, 4h)
    assert _option_values(slack.duration_block(view))[-1] == "4h"

    assert slack.options(stack, cast.ALICE, view, "")  # something is offered before anything is typed
    for name in ("web-1", "dev-1", "pci-db"):  # (the worker's fake AWS holds other tests' nodes too: ask by name)
        assert name in {label.split(" (")[0] for label in _labels(slack.options(stack, cast.ALICE, view, name))}
    matches = slack.options(stack, cast.ALICE, view, "WEB")
    assert all("web" in option["text"]["text"].lower() for option in matches)  # case-insensitive filter
    # (other tests on this worker's fake AWS add web-… nodes of their own: pick the cast's web-1)
    web = [o for o in matches if o["text"]["text"] == f"web-1 ({stack.nodes['web-1']})"]
    assert len(web) == 1
    assert web[0]["description"]["text"].startswith("production: approval by SRE lead → Manager")
    assert slack.options(stack, cast.ALICE, view, "no-such-node", expect=False) == []
    # a contractor is not offered what a deny policy refuses them
    assert not [label for label in _labels(slack.options(stack, cast.MALLORY, view, "pci-db", expect=False))
                if label.startswith("pci-db")]
    assert [label for label in _labels(slack.options(stack, cast.MALLORY, view, "web-1")) if label.startswith("web-1")]

    view = slack.pick(stack, cast.ALICE, view, web[0], t0)
    duration = slack.duration_block(view)
    assert duration["block_id"] != ids.DURATION_BLOCK  # follows the policy: a choice made before is dropped
    assert _option_values(duration) == ["15m", "30m", "1h", "1h30m", "2h", "3h", "4h"]
    assert duration["element"]["initial_option"]["value"] == "1h"
    assert "production" in str(next(b for b in view["blocks"] if b.get("block_id") == "policy"))

    cases = [
        (dict(node=web[0], duration="2h", reason="   "), ids.REASON_BLOCK, "say why"),
        (dict(node=web[0], duration="9h", reason="x"), duration["block_id"], "at most 4h"),
        (dict(node=web[0], duration="5x", reason="x"), duration["block_id"], "'5x' is not a duration"),
        (dict(node={"text": {"type": "plain_text", "text": "ghost"}, "value": "123456789012/us-east-1/i-00000000"
                    "deadbeef0"}, duration="1h", reason="x"), ids.NODE_BLOCK, "No node 'i-00000000deadbeef0'"),
        (dict(node=None, duration="1h", reason="x"), ids.NODE_BLOCK, "Pick a node"),
        (dict(node=web[0], duration="1h", reason="x" * 1001), ids.REASON_BLOCK, "keep it under 1000"),
    ]
    for values, block, message in cases:
        found = slack.errors(slack.submit(stack, cast.ALICE, view, **values))  # type: ignore[arg-type]
        assert list(found) == [block] and message in found[block], (values, found)
    # refused by policy (a crafted value: the picker never offers it)
    pci = slack.options(stack, cast.ALICE, view, "pci-db")[0]
    found = slack.errors(slack.submit(stack, cast.MALLORY, view, node=pci, duration="1h", reason="x"))
    assert "denied by policy 'contractors-off-pci'" in found[ids.NODE_BLOCK]
    assert _requests(stack, cast.ALICE) == [] and _requests(stack, cast.MALLORY) == []

    before = slack.answers(stack)
    response = slack.submit(stack, cast.ALICE, view, node=web[0], duration="2h", reason="deploy  hotfix",
                            ticket="OPS-1")
    assert response.status == 200 and not response.json()  # closes the modal
    answer = slack.answer_after(stack, before)  # where /jit request was typed: ephemeral
    assert "submitted under policy 'production'" in answer["text"]
    [made] = _requests(stack, cast.ALICE)
    assert (made.state, made.duration, made.reason, made.ticket) == (State.PENDING, timedelta(hours=2),
                                                                     "deploy hotfix", "OPS-1")
    assert button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE) == made.id
    # one live request per person and node: a second one for web-1 is refused on the node field, recording nothing
    found = slack.errors(slack.submit(stack, cast.ALICE, view, node=web[0], duration="1h", reason="again"))
    assert list(found) == [ids.NODE_BLOCK]
    assert f"Your request {made.id} for web-1 is already waiting for approval" in found[ids.NODE_BLOCK]
    assert _requests(stack, cast.ALICE) == [made]


def test_shortcut_form_answers_by_dm_and_release_button(stack: Stack) -> None:
    t0 = time.time()
    assert slack.sim(stack).shortcut(cast.BOB, ids.SHORTCUT_REQUEST).status == 200
    view = slack.opened_view(stack, t0)
    dev = slack.options(stack, cast.BOB, view, "dev")
    assert dev[0]["description"]["text"] == "dev-self-service: approved at once, at most 8h"
    view = slack.pick(stack, cast.BOB, view, dev[0], t0)
    assert _option_values(slack.duration_block(view))[-1] == "8h"
    assert slack.submit(stack, cast.BOB, view, node=dev[0], duration="30m", reason="run a migration").status == 200
    told = slack.dm_after(stack, cast.BOB, t0, "granted until")  # no response_url: the answer is a DM
    assert "Details are in your DMs" in told.params["text"]
    grant = slack.dm_after(stack, cast.BOB, t0, "aws ssm start-session")
    rid = button_value(grant.params, ids.RELEASE)
    assert button_value(grant.params, ids.EXTEND) == rid
    assert request(stack, rid).state is State.ACTIVE

    assert "has ended" in stack.click(cast.BOB, ids.RELEASE, rid, channel=f"D{cast.BOB}")
    eventually(lambda: request(stack, rid).state is State.REVOKED and not request(stack, rid).needs_cleanup,
               what="release")
    assert request(stack, rid).ended_by == cast.BOB


def test_form_explains_who_cannot_request(stack: Stack) -> None:
    t0 = time.time()
    view = slack.request_form(stack, cast.OSCAR, t0)  # no AWS identity
    assert "submit" not in view or not view["submit"]
    assert "[identities]" in str(view["blocks"])
