"""Japanese on Slack, over signed HTTP: under ``language = "auto"`` a ja-JP person's App Home, request modal and
reject modal are in Japanese (an en-US person's stay English) and submitting the Japanese modal still records the
request; with ``channel_language = "ja"`` the approval messages are Japanese and their buttons still decide."""

from __future__ import annotations

import json
import time

import pytest

from core.model import State
from fakes import cast
from fakes.stack import Stack, _default_policies
from handlers import ids
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, button_value, eventually, request, valid_blocks, valid_view


def _policies(**settings: str) -> str:
    """The repository's policy file with these ``[settings]`` added."""
    lines = "".join(f'{key} = "{value}"\n' for key, value in settings.items())
    return _default_policies().replace("[settings]\n", "[settings]\n" + lines, 1)


def _japanese(stack: Stack, *users: str) -> None:
    """``users`` read Slack in Japanese (users.info answers their locale ja-JP)."""
    for user in users:
        info = cast.USERS[user]
        stack.slack.workspace.add_user(user, str(info["email"]), str(info["name"]), str(info.get("title") or ""),
                                       locale="ja-JP")


def _home(stack: Stack, user: str, *needles: str) -> dict:
    t0 = time.time()
    assert slack.sim(stack).event({"type": "app_home_opened", "user": user, "channel": f"D{user}",
                                   "tab": "home"}).status == 200
    stack.slack.wait_for(lambda c: c.method == "views.publish" and c.params.get("user_id") == user and c.at >= t0,
                         timeout=10)
    view = eventually(lambda: (v := slack.home_view(stack, user)) and all(n in json.dumps(v, ensure_ascii=False)
                                                                          for n in needles) and v,
                      timeout=10, what=f"home of {user} showing {needles}")
    valid_view({k: view[k] for k in ("type", "blocks")})
    return view  # type: ignore[no-any-return]


@pytest.fixture
def auto(stack_factory: object) -> Stack:
    stack: Stack = stack_factory(_policies(language="auto"))  # type: ignore[operator]
    _japanese(stack, cast.ALICE, cast.SAM)
    return stack


def test_a_japanese_person_gets_home_and_modal_in_japanese_and_the_request_is_recorded(auto: Stack) -> None:
    stack = auto
    home = _home(stack, cast.ALICE, "自分宛ての申請", "自分のアクセス", "最近の履歴")
    assert next(e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"])["text"]["text"] == \
        "アクセスを申請"
    english = _home(stack, cast.CAROL, "Requests for me", "Nothing is waiting for your decision")
    assert "自分" not in json.dumps(english, ensure_ascii=False)

    t0 = time.time()
    view = slack.request_form(stack, cast.ALICE, t0)
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("アクセスを申請", "申請",
                                                                                      "キャンセル")
    web = next(o for o in slack.options(stack, cast.ALICE, view, "web-1")
               if o["text"]["text"] == f"web-1 ({stack.nodes['web-1']})")
    assert web["description"]["text"].startswith("production: SRE lead → Manager の承認、最長 4時間")
    view = slack.pick(stack, cast.ALICE, view, web, t0)
    duration = slack.duration_block(view)
    assert duration["label"]["text"] == "期間"
    options = {o["value"]: o["text"]["text"] for o in duration["element"]["options"]}
    assert options["1h"] == "1時間（既定）" and options["1h30m"] == "1時間30分" and options["4h"] == "4時間（最長）"

    # the values are ids, not the Japanese labels: the submission parses whatever language the form is in
    response = slack.submit(stack, cast.ALICE, view, node=web, duration="1h30m", reason="証明書を更新します")
    assert response.status == 200 and not response.body, response.body
    post = approval_post(stack, "C0SREAPPR")
    rid = button_value(post, ids.APPROVE)
    made = request(stack, rid)
    assert (made.requester, made.node.id, made.reason, made.duration.total_seconds()) == (
        cast.ALICE, stack.nodes["web-1"], "証明書を更新します", 5400)
    assert post["text"].startswith(f"Access request {rid}")  # channel messages: English under "auto"

    mine = _home(stack, cast.ALICE, rid, "レベル 1/2（'SRE lead'）の承認待ち")
    cancel = next(e for b in mine["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == ids.CANCEL)
    assert (cancel["text"]["text"], cancel["value"], cancel["confirm"]["deny"]["text"]) == (
        "申請を取り下げ", rid, "そのままにする")
    decide = _home(stack, cast.SAM, rid, "証明書を更新します")
    approve = next(e for b in decide["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == ids.APPROVE and e["value"] == rid)
    assert approve["text"]["text"] == "承認"


def test_a_japanese_approver_rejects_through_the_japanese_modal(auto: Stack) -> None:
    stack = auto
    stack.slash(cast.ALICE, "request web-1 1h deploy hotfix")
    rid = button_value(approval_post(stack, "C0SREAPPR"), ids.APPROVE)
    assert stack.sim is not None
    t0 = time.time()
    assert stack.sim.block_action(cast.SAM, ids.REJECT, rid, trigger_id="T123").status == 200
    opened = slack.opened_view(stack, t0)
    assert opened["callback_id"] == ids.REJECT_VIEW and opened["title"]["text"] == "申請を却下"
    assert f"*{rid}* を却下しますか？" in str(opened["blocks"])
    meta = opened["private_metadata"]
    empty = stack.sim.view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: " "}},
                                      private_metadata=meta)
    assert empty.json() == {"response_action": "errors",
                            "errors": {ids.REASON_BLOCK: "却下の理由を入力してください。"}}
    assert request(stack, rid).state is State.PENDING
    why = "手順書を使ってください"
    stack.sim.view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: why}},
                              private_metadata=meta)
    rejected = eventually(lambda: (r := request(stack, rid)).state is State.REJECTED and r, what="rejection")
    assert rejected.end_reason == why


