"""core.chains on the in-memory store: the sweep's safety net for extensions of access revoked by a path that
did not end them, and extensions asked for once the access has ended. (The full behaviour, through HTTP with the
fake Slack and moto: tests/reliability/test_chains.py.)"""

from __future__ import annotations

import pytest

from core.access import release
from core.approvals import decide
from core.audit import Action
from core.context import transition
from core.errors import Conflict
from core.model import Changes, Notice, State
from core.submit import RequestInput, submit
from core.sweep import sweep
from tests.core.test_continuous import ALICE, CAROL, MANUAL, ask, extend
from tests.fakes_core import FakeWorld


def test_the_sweep_cancels_a_pending_extension_of_access_revoked_elsewhere() -> None:
    world = FakeWorld(MANUAL)
    first = ask(world, "2h")
    decide(world.ctx, first.id, CAROL, approve=True)
    pending = extend(world, first.id, "1h")
    now = world.clock.now()
    with world.ctx.uow() as uow:  # revoked by a path that does not end the chain itself
        assert transition(uow, world.get(first.id), State.REVOKED, actor="jitbot", action=Action.REVOKED, at=now,
                          changes=Changes(ended_at=now, ended_by="jitbot", end_reason="its policy was removed by hand"))
        uow.commit()
    report = sweep(world.ctx)
    assert report.cancelled == [pending.id]
    cancelled = world.get(pending.id)
    assert cancelled.state is State.CANCELLED
    assert cancelled.end_reason == f"{first.id} was revoked (its policy was removed by hand)"
    assert [e.request.id for e in world.notifier.notices(Notice.CANCELLED)] == [pending.id]
    assert sweep(world.ctx).cancelled == []  # once
    with pytest.raises(Conflict, match="already cancelled"):
        decide(world.ctx, pending.id, CAROL, approve=True)


def test_an_extension_asked_for_once_the_access_has_ended_is_refused() -> None:
    """The form was opened while the access was active; it is submitted after the release."""
    world = FakeWorld(MANUAL)
    first = ask(world, "2h")
    decide(world.ctx, first.id, CAROL, approve=True)
    release(world.ctx, first.id, ALICE)
    before = len(world.db.tables.requests)
    with pytest.raises(Conflict, match=f"Request {first.id} is revoked; only active access can be extended"):
        submit(world.ctx, RequestInput(ALICE, first.node.id, "more time", "1h", extends=first.id))
    assert len(world.db.tables.requests) == before
