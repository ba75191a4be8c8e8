"""Every lifecycle notice rendered in English and in Japanese with long, hostile, realistic values: the DM in the
requester's language, the threads and the audit line in the channel language, within Slack's limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.documents import REMOTE_DESKTOP
from core.i18n import ENGLISH, Catalogs, Tr
from core.model import AccessRequest, Event, Kind, LevelSnapshot, Node, NodeSession, Notice, Review, State
from core.reconcile import OUTSIDE
from handlers.blocks import message_blocks, request_buttons
from handlers.breakglass_notices import _review_line
from handlers.connect import SsoPortal, instructions
from handlers.later import failure_message
from handlers.notices import Rendered, render
from handlers.notifier import DM_BUTTONS
from handlers.sessions_text import MAX_LISTED, sessions_text
from handlers.text import escape
from tests.helpers import valid_blocks

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Tokyo")
JA = Catalogs().get("ja")
#: what a reason may hold: mentions, links, markup, escapes, emoji; 1,000 characters (the longest jitbot takes)
HOSTILE = ("<!channel> <@U0CAROL01> <https://evil|click> *bold* & 再起動が必要 🙂 " * 40)[:1000]
NODE = Node("i-0123456789abcdef0", "123456789012", "ap-northeast-1", name="web-" + "x" * 250,
            tags={"Environment": "prod"})
APPROVERS = (*(f"U0APPR{i:03d}" for i in range(30)), "S0SRELEAD")
LEVEL_NAME = "SRE lead <@U0CAROL01> " + "ｓ" * 180
LEVELS = (
    LevelSnapshot(LEVEL_NAME, "C0SREAPPR", APPROVERS, 2, escalate_after=timedelta(hours=2, minutes=30),
                  escalate_to=(*APPROVERS, "idc-group:Platform On-Call", "pagerduty:PXXXXXX"),
                  escalate_channel="C0ONCALL1"),
    LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01", "U0DAVE001"), 1),
)
SESSIONS = tuple(NodeSession(f"alice-{i:04d}<x>", "R0000NTCE", "U0ALICE01", "Terminated",
                             document="AWS-StartPortForwardingSession" if i % 2 else None,
                             started_at=NOW - timedelta(minutes=60 - i), ended_at=NOW - timedelta(minutes=30 - i),
                             log="cloudwatch" if i % 3 == 0 else "none" if i % 3 == 1 else None,
                             log_url=f"https://console.aws.amazon.com/cloudwatch/home#logs/{i}" if i % 3 == 0 else None)
                 for i in range(MAX_LISTED + 5))
REQUEST = AccessRequest(
    id="R0000NTCE", requester="U0ALICE01", principal_arn="arn:aws:iam::123456789012:role/alice", node=NODE,
    reason=HOSTILE, duration=timedelta(hours=2, minutes=30), policy="production", kind=Kind.MANUAL, levels=LEVELS,
    state=State.ACTIVE, created_at=NOW - timedelta(hours=1), granted_at=NOW - timedelta(minutes=10),
    expires_at=NOW + timedelta(hours=2, minutes=20))

#: which parts each notice has: (DM, thread, audit line)
PARTS: dict[Notice, tuple[bool, bool, bool]] = {
    Notice.SUBMITTED: (True, False, True), Notice.LEVEL_APPROVED: (True, True, True),
    Notice.GRANTED: (True, True, True), Notice.REJECTED: (True, True, True), Notice.CANCELLED: (True, True, True),
    Notice.TIMED_OUT: (True, True, True), Notice.FAILED: (True, True, True), Notice.WARNING: (True, True, False),
    Notice.EXPIRED: (True, True, True), Notice.REVOKED: (True, True, True), Notice.RELEASED: (True, True, True),
    Notice.REVOKE_FAILING: (False, False, True), Notice.REMINDER: (False, True, False),
    Notice.ESCALATED: (True, True, True), Notice.SHORTENED: (True, True, True), Notice.DENIED: (False, False, True),
    Notice.DRIFT_REMOVED: (False, False, True), Notice.GRANT_REAPPLIED: (False, True, True),
    Notice.LOCKED_OUT: (True, False, True), Notice.UNLOCKED: (True, False, True),
}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _event(notice: Notice) -> Event:
    reason = "4h" if notice is Notice.SHORTENED else HOSTILE
    request = REQUEST
    if notice is Notice.SUBMITTED:
        request = replace(REQUEST, state=State.PENDING, granted_at=None, expires_at=None)
    return Event(notice, request, actor="U0TINA001", reason=reason, level=0, sessions=2, records=SESSIONS)


def _render(notice: Notice, dm: Tr, channel: Tr, event: Event | None = None) -> Rendered:
    return render(event or _event(notice), ZONE, dm, channel, NOW, SsoPortal("https://d-90670ca891.awsapps.com/start",
                                                                              "us-east-1"),
                  ("SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession", REMOTE_DESKTOP))


def _no_spoofing(text: str) -> None:
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U0CAROL01> <" not in text


def test_every_notice_kind_has_a_rendering_in_both_languages() -> None:
    assert set(PARTS) == set(Notice)


@pytest.mark.parametrize("notice", list(Notice), ids=lambda n: n.value)
@pytest.mark.parametrize("language", ["en", "ja"])
def test_each_notice_in_each_language_within_slack_limits(notice: Notice, language: str) -> None:
    tr = JA if language == "ja" else ENGLISH
    rendered = _render(notice, tr, tr)
    has = (rendered.dm is not None, rendered.thread is not None, rendered.audit is not None)
    assert has == PARTS[notice]
    for text in (rendered.dm, rendered.thread, rendered.audit):
        if text is None:
            continue
        _no_spoofing(text)
        assert len(text) <= 40_000  # chat.postMessage's text
        words = text.replace(escape(LEVEL_NAME), "").replace(escape(HOSTILE), "")
        assert bool(JAPANESE.search(words)) is (language == "ja"), words
    if rendered.dm is not None:  # the DM as the notifier sends it: a section, and the requester's buttons
        blocks = message_blocks(rendered.dm)
        if DM_BUTTONS.get(notice):
            blocks.append(request_buttons(tr, REQUEST.id, *DM_BUTTONS[notice]))
        valid_blocks([b.to_dict() for b in blocks])


def test_the_dm_follows_the_requester_and_the_rest_the_channel() -> None:
    rendered = _render(Notice.GRANTED, JA, ENGLISH)
    assert rendered.dm is not None and rendered.thread is not None and rendered.audit is not None
    assert "アクセスが許可されました" in rendered.dm and "2025/03/03 20:20:00 JST" in rendered.dm
    assert rendered.thread == ":unlock: Access granted until 2025-03-03 20:20:00 JST."
    assert rendered.audit.endswith("· granted (manual) until 2025-03-03 20:20:00 JST")
    reverse = _render(Notice.GRANTED, ENGLISH, JA)
    assert reverse.dm is not None and reverse.dm.startswith(":unlock: Access granted: *R0000NTCE* on `i-0123")
    assert reverse.thread == ":unlock: 2025/03/03 20:20:00 JST までアクセスが許可されました。"
    assert reverse.audit is not None and "まで付与（手動）" in reverse.audit


def test_english_wording_is_kept_and_durations_are_the_languages() -> None:
    submitted = _render(Notice.SUBMITTED, ENGLISH, ENGLISH)
    assert submitted.dm is not None and submitted.audit is not None
    assert submitted.dm.startswith("Your request *R0000NTCE* for `i-0123456789abcdef0` (web-xxx")
    assert "(2h 30m) is waiting for level 1 ('SRE lead &lt;@U0CAROL01&gt; ｓｓ" in submitted.dm
    assert submitted.audit.startswith("*R0000NTCE* · <@U0ALICE01> · `i-0123456789abcdef0` (web-")
    assert "· requested 2h 30m: &lt;!channel&gt;" in submitted.audit
    ja = _render(Notice.SUBMITTED, JA, JA)
    assert ja.dm is not None and "（2時間30分）" in ja.dm and "<#C0SREAPPR>" in ja.dm
    expired = _render(Notice.EXPIRED, ENGLISH, ENGLISH)
    assert expired.dm is not None and expired.thread is not None and expired.audit is not None
    assert expired.dm.endswith("expired. 2 sessions terminated.")
    assert expired.thread == ":lock: Access expired. 2 sessions terminated."
    one = _render(Notice.EXPIRED, ENGLISH, ENGLISH, replace(_event(Notice.EXPIRED), sessions=1))
    assert one.thread == ":lock: Access expired. 1 session terminated."
    none = _render(Notice.EXPIRED, ENGLISH, ENGLISH, replace(_event(Notice.EXPIRED), sessions=0))
    assert none.thread == ":lock: Access expired."
    assert f"Sessions ({len(SESSIONS)}):" in expired.audit and "… and 5 more (`jitbot audit export`)" in expired.audit
    ja_expired = _render(Notice.EXPIRED, JA, JA)
    assert ja_expired.audit is not None and f"セッション（{len(SESSIONS)} 件）:" in ja_expired.audit
    assert "期限切れになりました。セッション 2 件を終了しました。" in (ja_expired.dm or "")


def test_warning_escalation_and_shortened_in_japanese() -> None:
    warning = _render(Notice.WARNING, JA, JA)
    assert warning.dm is not None and "(残り 2時間20分)" in warning.dm and "`/jit extend R0000NTCE" in warning.dm
    escalated = _render(Notice.ESCALATED, JA, ENGLISH)
    assert escalated.dm is not None and "2時間30分 以内に" in escalated.dm and "（<#C0ONCALL1>）" in escalated.dm
    # the fallback approvers are mentioned in their own channel's message, not a second time in the thread
    assert escalated.thread == ":rotating_light: Escalated after 2h 30m: its fallback approvers were asked in " \
                               "<#C0ONCALL1>."
    assert escalated.audit is not None and "Platform On-Call, and pagerduty:PXXXXXX" in escalated.audit
    shortened = _render(Notice.SHORTENED, JA, ENGLISH)
    assert shortened.dm is not None
    assert "*2時間30分* で承認" in shortened.dm and "申請した 4時間 より短い" in shortened.dm
    assert shortened.thread == ":scissors: Approved for 2h 30m (asked: 4h), as <@U0TINA001> chose."


def test_actors_that_are_not_people_are_named_in_the_language() -> None:
    event = replace(_event(Notice.REVOKED), actor=OUTSIDE, reason=None)
    assert "was revoked by someone outside jitbot." in (_render(Notice.REVOKED, ENGLISH, ENGLISH, event).dm or "")
    assert "jitbot 外の誰か に取り消されました" in (_render(Notice.REVOKED, JA, JA, event).dm or "")


def test_connect_instructions_keep_commands_as_code() -> None:
    idc = replace(REQUEST, principal_arn="arn:aws:identitystore:::user/9a6b8e04-e0e1-70d6-f4a6-ab12cd34ef56")
    for tr in (ENGLISH, JA):
        plain = instructions(tr, REQUEST, None, ("SSM-SessionManagerRunShell", REMOTE_DESKTOP))
        assert "aws ssm start-session --target i-0123456789abcdef0 --region ap-northeast-1" in plain
        portal = instructions(tr, idc, SsoPortal(None, "us-east-1"), ())
        assert "aws sso login --profile jit-R0000NTCE" in portal and "sso_role_name = jitbot-R0000NTCE" in portal
    assert "リモートデスクトップで接続" in instructions(JA, REQUEST, None, (REMOTE_DESKTOP,))
    assert "<アクセスポータルの URL>" in instructions(JA, idc, None, ())
    assert instructions(ENGLISH, REQUEST, None, ()).startswith("Connect with:\n```aws ssm start-session")


def test_sessions_break_glass_review_and_failures_in_japanese() -> None:
    assert sessions_text((), ZONE, JA) == "記録されたセッションはありません。"
    assert sessions_text((), ZONE) == "No sessions recorded."
    listed = sessions_text(SESSIONS[:3], ZONE, JA)
    assert "CloudWatch ログ" in listed and "ログなし" in listed and "ログ不明" in listed
    assert "デフォルトのドキュメント" in listed and "alice-0000&lt;x&gt;" in listed
    review = Review(REQUEST.id, "U0TINA001", NOW, False, HOSTILE)
    assert _review_line(ENGLISH, REQUEST, review).startswith(
        "*R0000NTCE* · break-glass of <@U0ALICE01> reviewed by <@U0TINA001>: NOT justified. &lt;!channel&gt;")
    assert "レビュー: *妥当ではない*" in _review_line(JA, REQUEST, review)
    assert failure_message("abcd1234").startswith(":boom: Something went wrong on jitbot's side (reference `abcd")
    assert "参照 `abcd1234`" in failure_message("abcd1234", JA)
