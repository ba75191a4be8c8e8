"""Core's refusals are catalog messages: ``str()`` is the English (as before, durations written "2h 30m"), and
a Japanese reader gets them in Japanese, placeholders filled in (durations the Japanese way)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.approvals import decide
from core.checks import LockedOut, PolicyRefusal, RequestInput, check
from core.errors import InvalidInput, JitError, NotAllowed
from core.i18n import Catalogs
from core.model import Lockout, Node
from core.submit import submit
from tests.fakes_core import T0, WEB1, FakeWorld

ALICE = "U0ALICE01"
BOB = "U0BOB0001"
JA = Catalogs().get("ja")

POLICIES = """
[settings]
audit_channel = "C0AUDIT01"

[identities]
U0ALICE01 = "arn:aws:iam::111122223333:role/alice"

[[deny]]
name = "freeze"
targets = { tags = { Environment = "frozen" } }
block = "all"

[[manual_approval]]
name = "production"
targets = "all"
max_duration = "2h30m"

  [[manual_approval.levels]]
  channel = "C0SREAPPR"
  approvers = ["U0CAROL01"]
"""


def refused(world: FakeWorld, node: str = WEB1.id, duration: str | None = "1h") -> JitError:
    with pytest.raises(JitError) as caught:
        check(world.ctx, RequestInput(ALICE, node, "disk full", duration))
    return caught.value


def test_over_the_maximum_duration() -> None:
    err = refused(FakeWorld(POLICIES), duration="3h")
    assert isinstance(err, InvalidInput) and err.field == "duration"
    assert str(err) == "3h is more than policy 'production' allows (at most 2h 30m)."
    assert err.say(JA) == "3時間 はポリシー 'production' が認める期間を超えています (最長 2時間30分)。"


def test_a_deny_policys_reason() -> None:
    world = FakeWorld(POLICIES)
    frozen = Node("i-0fedcba9876543210", WEB1.account, WEB1.region, name="frozen-1", tags={"Environment": "frozen"})
    world.ctx.nodes.nodes[frozen.id] = frozen  # type: ignore[attr-defined]
    with pytest.raises(PolicyRefusal) as caught:
        submit(world.ctx, RequestInput(ALICE, frozen.id, "disk full", "1h"))
    err = caught.value
    assert str(err) == f"Access to {frozen.label} is denied by policy 'freeze'."
    assert err.say(JA) == f"{frozen.label} へのアクセスはポリシー 'freeze' により拒否されています。"
    refusal = [e for e in world.db.tables.events if e.action.value == "request_refused"][-1]
    assert refusal.detail["message"] == str(err)  # the audit trail records the English


def test_not_an_approver() -> None:
    world = FakeWorld(POLICIES)
    request = submit(world.ctx, RequestInput(ALICE, WEB1.id, "disk full", "1h")).request
    with pytest.raises(NotAllowed) as caught:
        decide(world.ctx, request.id, BOB, approve=True)
    level = request.levels[0].name
    assert str(caught.value) == f"Only the approvers of level 1 ('{level}') can decide on request {request.id} now."
    assert JA.text(caught.value.message) == (f"いま申請 {request.id} を判断できるのは、レベル 1 ('{level}') の"
                                             "承認者だけです。")


def test_locked_out() -> None:
    world = FakeWorld(POLICIES)
    world.db.tables.lockouts[ALICE] = Lockout(ALICE, "U0CAROL01", "leaked key", T0 - timedelta(hours=1))
    err = refused(world)
    assert isinstance(err, LockedOut)
    since = (T0 - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    assert str(err) == (f"You are locked out of jitbot (since {since} UTC): no request is accepted until a revoker "
                        "unlocks you.")
    assert err.say(JA) == (f"jitbot からロックアウトされています ({since} UTC から)。取り消し担当者が解除するまで"
                           "申請は受け付けられません。")


def test_an_unknown_extension_and_a_state_in_words() -> None:
    world = FakeWorld(POLICIES)
    with pytest.raises(JitError) as caught:
        check(world.ctx, RequestInput(ALICE, WEB1.id, "more", "1h", extends="r-nosuch"))
    assert str(caught.value) == "There is no request r-nosuch."
    assert caught.value.say(JA) == "申請 r-nosuch はありません。"


def _limited(overall: str = "", per_policy: str = "", approvers: str = '["U0CAROL01"]', required: int = 1) -> str:
    text = POLICIES.replace('audit_channel = "C0AUDIT01"\n', f'audit_channel = "C0AUDIT01"\n{overall}')
    text = text.replace('max_duration = "2h30m"\n', f'max_duration = "2h30m"\n{per_policy}')
    return text.replace('approvers = ["U0CAROL01"]\n', f'approvers = {approvers}\n  required = {required}\n')


def _holding(policies: str, live: int) -> FakeWorld:
    world = FakeWorld(policies)
    for i in range(live):  # on other nodes: one live request per node is checked apart
        world.add(node=Node(f"i-0{i:016x}", WEB1.account, WEB1.region, name=f"other-{i}"))
    return world


def test_counted_limits_read_as_english_plurals_in_both_forms() -> None:
    one = refused(_holding(_limited(overall="max_active_grants = 1\n"), 1))
    assert str(one).startswith("You already have 1 request pending or active, and at most 1 are allowed at a time")
    two = refused(_holding(_limited(overall="max_active_grants = 2\n"), 2))
    assert str(two).startswith("You already have 2 requests pending or active, and at most 2 are allowed at a time")
    assert two.say(JA).startswith("承認待ちまたは有効な申請がすでに 2 件あり、同時に持てるのは 2 件までです")
    one = refused(_holding(_limited(per_policy="max_active_grants = 1\n"), 1))
    assert str(one).startswith("You already have 1 request pending or active under policy 'production', which "
                               "allows 1 at a time")
    three = refused(_holding(_limited(per_policy="max_active_grants = 3\n"), 3))
    assert str(three).startswith("You already have 3 requests pending or active under policy 'production'")


def test_a_level_that_can_never_be_approved_counts_its_approvers() -> None:
    alone = refused(FakeWorld(_limited(approvers=f'["{ALICE}"]')))
    assert "needs 1 approver other than you, and only 0 can approve. Ask an admin" in str(alone)
    pair = refused(FakeWorld(_limited(approvers=f'["{ALICE}", "U0CAROL01"]', required=2)))
    assert "needs 2 approvers other than you, and only 1 can approve. Ask an admin" in str(pair)
    assert "あなた以外の承認者が 2 人必要ですが、承認できるのは 1 人だけです" in pair.say(JA)


def test_the_approvals_still_needed_in_both_forms() -> None:
    world = FakeWorld(_limited(approvers='["U0CAROL01", "U0DAVE001", "U0SAM0001"]', required=3))
    request = submit(world.ctx, RequestInput(ALICE, WEB1.id, "disk full", "1h")).request
    first = decide(world.ctx, request.id, "U0CAROL01", approve=True)
    assert str(first.message).endswith("still needs 2 more approvals.")
    second = decide(world.ctx, request.id, "U0DAVE001", approve=True)
    assert str(second.message).endswith("still needs 1 more approval.")
    assert JA.text(second.message).endswith("にはあと 1 件の承認が必要です。")
