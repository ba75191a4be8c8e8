"""Lifecycle notices in the reader's language, through signed HTTP, the fake Slack and moto: under
``language = "auto"`` a requester whose Slack locale is ja-JP gets the granted and expired DMs in Japanese, an
en-US one in English, while the approval threads and the audit channel use the channel language (English under
"auto" unless ``channel_language`` says otherwise)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.model import State
from fakes import cast
from fakes.slack_api import RecordedCall
from fakes.stack import Stack
from handlers import ids
from tests.helpers import approval_post, button_value, eventually, request, valid_blocks

KENJI = "U0KENJI01"  # an engineer whose Slack speaks Japanese
AUDIT, SRE = "C0AUDIT01", "C0SREAPPR"

POLICIES = """
[settings]
audit_channel = "C0AUDIT01"
language = "auto"
{channel_language}
[identities]
U0KENJI01 = "arn:aws:iam::123456789012:role/alice"
U0ALICE01 = "arn:aws:iam::123456789012:role/alice"
[[manual_approval]]
name = "production"
targets = "all"
max_duration = "2h"
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
"""


def _said(stack: Stack, channel: str, *needles: str, thread: bool | None = None) -> RecordedCall:
    """The first message in ``channel`` holding every needle (a thread reply or not), blocks validated."""
    def match(call: RecordedCall) -> bool:
        params: dict[str, Any] = call.params
        return (call.method == "chat.postMessage" and params.get("channel") == channel
                and (thread is None or ("thread_ts" in params) == thread)
                and all(n in str(params.get("text", "")) for n in needles))
    found = stack.slack.wait_for(match, timeout=20)
    if found.params.get("blocks"):
        valid_blocks(found.params["blocks"])
    return found


def _approved(stack: Stack, user: str, reason: str) -> str:
    since = time.time()
    stack.slash(user, f"request web-1 4s {reason}")
    rid = button_value(approval_post(stack, SRE, since), ids.APPROVE)
    assert "access was granted" in stack.click(cast.SAM, ids.APPROVE, rid)
    return rid


@pytest.mark.parametrize("channel_language", [None, "ja"], ids=["channels-english", "channels-japanese"])
def test_each_requester_reads_their_language_and_channels_the_channel_language(
        stack_factory: Any, channel_language: str | None) -> None:
    setting = f'channel_language = "{channel_language}"' if channel_language else ""
    stack: Stack = stack_factory(POLICIES.format(channel_language=setting))
    stack.slack.workspace.add_user(KENJI, "kenji@example.com", "Kenji", locale="ja-JP")
    japanese_channels = channel_language == "ja"

    kenji = _approved(stack, KENJI, "ディスク容量の調査")
    alice = _approved(stack, cast.ALICE, "disk full on /var")

    granted = _said(stack, f"D{KENJI}", kenji, "アクセスが許可されました")
    assert "aws ssm start-session" in granted.params["text"] and "接続コマンド" in granted.params["text"]
    english = _said(stack, f"D{cast.ALICE}", alice, ":unlock: Access granted:")
    assert "Connect with:" in english.params["text"]
    for rid in (kenji, alice):
        if japanese_channels:
            _said(stack, SRE, ":unlock:", "までアクセスが許可されました。", thread=True)
            _said(stack, AUDIT, rid, "まで付与（手動）")
        else:
            _said(stack, SRE, ":unlock: Access granted until", thread=True)
            _said(stack, AUDIT, rid, "granted (manual) until")

    for rid in (kenji, alice):
        eventually(lambda rid=rid: (r := request(stack, rid)).state is State.EXPIRED and not r.needs_cleanup,
                   timeout=20, what="expiry")
    _said(stack, f"D{KENJI}", kenji, "期限切れになりました")
    _said(stack, f"D{cast.ALICE}", alice, f":lock: Your access *{alice}*", "expired.")
    if japanese_channels:
        _said(stack, SRE, ":lock: アクセスは期限切れになりました。", thread=True)
        for rid in (kenji, alice):
            _said(stack, AUDIT, rid, "アクセスは期限切れになりました。")
    else:
        _said(stack, SRE, ":lock: Access expired.", thread=True)
        for rid in (kenji, alice):
            _said(stack, AUDIT, rid, "access expired.")
    # nothing the channels received was in the other language
    channel_texts = " ".join(str(c.params.get("text", "")) for c in stack.slack.calls
                             if c.method == "chat.postMessage" and c.params.get("channel") in (AUDIT, SRE)
                             and ("thread_ts" in c.params or c.params.get("channel") == AUDIT))
    assert ("期限切れ" in channel_texts) is japanese_channels
    assert ("expired" in channel_texts) is not japanese_channels
