"""The ephemeral answers of ``/jit`` in both languages, with the longest values people can give, within Slack's
limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.i18n import ENGLISH, Catalogs, Tr
from core.model import AccessRequest, Kind, LevelSnapshot, Node, State
from handlers import replies
from handlers.parsing import USAGE
from tests.helpers import valid_blocks

NOW = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Tokyo")
#: a reason at the 1000-character limit, hostile markup included
REASON = ("<!channel> ディスク使用量が 95% を超えたため /var/log を調査します。*bold* & " * 40)[:1000]
NODE = Node("i-0123456789abcdef0", "123456789012", "ap-northeast-1", name="本番-決済-web-" + "x" * 180,
            tags={"Environment": "prod"}, ping_status="ConnectionLost")
LEVEL_NAME = "SRE リード（決済基盤チームの当番を含む）" + "長" * 70


def _request(number: int, state: State = State.PENDING, **changes: object) -> AccessRequest:
    fields: dict[str, object] = dict(
        id=f"R{number:08d}", requester="U0ALICE01", principal_arn="arn:aws:iam::123456789012:role/alice",
        node=NODE, reason=REASON, duration=timedelta(hours=2, minutes=30), policy="production-決済", kind=Kind.MANUAL,
        levels=(LevelSnapshot(LEVEL_NAME, "C0SREAPPR", ("S0SRELEAD",), 1),
                LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01",), 1)),
        state=state, created_at=NOW - timedelta(hours=1, minutes=5), ticket="CHG-" + "9" * 96,
        extends="R00000099",
        granted_at=NOW if state is State.ACTIVE else None,
        expires_at=NOW + timedelta(hours=2) if state is State.ACTIVE else None,
    )
    fields.update(changes)
    return AccessRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ja() -> Tr:
    return Catalogs().get("ja")


@pytest.mark.parametrize("language", ["en", "ja"])
def test_many_pending_decisions_stay_within_slack_limits(language: str) -> None:
    tr = Catalogs().get(language)
    answer = replies.pending([_request(n) for n in range(replies.MAX_PENDING_SHOWN + 7)], ZONE, NOW, tr)
    blocks = valid_blocks([b.to_dict() for b in answer.blocks])
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert blocks[-1]["type"] == "context"
    assert "<!channel>" not in str(blocks)


def test_a_pending_decision_reads_in_japanese(ja: Tr) -> None:
    answer = replies.pending([_request(1)], ZONE, NOW, ja)
    assert answer.text == "1 件のリクエストがあなたの判断を待っています。"
    card = answer.blocks[1].to_dict()["text"]["text"]
    assert card.startswith("*R00000001* · <@U0ALICE01> が `i-0123456789abcdef0` (本番-決済-web-")
    assert "へのアクセスを 2時間30分 申請しています · チケット CHG-" in card
    assert card.endswith("· 待ち時間 1時間5分")
    english = replies.pending([_request(1)], ZONE, NOW, ENGLISH).blocks[1].to_dict()["text"]["text"]
    assert "asks for" in english and english.endswith("· waiting for 1h 5m")


def test_summaries_say_state_duration_and_moments_in_the_readers_language(ja: Tr) -> None:
    active = _request(2, State.ACTIVE)
    line = replies.summary(active, ZONE, ja)
    assert line.startswith("*R00000002* · `i-0123456789abcdef0` (本番-決済-web-")
    assert " · 2時間30分 · *有効* · R00000099 の延長 · 2026/12/07 0:00:00 JST まで" in line
    assert replies.summary(active, ZONE, ENGLISH).endswith(
        " · 2h 30m · *active* · extends R00000099 · until 2026-12-07 00:00:00 JST")
    waiting = replies.summary(_request(3), ZONE, ja)
    assert f"*承認待ち* · R00000099 の延長 · 承認段階 1/2（'{LEVEL_NAME}'）" in waiting
    assert replies.listing([], ZONE, ja) == "承認待ちや有効なリクエストはありません。"


def test_submitted_answers_in_japanese(ja: Tr) -> None:
    pending = replies.submitted(_request(4, starts_at=NOW + timedelta(hours=9)), ZONE, ja)
    assert pending.startswith("`i-0123456789abcdef0` (本番-決済-web-")
    assert ("（2時間30分）へのリクエスト *R00000004* （R00000099 の延長） をポリシー 'production-決済' "
            "で申請しました。") in pending
    assert "<#C0SREAPPR> で承認段階 1/2（" in pending
    assert "承認されると、2026/12/07 7:00:00 JST にアクセスが始まります。" in pending
    assert pending.endswith("\n:warning: このノードの SSM エージェントの状態は *ConnectionLost* です。"
                            "接続できない可能性があります。")
    granted = replies.submitted(_request(5, State.ACTIVE), ZONE, ja)
    assert granted.startswith(":unlock: *R00000005* （R00000099 の延長）: `i-0123456789abcdef0`")
    assert "へのアクセスを 2026/12/07 0:00:00 JST まで付与しました（ポリシー 'production-決済'）。" in granted


def test_help_lists_every_usage_as_typed_in_both_languages(ja: Tr) -> None:
    for tr in (ENGLISH, ja):
        text = replies.help_text(tr)
        assert all(f"`{usage.replace('<', '&lt;').replace('>', '&gt;')}`" in text for usage in USAGE.values())
        assert len(text) < 4000
    assert "`/jit request web-1 2時間 /var のディスクがいっぱい`" in replies.help_text(ja)


def test_nodes_and_released_in_japanese(ja: Tr) -> None:
    assert replies.nodes([], "<!here>", ja) == \
        "'&lt;!here&gt;' に一致するノードのうち、あなたがリクエストできるものはありません。"
    assert replies.nodes([], "", ja) == "あなたがリクエストできるノードはありません。"
    ended = _request(6, State.EXPIRED, needs_cleanup=True)
    assert replies.released(ended, ja).startswith("アクセス *R00000006* を終了しました。AWS での権限の削除は")
    assert replies.released(ended, ENGLISH).startswith("Your access *R00000006* has ended. AWS has not confirmed")
