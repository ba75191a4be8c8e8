"""core.continuous: ``max_continuous`` caps a chain of extensions, when asked for and again when granted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.policy_report import summary
from core.access import release
from core.approvals import decide
from core.checks import check, extendable
from core.continuous import ContinuousCapExceeded
from core.durations import parse_duration
from core.errors import Conflict, JitError
from core.explain import explain
from core.model import AccessRequest, Notice, State
from core.policy import Requester
from core.policy.loader import parse_policies
from core.submit import RequestInput, submit
from core.sweep import expire_due
from tests.fakes_core import T0, WEB1, FakeWorld

ALICE = "U0ALICE01"
CAROL = "U0CAROL01"

HEAD = """
[settings]
audit_channel = "C0AUDIT01"

[identities]
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"
"""

AUTO = HEAD + """
[[auto_approval]]
name = "self-service"
targets = "all"
max_duration = "2h"
max_continuous = "3h"
"""

MANUAL = HEAD + """
[[manual_approval]]
name = "production"
targets = "all"
max_duration = "2h"
max_continuous = "8h"

  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0CAROL01"]
"""


def ask(world: FakeWorld, duration: str) -> AccessRequest:
    return submit(world.ctx, RequestInput(ALICE, WEB1.id, "disk full", duration)).request


def extend(world: FakeWorld, old_id: str, duration: str) -> AccessRequest:
    """As ``/jit extend`` does: ``extendable``, then ``submit`` with ``extends``."""
    old = extendable(world.ctx, ALICE, old_id, parse_duration(duration))
    return submit(world.ctx, RequestInput(ALICE, old.node.id, "more time", duration, extends=old.id)).request


def footprint(world: FakeWorld) -> tuple[int, int, int]:
    tables = world.db.tables
    return len(tables.requests), len(tables.events), len(world.notifier.sent)


def test_under_and_exactly_at_the_cap_counted_from_the_first_grant() -> None:
    world = FakeWorld(AUTO)
    first = ask(world, "1h")
    assert first.state is State.ACTIVE and first.expires_at == T0 + timedelta(hours=1)
    world.clock.advance(minutes=40)
    second = extend(world, first.id, "1h")  # 2h in all: under the cap
    assert second.state is State.ACTIVE and second.expires_at == T0 + timedelta(hours=2)
    assert world.get(first.id).end_reason == f"extended by {second.id}"
    world.clock.advance(minutes=70)
    third = extend(world, second.id, "1h")  # 3h from the first grant: exactly the cap
    assert third.state is State.ACTIVE and third.expires_at == T0 + timedelta(hours=3)
    assert world.get(second.id).state is State.EXPIRED


def test_over_the_cap_is_refused_with_what_is_left_and_changes_nothing() -> None:
    world = FakeWorld(AUTO)
    first = ask(world, "1h")
    second = extend(world, first.id, "1h")
    before = footprint(world)
    with pytest.raises(ContinuousCapExceeded) as refused:
        extend(world, second.id, "2h")  # 4h from the first grant
    message = str(refused.value)
    assert refused.value.left == timedelta(hours=1)
    assert "you can ask for at most 1h more" in message
    assert "would make 4h of continuous access, more than the 3h policy 'self-service' allows" in message
    assert "ask for new access (`/jit request`)" in message
    # submit itself refuses too (a caller that skipped extendable), before recording anything
    with pytest.raises(ContinuousCapExceeded, match="at most 1h more"):
        submit(world.ctx, RequestInput(ALICE, WEB1.id, "more", "2h", extends=second.id))
    assert footprint(world) == before
    assert world.get(second.id).state is State.ACTIVE
    assert extend(world, second.id, "1h").state is State.ACTIVE  # what is left can still be had


def test_nothing_left_is_said_even_without_a_duration() -> None:
    world = FakeWorld(AUTO)
    first = ask(world, "2h")
    second = extend(world, first.id, "1h")
    before = footprint(world)
    for duration in (None, timedelta(minutes=15)):
        with pytest.raises(ContinuousCapExceeded) as refused:
            extendable(world.ctx, ALICE, second.id, duration)
        assert str(refused.value).startswith(
            f"{second.id} cannot be extended: policy 'self-service' allows at most 3h of continuous access "
            f"(max_continuous), and {second.id} with the extensions before it already covers 3h.")
        assert refused.value.left == timedelta(0)
    assert footprint(world) == before


def test_the_form_shows_the_cap_on_the_duration_field() -> None:
    world = FakeWorld(AUTO)
    first = ask(world, "2h")
    before = footprint(world)
    with pytest.raises(JitError) as wrong:
        check(world.ctx, RequestInput(ALICE, WEB1.id, "more", "2h", extends=first.id))
    assert wrong.value.field == "duration" and "at most 1h more" in str(wrong.value)
    # no duration: the policy's default (1h) fits; once nothing is left, the default is refused as well
    assert check(world.ctx, RequestInput(ALICE, WEB1.id, "more", None, extends=first.id)).duration == \
        timedelta(hours=1)
    latest = extend(world, first.id, "1h")
    with pytest.raises(JitError) as wrong:
        check(world.ctx, RequestInput(ALICE, WEB1.id, "more", None, extends=latest.id))
    assert wrong.value.field == "duration" and "cannot be extended" in str(wrong.value)
    assert len(world.db.tables.requests) == before[0] + 1


def test_no_cap_means_extensions_go_on() -> None:
    world = FakeWorld(AUTO.replace('max_continuous = "3h"\n', ""))
    current = ask(world, "2h")
    for _ in range(6):
        current = extend(world, current.id, "2h")
        assert current.state is State.ACTIVE
    assert current.expires_at == T0 + timedelta(hours=14)


def test_an_extension_granted_after_the_old_access_ended_starts_a_new_window() -> None:
    world = FakeWorld(MANUAL.replace('max_continuous = "8h"', 'max_continuous = "3h"'))
    first = ask(world, "2h")
    decide(world.ctx, first.id, CAROL, approve=True)
    pending = extend(world, first.id, "1h")  # 3h in all: fits
    assert pending.state is State.PENDING
    world.clock.advance(hours=2, minutes=30)
    assert expire_due(world.ctx) == [first.id]  # a gap: the extension, once approved, starts now
    decide(world.ctx, pending.id, CAROL, approve=True)
    fresh = world.get(pending.id)  # (an extension granted after its access ended used to crash on superseding)
    assert fresh.state is State.ACTIVE and fresh.expires_at == T0 + timedelta(hours=3, minutes=30)
    assert [e.request.id for e in world.notifier.notices(Notice.GRANTED)] == [first.id, fresh.id]
    assert world.get(first.id).state is State.EXPIRED
    # its own window counts from its grant: 1h used, 2h left
    with pytest.raises(ContinuousCapExceeded, match=r"would make 3h 30m of continuous access.*at most 2h more"):
        extendable(world.ctx, ALICE, fresh.id, timedelta(hours=2, minutes=30))
    extendable(world.ctx, ALICE, fresh.id, timedelta(hours=2))


def test_an_extension_of_released_access_is_cancelled_and_never_granted() -> None:
    world = FakeWorld(MANUAL)
    first = ask(world, "2h")
    decide(world.ctx, first.id, CAROL, approve=True)
    pending = extend(world, first.id, "1h")
    release(world.ctx, first.id, ALICE)
    cancelled = world.get(pending.id)
    assert cancelled.state is State.CANCELLED and cancelled.end_reason == f"{first.id} was released by the requester"
    assert [e.request.id for e in world.notifier.notices(Notice.CANCELLED)] == [pending.id]
    with pytest.raises(Conflict, match="already cancelled"):
        decide(world.ctx, pending.id, CAROL, approve=True)
    assert [e.request.id for e in world.notifier.notices(Notice.GRANTED)] == [first.id]


def test_a_cap_lowered_before_approval_fails_the_extension_when_granted() -> None:
    world = FakeWorld(MANUAL)
    first = ask(world, "2h")
    decide(world.ctx, first.id, CAROL, approve=True)
    world.clock.advance(hours=1)
    pending = extend(world, first.id, "2h")  # 4h in all: within 8h when asked for
    assert pending.state is State.PENDING
    world.policy_file = parse_policies(MANUAL.replace('max_continuous = "8h"', 'max_continuous = "3h"'))
    decide(world.ctx, pending.id, CAROL, approve=True)

    failed = world.get(pending.id)
    assert failed.state is State.FAILED and failed.granted_at is None
    assert failed.end_reason == (
        f"it would make 4h of continuous access, more than the 3h policy 'production' allows now "
        f"(max_continuous); {first.id} stays as it is, and new access can be asked for once it has ended.")
    with world.ctx.uow() as uow:
        last = uow.repo.events(pending.id)[-1]
    assert last.action == "grant_failed" and last.detail["error"] == failed.end_reason
    assert last.detail["from"] == "approved" and last.detail["to"] == "failed"
    assert [e.reason for e in world.notifier.notices(Notice.FAILED, pending.id)] == [failed.end_reason]
    assert not world.notifier.notices(Notice.GRANTED, pending.id)
    kept = world.get(first.id)
    assert kept.state is State.ACTIVE and kept.expires_at == T0 + timedelta(hours=2)
    assert world.access.jit_policies(first.principal_arn) == [f"jitbot-{first.id}"]


def test_explain_mentions_the_cap() -> None:
    policies = parse_policies(AUTO)
    lines = explain(policies, Requester(ALICE, frozenset()), WEB1).text.splitlines()
    assert ("Extensions (`/jit extend`) keep access continuous for at most 3h in all, from the first grant "
            "(max_continuous); beyond that, new access must be asked for.") in lines
    uncapped = parse_policies(AUTO.replace('max_continuous = "3h"\n', ""))
    assert "max_continuous" not in explain(uncapped, Requester(ALICE, frozenset()), WEB1).text


def test_policies_check_summary_mentions_the_cap() -> None:
    repo = (Path(__file__).resolve().parents[2] / "policies.toml").read_text("utf-8")
    lines = summary(parse_policies(repo), "policies.toml").splitlines()
    assert ("auto-approval 'dev-self-service': nodes tagged Environment=dev for S0DEVS, up to 8h, "
            "at most 12h continuous with extensions") in lines
    assert not [line for line in lines if "production" in line and "continuous" in line]
