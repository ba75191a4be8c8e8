"""Opsgenie on-call as a source of people, end to end (signed HTTP into /slack/events, the fake Slack, moto, and a
fake Opsgenie REST API over HTTP): ``opsgenie:<schedule name or id>`` approvers and requesters mean whoever is on
call now; with PagerDuty configured too, each entry is asked of its own provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from core.model import State
from fakes import cast
from fakes.opsgenie import API_KEY, FakeOpsgenie, id_of
from fakes.pagerduty import TOKEN, FakePagerDuty
from fakes.stack import Stack
from handlers import ids
from tests.e2e.test_oncall import ON_CALL_POLICIES
from tests.helpers import approval_post, button_value, events, request

StackFactory = Callable[..., Stack]
SCHEDULE = "SRE Primary"  # Opsgenie schedules are named by their names, spaces and all
ENTRY = f"opsgenie:{SCHEDULE}"



@pytest.fixture
def opsgenie() -> Iterator[FakeOpsgenie]:
    with FakeOpsgenie({SCHEDULE: []}) as fake:
        yield fake


def on_opsgenie(stack_factory: StackFactory, opsgenie: FakeOpsgenie, *, requesters: str = ENTRY,
                approvers: str = ENTRY, **settings: Any) -> Stack:
    return stack_factory(ON_CALL_POLICIES.format(requesters=requesters, approvers=approvers),
                         settings={"opsgenie_api_key": SecretStr(API_KEY), "opsgenie_api_url": opsgenie.url,
                                   "opsgenie_cache_seconds": 0, **settings})


def requests_of(stack: Stack, user: str) -> list[str]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return [r.id for r in uow.repo.by_requester(user)]


def test_the_approver_on_call_in_opsgenie_approves_and_the_same_person_off_call_is_refused(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    opsgenie.schedules[SCHEDULE] = ["carol@example.com"]
    stack = on_opsgenie(stack_factory, opsgenie)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    refused = stack.click(cast.SAM, ids.APPROVE, rid)  # Sam is off call
    assert f"Only the approvers of level 1 ('On call') can decide on request {rid} now." in refused
    assert not [e for e in events(stack, rid) if e.action == "approve"]
    opsgenie.schedules[SCHEDULE] = ["Sam@Example.com"]  # the rotation moves on; emails match whatever their case
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)
    approve = next(e for e in events(stack, rid) if e.action == "approve")
    assert approve.detail["eligible_by"] == {
        "via": [ENTRY],
        "groups": {ENTRY: {"schedule": SCHEDULE, "on_call": ["sam@example.com"], "email": "sam@example.com"}}}
    assert request(stack, rid).state is State.ACTIVE


def test_an_auto_approval_for_whoever_is_on_call_in_opsgenie_lets_them_in_and_no_one_else(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    by_id = f"opsgenie:{id_of(SCHEDULE)}"  # a schedule named by its id works the same
    opsgenie.schedules[SCHEDULE] = ["bob@example.com"]
    stack = on_opsgenie(stack_factory, opsgenie, requesters=by_id)
    answer = stack.slash(cast.BOB, "request dev-1 30m page: disk full")
    assert "granted until" in answer and "(policy 'on-call-dev')" in answer, answer
    [rid] = requests_of(stack, cast.BOB)
    submitted = next(e for e in events(stack, rid) if e.action == "submitted")
    assert submitted.detail["membership"]["on-call-dev"]["via"] == [by_id]
    assert request(stack, rid).state is State.ACTIVE
    refused = stack.slash(cast.ALICE, "request dev-1 30m not my shift")
    assert "No policy lets you request access to dev-1" in refused, refused  # Alice is not on call
    assert requests_of(stack, cast.ALICE) == []
    explained = stack.slash(cast.ALICE, "explain dev-1")
    assert f"only for whoever is on call for Opsgenie schedule '{id_of(SCHEDULE)}'" in explained, explained


def test_opsgenie_down_refuses_with_the_reason_and_records_nothing(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    opsgenie.schedules[SCHEDULE] = ["sam@example.com", "bob@example.com"]
    stack = on_opsgenie(stack_factory, opsgenie)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    opsgenie.down = True
    refused = stack.click(cast.SAM, ids.APPROVE, rid)
    assert f"Opsgenie could not be asked who is on call for schedule '{SCHEDULE}' (HTTP 503)" in refused, refused
    assert not [e for e in events(stack, rid) if e.action == "approve"]
    assert request(stack, rid).state is State.PENDING
    for user, text in ((cast.BOB, "request dev-1 30m page"), (cast.BOB, "request web-1 1h prod")):
        before = requests_of(stack, user)
        answer = stack.slash(user, text)
        assert "Opsgenie could not be asked" in answer, answer
        assert requests_of(stack, user) == before


def test_an_unknown_schedule_has_nobody_on_call_and_decides_nothing(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    stack = on_opsgenie(stack_factory, opsgenie, requesters="opsgenie:Renamed Away")
    refused = stack.slash(cast.BOB, "request dev-1 30m page")
    assert "No policy lets you request access to dev-1" in refused, refused
    assert requests_of(stack, cast.BOB) == []


def test_someone_on_call_without_a_slack_account_approves_nothing_and_explain_says_why(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    opsgenie.schedules[SCHEDULE] = ["pat@outsourced.example"]  # on call, but no Slack account has this email
    stack = on_opsgenie(stack_factory, opsgenie)
    stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    for user in (cast.SAM, cast.OSCAR):
        refused = stack.click(user, ids.APPROVE, rid)
        assert f"Only the approvers of level 1 ('On call') can decide on request {rid} now." in refused
    assert not [e for e in events(stack, rid) if e.action == "approve"]
    assert request(stack, rid).state is State.PENDING
    explained = stack.slash(cast.ALICE, "explain web-1")
    assert f"whoever is on call for Opsgenie schedule '{SCHEDULE}'" in explained, explained
    assert "someone on call whose email is no Slack account's is not an approver" in explained, explained


def test_with_both_providers_each_entry_is_asked_of_its_own(
        stack_factory: StackFactory, opsgenie: FakeOpsgenie) -> None:
    opsgenie.schedules[SCHEDULE] = ["sam@example.com"]
    with FakePagerDuty({"POPS123": ["bob@example.com"]}) as pagerduty:
        stack = on_opsgenie(stack_factory, opsgenie, requesters="pagerduty:POPS123",
                            pagerduty_token=SecretStr(TOKEN), pagerduty_api_url=pagerduty.url,
                            pagerduty_cache_seconds=0)
        assert "granted until" in stack.slash(cast.BOB, "request dev-1 30m page")  # on call in PagerDuty
        assert pagerduty.calls > 0 and opsgenie.calls == 0
        asked = pagerduty.calls
        stack.slash(cast.ALICE, "request web-1 1h rotate the logs")
        rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
        assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)  # on call in Opsgenie
        assert opsgenie.calls > 0 and pagerduty.calls == asked
        pagerduty.down = True  # PagerDuty's outage leaves decisions on Opsgenie's entries alone
        earlier = set(requests_of(stack, cast.ALICE))
        stack.slash(cast.ALICE, "request pci-db 1h again")
        [rid] = set(requests_of(stack, cast.ALICE)) - earlier
        assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)


def test_an_opsgenie_entry_without_an_api_key_refuses_saying_so(stack_factory: StackFactory) -> None:
    stack = stack_factory(ON_CALL_POLICIES.format(requesters=ENTRY, approvers="U0SAM0001"))
    before = requests_of(stack, cast.BOB)
    answer = stack.slash(cast.BOB, "request dev-1 30m page")
    assert (f"Opsgenie is not configured (OPSGENIE_API_KEY), so jitbot cannot tell who is on call for schedule "
            f"'{SCHEDULE}'; nothing was decided.") in answer, answer
    assert requests_of(stack, cast.BOB) == before
