"""One live request per person and node (``core.checks.same_node``): a second request for a node where the
requester already has a pending, approved or active one is refused, recording nothing; an extension does not
count the access it extends; the request form shows the refusal on its node field."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.access import cancel
from core.checks import check, extendable
from core.errors import Conflict, JitError
from core.model import AccessRequest, Node, State
from core.submit import RequestInput, submit
from tests.fakes_core import WEB1, FakeNodes, FakeWorld

ALICE = "U0ALICE01"
ERIN = "U0ERIN001"
DB1 = Node("i-0fedcba9876543210", "111122223333", "eu-west-1", name="db-1", tags={"Environment": "prod"})

HEAD = """
[settings]
audit_channel = "C0AUDIT01"

[identities]
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"
U0ERIN001 = "arn:aws:iam::111122223333:role/erin"
"""

AUTO = HEAD + """
[[auto_approval]]
name = "self-service"
targets = "all"
max_duration = "2h"
"""

MANUAL = HEAD + """
[[manual_approval]]
name = "production"
targets = "all"
max_duration = "2h"

  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0CAROL01"]
"""


def world_of(policies: str) -> FakeWorld:
    world = FakeWorld(policies)
    world.ctx = replace(world.ctx, nodes=FakeNodes([WEB1, DB1]))
    return world


def ask(world: FakeWorld, node: str = "web-1", who: str = ALICE, extends: str | None = None) -> AccessRequest:
    return submit(world.ctx, RequestInput(who, node, "disk full", "1h", extends=extends)).request


def footprint(world: FakeWorld) -> tuple[dict[str, AccessRequest], int, int, int]:
    tables = world.db.tables
    return dict(tables.requests), len(tables.events), len(world.notifier.sent), len(world.access.jit_policies(
        "arn:aws:iam::111122223333:role/alice"))


def refused(world: FakeWorld, node: str = "web-1") -> str:
    """The refusal of a second request, checked to have recorded nothing (no request, no audit event, no notice,
    no grant)."""
    before = footprint(world)
    with pytest.raises(Conflict) as err:
        ask(world, node)
    assert footprint(world) == before
    return str(err.value)


def test_a_second_request_while_access_is_active_says_how_long_is_left_and_how_to_extend() -> None:
    world = world_of(AUTO)
    first = ask(world)
    assert first.state is State.ACTIVE
    world.clock.advance(minutes=18)
    assert refused(world) == (f"You already have access to web-1 ({first.id}), for another 42m. To stay longer, "
                              f"extend it: `/jit extend {first.id} <duration> <reason>`.")
    assert refused(world, WEB1.id) == refused(world)  # however the node is named


def test_a_second_request_while_the_first_is_pending_says_to_cancel_it_first() -> None:
    world = world_of(MANUAL)
    first = ask(world)
    assert first.state is State.PENDING
    assert refused(world) == (f"Your request {first.id} for web-1 is already waiting for approval. To ask "
                              f"differently, cancel it first: `/jit cancel {first.id}`.")
    cancel(world.ctx, first.id, ALICE)  # once it is over, a new request goes through
    assert ask(world).state is State.PENDING


def test_a_second_request_while_the_first_is_approved_says_access_is_coming() -> None:
    world = world_of(MANUAL)
    first = world.add(state=State.APPROVED, policy="production")
    assert refused(world) == f"Your request {first.id} for web-1 is approved and access is being granted."


def test_other_nodes_and_other_people_do_not_count() -> None:
    world = world_of(AUTO)
    first = ask(world)
    assert ask(world, "db-1").state is State.ACTIVE
    assert ask(world, who=ERIN).state is State.ACTIVE
    world.clock.advance(hours=1, minutes=1)  # the first one is overdue, but still active until revoked
    assert f"({first.id})" in refused(world)


def test_an_extension_does_not_count_the_access_it_extends() -> None:
    world = world_of(MANUAL)
    first = world.grant(policy="production")
    old = extendable(world.ctx, ALICE, first.id, timedelta(hours=1))
    extension = ask(world, extends=old.id)
    assert extension.state is State.PENDING and extension.extends == first.id
    # a new request (no extends) is refused, naming the active access rather than its pending extension
    assert refused(world).startswith(f"You already have access to web-1 ({first.id})")


def test_the_request_form_shows_the_refusal_on_the_node_field() -> None:
    world = world_of(MANUAL)
    first = ask(world)
    before = footprint(world)
    with pytest.raises(JitError) as wrong:
        check(world.ctx, RequestInput(ALICE, WEB1.id, "disk full", "1h"))
    assert wrong.value.field == "node" and f"`/jit cancel {first.id}`" in str(wrong.value)
    assert footprint(world) == before
    assert check(world.ctx, RequestInput(ALICE, DB1.id, "disk full", "1h")).node == DB1
