"""Every ``/jit`` subcommand over signed HTTP, with its misuse: pending, extend, nodes, and the rest."""

from __future__ import annotations

import time
from datetime import timedelta

from core.model import State
from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from handlers import ids
from tests.aws.e2e_support import FAST_ELECTION, scheduler_of
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, events, eventually, request

BOB_ROLE = "arn:aws:iam::123456789012:role/bob"
ALICE_ROLE = "arn:aws:iam::123456789012:role/alice"


def _rid(answer: str) -> str:
    return answer.split("*")[1]


def _policies(stack: Stack, role: str) -> set[str]:
    return set(stack.aws.inline_policies(role))


def test_misuse_gets_usage_and_changes_nothing(stack: Stack) -> None:
    cases = {
        "list mine": "`/jit list` takes no arguments. Usage: `/jit list`",
        "pending all": "`/jit pending` takes no arguments. Usage: `/jit pending`",
        "status": "Which request? Usage: `/jit status &lt;request id&gt;`",
        "status R1 R2": "One request id only. Usage: `/jit status",
        "cancel": "Which request? Usage: `/jit cancel",
        "release x!": "'x!' is not a request id",
        "revoke R1": "Say why. Usage: `/jit revoke &lt;request id&gt; &lt;reason&gt;`",
        "extend": "Which request? Usage: `/jit extend &lt;request id&gt; &lt;duration&gt; &lt;reason&gt;`",
        "extend R1": "Give a duration and a reason. Usage: `/jit extend",
        "extend R1 5x because": "'5x' is not a duration",
        "extend R1 99999999999999h because": "'99999999999999h' is longer than the maximum of 30d",
        "extend RNOPE 1h because": "There is no request RNOPE",
        "cancel RNOPE": "There is no request RNOPE",
        "nodes " + "x" * 101: "keep it under 100 characters. Usage: `/jit nodes [filter]`",
        "status <!channel>": "'&lt;!channel&gt;' is not a request id",
        "frobnicate": "Unknown subcommand 'frobnicate'",
    }
    for text, expected in cases.items():
        answer = slack.slash(stack, cast.ALICE, text)["text"]
        assert expected in answer, (text, answer)
        assert "<!channel>" not in answer
    help_text = slack.slash(stack, cast.ALICE, "help")["text"]
    for name in ("request", "pending", "extend", "nodes", "list", "status", "cancel", "release", "revoke"):
        assert f"`/jit {name}" in help_text
    assert "<request id>" not in help_text and "&lt;request id&gt;" in help_text
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert uow.repo.by_requester(cast.ALICE) == []


def test_nodes_lists_what_i_may_request_with_its_policy(stack: Stack) -> None:
    # the session's moto holds the nodes of other tests too, so the unfiltered list may be cut: filter by name
    assert slack.slash(stack, cast.ALICE, "nodes")["text"].startswith("*Nodes you may request*")
    alice = slack.slash(stack, cast.ALICE, "nodes web-1")["text"]
    assert f"`{stack.nodes['web-1']}` web-1" in alice and "production: approval by SRE lead → Manager" in alice
    assert "pci-db" in slack.slash(stack, cast.ALICE, "nodes pci-db")["text"]
    bob = slack.slash(stack, cast.BOB, "nodes DEV")["text"]
    assert "matching 'DEV'" in bob and "dev-1" in bob and "dev-self-service: approved at once, at most 8h" in bob
    assert "web-1" not in bob
    assert "pci-db" not in slack.slash(stack, cast.MALLORY, "nodes pci")["text"]
    assert "no node matching 'zzz'" in slack.slash(stack, cast.ALICE, "nodes zzz")["text"]


