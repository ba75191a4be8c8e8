"""Access ends when it should, and an access that has not ended yet is seen (issue 14, section 1, items 3 and 5).

* A grant whose IAM policy someone removed by hand (an operator during an incident) is a revocation, not drift to
  undo: reconciliation ends it ``revoked`` by ``outside-jitbot``, with the evidence on record, terminates the
  requester's sessions, tells the requester and the audit channel, and never puts the policy back. A grant jitbot
  is still writing (``approved``), or wrote a moment ago, is not mistaken for one.
* A revocation AWS has not confirmed shows on ``GET /metrics`` and is said again in the audit channel every 15
  minutes, on the database's record (across a restart), until AWS confirms.

The bot runs on the real stack (signed HTTP, the fake Slack, moto, SQLite/PostgreSQL) with a clock the tests move
(``FakeClock``): 15 minutes pass in an instant, and nothing here waits on the wall clock for time to pass.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core import pending
from core.model import AccessRequest, AuditEvent, State
from core.reconcile import OUTSIDE, SETTLE, reconcile
from core.submit import RequestInput, submit
from fakes import cast
from fakes.aws import FakeAws
from handlers import ids
from tests.fakes_core import FakeClock
from tests.helpers import eventually
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    AUDIT,
    RelStack,
    actions,
    ctx,
    get,
    messages,
    policies_of,
    policy_file,
    said,
    settled,
    trail,
    world,
)

SRE = "C0SREAPPR"
DM = f"D{cast.ALICE}"
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": ["S0SRELEAD"], "required": 1}]
REALERT = "pending for more than"


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, fake_aws: tuple[FakeAws, dict[str, str]], clock: FakeClock) -> RelStack:
    aws, _ = fake_aws
    role = aws.create_role(f"rel-revocations-{uuid.uuid4().hex[:8]}")  # this module's grants only
    made = module_stacks(policy_file(LEVELS, identities={cast.ALICE: role}), max_attempts=1, sweep_seconds=0.2,
                         clock=clock)
    made.grantee = role
    return made


@pytest.fixture(autouse=True)
def no_fault_left(stack: RelStack) -> Iterator[None]:
    yield
    stack.aws.clear_faults()


def _approved(stack: RelStack) -> tuple[str, str]:
    """A request of Alice's on a node of its own, approved over HTTP: (request id, the approver's answer)."""
    node = f"rev-{uuid.uuid4().hex[:8]}"
    stack.aws.add_instance(node, {"Environment": "prod"})
    rid = submit(ctx(stack), RequestInput(cast.ALICE, node, "incident work", "4h")).request.id
    return rid, stack.click(cast.SAM, ids.APPROVE, rid, SRE)


def _active(stack: RelStack) -> AccessRequest:
    rid, answer = _approved(stack)
    assert "access was granted" in answer, answer
    return get(stack, rid)


def _owner(stack: RelStack) -> str:
    """An SSM session owner as AWS writes it for Alice's role (an assumed-role session)."""
    return f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{stack.grantee.rsplit('/', 1)[-1]}/alice"


def _events(stack: RelStack, rid: str, action: str) -> list[AuditEvent]:
    return [e for e in trail(stack, rid) if e.action == action]


# -- a grant removed by hand --------------------------------------------------------------------------------------
def test_a_policy_removed_by_hand_is_a_revocation_never_put_back(stack: RelStack, clock: FakeClock) -> None:
    active = _active(stack)
    name = f"jitbot-{active.id}"
    session = stack.aws.start_session(active.node.id, _owner(stack))
    clock.advance(SETTLE + timedelta(minutes=1))
    stack.aws.delete_inline_policy(stack.grantee, name)  # an operator, in the IAM console, during an incident

    report = reconcile(ctx(stack))

    assert report.revoked == [active.id] and not report.removed and not report.errors, report.lines()
    done = settled(stack, active.id)
    assert (done.state, done.ended_by, done.sessions_ended) == (State.REVOKED, OUTSIDE, 1)
    assert done.end_reason is not None and name in done.end_reason and stack.grantee in done.end_reason
    # the session goes on record (core.sessions) when the read after the revocation finds it: best effort, so the
    # lifecycle is checked without those two, and they come as a pair when they do
    trail = actions(stack, active.id)
    assert [a for a in trail if not a.startswith("session_")][-3:] == [
        "grant_removed_outside", "revoked", "revocation_confirmed"]
    assert trail.count("session_opened") == trail.count("session_ended") <= 1
    [evidence] = _events(stack, active.id, "grant_removed_outside")
    assert evidence.actor == "jitbot" and evidence.detail == {
        "principal": stack.grantee, "policy": name, "granted_at": active.granted_at.isoformat(),  # type: ignore[union-attr]
        "expires_at": active.expires_at.isoformat(), "checked_at": evidence.at.isoformat()}  # type: ignore[union-attr]
    [revoked] = _events(stack, active.id, "revoked")
    assert revoked.actor == OUTSIDE and revoked.detail["reason"] == done.end_reason
    said(stack, DM, active.id, "was revoked by someone outside jitbot", name, "1 session terminated")
    said(stack, AUDIT, active.id, "revoked by someone outside jitbot", "1 session terminated")
    assert [s["Status"] for s in stack.aws.sessions(active.node.id) if s["SessionId"] == session] == ["Terminated"]

    again = reconcile(ctx(stack))  # and never re-applied, by reconciliation or anything else
    assert active.id not in again.revoked and not again.removed, again.lines()
    assert name not in policies_of(stack) and "grant_reapplied" not in actions(stack, active.id)
    assert len(messages(stack, DM, active.id, "revoked by someone outside jitbot")) == 1


