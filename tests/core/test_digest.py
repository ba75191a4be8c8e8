"""core.digest on the in-memory fakes: exact figures on a seeded history, with a fake clock."""

from __future__ import annotations

from datetime import timedelta

from core.digest import Digest, Ranked, build_digest, daily_digest
from core.model import State
from tests.fakes_core import NOW, FakeWorld, check_seeded_digest, seed_history

ZERO = {s.value: 0 for s in State}


def seeded() -> tuple[FakeWorld, Digest]:
    world = FakeWorld(start=NOW)
    seed_history(world.ctx.uow)
    return world, daily_digest(world.ctx)


def test_digest_of_a_seeded_history_has_exact_figures() -> None:
    _, digest = seeded()
    assert digest.timezone == "Asia/Tokyo"
    check_seeded_digest(digest)


def test_the_window_moves_with_the_clock() -> None:
    world, _ = seeded()
    world.clock.advance(days=2)
    later = daily_digest(world.ctx)
    assert later.created_total == 0 and later.auto_approved == 0 and later.drift_total == 0
    assert later.ended == ZERO
    # live requests stay live: the active ones are now overdue (0 left), the pending ones older
    assert [t.span for t in later.active] == [timedelta(0), timedelta(0)]
    assert [t.span for t in later.pending] == [timedelta(hours=68), timedelta(hours=51)]
    assert [r.id for r in later.unreviewed_breakglass] == ["RB1"]  # until someone reviews it
    assert later.top_requesters[0] == Ranked("U0ALICE01", None, 4)  # RO2, six days old, left the week


def test_breakglass_leaves_the_digest_once_reviewed() -> None:
    world, _ = seeded()
    from core.context import record

    with world.ctx.uow() as uow:
        record(uow, "RB1", "U0CAROL01", "breakglass_reviewed", NOW)
        uow.commit()
    digest = daily_digest(world.ctx)
    assert digest.unreviewed_breakglass == ()
    assert digest.needs_human  # the failing revocation and the drift still do


def test_an_empty_history_needs_no_one() -> None:
    world = FakeWorld(start=NOW)
    digest = build_digest(world.reports, NOW)
    assert digest.timezone == "UTC"
    assert digest.created_total == 0 and not digest.needs_human
    assert digest.active == () and digest.pending == () and digest.top_nodes == ()