def test_channel_language_ja_makes_approval_messages_japanese_and_their_buttons_work(stack_factory: object) -> None:
    stack: Stack = stack_factory(_policies(channel_language="ja"))  # type: ignore[operator]
    stack.slash(cast.ALICE, "request web-1 1h rotate the certificates")
    post = approval_post(stack, "C0SREAPPR")
    rid = button_value(post, ids.APPROVE)
    assert post["text"].startswith(f"アクセス申請 {rid}: <@{cast.ALICE}> が ")
    assert "1時間" in post["text"]
    text = json.dumps(post["blocks"], ensure_ascii=False)
    for words in (f"アクセス申請 {rid}", "*レベル 1/2: SRE lead* · 承認 0/1", "*申請者*",
                  "*理由*\\nrotate the certificates", "<!subteam^S0SRELEAD> からの承認をあと 1 件待っています"):
        assert words in text, words
    buttons = {e["action_id"]: e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert buttons[ids.APPROVE]["text"]["text"] == "承認" and buttons[ids.REJECT]["text"]["text"] == "却下"
    shorter = buttons[ids.APPROVE_FOR]
    assert shorter["placeholder"]["text"] == "期間を短くして承認…"
    assert [o["text"]["text"] for o in shorter["options"]] == ["15分 で承認", "30分 で承認"]
    assert [o["value"] for o in shorter["options"]] == [f"{rid}:900", f"{rid}:1800"]

    stack.click(cast.SAM, ids.APPROVE, rid)  # the Japanese button decides like the English one
    assert request(stack, rid).current_level == 1
    level2 = approval_post(stack, "C0MGRAPPR")
    assert "*レベル 2/2: Manager* · 承認 0/2" in json.dumps(level2["blocks"], ensure_ascii=False)
    ts = next(c.response["ts"] for c in stack.slack.messages("C0SREAPPR")  # type: ignore[index]
              if c.params.get("blocks") and not c.params.get("thread_ts"))
    done = eventually(lambda: (m := stack.slack.message("C0SREAPPR", ts)) and "承認済み" in str(m["blocks"]) and m,
                      timeout=10, what="level 1 updated in Japanese")
    valid_blocks(done["blocks"])
    assert f"<@{cast.SAM}> が " in json.dumps(done["blocks"], ensure_ascii=False)
    assert not [b for b in done["blocks"] if b["type"] == "actions"]
    assert stack.sim is not None
    t0 = time.time()  # Reject opens its modal in the clicker's language (language = "en"), not the channel's
    assert stack.sim.block_action(cast.CAROL, ids.REJECT, rid, channel_id="C0MGRAPPR", trigger_id="T1").status == 200
    assert slack.opened_view(stack, t0)["title"]["text"] == "Reject request"