def test_a_grant_just_written_is_not_taken_for_a_removal(stack: RelStack, clock: FakeClock) -> None:
    """IAM is eventually consistent: right after jitbot's PutRolePolicy a read may not show the policy yet."""
    active = _active(stack)
    name = f"jitbot-{active.id}"
    document = stack.aws.inline_policies(stack.grantee)[name]
    stack.aws.delete_inline_policy(stack.grantee, name)  # a read that does not show it yet
    before = trail(stack, active.id)

    report = reconcile(ctx(stack))

    assert active.id in report.recent and active.id not in report.revoked, report.lines()
    assert get(stack, active.id).state is State.ACTIVE and trail(stack, active.id) == before
    assert any(f"not checked {active.id}" in line for line in report.lines())
    stack.aws.put_inline_policy(stack.grantee, name, document)  # the write shows, as IAM converges
    clock.advance(SETTLE + timedelta(seconds=1))
    assert active.id not in reconcile(ctx(stack)).revoked
    assert get(stack, active.id).state is State.ACTIVE and trail(stack, active.id) == before


def test_a_grant_jitbot_is_still_writing_is_left_to_its_own_retries(stack: RelStack, clock: FakeClock) -> None:
    """``approved`` is jitbot's write not confirmed yet: reconciliation neither ends it, nor writes it, nor removes
    the policy should AWS have applied it without answering; the grant's own retry finishes it."""
    stack.aws.fail_next("iam:PutRolePolicy", "ServiceUnavailable", times=1_000_000)
    rid, answer = _approved(stack)
    assert "AWS has not confirmed the grant yet" in answer, answer
    assert get(stack, rid).state is State.APPROVED and f"jitbot-{rid}" not in policies_of(stack)
    clock.advance(SETTLE + timedelta(minutes=1))  # however long ago it was approved: the sweep tries again
    eventually(lambda: get(stack, rid).cleanup_attempts >= 2, what="the grant's second attempt")
    report = reconcile(ctx(stack))
    assert rid not in report.revoked and get(stack, rid).state is State.APPROVED, report.lines()
    assert f"jitbot-{rid}" not in policies_of(stack)  # reconciliation writes no grant

    stack.aws.clear_faults()  # (the clock stands still: the grant's next attempt waits for its backoff)
    stack.aws.put_inline_policy(stack.grantee, f"jitbot-{rid}")  # the write landed, the answer was lost
    report = reconcile(ctx(stack))
    assert not report.removed and rid not in report.revoked, report.lines()
    assert f"jitbot-{rid}" in policies_of(stack) and get(stack, rid).state is State.APPROVED

    clock.advance(minutes=1)  # past the retry's backoff: the sweep grants it (the same policy, idempotent)
    active = eventually(lambda: (r := get(stack, rid)).state is State.ACTIVE and r, what="the grant retried")
    assert actions(stack, rid)[-2:] == ["grant_retry", "granted"] and f"jitbot-{rid}" in policies_of(stack)
    assert active.id not in reconcile(ctx(stack)).revoked


