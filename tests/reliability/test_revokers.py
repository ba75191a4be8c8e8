"""Revokers and the kill switch (issue 14, 1.4), over signed HTTP with the fake Slack and moto.

``[settings] revokers`` names Carol directly and the user group S0REVOKE (Dave). Auto-approved requests (dev
nodes) have no approvers, so before this only nobody could revoke them. A revoker ends any pending, approved or
active request, break-glass included; ``/jit lockout`` ends everything a person holds or waits for and refuses
their new requests until ``/jit unlock``. Everyone else is refused and nothing changes. Each test asks for fresh
nodes of its own (one live request per person and node).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest

from core.digest import daily_digest
from core.i18n import ENGLISH
from core.model import AuditEvent, State
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from handlers.digest_blocks import digest_blocks, plain_text
from tests.helpers import eventually, valid_blocks
from tests.reliability.conftest import StackMaker
from tests.reliability.support import (
    AUDIT,
    ROLE,
    RelStack,
    actions,
    assert_unchanged,
    ctx,
    get,
    policies_of,
    policy_file,
    said,
    settled,
    trail,
    world,
)

REVOKE_GROUP = "S0REVOKE"
SRE = "C0SREAPPR"
DM = f"D{cast.ALICE}"
SESSION = f"arn:aws:sts::{cast.ACCOUNT}:assumed-role/{ROLE.rsplit('/', 1)[-1]}/alice@example.com"
EXTRA = (f'[breakglass]\nrequesters = ["{cast.ALICE}"]\nmax_duration = "1h"\n\n'
         '[[auto_approval]]\nname = "dev-auto"\ntargets = { tags = { Environment = "dev" } }\nmax_duration = "2h"\n\n'
         f'[[deny]]\nname = "no-dev-for-oscar"\ntargets = {{ tags = {{ Environment = "dev" }} }}\n'
         f'requesters = ["{cast.OSCAR}"]\n')
LEVELS = [{"name": "SRE lead", "channel": SRE, "approvers": ["S0SRELEAD"], "required": 1}]
NOT_REVOKER = "only the revokers ([settings] revokers in the policy file)"


@pytest.fixture(scope="module")
def stack(module_stacks: StackMaker, fake_slack: FakeSlack) -> RelStack:
    fake_slack.add_group(REVOKE_GROUP, [cast.DAVE])
    fake_slack.add_user("U0TWIN001", name="twin", email="twin1@example.com")
    fake_slack.add_user("U0TWIN002", name="twin", email="twin2@example.com")
    return module_stacks(policy_file(LEVELS, name="prod", extra=EXTRA,
                                     settings={"revokers": [cast.CAROL, REVOKE_GROUP]}))


def _node(stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]], env: str) -> tuple[str, str]:
    """A node of its own (name, id) tagged Environment=``env``: dev is auto-approved, prod needs approval."""
    name = f"rv-{env}-{uuid.uuid4().hex[:8]}"
    return name, fake_aws[0].add_instance(name, {"Environment": env})


def _rid(answer: str) -> str:
    found = re.search(r"\*(R[0-9A-Z]{8})\*", answer)
    assert found, answer
    return found.group(1)


def _auto(stack: RelStack, node: str) -> str:
    answer = stack.slash(cast.ALICE, f"request {node} 30m look at the logs")
    assert "granted" in answer, answer
    rid = _rid(answer)
    assert get(stack, rid).state is State.ACTIVE and f"jitbot-{rid}" in policies_of(stack)
    return rid


def _pending(stack: RelStack, node: str) -> str:
    answer = stack.slash(cast.ALICE, f"request {node} 1h restart the service")
    assert "submitted" in answer, answer
    rid = _rid(answer)
    assert get(stack, rid).state is State.PENDING
    return rid


def _event(stack: RelStack, rid: str | None, action: str) -> AuditEvent:
    found = [e for e in trail(stack, rid) if e.action == action]
    assert found, f"no {action} event for {rid}: {[e.action for e in trail(stack, rid)]}"
    return found[-1]


def _buttons_gone(stack: RelStack, rid: str) -> bool:
    with ctx(stack).uow() as uow:
        refs = [r for r in uow.repo.messages(rid) if r.purpose.startswith("level-")]
    assert refs
    for ref in refs:
        shown = stack.slack.message(ref.channel, ref.ts)
        if shown is None or any(b.get("type") == "actions" for b in shown.get("blocks") or []):
            return False
    return True


def test_a_revoker_revokes_an_auto_approved_grant_and_others_cannot(
        stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]], figures: Counter[str]) -> None:
    name, node = _node(stack, fake_aws, "dev")
    rid = _auto(stack, name)
    session = fake_aws[0].start_session(node, SESSION)

    for outsider in (cast.OSCAR, cast.SAM, cast.ALICE):  # nobody, an approver of another policy, the requester
        before = world(stack)
        answer = stack.slash(outsider, f"revoke {rid} I do not like it")
        assert NOT_REVOKER in answer, answer
        assert_unchanged(stack, before, f"revoke by {outsider}")
        figures["refusals checked unchanged"] += 1

    answer = stack.slash(cast.CAROL, f"revoke {rid} laptop reported stolen")
    assert f"Access *{rid}* of <@{cast.ALICE}> is revoked" in answer, answer
    done = settled(stack, rid)
    assert (done.state, done.ended_by, done.end_reason) == (State.REVOKED, cast.CAROL, "laptop reported stolen")
    assert f"jitbot-{rid}" not in policies_of(stack)
    assert done.sessions_ended == 1 and not [s for s in fake_aws[0].sessions(state="Active")
                                             if s["SessionId"] == session]
    revoked = _event(stack, rid, "revoked")
    assert (revoked.actor, revoked.detail["as"], revoked.detail["authorized_by"]) == (cast.CAROL, "revoker",
                                                                                      cast.CAROL)
    assert "group_members" not in revoked.detail
    said(stack, DM, rid, f"was revoked by <@{cast.CAROL}>: laptop reported stolen", "1 session terminated")
    said(stack, AUDIT, rid, "access was revoked")
    figures["requests: revokers"] += 1


def test_a_group_revoker_ends_pending_and_break_glass(
        stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]], figures: Counter[str]) -> None:
    name, _ = _node(stack, fake_aws, "prod")
    rid = _pending(stack, name)
    answer = stack.slash(cast.DAVE, f"revoke {rid} no longer needed")
    assert f"Request *{rid}* of <@{cast.ALICE}> is revoked; it had not been granted" in answer, answer
    done = get(stack, rid)
    assert (done.state, done.granted_at, done.ended_by, done.needs_cleanup) == (State.REVOKED, None, cast.DAVE, False)
    assert actions(stack, rid) == ["submitted", "revoked"]
    event = _event(stack, rid, "revoked")
    assert (event.detail["from"], event.detail["authorized_by"], event.detail["group_members"]) == (
        "pending", REVOKE_GROUP, [cast.DAVE])
    eventually(lambda: _buttons_gone(stack, rid), what="the approval message without buttons")
    said(stack, DM, rid, f"was revoked by <@{cast.DAVE}>: no longer needed")
    assert "is already revoked" in stack.slash(cast.CAROL, f"revoke {rid} again")

    glass_name, _ = _node(stack, fake_aws, "prod")
    answer = stack.slash(cast.ALICE, f"breakglass {glass_name} 30m the site is down")
    glass = _rid(answer)
    assert get(stack, glass).state is State.ACTIVE and f"jitbot-{glass}" in policies_of(stack)
    assert "is revoked" in stack.slash(cast.DAVE, f"revoke {glass} not an emergency")
    assert settled(stack, glass).state is State.REVOKED and f"jitbot-{glass}" not in policies_of(stack)
    figures["requests: revokers"] += 2


def test_a_revoker_ends_an_approved_request_whose_grant_is_being_retried(
        stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]], figures: Counter[str]) -> None:
    """AWS did not confirm the grant: the request waits ``approved`` for a retry. Revoked, it is never granted,
    and whatever part of the grant AWS applied is deleted."""
    name, _ = _node(stack, fake_aws, "dev")
    fake_aws[0].fail_next("iam:PutRolePolicy", "ServiceFailure", times=1000)
    try:
        answer = stack.slash(cast.ALICE, f"request {name} 30m look at the logs")
        rid = _rid(answer)
        assert get(stack, rid).state is State.APPROVED, answer
        assert "is revoked; it had not been granted" in stack.slash(cast.CAROL, f"revoke {rid} stop")
    finally:
        fake_aws[0].clear_faults()
    done = settled(stack, rid, timeout=30)
    assert (done.state, done.granted_at) == (State.REVOKED, None)
    assert "granted" not in actions(stack, rid) and f"jitbot-{rid}" not in policies_of(stack)
    figures["requests: revokers"] += 1


def test_lockout_ends_everything_refuses_new_requests_until_unlock(
        stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]], figures: Counter[str]) -> None:
    (dev, dev_id), (prod, _), (glass, _), (later, _) = (_node(stack, fake_aws, env)
                                                        for env in ("dev", "prod", "prod", "dev"))
    active, pending = _auto(stack, dev), _pending(stack, prod)
    emergency = _rid(stack.slash(cast.ALICE, f"breakglass {glass} 30m the site is down"))
    session = fake_aws[0].start_session(dev_id, SESSION)

    for outsider in (cast.OSCAR, cast.SAM, cast.ALICE):
        before = world(stack)
        answer = stack.slash(outsider, f"lockout <@{cast.ALICE}> suspicious")
        assert "Only the revokers ([settings] revokers in the policy file) can lock people out" in answer, answer
        assert_unchanged(stack, before, f"lockout by {outsider}")
        figures["refusals checked unchanged"] += 1

    answer = stack.slash(cast.CAROL, f"lockout <@{cast.ALICE}|alice> credentials leaked")
    assert f"<@{cast.ALICE}> is locked out: 3 live requests ended" in answer, answer
    for rid in (active, pending, emergency):
        done = settled(stack, rid)
        assert (done.state, done.ended_by, done.end_reason) == (State.REVOKED, cast.CAROL,
                                                                "locked out: credentials leaked")
        assert f"jitbot-{rid}" not in policies_of(stack)
        assert _event(stack, rid, "revoked").detail["lockout"] is True
    assert get(stack, active).sessions_ended == 1
    assert not [s for s in fake_aws[0].sessions(state="Active") if s["SessionId"] == session]
    eventually(lambda: _buttons_gone(stack, pending), what="the pending request's buttons removed")
    event = _event(stack, None, "lockout")
    assert (event.actor, event.detail["user"], event.detail["authorized_by"]) == (cast.CAROL, cast.ALICE, cast.CAROL)
    assert sorted(event.detail["requests"]) == sorted([active, pending, emergency])
    said(stack, AUDIT, f"<@{cast.ALICE}> locked out by <@{cast.CAROL}>: credentials leaked")
    said(stack, DM, "locked you out of jitbot")

    digest = daily_digest(ctx(stack))
    valid_blocks([b.to_dict() for b in digest_blocks(ENGLISH, digest)])
    assert f"{cast.ALICE} locked out by {cast.CAROL}" in plain_text(ENGLISH, digest)
    assert f"still locked out: {cast.ALICE} since" in plain_text(ENGLISH, digest)

    stack.restart()  # the lockout lives in the database
    refusals = {f"request {later} 30m please": "no request is accepted",
                f"breakglass {later} 30m please": "no break-glass is accepted",
                f"extend {active} 30m more": "no extension is accepted"}
    for text, refusal in refusals.items():
        before = len(trail(stack))
        answer = stack.slash(cast.ALICE, text)
        assert "You are locked out of jitbot" in answer and refusal in answer, (text, answer)
        assert not [r for r in world(stack).requests.values()
                    if r.requester == cast.ALICE and r.state in (State.PENDING, State.APPROVED, State.ACTIVE)]
        assert [e.action for e in trail(stack)[before:]] in (["locked_out_refused"], [])
        figures["refusals checked unchanged"] += 1
    before = world(stack)
    again = stack.slash(cast.DAVE, f"lockout {cast.ALICE} again")
    assert f"{cast.ALICE} is already locked out since" in again and f"by {cast.CAROL}." in again, again
    assert_unchanged(stack, before, "a second lockout")

    before = world(stack)
    assert "Only the revokers" in stack.slash(cast.ALICE, f"unlock <@{cast.ALICE}>")
    assert_unchanged(stack, before, "an unlock by the person locked out")
    assert f"<@{cast.ALICE}> is unlocked" in stack.slash(cast.DAVE, "unlock @alice cleared by security")
    unlock = _event(stack, None, "unlock")
    assert (unlock.actor, unlock.detail["user"], unlock.detail["authorized_by"],
            unlock.detail["group_members"]) == (cast.DAVE, cast.ALICE, REVOKE_GROUP, [cast.DAVE])
    said(stack, AUDIT, f"<@{cast.ALICE}> unlocked by <@{cast.DAVE}>")
    _auto(stack, later)  # accepted again
    text = plain_text(ENGLISH, daily_digest(ctx(stack)))
    assert f"{cast.ALICE} unlocked by {cast.DAVE}" in text and f"still locked out: {cast.ALICE}" not in text
    figures["requests: revokers"] += 4


@pytest.mark.parametrize(("written", "expected"), [
    (f"<@{cast.BOB}>", cast.BOB), (f"<@{cast.BOB}|bob>", cast.BOB), ("@bob", cast.BOB), ("@BOB", cast.BOB),
    (cast.BOB, cast.BOB)], ids=["mention", "mention-with-name", "handle", "handle-any-case", "member-id"])
def test_the_person_can_be_named_every_way_slack_sends_it(stack: RelStack, written: str, expected: str) -> None:
    answer = stack.slash(cast.CAROL, f"lockout {written} testing the kill switch")
    assert f"<@{expected}> is locked out: they had no live request" in answer, answer
    assert _event(stack, None, "lockout").detail["user"] == expected
    assert f"<@{expected}> is unlocked" in stack.slash(cast.CAROL, f"unlock {written}")


@pytest.mark.parametrize(("written", "refusal"), [
    ("@nobody", "Nobody in this workspace is called @nobody"),
    ("@twin", "@twin could be 2 people: U0TWIN001 (twin), U0TWIN002 (twin). Give their member id"),
    ("U0NOSUCH1", "Slack user U0NOSUCH1 does not exist"),
    ("bob", "'bob' is not a person"),
    ("<@U0BOB0001", "is not a person"),
    ("", "Who?"),
], ids=["unknown-handle", "ambiguous-handle", "unknown-id", "bare-word", "broken-mention", "nobody"])
def test_a_person_that_names_nobody_or_several_is_refused(stack: RelStack, written: str, refusal: str,
                                                          figures: Counter[str]) -> None:
    before = world(stack)
    answer = stack.slash(cast.CAROL, f"lockout {written} testing".replace("  ", " ") if written else "lockout")
    assert refusal in answer, answer
    assert_unchanged(stack, before, f"lockout of {written!r}")
    figures["refusals checked unchanged"] += 1


def test_a_revoker_cannot_lock_themselves_out_and_needs_a_reason(stack: RelStack, figures: Counter[str]) -> None:
    before = world(stack)
    assert "You cannot lock yourself out" in stack.slash(cast.CAROL, f"lockout <@{cast.CAROL}> oops")
    assert "Say why" in stack.slash(cast.CAROL, f"lockout <@{cast.BOB}>")
    assert f"{cast.BOB} is not locked out." in stack.slash(cast.CAROL, f"unlock <@{cast.BOB}>")
    assert_unchanged(stack, before, "self-lockout, no reason, unlock of nobody")
    figures["refusals checked unchanged"] += 3


def test_status_is_shown_to_the_people_concerned_only(stack: RelStack, fake_aws: tuple[FakeAws, dict[str, str]],
                                                      figures: Counter[str]) -> None:
    name, _ = _node(stack, fake_aws, "prod")
    rid = _pending(stack, name)
    for insider in (cast.ALICE, cast.SAM, cast.TINA, cast.CAROL, cast.DAVE):  # requester, approvers, revokers
        assert f"*{rid}*" in stack.slash(insider, f"status {rid}")
    unknown = "R00000000"
    for outsider in (cast.OSCAR, cast.BOB, cast.MALLORY):
        told, nothing = stack.slash(outsider, f"status {rid}"), stack.slash(outsider, f"status {unknown}")
        assert told == nothing.replace(unknown, rid), (told, nothing)
        assert name not in told
        figures["requests: least disclosure"] += 2
    stack.slash(cast.ALICE, f"cancel {rid}")


@pytest.mark.parametrize("text", ["explain *", "explain w*", "explain web-?", "explain 123456789012/*",
                                  "explain us-east-1/rv-*", "nodes *", "nodes w?b", "request * 30m x",
                                  "breakglass * 30m x"])
def test_node_references_take_no_wildcards(stack: RelStack, text: str, figures: Counter[str]) -> None:
    before = world(stack)
    answer = stack.slash(cast.ALICE, text)
    assert "no wildcards" in answer, answer
    assert not re.search(r"i-[0-9a-f]{8}", answer) and "web-1" not in answer and "batch" not in answer, answer
    assert_unchanged(stack, before, text)
    figures["requests: least disclosure"] += 1


def test_nodes_lists_only_what_the_person_may_request(stack: RelStack,
                                                     fake_aws: tuple[FakeAws, dict[str, str]]) -> None:
    """A deny policy keeps Oscar off dev nodes: ``/jit nodes`` does not show him any; Alice sees them."""
    (name, node), (prod, prod_id) = _node(stack, fake_aws, "dev"), _node(stack, fake_aws, "prod")
    ctx(stack).nodes.nodes.invalidate()  # the inventory is cached for 30 s: let the searches see the new nodes
    assert node in stack.slash(cast.ALICE, f"nodes {name}")
    told = stack.slash(cast.OSCAR, f"nodes {name}")
    assert told == f"There is no node matching '{name}' that you may request.", told
    assert prod_id in stack.slash(cast.OSCAR, f"nodes {prod}")
