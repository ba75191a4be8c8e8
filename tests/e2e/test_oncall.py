"""PagerDuty on-call as a source of people, end to end (signed HTTP into /slack/events, the fake Slack, moto, and a
fake PagerDuty REST API): ``pagerduty:<schedule>`` approvers and requesters mean whoever is on call now."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr

from core.model import State
from fakes import cast
from fakes.pagerduty import TOKEN, FakePagerDuty
from fakes.stack import Stack
from handlers import ids
from tests.helpers import approval_post, button_value, events, request

StackFactory = Callable[..., Stack]
SCHEDULE = "POPS123"

#: a dev node auto-approved for its requesters, a prod node approved at one level by its approvers
ON_CALL_POLICIES = """
[settings]
audit_channel = "C0AUDIT01"
approval_timeout = "24h"
reminder_interval = "0"
expiry_warning = "0"
[identities]
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
U0BOB0001 = "arn:aws:iam::123456789012:role/bob"
[[auto_approval]]
name = "on-call-dev"
targets = {{ tags = {{ Environment = "dev" }} }}
requesters = ["{requesters}"]
max_duration = "1h"
[[manual_approval]]
name = "prod"
targets = {{ tags = {{ Environment = "prod" }} }}
max_duration = "4h"
  [[manual_approval.levels]]
  name = "On call"
  channel = "C0SREAPPR"
  approvers = ["{approvers}"]
"""
POLICIES = ON_CALL_POLICIES.format(requesters=f"pagerduty:{SCHEDULE}", approvers=f"pagerduty:{SCHEDULE}")


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with FakePagerDuty({SCHEDULE: []}) as fake:
        yield fake


def on_pagerduty(stack_factory: StackFactory, pagerduty: FakePagerDuty) -> Stack:
    return stack_factory(POLICIES, settings={"pagerduty_token": SecretStr(TOKEN), "pagerduty_api_url": pagerduty.url,
                                             "pagerduty_cache_seconds": 0})


def requests_of(stack: Stack, user: str) -> list[str]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return [r.id for r in uow.repo.by_requester(user)]


def test_the_approver_on_call_approves_and_the_same_person_off_call_is_refused(
        stack_factory: StackFactory, pagerduty: FakePagerDuty) -> None:
    pagerduty.schedules[SCHEDULE] = ["carol@example.com"]
    stack = on_pagerduty(stack_factory, pagerduty)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    refused = stack.click(cast.SAM, ids.APPROVE, rid)  # Sam is off call
    assert f"Only the approvers of level 1 ('On call') can decide on request {rid} now." in refused
    assert not [e for e in events(stack, rid) if e.action == "approve"]
    pagerduty.schedules[SCHEDULE] = ["Sam@Example.com"]  # the rotation moves on; emails match whatever their case
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)
    approve = next(e for e in events(stack, rid) if e.action == "approve")
    basis = approve.detail["eligible_by"]
    assert basis["via"] == [f"pagerduty:{SCHEDULE}"]
    assert basis["groups"][f"pagerduty:{SCHEDULE}"] == {"schedule": SCHEDULE, "on_call": ["sam@example.com"],
                                                       "email": "sam@example.com"}
    assert request(stack, rid).state is State.ACTIVE


def test_an_auto_approval_for_the_on_call_person_lets_them_in_at_once_and_no_one_else(
        stack_factory: StackFactory, pagerduty: FakePagerDuty) -> None:
    pagerduty.schedules[SCHEDULE] = ["bob@example.com"]
    stack = on_pagerduty(stack_factory, pagerduty)
    answer = stack.slash(cast.BOB, "request dev-1 30m page: disk full")
    assert "granted until" in answer and "(policy 'on-call-dev')" in answer, answer
    [rid] = requests_of(stack, cast.BOB)
    submitted = next(e for e in events(stack, rid) if e.action == "submitted")
    assert submitted.detail["membership"]["on-call-dev"] == {
        "via": [f"pagerduty:{SCHEDULE}"],
        "groups": {f"pagerduty:{SCHEDULE}": {"schedule": SCHEDULE, "on_call": ["bob@example.com"],
                                             "email": "bob@example.com"}}}
    assert request(stack, rid).state is State.ACTIVE
    refused = stack.slash(cast.ALICE, "request dev-1 30m not my shift")
    assert "No policy lets you request access to dev-1" in refused, refused  # Alice is not on call
    assert requests_of(stack, cast.ALICE) == []
    explained = stack.slash(cast.ALICE, "explain dev-1")
    assert f"only for whoever is on call for PagerDuty schedule {SCHEDULE}" in explained, explained


def test_pagerduty_down_refuses_with_the_reason_and_records_nothing(
        stack_factory: StackFactory, pagerduty: FakePagerDuty) -> None:
    pagerduty.schedules[SCHEDULE] = ["sam@example.com", "bob@example.com"]
    stack = on_pagerduty(stack_factory, pagerduty)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    pagerduty.down = True
    refused = stack.click(cast.SAM, ids.APPROVE, rid)
    assert f"PagerDuty could not be asked who is on call for schedule {SCHEDULE} (HTTP 503)" in refused
    assert not [e for e in events(stack, rid) if e.action == "approve"]
    assert request(stack, rid).state is State.PENDING
    for user, text in ((cast.BOB, "request dev-1 30m page"), (cast.BOB, "request web-1 1h prod")):
        before = requests_of(stack, user)
        answer = stack.slash(user, text)
        assert "PagerDuty could not be asked" in answer, answer
        assert requests_of(stack, user) == before


def test_the_home_of_whoever_is_on_call_shows_a_new_request_at_once(
        stack_factory: StackFactory, pagerduty: FakePagerDuty) -> None:
    """An on-call schedule has no Slack members to list: the homes being looked at are asked whom it names."""
    import time

    from tests.e2e import slack_steps as slack
    from tests.helpers import eventually

    pagerduty.schedules[SCHEDULE] = ["sam@example.com"]
    stack = on_pagerduty(stack_factory, pagerduty)
    for user in (cast.SAM, cast.CAROL):
        t0 = time.time()
        assert slack.sim(stack).event({"type": "app_home_opened", "user": user, "channel": f"D{user}",
                                       "tab": "home"}).status == 200
        eventually(lambda user=user, t0=t0: [c for c in stack.slack.calls_to("views.publish")
                                             if c.params.get("user_id") == user and c.at >= t0],
                   timeout=10, what=f"{user}'s home published when opened")
    time.sleep(1.1)  # past the per-person pacing of republishes
    t_request = time.time()
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    eventually(lambda: rid in (slack.home_text(stack, cast.SAM) or ""), timeout=10,
               what="the on-call approver's home showing the new request")
    time.sleep(0.5)
    carol = [c for c in stack.slack.calls_to("views.publish")
             if c.params.get("user_id") == cast.CAROL and c.at >= t_request]
    assert not carol  # off call: her home is not concerned
