"""Steps shared by the tests of the Slack surface: what a person does in Slack, as Slack sends it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from fakes.slack_api import RecordedCall
from fakes.slack_client import SlackResponse
from fakes.stack import Stack
from handlers import ids
from tests.helpers import eventually, valid_blocks, valid_view


def sim(stack: Stack) -> Any:
    assert stack.sim is not None
    return stack.sim


def send(stack: Stack, payload: dict[str, Any]) -> SlackResponse:
    """An interaction payload of any shape, signed like Slack signs it."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = sim(stack).signed_headers(body, "application/x-www-form-urlencoded")
    return sim(stack).raw(body, headers)  # type: ignore[no-any-return]


def answers(stack: Stack) -> int:
    return len(stack.slack.calls_to("response_url"))


def answer_after(stack: Stack, before: int, timeout: float = 15) -> dict[str, Any]:
    """The first ephemeral answer (response_url post) after ``before`` answers, blocks validated."""
    stack.slack.wait_for(lambda c: c.method == "response_url" and answers(stack) > before, timeout=timeout)
    params = stack.slack.calls_to("response_url")[before].params
    if params.get("blocks"):
        valid_blocks(params["blocks"])
    return params


def slash(stack: Stack, user: str, text: str) -> dict[str, Any]:
    """``/jit <text>``; the ephemeral answer's parameters (text, blocks)."""
    before = answers(stack)
    assert sim(stack).command(user, text).status == 200
    return answer_after(stack, before)


def dm_after(stack: Stack, user: str, after: float, contains: str = "", timeout: float = 15) -> RecordedCall:
    """A DM to ``user`` sent at or after ``after`` (a time.time()), containing ``contains``."""
    def match(call: RecordedCall) -> bool:
        return (call.method == "chat.postMessage" and call.params.get("channel") in (user, f"D{user}")
                and call.at >= after and contains in str(call.params.get("text", "")))
    call = stack.slack.wait_for(match, timeout=timeout)
    if call.params.get("blocks"):
        valid_blocks(call.params["blocks"])
    return call


def opened_view(stack: Stack, after: float, timeout: float = 15) -> dict[str, Any]:
    """The view stored by the newest views.open at or after ``after``, validated."""
    call = stack.slack.wait_for(lambda c: c.method == "views.open" and c.at >= after, timeout=timeout)
    valid_view(call.params["view"])
    view_id = str((call.response or {})["view"]["id"])
    stored = stack.slack.view(view_id)
    assert stored is not None
    return stored


def request_form(stack: Stack, user: str, after: float) -> dict[str, Any]:
    """``/jit request`` without arguments opens the request modal; returns it as Slack stores it."""
    assert sim(stack).command(user, "request").status == 200
    return opened_view(stack, after)


def options(stack: Stack, user: str, view: dict[str, Any], typed: str, *,
            expect: bool = True) -> list[dict[str, Any]]:
    """The options jitbot offers for ``typed``. With ``expect``, asks again while the list is empty (a cold
    node inventory is answered with an empty list within Slack's 3 s, and filled in the background)."""
    def ask() -> list[dict[str, Any]]:
        response = sim(stack).block_suggestion(user, ids.NODE_INPUT, typed, block_id=ids.NODE_BLOCK,
                                               view_id=view["id"])
        assert response.status == 200, response.body
        return response.json()["options"]  # type: ignore[no-any-return]

    found = eventually(ask, timeout=20, interval=0.5, what=f"options for {typed!r}") if expect else ask()
    for option in found:
        assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150
    return found


def selected(option: dict[str, Any] | None, kind: str = "external_select") -> dict[str, Any]:
    """A single select's state (the duration; the node picker of a form opened before it took several)."""
    return {"type": kind, "selected_option": option}


Picked = dict[str, Any] | list[dict[str, Any]]


def picked(nodes: Picked) -> dict[str, Any]:
    """The node picker's state: the options chosen, in order (one option alone is a list of one)."""
    return {"type": "multi_external_select", "selected_options": nodes if isinstance(nodes, list) else [nodes]}


def pick(stack: Stack, user: str, view: dict[str, Any], option: Picked, after: float) -> dict[str, Any]:
    """Choose nodes in the picker (one option, or the options picked so far, in order): Slack sends block_actions
    with the view; jitbot updates the view."""
    state = picked(option)
    payload = {
        "type": "block_actions", "token": "x", "api_app_id": stack.slack.app_id, "trigger_id": "1.2.3",
        "team": {"id": stack.slack.team_id, "domain": stack.slack.team_domain},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": stack.slack.team_id},
        "container": {"type": "view", "view_id": view["id"]},
        "view": {**view, "state": {"values": {ids.NODE_BLOCK: {ids.NODE_INPUT: state}}}},
        "actions": [{**state, "action_id": ids.NODE_INPUT, "block_id": ids.NODE_BLOCK, "action_ts": "1.0"}],
    }
    assert send(stack, payload).status == 200
    call = stack.slack.wait_for(lambda c: c.method == "views.update" and c.at >= after
                                and c.params.get("view_id") == view["id"], timeout=15)
    assert call.params.get("hash") == view["hash"]
    valid_view(call.params["view"])
    stored = stack.slack.view(view["id"])
    assert stored is not None
    return stored


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def duration_block(view: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id", "").startswith(ids.DURATION_BLOCK))


def submit(stack: Stack, user: str, view: dict[str, Any], *, node: Picked | None = None,
           duration: str | None = None, reason: str = "", ticket: str | None = None,
           start: str | None = None, node_state: dict[str, Any] | None = None) -> SlackResponse:
    """Submit the request modal with these values (``duration`` is an option value such as "2h"; ``node`` the
    option picked, or the options; ``node_state`` the picker's state as given, for shapes of old)."""
    values: dict[str, Any] = {
        duration_block(view)["block_id"]: {ids.DURATION_INPUT: selected(
            {"text": {"type": "plain_text", "text": duration}, "value": duration} if duration else None,
            "static_select")},
        ids.REASON_BLOCK: {ids.REASON_INPUT: reason},
        ids.TICKET_BLOCK: {ids.TICKET_INPUT: ticket or ""},
    }
    if start is not None:
        values[ids.START_BLOCK] = {ids.START_INPUT: start}
    if node is not None or node_state is not None:
        values[ids.NODE_BLOCK] = {ids.NODE_INPUT: node_state if node_state is not None else picked(node or [])}
    for _ in range(10):  # like a person would: submit again while jitbot says AWS or Slack is slow
        response: SlackResponse = sim(stack).view_submission(
            user, ids.REQUEST_VIEW, values, private_metadata=view.get("private_metadata", ""), view_id=view["id"])
        if "slow to answer" not in response.body:
            return response
        time.sleep(0.5)
    raise AssertionError("the form was too slow to validate ten times in a row")


def errors(response: SlackResponse) -> dict[str, str]:
    body = response.json()
    assert body and body["response_action"] == "errors", response.body
    return body["errors"]  # type: ignore[no-any-return]


def home_view(stack: Stack, user: str) -> dict[str, Any] | None:
    return stack.slack.home_view(user)


def home_text(stack: Stack, user: str) -> str:
    view = home_view(stack, user)
    return json.dumps(view["blocks"]) if view else ""
