"""Hostile reasons, tickets and comments: nothing anyone typed can ping, link or spoof, in any text or block
jitbot sends, and no escape or mention is cut in half when long text is shortened."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, eventually, request

HOSTILE = "<!channel> ping <@U0CAROL01> see <https://evil.example|click here> *bold* &amp; <#C0AUDIT01>"
TICKET = "<!here>&<@U0CAROL01>"
COMMENT = "<!everyone> no way <@U0CAROL01> <mailto:x@evil.example|mail>"
#: what jitbot itself writes: mentions of people, groups and channels
LEGIT = re.compile(r"<(@U[A-Z0-9]+|#C[A-Z0-9]+|!subteam\^S[A-Z0-9]+)>")
QUOTE = re.compile(r"(?m)^>")  # a block quote, which jitbot puts before a reason
ENTITY = re.compile(r"&(?!(amp|lt|gt);)")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check(text: str) -> None:
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://evil", "<mailto:", "<@U0CAROL01>"):
        assert raw not in text, (raw, text[:300])
    leftover = QUOTE.sub("", LEGIT.sub("", text))
    assert "<" not in leftover and ">" not in leftover, text[:300]
    assert not ENTITY.search(text), f"a cut or raw '&' in {text[:300]!r}"


def test_hostile_text_never_pings_links_or_breaks(stack: Stack) -> None:
    filler = ("é<&>🙂 " * 200)[:2900]
    refused = slack.slash(stack, cast.ALICE, f"request web-1 1h {HOSTILE} {filler}{filler}")["text"]
    assert "keep it under 1000" in refused

    reason = (f"{HOSTILE} {filler}")[:995]
    t0 = time.time()
    answer = slack.slash(stack, cast.ALICE, f"request web-1 1h {reason} ticket={TICKET}")["text"]
    assert "submitted" in answer
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    stored = request(stack, rid)
    assert stored.reason == " ".join(reason.split()) and stored.ticket == TICKET  # kept as typed
    slack.slash(stack, cast.ALICE, f"status {rid}")
    slack.slash(stack, cast.SAM, "pending")
    slack.sim(stack).event({"type": "app_home_opened", "user": cast.SAM, "tab": "home"})
    eventually(lambda: rid in slack.home_text(stack, cast.SAM), what="Sam's home")
    slack.sim(stack).event({"type": "app_home_opened", "user": cast.ALICE, "tab": "home"})  # republished on changes
    eventually(lambda: rid in slack.home_text(stack, cast.ALICE), what="Alice's home")

    slack.sim(stack).block_action(cast.SAM, ids.REJECT, rid, channel_id="C0SREAPPR")
    modal = slack.opened_view(stack, t0)
    slack.sim(stack).view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: COMMENT}},
                                     private_metadata=modal["private_metadata"], view_id=modal["id"])
    eventually(lambda: request(stack, rid).state is State.REJECTED, what="rejection")
    slack.dm_after(stack, cast.ALICE, t0, "no way")
    stack.slack.wait_for(lambda c: c.params.get("channel") == "C0AUDIT01" and "rejected by" in c.params.get("text", ""))
    eventually(lambda: "no way" in slack.home_text(stack, cast.ALICE), what="Alice's home with the rejection")

    sent = [c for c in stack.slack.calls if c.method in ("chat.postMessage", "chat.update", "views.open",
                                                          "views.publish", "response_url")]
    assert len(sent) > 10
    shown = 0
    for call in sent:
        for text in _strings(call.params):
            _check(text)
            shown += "&lt;!channel&gt;" in text
    assert shown >= 5  # the reason was shown, escaped, in many places
    # Slack's limits hold although escaping makes the reason four times longer
    for call in sent:
        for block in (call.params.get("blocks") or (call.params.get("view") or {}).get("blocks") or []):
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
            if isinstance(block.get("text"), dict):
                assert len(block["text"]["text"]) <= 3000
    approval = approval_post(stack, "C0SREAPPR")
    assert "…" in json.dumps(approval["blocks"], ensure_ascii=False)  # shortened, cleanly
