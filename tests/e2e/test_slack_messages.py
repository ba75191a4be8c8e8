"""The messages of one request: the approval message updated in place (who, when, level k of n, approvals
still needed; buttons gone when done), every later event a reply in its threads, the grant DM with the
connect command and the expiry in the configured time zone."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from handlers.text import when
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, eventually, request, valid_blocks

PARIS = ZoneInfo("Europe/Paris")  # settings.timezone of the repository's policies.toml


def _message(stack: Stack, channel: str, ts: str) -> dict:
    found = stack.slack.message(channel, ts)
    assert found is not None
    valid_blocks(found["blocks"])
    return found


def _actions(message: dict) -> list[dict]:
    return [b for b in message["blocks"] if b["type"] == "actions"]


def _thread(stack: Stack, channel: str, ts: str) -> list[str]:
    return [c.params["text"] for c in stack.slack.messages(channel) if c.params.get("thread_ts") == ts]


def test_approval_messages_threads_and_the_grant_dm(stack: Stack) -> None:
    t0 = time.time()
    rid = slack.slash(stack, cast.ALICE, "request web-1 1h rotate the certificates")["text"].split("*")[1]
    first = stack.slack.messages("C0SREAPPR")[-1]
    sre_ts = first.response["ts"]  # type: ignore[index]
    text = str(_message(stack, "C0SREAPPR", sre_ts)["blocks"])
    assert "Level 1 of 2: SRE lead" in text and "0/1 approval" in text
    assert "Waiting for 1 more approval from <!subteam^S0SRELEAD>" in text

    stack.click(cast.SAM, ids.APPROVE, rid)
    level2 = approval_post(stack, "C0MGRAPPR")
    mgr_ts = next(c.response["ts"] for c in stack.slack.messages("C0MGRAPPR")  # type: ignore[index]
                  if c.params.get("blocks") and not c.params.get("thread_ts"))
    assert "Level 2 of 2: Manager" in str(level2["blocks"])
    done = _message(stack, "C0SREAPPR", sre_ts)  # level 1 updated in place: who and when, no buttons
    decided = request(stack, rid)
    assert not _actions(done) and "This level is approved" in str(done["blocks"])
    sam_at = next(d for d in _decisions(stack, rid) if d.approver == cast.SAM).at
    assert f"<@{cast.SAM}> approved at {when(sam_at, PARIS)}" in str(done["blocks"])
    assert decided.current_level == 1

    stack.click(cast.CAROL, ids.APPROVE, rid, "C0MGRAPPR")
    halfway = str(_message(stack, "C0MGRAPPR", mgr_ts)["blocks"])
    assert "1/2 approvals" in halfway and "Waiting for 1 more approval" in halfway
    assert _actions(_message(stack, "C0MGRAPPR", mgr_ts))  # the level is not done: buttons stay
    stack.click(cast.DAVE, ids.APPROVE, rid, "C0MGRAPPR")
    granted = request(stack, rid)
    assert granted.state is State.ACTIVE and granted.expires_at is not None
    assert not _actions(_message(stack, "C0MGRAPPR", mgr_ts))

    dm = slack.dm_after(stack, cast.ALICE, t0, "Access granted")
    node = stack.nodes["web-1"]
    assert f"aws ssm start-session --target {node} --region us-east-1" in dm.params["text"]
    assert f"until *{when(granted.expires_at, PARIS)}*" in dm.params["text"]
    assert when(granted.expires_at, PARIS).endswith(("CET", "CEST"))
    assert button_value(dm.params, ids.RELEASE) == rid

    answer = slack.slash(stack, cast.TINA, f"revoke {rid} the rotation is done")["text"]
    assert f"Access *{rid}* of <@{cast.ALICE}> is revoked" in answer
    eventually(lambda: request(stack, rid).state is State.REVOKED and not request(stack, rid).needs_cleanup,
               what="revocation")
    for channel, ts in (("C0SREAPPR", sre_ts), ("C0MGRAPPR", mgr_ts)):
        replies = eventually(lambda c=channel, t=ts: (r := _thread(stack, c, t)) and any("revoked" in x for x in r)
                             and r, what=f"the thread in {channel}")
        assert any("Access granted until" in r for r in replies), replies
        assert any(f"revoked by <@{cast.TINA}>: the rotation is done" in r for r in replies), replies
    assert "level 2" in " ".join(_thread(stack, "C0SREAPPR", sre_ts)).lower()
    slack.dm_after(stack, cast.ALICE, t0, "was revoked by")
    assert not _actions(_message(stack, "C0SREAPPR", sre_ts)) and not _actions(_message(stack, "C0MGRAPPR", mgr_ts))


def _decisions(stack: Stack, rid: str) -> list:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.decisions(rid)
