"""core.reconcile on real parts (the Stack's Context: moto, fake Slack, SQLite/PostgreSQL, a clock the test moves):
orphan ``jitbot-*`` policies removed and said, an active grant whose policy is missing ended as revoked outside
jitbot (never re-applied), and everything that is not jitbot's to manage left alone. The whole story of a policy
removed by hand, with its races, is in tests/reliability/test_revocations.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from core.context import Context
from core.model import AccessRequest, Kind, Node, State
from core.reconcile import (
    END_MARGIN,
    OUTSIDE,
    SETTLE,
    ReconcileReport,
    Removal,
    _principal_key,
    _request_id,
    _why_orphan,
    reconcile,
)
from fakes import cast
from fakes.aws import FakeAws
from fakes.stack import Stack
from tests.aws.e2e_support import (
    AUDIT,
    FAST_ELECTION,
    SRE,
    ended,
    granted,
    policy_file,
    said,
    scheduler_of,
)
from tests.fakes_core import FakeClock
from tests.helpers import events, request

StackFactory = Callable[..., Stack]
OTHER_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                          "Resource": "arn:aws:s3:::team-bucket/*"}]}


@dataclass
class World:
    stack: Stack
    ctx: Context
    role: str  # Alice's principal
    user: str  # Erin's principal
    node: str
    node_name: str


def _clock(world: World) -> FakeClock:
    clock = world.stack.clock
    assert isinstance(clock, FakeClock)
    return clock


@pytest.fixture
def world(stack_factory: StackFactory, fake_aws: tuple[FakeAws, dict[str, str]]) -> Iterator[World]:
    """A stack whose [identities] are this test's own role (Alice), user (Erin) and an unreachable account."""
    aws, _ = fake_aws
    uid = uuid.uuid4().hex[:8]
    role, user = aws.create_role(f"rec-{uid}"), aws.create_user(f"rec-{uid}")
    stack = stack_factory(policy_file({cast.ALICE: role, "erin@example.com": user,
                                       cast.BOB: "arn:aws:iam::999988887777:role/unreachable"}), settings=FAST_ELECTION,
                          clock=FakeClock(datetime.now(UTC)))
    assert stack.runtime is not None
    node = aws.add_instance(f"rec-{uid}", {"Environment": "prod"})
    yield World(stack, stack.runtime.ctx, role, user, node, f"rec-{uid}")
    aws.clear_faults()


def test_orphans_are_removed_and_said_the_rest_is_left_alone(world: World) -> None:
    stack, aws = world.stack, world.stack.aws
    live = granted(stack, cast.ALICE, f"request {world.node_name} 1h live grant", world.node)
    over = granted(stack, cast.ERIN, f"request {world.node_name} 1h soon over", world.node)
    stack.slash(cast.ERIN, f"release {over.id}")
    ended(stack, over.id)
    aws.put_inline_policy(world.user, f"jitbot-{over.id}")      # left behind after its request ended
    aws.put_inline_policy(world.role, "jitbot-R0UNKNOWN")        # no such request
    aws.put_inline_policy(world.role, f"jitbot-{over.id}")       # a real request, but not this principal's
    aws.put_inline_policy(world.user, "jitbot-handmade")         # jitbot's prefix, not jitbot's name
    aws.put_inline_policy(world.role, "team-s3", OTHER_POLICY)   # not jitbot's
    outsider = aws.create_role(f"outsider-{uuid.uuid4().hex[:8]}")
    aws.put_inline_policy(outsider, "jitbot-R0UNKNOWN")          # a principal not in [identities]

    report = reconcile(world.ctx)

    assert sorted((r.principal, r.policy) for r in report.removed) == sorted([
        (world.user, f"jitbot-{over.id}"), (world.role, "jitbot-R0UNKNOWN"), (world.role, f"jitbot-{over.id}"),
        (world.user, "jitbot-handmade")])
    assert sorted(aws.inline_policies(world.role)) == [f"jitbot-{live.id}", "team-s3"]
    assert list(aws.inline_policies(world.user)) == []
    assert list(aws.inline_policies(outsider)) == ["jitbot-R0UNKNOWN"]
    assert [e for e in report.errors if "999988887777" in e] and len(report.errors) == 1
    assert report.principals == 3 and report.active == 1 and not report.revoked
    why = {r.policy + " " + r.principal: r.why for r in report.removed}
    assert why[f"jitbot-{over.id} {world.user}"] == f"request {over.id} is revoked"
    assert "not to this principal" in why[f"jitbot-{over.id} {world.role}"]

    audited = [e for e in events(stack, over.id) if e.action == "drift_removed"]
    assert sorted(e.detail["principal"] for e in audited) == sorted([world.user, world.role])
    assert [e.actor for e in audited] == ["jitbot", "jitbot"]
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        unknown = [e for e in uow.repo.events("R0UNKNOWN") if e.action == "drift_removed"]
    assert unknown[0].detail == {"principal": world.role, "policy": "jitbot-R0UNKNOWN",
                                 "why": "no request of jitbot's database has this id"}
    said(stack, AUDIT, ":broom:", "jitbot-R0UNKNOWN", world.role)
    said(stack, AUDIT, ":broom:", f"jitbot-{over.id}", world.user, f"<@{cast.ERIN}>")
    said(stack, AUDIT, ":broom:", "jitbot-handmade", world.user)

    again = reconcile(world.ctx)  # converged
    assert not again.acted and len(again.errors) == 1
    assert request(stack, live.id).state is State.ACTIVE


