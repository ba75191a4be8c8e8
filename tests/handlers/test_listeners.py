"""Listeners are plain functions: called here with a Context on the core fakes and a client on the fake Slack Web
API, without Bolt. The Reject button asks core who may decide (``check_decider``) before opening its modal."""

from __future__ import annotations

from slack_sdk import WebClient

from fakes.slack_api import FakeSlack
from handlers import actions, ids
from handlers.views import RejectModal, ReviewModal, modal_metadata
from tests.fakes_core import FakeWorld


def _client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])


def _click(user: str) -> dict[str, object]:
    return {"type": "block_actions", "user": {"id": user}, "trigger_id": "T1"}  # from the App Home: no response_url


def test_reject_opens_the_modal_for_an_approver_of_the_level() -> None:
    world = FakeWorld()
    pending = world.add()
    with FakeSlack() as slack:
        actions.ask_why(world.ctx, _client(slack), _click("U0SAM0001"), pending.id)
        [opened] = slack.calls_to("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == ids.REJECT_VIEW
    assert modal_metadata(view) == (pending.id, None)
    assert slack.messages() == []


def test_reject_tells_anyone_else_why_not_and_opens_nothing() -> None:
    world = FakeWorld()
    pending = world.add()
    with FakeSlack() as slack:
        actions.ask_why(world.ctx, _client(slack), _click("U0CAROL01"), pending.id)  # level 2's approver
        actions.ask_why(world.ctx, _client(slack), _click("U0SAM0001"), "R404")
        told = [m.params["text"] for m in slack.messages("DU0CAROL01") + slack.messages("DU0SAM0001")]
        assert slack.calls_to("views.open") == []
    assert told == [f":warning: Only the approvers of level 1 ('SRE lead') can decide on request {pending.id} now.",
                    ":warning: There is no request R404."]
    assert world.get(pending.id).state is pending.state


def test_the_modals_check_what_is_missing_before_the_ack() -> None:
    def values(**blocks: dict[str, object]) -> dict[str, object]:
        return {"state": {"values": blocks}}

    assert RejectModal.check(values()) == ({ids.REASON_BLOCK: "Please say why you reject it."}, "")
    assert RejectModal.check(values(**{ids.REASON_BLOCK: {ids.REASON_INPUT: {"value": " too\n broad "}}})) == \
        ({}, "too broad")
    errors, _ = ReviewModal.check(values(**{ids.NOTE_BLOCK: {ids.NOTE_INPUT: {"value": " "}}}))
    assert errors == {ids.VERDICT_BLOCK: "Say whether it was justified.", ids.NOTE_BLOCK: "Say what you checked."}
    verdict = {"selected_option": {"value": "not_justified"}}
    assert ReviewModal.check(values(**{ids.VERDICT_BLOCK: {ids.VERDICT_INPUT: verdict},
                                       ids.NOTE_BLOCK: {ids.NOTE_INPUT: {"value": "checked"}}})) == \
        ({}, (False, "checked"))
