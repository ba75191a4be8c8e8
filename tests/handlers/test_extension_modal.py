"""The extension modal under ``max_continuous``: it offers no more than what is left of the cap."""

from __future__ import annotations

from datetime import timedelta

from core.submit import RequestInput, submit
from handlers import ids
from handlers.modals import request_modal
from handlers.request_view import Meta
from tests.fakes_core import WEB1, FakeWorld
from tests.helpers import valid_view

POLICIES = """
[identities]
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"

[[auto_approval]]
name = "self-service"
targets = "all"
max_duration = "4h"
max_continuous = "5h"
"""


def _durations(world: FakeWorld, request_id: str) -> list[str]:
    old = world.get(request_id)
    view = valid_view(request_modal(world.ctx, "U0ALICE01", Meta(extends=old.id), extending=old).to_dict())
    block = next(b for b in view["blocks"] if b.get("block_id", "").startswith(ids.DURATION_BLOCK))
    return [o["value"] for o in block["element"]["options"]]


def test_extension_choices_stop_at_what_is_left() -> None:
    world = FakeWorld(POLICIES)
    granted = submit(world.ctx, RequestInput("U0ALICE01", WEB1.id, "disk full", "3h")).request
    assert _durations(world, granted.id) == ["15m", "30m", "1h", "1h30m", "2h"]  # 5h - 3h
    uncapped = FakeWorld(POLICIES.replace('max_continuous = "5h"\n', ""))
    other = submit(uncapped.ctx, RequestInput("U0ALICE01", WEB1.id, "disk full", "3h")).request
    assert _durations(uncapped, other.id)[-1] == "4h"
    assert world.get(granted.id).expires_at == world.clock.now() + timedelta(hours=3)