def test_pending_lists_what_waits_for_me_with_buttons(stack: Stack) -> None:
    rid = _rid(slack.slash(stack, cast.ALICE, "request web-1 1h deploy hotfix")["text"])
    approval_post(stack, "C0SREAPPR")
    mine = slack.slash(stack, cast.SAM, "pending")
    assert mine["text"] == "1 request waits for your decision."
    assert button_value(mine, ids.APPROVE) == rid and button_value(mine, ids.REJECT) == rid
    assert "deploy hotfix" in str(mine["blocks"]) and "Level 1 of 2" in str(mine["blocks"])
    for who in (cast.CAROL, cast.ALICE, cast.OSCAR):  # not their level yet, their own, not an approver
        assert slack.slash(stack, who, "pending")["text"] == "Nothing is waiting for your decision."
    # the button in the ephemeral list works like the one in the channel
    assert "level 2" in stack.click(cast.SAM, ids.APPROVE, rid, channel="C0GENERAL1")
    assert slack.slash(stack, cast.SAM, "pending")["text"] == "Nothing is waiting for your decision."
    assert button_value(slack.slash(stack, cast.CAROL, "pending"), ids.APPROVE) == rid


def test_extend_auto_approved_continues_the_window_without_a_gap(stack: Stack) -> None:
    old_id = _rid(slack.slash(stack, cast.BOB, "request dev-1 1m quick look")["text"])
    old = request(stack, old_id)
    assert old.state is State.ACTIVE and old.expires_at is not None
    refusals = {
        (cast.ALICE, f"extend {old_id} 30m mine now"): f"Only the requester of {old_id} can extend it",
        (cast.BOB, f"extend {old_id} 9h longer"): "goes through the policy of the access it extends "
                                                  "('dev-self-service'), but policy 'everything-else'",
    }
    for (who, text), expected in refusals.items():
        assert expected in slack.slash(stack, who, text)["text"], text

    answer = slack.slash(stack, cast.BOB, f"extend {old_id} 30m the migration is slow")["text"]
    assert f"(extending {old_id})" in answer and "granted until" in answer
    new_id = _rid(answer)
    new = request(stack, new_id)
    assert new.state is State.ACTIVE and new.extends == old_id
    assert new.expires_at == old.expires_at + timedelta(minutes=30)  # no gap, no overlap counted twice
    retired = request(stack, old_id)
    assert retired.state is State.EXPIRED and retired.end_reason == f"extended by {new_id}"
    # its policy is deleted like any revocation's (retried until AWS confirms), its sessions left to the extension
    assert [e.action for e in events(stack, old_id)][-2:] == ["superseded", "revocation_confirmed"]
    assert not request(stack, old_id).needs_cleanup
    assert f"jitbot-{new_id}" in _policies(stack, BOB_ROLE) and f"jitbot-{old_id}" not in _policies(stack, BOB_ROLE)
    assert "is expired; only active access can be extended" in slack.slash(
        stack, cast.BOB, f"extend {old_id} 30m again")["text"]
    slack.slash(stack, cast.BOB, f"release {new_id}")
    eventually(lambda: f"jitbot-{new_id}" not in _policies(stack, BOB_ROLE), what="release")


def test_extend_beyond_max_continuous_is_refused_and_changes_nothing(stack: Stack) -> None:
    # policies.toml: dev-self-service allows 8h at a time and 12h of continuous access (max_continuous)
    runtime = stack.runtime
    assert runtime is not None
    old_id = _rid(slack.slash(stack, cast.BOB, "request dev-1 8h long build")["text"])
    assert request(stack, old_id).state is State.ACTIVE

    def footprint() -> tuple[list[str], list[str]]:
        with runtime.ctx.uow() as uow:
            mine = sorted(r.id for r in uow.repo.by_requester(cast.BOB, limit=1000))
            acts = [e.action for e in uow.repo.events() if e.actor == cast.BOB or e.request_id in mine]
        return mine, acts

    before = footprint()
    answer = slack.slash(stack, cast.BOB, f"extend {old_id} 5h more builds")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(
        f":warning: Extending {old_id} by 5h would make 13h of continuous access, more than the 12h policy "
        f"'dev-self-service' allows (max_continuous): you can ask for at most 4h more.")
    assert footprint() == before
    assert _policies(stack, BOB_ROLE) >= {f"jitbot-{old_id}"}

    new_id = _rid(slack.slash(stack, cast.BOB, f"extend {old_id} 4h the rest of it")["text"])
    assert request(stack, new_id).state is State.ACTIVE
    assert f"{new_id} cannot be extended: policy 'dev-self-service' allows at most 12h" in slack.slash(
        stack, cast.BOB, f"extend {new_id} 1m one more minute")["text"]
    slack.slash(stack, cast.BOB, f"release {new_id}")
    eventually(lambda: f"jitbot-{new_id}" not in _policies(stack, BOB_ROLE), what="release")