def test_a_check_aws_did_not_answer_is_reported_and_ends_nothing(stack: RelStack, clock: FakeClock) -> None:
    active = _active(stack)
    clock.advance(SETTLE + timedelta(seconds=1))
    before = world(stack)
    stack.aws.fail_next("iam:GetRolePolicy", "Throttling")  # "is the policy there?" unanswered is not "no"
    report = reconcile(ctx(stack))
    assert len(report.errors) == 1 and "Throttling" in report.errors[0], report.lines()
    assert not report.revoked and not report.removed, report.lines()
    after = world(stack)
    assert (after.requests, after.events, after.iam) == (before.requests, before.events, before.iam)
    assert get(stack, active.id).state is State.ACTIVE and f"jitbot-{active.id}" in policies_of(stack)


# -- pending revocations are visible --------------------------------------------------------------------------------
def _metrics(stack: RelStack) -> str:
    with urllib.request.urlopen(f"{stack.app_url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 200
        return str(response.read().decode())


def _gauge(body: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def _gauges(stack: RelStack) -> tuple[float, float]:
    body = _metrics(stack)
    return _gauge(body, "jitbot_active_grants"), _gauge(body, "jitbot_revocations_pending")


def _sweeps(stack: RelStack) -> float:
    found = re.search(r'^jitbot_scheduler_job_runs_total\{job="sweep"\} (\S+)$', _metrics(stack), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _full_sweep(stack: RelStack) -> None:
    """Wait until the scheduler has run one whole sweep that began after this call (two runs counted)."""
    start = _sweeps(stack)
    eventually(lambda: _sweeps(stack) >= start + 2, timeout=20, what="a whole sweep of the scheduler")


def _realerts(stack: RelStack, rid: str) -> tuple[list[AuditEvent], int]:
    """The re-alerts on record and those said in the audit channel about ``rid``."""
    on_record = [e for e in trail(stack) if e.action == pending.ALERTED and e.detail.get("oldest") == rid]
    return on_record, len(messages(stack, AUDIT, rid, REALERT))


def test_a_pending_revocation_is_seen_and_said_again_until_aws_confirms(stack: RelStack, clock: FakeClock) -> None:
    active = _active(stack)
    active_before, pending_before = _gauges(stack)
    stack.aws.fail_next("iam:DeleteRolePolicy", "ServiceUnavailable", times=1_000_000)  # AWS stays down

    answer = stack.slash(cast.ALICE, f"release {active.id}")
    assert "not confirmed" in answer, answer
    ended = get(stack, active.id)
    assert ended.state is State.REVOKED and ended.needs_cleanup and ended.ended_at is not None
    assert _gauges(stack) == (active_before, pending_before + 1)  # still a grant until AWS confirms

    for attempt in range(2, 4):  # the retries, each after its backoff: the first alert comes after three
        clock.advance(minutes=1)
        eventually(lambda n=attempt: get(stack, active.id).cleanup_attempts >= n, what=f"retry {attempt}")
    said(stack, AUDIT, active.id, "revocation is failing")
    _full_sweep(stack)
    assert _realerts(stack, active.id) == ([], 0)  # not yet 15 minutes

    clock.set(ended.ended_at + pending.REALERT_EVERY)
    said(stack, AUDIT, active.id, REALERT, "15m")
    [first], _ = _realerts(stack, active.id)
    assert first.actor == "jitbot" and first.detail["pending"] == 1 and first.detail["requests"] == [active.id]

    clock.advance(minutes=10)
    _full_sweep(stack)
    assert _realerts(stack, active.id) == ([first], 1)  # once per 15 minutes, not per sweep

    stack.restart()  # the rhythm is on the database's record: a new process does not start it over
    _full_sweep(stack)
    assert _realerts(stack, active.id) == ([first], 1)
    assert _gauges(stack) == (active_before, pending_before + 1)

    clock.advance(minutes=5)  # 15 minutes after the first re-alert
    eventually(lambda: _realerts(stack, active.id)[1] == 2, what="the second re-alert")
    assert len(_realerts(stack, active.id)[0]) == 2

    stack.aws.clear_faults()  # AWS is back: the next retry is confirmed
    clock.advance(minutes=6)
    done = settled(stack, active.id)
    assert done.state is State.REVOKED and f"jitbot-{active.id}" not in policies_of(stack)
    assert _gauges(stack) == (active_before - 1, pending_before)
    said(stack, DM, active.id, "was released")

    clock.advance(minutes=20)  # and the alerts stop
    _full_sweep(stack)
    events, said_again = _realerts(stack, active.id)
    assert (len(events), said_again) == (2, 2)
    assert len(messages(stack, DM, active.id, "was released")) == 1
