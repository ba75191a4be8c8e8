"""``/jit`` answers in the language of the person acting: Japanese for a ja-JP Slack profile under
``language = "auto"``, English for an en-US one; Japanese durations (``2時間``) are accepted as typed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.model import State
from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from handlers import ids
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, request

AUTO = REPO_POLICIES.read_text("utf-8").replace("[settings]\n", '[settings]\nlanguage = "auto"\n', 1)


def _speaks_japanese(stack: Stack, user: str) -> None:
    info = cast.USERS[user]
    stack.slack.workspace.add_user(user, str(info["email"]), str(info["name"]), str(info.get("title", "")),
                                   locale="ja-JP")


@pytest.fixture
def auto(stack_factory) -> Stack:  # type: ignore[no-untyped-def]
    stack: Stack = stack_factory(AUTO)
    _speaks_japanese(stack, cast.BOB)
    _speaks_japanese(stack, cast.SAM)
    return stack


def _ask(stack: Stack, user: str, text: str) -> str:
    return str(slack.slash(stack, user, text)["text"])


def test_each_answer_is_in_the_language_of_the_person_acting(auto: Stack) -> None:
    help_ja = _ask(auto, cast.BOB, "help")
    assert help_ja.startswith("*jitbot* は、承認を得たうえで") and "gives you" not in help_ja
    assert "• `/jit status &lt;request id&gt;`" in help_ja  # the syntax stays as it is typed
    assert "`/jit request web-1 2時間 /var のディスクがいっぱい`" in help_ja
    help_en = _ask(auto, cast.ALICE, "help")
    assert help_en.startswith("*jitbot* gives you temporary, approved SSM access to a node (or a few, where a "
                              "policy allows).")
    assert "• `/jit status &lt;request id&gt;`" in help_en

    assert _ask(auto, cast.BOB, "list") == "承認待ちや有効なリクエストはありません。"
    assert _ask(auto, cast.ALICE, "list") == "You have no pending or active requests."

    assert _ask(auto, cast.BOB, "list mine") == ":warning: `/jit list` は引数を取りません。使い方: `/jit list`"
    assert _ask(auto, cast.ALICE, "list mine") == ":warning: `/jit list` takes no arguments. Usage: `/jit list`"
    assert _ask(auto, cast.BOB, "frobnicate") == \
        ":warning: 'frobnicate' というサブコマンドはありません。`/jit help` をご覧ください。"
    assert _ask(auto, cast.BOB, "status x!").startswith(":warning: 'x!' はリクエスト ID（R7K3Q9XAB のような形式）")

    # a duration that is not one: refused in the reader's language, nothing asked of core
    assert _ask(auto, cast.BOB, "explain dev-1 5x") == (
        ":warning: ノード（1 台、カンマ区切りの一覧、またはタグ指定）と、必要なら期間を指定してください。"
        "使い方: `/jit explain &lt;node&gt;[,&lt;node&gt;…] [duration]`")
    assert _ask(auto, cast.ALICE, "explain dev-1 5x") == (
        ":warning: The nodes (one, a list or a tag selector), then an optional duration. "
        "Usage: `/jit explain &lt;node&gt;[,&lt;node&gt;…] [duration]`")
    assert _ask(auto, cast.BOB, "request dev-1 at 2026-12-07 ディスク").startswith(
        ":warning: 日付の後に時刻を指定してください: `at 2026-12-07 09:30`。使い方: `/jit request")
    assert stack_requests(auto, cast.BOB) == 0


def stack_requests(stack: Stack, user: str) -> int:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return len(uow.repo.by_requester(user, limit=1000))


def test_a_request_for_2時間_is_a_two_hour_request_answered_in_japanese(auto: Stack) -> None:
    answer = _ask(auto, cast.BOB, "request dev-1 2時間 ディスク使用量の調査")
    assert answer.startswith(":unlock: *R") and "へのアクセスを" in answer and "まで付与しました" in answer
    rid = answer.split("*")[1]
    made = request(auto, rid)
    assert made.duration == timedelta(hours=2) and made.state is State.ACTIVE
    assert made.reason == "ディスク使用量の調査"

    listed = _ask(auto, cast.BOB, "list")
    assert listed.startswith(f"*{rid}* · `{auto.nodes['dev-1']}` (dev-1) · 2時間 · *有効* · ")
    assert listed.endswith("まで")
    status = _ask(auto, cast.BOB, f"status {rid}")
    assert status.startswith(f"*{rid}* · `{auto.nodes['dev-1']}` (dev-1) · 2時間 · *有効* · ")
    assert "2h" not in listed + status

    # full-width digits and minutes: an extension of ３０分
    extended = _ask(auto, cast.BOB, f"extend {rid} ３０分 まだ調査中")
    assert f"（{rid} の延長）" in extended
    assert request(auto, extended.split("*")[1]).duration == timedelta(minutes=30)

    # the Release button answers the clicker in their language too
    new_id = extended.split("*")[1]
    released = auto.click(cast.BOB, ids.RELEASE, new_id)
    assert released.startswith(f"アクセス *{new_id}* を終了しました。")


def test_an_english_person_reads_english_durations(auto: Stack) -> None:
    answer = _ask(auto, cast.ALICE, "request web-1 2時間30分 deploy hotfix ticket=CHG-1")
    rid = answer.split("*")[1]
    assert request(auto, rid).duration == timedelta(hours=2, minutes=30)
    assert answer.startswith(f"Request *{rid}* for `{auto.nodes['web-1']}` (web-1) (2h 30m) submitted under policy")
    assert _ask(auto, cast.ALICE, "list").startswith(
        f"*{rid}* · `{auto.nodes['web-1']}` (web-1) · 2h 30m · *pending* · level 1/2 ('SRE lead')")

    approval_post(auto, "C0SREAPPR")
    waiting = slack.slash(auto, cast.SAM, "pending")
    assert waiting["text"] == "1 件のリクエストがあなたの判断を待っています。"
    assert waiting["blocks"][0]["text"]["text"] == "あなたの判断待ち（1 件）"
    card = waiting["blocks"][1]["text"]["text"]
    assert f"*{rid}* · <@{cast.ALICE}> が `{auto.nodes['web-1']}` (web-1) へのアクセスを 2時間30分 申請しています" \
           " · チケット CHG-1\n>deploy hotfix\n承認段階 1/2（'SRE lead'）· 待ち時間 " in card

    assert auto.click(cast.ALICE, ids.CANCEL, rid) == f"Request *{rid}* is cancelled."


def test_a_bad_duration_in_a_request_is_refused_in_japanese(auto: Stack) -> None:
    assert _ask(auto, cast.BOB, "request dev-1 5x 調査").startswith(":warning: '5x' は期間として読み取れません")