def test_extend_with_approval_from_the_warning_button(stack_factory) -> None:
    stack = stack_factory(REPO_POLICIES.read_text("utf-8").replace('expiry_warning = "10m"',
                                                                   'expiry_warning = "119s"'),
                          settings=FAST_ELECTION)
    scheduler_of(stack)  # on PostgreSQL, test stacks take turns at running the scheduler
    t0 = time.time()
    old_id = _rid(slack.slash(stack, cast.ALICE, "request web-1 2m fix the disk")["text"])
    approval_post(stack, "C0SREAPPR")
    stack.click(cast.SAM, ids.APPROVE, old_id)
    approval_post(stack, "C0MGRAPPR")
    stack.click(cast.CAROL, ids.APPROVE, old_id, "C0MGRAPPR")
    stack.click(cast.DAVE, ids.APPROVE, old_id, "C0MGRAPPR")
    old = request(stack, old_id)
    assert old.state is State.ACTIVE and old.expires_at is not None

    # warned a second after the grant (119s before the end of a 2m window), with an Extend button
    warning = slack.dm_after(stack, cast.ALICE, t0, "ends at")
    assert button_value(warning.params, ids.EXTEND) == old_id
    t1 = time.time()
    response = slack.sim(stack).block_action(cast.ALICE, ids.EXTEND, old_id, channel_id=f"D{cast.ALICE}")
    assert response.status == 200
    view = slack.opened_view(stack, t1)
    assert view["title"]["text"] == "Extend access" and ids.NODE_BLOCK in slack.block_ids(view)
    assert f"Extend *{old_id}*" in str(view["blocks"])
    assert [o["value"] for o in slack.duration_block(view)["element"]["options"]][-1] == "4h"
    assert slack.errors(slack.submit(stack, cast.ALICE, view, duration="1h", reason=""))  # reason required
    before = slack.answers(stack)
    assert slack.submit(stack, cast.ALICE, view, duration="1h", reason="one more hour").status == 200
    answer = slack.answer_after(stack, before)["text"]
    assert f"(extending {old_id})" in answer and "Waiting for level 1 of 2" in answer
    new_id = _rid(answer)
    assert f"Extension {new_id} of {old_id} is already pending" in slack.slash(
        stack, cast.ALICE, f"extend {old_id} 1h and more")["text"]
    # the warning button again, now that an extension is pending: a clear answer, no modal
    assert "already pending" in stack.click(cast.ALICE, ids.EXTEND, old_id, channel=f"D{cast.ALICE}")

    post = approval_post(stack, "C0SREAPPR", after=t1)
    assert button_value(post, ids.APPROVE) == new_id and f"(extends {old_id})" in str(post["blocks"])
    stack.click(cast.TINA, ids.APPROVE, new_id)
    stack.click(cast.CAROL, ids.APPROVE, new_id, "C0MGRAPPR")
    stack.click(cast.DAVE, ids.APPROVE, new_id, "C0MGRAPPR")
    new = request(stack, new_id)
    assert new.state is State.ACTIVE and new.expires_at == old.expires_at + timedelta(hours=1)
    assert new.granted_at is not None and new.granted_at <= old.expires_at  # no gap
    assert request(stack, old_id).state is State.EXPIRED
    assert f"jitbot-{old_id}" not in _policies(stack, ALICE_ROLE)
    slack.slash(stack, cast.ALICE, f"release {new_id}")
    eventually(lambda: f"jitbot-{new_id}" not in _policies(stack, ALICE_ROLE), what="release")