def test_a_missing_policy_is_a_revocation_from_outside(world: World) -> None:
    stack, aws = world.stack, world.stack.aws
    grant = granted(stack, cast.ALICE, f"request {world.node_name} 1h keep working", world.node)
    aws.delete_inline_policy(world.role, f"jitbot-{grant.id}")  # someone "cleaned up" IAM by hand

    young = reconcile(world.ctx)  # granted a moment ago: IAM may not show jitbot's write yet
    assert young.recent == [grant.id] and not young.acted and request(stack, grant.id).state is State.ACTIVE
    assert f"not checked {grant.id}: granted less than 2m ago" in young.lines()

    _clock(world).advance(SETTLE)
    report = reconcile(world.ctx)

    assert report.revoked == [grant.id] and not report.removed and report.acted
    assert f"revoked {grant.id}: its policy was removed outside jitbot" in report.lines()
    done = ended(stack, grant.id)
    assert (done.state, done.ended_by) == (State.REVOKED, OUTSIDE)
    assert f"jitbot-{grant.id}" not in aws.inline_policies(world.role)
    said(stack, AUDIT, grant.id, "revoked by someone outside jitbot")
    said(stack, SRE, "revoked by someone outside jitbot", thread=True)
    assert not reconcile(world.ctx).acted  # nothing put back, nothing more to do


def test_a_principal_deleted_by_hand_ends_its_grants_too(world: World) -> None:
    stack, aws = world.stack, world.stack.aws
    grant = granted(stack, cast.ERIN, f"request {world.node_name} 1h keep working", world.node)
    session = aws.start_session(world.node, world.user)
    _clock(world).advance(SETTLE)
    aws.delete_inline_policy(world.user, f"jitbot-{grant.id}")
    aws.client("iam").delete_user(UserName=world.user.rsplit("/", 1)[1])  # the whole IAM user, in an incident

    report = reconcile(world.ctx)

    assert report.revoked == [grant.id]
    done = ended(stack, grant.id)
    assert (done.state, done.ended_by, done.sessions_ended) == (State.REVOKED, OUTSIDE, 1)
    assert session not in {s["SessionId"] for s in aws.sessions(world.node, "Active")}
    said(stack, f"D{cast.ERIN}", grant.id, "revoked by someone outside jitbot", "1 session terminated")


def test_a_grant_about_to_expire_is_left_to_its_expiry(world: World) -> None:
    stack, aws = world.stack, world.stack.aws
    scheduler_of(stack)  # the expiry needs it
    grant = granted(stack, cast.ALICE, f"request {world.node_name} 1h almost done", world.node)
    assert grant.expires_at is not None
    _clock(world).set(grant.expires_at - END_MARGIN)
    aws.delete_inline_policy(world.role, f"jitbot-{grant.id}")
    report = reconcile(world.ctx)  # within END_MARGIN of its end: the expiry's, not a revocation
    assert not report.acted and f"jitbot-{grant.id}" not in aws.inline_policies(world.role)
    _clock(world).set(grant.expires_at)
    done = ended(stack, grant.id)  # "already gone" counts as revoked
    assert (done.state, done.ended_by) == (State.EXPIRED, "jitbot")
    assert f"jitbot-{grant.id}" not in aws.inline_policies(world.role)


def test_what_explains_a_policy() -> None:
    role = "arn:aws:iam::111122223333:role/alice"
    made = AccessRequest(id="R0AAAAAAA", requester=cast.ALICE, principal_arn="arn:aws:iam::111122223333:role/ops/alice",
                         node=Node("i-0123456789abcdef0", "111122223333", "eu-west-1"), reason="x",
                         duration=timedelta(hours=1), policy="p", kind=Kind.MANUAL, levels=(), state=State.ACTIVE,
                         created_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert _principal_key(made.principal_arn) == _principal_key(role)  # the path does not matter
    assert _why_orphan(made, role) is None
    assert _why_orphan(made.with_changes(state=State.APPROVED), role) is None  # being granted
    assert _why_orphan(made.with_changes(state=State.EXPIRED, needs_cleanup=True), role) is None  # being revoked
    assert _why_orphan(made.with_changes(state=State.EXPIRED), role) == "request R0AAAAAAA is expired"
    assert "not to this principal" in (_why_orphan(made, "arn:aws:iam::111122223333:user/alice") or "")
    assert "not to this principal" in (_why_orphan(made, "arn:aws:iam::444455556666:role/alice") or "")
    assert _why_orphan(None, role) == "no request of jitbot's database has this id"
    assert [_request_id(n) for n in ("jitbot-R0AAAAAAA", "jitbot-handmade", "jitbot-R0-x", "jitbot-")] == [
        "R0AAAAAAA", None, None, None]
    report = ReconcileReport(principals=2, active=1, removed=[Removal(role, "jitbot-R1", "why")], errors=["boom"])
    assert report.acted and report.lines() == [
        "checked 2 principals from [identities] and 1 active grant",
        f"removed jitbot-R1 from {role}: why", "error: boom"]
    assert ReconcileReport().lines()[-1] == "nothing to do: IAM matches the database"


def test_the_report_is_written_in_the_readers_language() -> None:
    from core.i18n import Catalogs

    ja = Catalogs().get("ja")
    assert ReconcileReport().lines(ja) == ["[identities] のプリンシパル 0 件と有効な許可 0 件を確認しました",
                                           "対応不要: IAM はデータベースと一致しています"]
