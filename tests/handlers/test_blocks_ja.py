"""Every Block Kit builder of the approval messages, the digest, the App Home and the modals, rendered in Japanese and
in English with long realistic values, stays within Slack's limits (slack_sdk.models validates it), speaks the
reader's language, and keeps its values (button values, option values) the same in both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.checks import MAX_REASON, MAX_TICKET
from core.digest import daily_digest
from core.i18n import ENGLISH, Catalogs, Tr
from core.model import AccessRequest, Decision, Kind, LevelSnapshot, Node, NodeSession, Review, State
from core.policy.evaluate import Verdict
from core.policy.loader import parse_policies
from core.queries import Requestable, duration_choices
from handlers import digest_blocks, home, ids, replies, request_view
from handlers.blocks import (
    approval_blocks,
    approval_text,
    breakglass_blocks,
    breakglass_text,
    decide_buttons,
    escalation_text,
    request_buttons,
)
from handlers.request_view import Meta
from handlers.views import RejectModal, ReviewModal, metadata, modal_metadata
from tests.fakes_core import FakeWorld, seed_history
from tests.helpers import valid_blocks, valid_view

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Tokyo")
JA = Catalogs().get("ja")
#: the longest reason the form accepts, in Japanese and with characters Slack would otherwise read as markup
REASON = ("本番DBのレプリケーション遅延を調査し、<!channel> 必要なら & フェイルオーバーします。" * 40)[:MAX_REASON]
TICKET = ("OPS-" + "9" * 200)[:MAX_TICKET]
NODE = Node("i-0123456789abcdef0", "123456789012", "ap-northeast-1",
            name="prod-payments-database-primary-replica-" + "x" * 200, tags={"Environment": "prod"},
            ping_status="ConnectionLost")
#: many approvers: people and user groups
APPROVERS = tuple(f"U0APPR{i:04d}" for i in range(60)) + tuple(f"S0GROUP{i:03d}" for i in range(20))
LEVELS = (
    LevelSnapshot("オンコール SRE リード " + "長" * 150, "C0SREAPPR", APPROVERS, 3, timedelta(minutes=30),
                  (*(f"U0FALL{i:04d}" for i in range(40)), "pagerduty:PXXXXXX", "idc-group:platform-oncall"),
                  "C0ESCALAT"),
    LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01", "U0DAVE001"), 2),
)
POLICIES = parse_policies("""
[[manual_approval]]
name = "production-payments"
description = "Production payment systems: two levels of approval, a change ticket, scheduled starts."
targets = { tags = { Environment = "prod" } }
max_duration = "8h"
default_duration = "1h"
ticket_pattern = "OPS-[0-9]+"
max_start_ahead = "7d"
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
  [[manual_approval.levels]]
  name = "Manager"
  channel = "C0MGRAPPR"
  approvers = ["U0CAROL01"]
""")
LANGUAGES = pytest.mark.parametrize("tr", [ENGLISH, JA], ids=["en", "ja"])


def a_request(number: int = 1, state: State = State.PENDING, **changes: object) -> AccessRequest:
    request = AccessRequest(
        id=f"R{number:08d}", requester="U0ALICE01", principal_arn="arn:aws:iam::123456789012:role/alice",
        node=NODE, reason=REASON, duration=timedelta(hours=7, minutes=45), policy="production-payments-" + "p" * 150,
        kind=Kind.MANUAL, levels=LEVELS, state=state, created_at=NOW - timedelta(hours=3), ticket=TICKET,
        extends="R00000000" if number % 2 else None,
        granted_at=NOW - timedelta(minutes=5) if state is State.ACTIVE else None,
        expires_at=NOW + timedelta(hours=2, minutes=30) if state is State.ACTIVE else None,
        ended_at=NOW if state.is_final else None,
        end_reason=("権限の取り消し: " + REASON)[:1000] if state.is_final else None, ended_by="U0SAM0001",
    )
    return request.with_changes(**changes)


def decisions(request: AccessRequest) -> list[Decision]:
    return [Decision(request.id, 0, f"U0APPR{i:04d}", i != 1, NOW - timedelta(minutes=i), comment=REASON,
                     duration=timedelta(hours=2, minutes=i) if i % 2 == 0 else None) for i in range(3)]


def _text(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


@LANGUAGES
@pytest.mark.parametrize("state", [State.PENDING, State.APPROVED, State.REJECTED, State.CANCELLED, State.TIMED_OUT,
                                   State.FAILED, State.REVOKED])
def test_approval_message_within_limits(tr: Tr, state: State) -> None:
    request = a_request(state=state, escalated_level=0)
    for escalation in (False, True):
        blocks = valid_blocks([b.to_dict() for b in approval_blocks(tr, request, 0, decisions(request), ZONE,
                                                                    escalation=escalation)])
        text = _text(blocks)
        assert "<!channel>" not in text and "&lt;!channel&gt;" in text
        assert ("アクセス申請" in text) is (tr is JA) and ("Access request" in text) is (tr is ENGLISH)
    for fallback in (approval_text(tr, request, 0), escalation_text(tr, request, 0)):
        assert len(fallback) < 4000 and request.id in fallback


def test_approval_message_in_japanese_reads_japanese_with_the_same_values() -> None:
    request = a_request(escalated_level=0, duration=timedelta(hours=2, minutes=30), extends=None)
    made = {tr.language: [b.to_dict() for b in approval_blocks(tr, request, 0, decisions(request), ZONE)]
            for tr in (ENGLISH, JA)}
    ja = _text(made["ja"])
    for words in ("*レベル 1/2: オンコール SRE リード", "· 承認 2/3", "*期間*\\n2時間30分", "*申請者*\\n<@U0ALICE01>",
                  "現時点の承認は最長 2時間 です（<@U0APPR0000> が選択）",
                  ":white_check_mark: <@U0APPR0000> が 2026/12/07 10:00:00 JST に 2時間 で承認",
                  ":x: <@U0APPR0001> が 2026/12/07 9:59:00 JST に却下", "からの承認をあと 1 件待っています",
                  "エスカレーション先: <@U0FALL0000>、"):
        assert words in ja, words
    assert "*Duration*\\n2h 30m" in _text(made["en"])

    def values(blocks: list[dict]) -> list[object]:
        return [(e["action_id"], e.get("value"), [o["value"] for o in e.get("options", [])])
                for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert values(made["ja"]) == values(made["en"]) != []
    buttons = [e for b in made["ja"] if b["type"] == "actions" for e in b["elements"]]
    assert [e.get("text", {}).get("text") or e["placeholder"]["text"] for e in buttons] == [
        "承認", "期間を短くして承認…", "却下"]
    assert [o["text"]["text"] for o in buttons[1]["options"]][:2] == ["15分 で承認", "30分 で承認"]


def test_counted_approvals_read_as_english_plurals_and_japanese_counters() -> None:
    one = LevelSnapshot("SRE lead", "C0SREAPPR", ("U0SAM0001",), 1)
    single = _text([b.to_dict() for b in approval_blocks(ENGLISH, a_request(levels=(one,)), 0, [], ZONE)])
    assert "· 0/1 approval\"" in single and "Waiting for 1 more approval from <@U0SAM0001>\"" in single
    waiting = a_request(escalated_level=None)
    many = _text([b.to_dict() for b in approval_blocks(ENGLISH, waiting, 0, [], ZONE)])
    assert "· 0/3 approvals\"" in many and ":hourglass: Waiting for 3 more approvals from <@U0APPR0000>" in many
    escalated = _text([b.to_dict() for b in approval_blocks(ENGLISH, a_request(escalated_level=0), 0,
                                                            decisions(a_request()), ZONE)])
    assert "· 2/3 approvals" in escalated and "Waiting for 1 more approval from <@U0APPR0000>" in escalated
    assert ", or (escalated) <@U0FALL0000>" in escalated
    ja = _text([b.to_dict() for b in approval_blocks(JA, waiting, 0, [], ZONE)])
    assert "· 承認 0/3" in ja and "からの承認をあと 3 件待っています" in ja


def test_counted_sessions_and_pending_requests_in_both_forms() -> None:
    granted = [a_request(300 + i, State.EXPIRED, granted_at=NOW - timedelta(hours=1)) for i in range(3)]
    held = {r.id: [NodeSession(f"alice-{r.id}-{n}", r.id, "U0ALICE01", "Terminated") for n in range(i)]
            for i, r in enumerate(granted)}
    data = home.HomeData(for_me=[], mine=[], history=granted, now=NOW, zone=ZONE, sessions=held)
    text = _text(home.build(ENGLISH, data).to_dict())
    assert "· 0 sessions" in text and "· 1 session\\n" in text and "· 2 sessions\\n" in text
    assert "セッション 1 件" in _text(home.build(JA, data).to_dict())
    assert replies.pending([a_request()], ZONE, NOW, ENGLISH).text == "1 request waits for your decision."
    assert replies.pending([a_request(1), a_request(2)], ZONE, NOW, ENGLISH).text == \
        "2 requests wait for your decision."
    assert replies.pending([a_request(1), a_request(2)], ZONE, NOW, JA).text == \
        "2 件のリクエストがあなたの判断を待っています。"


@LANGUAGES
def test_buttons_of_the_requester_and_the_decision_card(tr: Tr) -> None:
    block = request_buttons(tr, "R00000001", ids.EXTEND, ids.RELEASE, ids.CANCEL, block_id="mine").to_dict()
    valid_blocks([block, decide_buttons(tr, "R00000001", "decide", [timedelta(minutes=15)]).to_dict()])
    assert [e["value"] for e in block["elements"]] == ["R00000001"] * 3
    labels = [e["text"]["text"] for e in block["elements"]]
    japanese = ["延長…", "今すぐ解放", "申請を取り下げ"]
    assert labels == (japanese if tr is JA else ["Extend…", "Release now", "Cancel request"])


@LANGUAGES
def test_breakglass_alert_and_review_within_limits(tr: Tr) -> None:
    for state in (State.ACTIVE, State.FAILED, State.REVOKED):
        request = a_request(state=state)
        review = Review(request.id, "U0SAM0001", NOW, False, "確認しました " + REASON)
        for here in (True, False):
            alert = valid_blocks([b.to_dict() for b in breakglass_blocks(tr, request, APPROVERS, ZONE, here=here)])
            assert ("ブレークグラス" in _text(alert)) is (tr is JA)
            valid_blocks([b.to_dict() for b in breakglass_blocks(tr, request, APPROVERS, ZONE, here=here,
                                                                 review=review)])
            assert request.id in breakglass_text(tr, request, APPROVERS, here)


@LANGUAGES
def test_home_with_many_long_requests_within_limits(tr: Tr) -> None:
    data = home.HomeData(
        for_me=[a_request(i) for i in range(40)],
        mine=[a_request(100 + i, State.ACTIVE if i % 3 == 0 else State.PENDING if i % 3 == 1 else State.APPROVED,
                        starts_at=NOW + timedelta(days=2)) for i in range(40)],
        history=[a_request(200 + i, [State.REJECTED, State.EXPIRED, State.TIMED_OUT][i % 3],
                           granted_at=NOW - timedelta(hours=1) if i % 3 == 1 else None) for i in range(10)],
        now=NOW, zone=ZONE)
    view = home.build(tr, data).to_dict()
    valid_view(view)
    assert len(view["blocks"]) <= 100
    text = _text(view)
    if tr is JA:
        for words in ("自分宛ての申請", "古い順に 15 件のみ表示", "新しい順に 15 件のみ表示", "残り 2時間30分",
                      "2026/12/07 12:30:00 JST", "承認済み・予約", "タイムアウト", "セッション 0 件", "アクセスを申請"):
            assert words in text, words
    else:
        assert "2h 30m left" in text and "Only the oldest 15 are shown" in text and "timed out" in text


@LANGUAGES
def test_request_modals_within_limits_and_parsed_whatever_their_language(tr: Tr) -> None:
    policy = POLICIES.manual_approval[0]
    found = Requestable(NODE, Verdict("manual", policy, "Needs approval"))
    choices = duration_choices(policy.max_duration, policy.duration_default)
    fresh = request_view.build(tr, meta=Meta(response_url="https://hooks.example/x"), choices=choices,
                               default=policy.duration_default).to_dict()
    picked = request_view.build(tr, meta=Meta(), policy=policy, node=found, choices=choices,
                                default=policy.duration_default).to_dict()
    extension = request_view.build(tr, meta=Meta(extends="R00000101"), policy=policy, extending=a_request(
        101, State.ACTIVE), zone=ZONE, choices=choices, default=policy.duration_default).to_dict()
    for view in (fresh, picked, extension, request_view.blocked(tr, "x" * 5000).to_dict()):
        valid_view(view)
        assert len(view["title"]["text"]) <= 24
    duration = next(b for b in picked["blocks"] if b.get("block_id", "").startswith(ids.DURATION_BLOCK))
    assert [o["value"] for o in duration["element"]["options"]] == ["15m", "30m", "1h", "1h30m", "2h", "3h", "4h",
                                                                     "6h", "8h"]
    start = next(b for b in picked["blocks"] if b.get("block_id") == ids.START_BLOCK)
    assert len(start["hint"]["text"]) <= 150
    if tr is JA:
        assert picked["title"]["text"] == "アクセスを申請" and extension["title"]["text"] == "アクセスを延長"
        assert duration["element"]["options"][2]["text"]["text"] == "1時間（既定）"
        assert "最長 7日" in start["hint"]["text"]
        assert "*R00000101* を延長します" in _text(extension)
    submitted = {"state": {"values": {
        # the single select of a form opened before the picker took several: still read
        ids.NODE_BLOCK: {ids.NODE_INPUT: {"selected_option": picked["blocks"][0]["element"]["initial_options"][0]}},
        duration["block_id"]: {ids.DURATION_INPUT: {"selected_option": duration["element"]["options"][3]}},
        ids.REASON_BLOCK: {ids.REASON_INPUT: {"value": REASON}},
        ids.TICKET_BLOCK: {ids.TICKET_INPUT: {"value": "OPS-1"}}}}}
    form = request_view.parse(submitted)
    assert (form.node, form.duration, form.reason, form.ticket) == (
        "123456789012/ap-northeast-1/i-0123456789abcdef0", "1h30m", REASON, "OPS-1")


FLEET = parse_policies("""
[[manual_approval]]
name = "payments-fleet-""" + "f" * 60 + """"
description = "Every payments node, at once: rolling restarts and fleet-wide checks."
targets = { tags = { Environment = "prod" } }
max_duration = "8h"
max_nodes = 20
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
""").manual_approval[0]


@LANGUAGES
def test_request_modal_with_many_nodes_picked_within_limits_and_parsed(tr: Tr) -> None:
    """The picker with its 20 nodes picked (long names, long policy names), after the first node's policy."""
    found = Requestable(NODE, Verdict("manual", FLEET, "Needs approval"))
    others = [Node(f"i-{i:017x}", "123456789012", "ap-northeast-1", name=f"prod-payments-{i:02d}-" + "y" * 200)
              for i in range(1, 20)]
    sent_back = [request_view.node_option(tr, Requestable(n, found.verdict)).to_dict() for n in others]
    more = [kept for kept in map(request_view.kept_option, [*sent_back, {"value": "x" * 151, "text": {"text": "t"}},
                                                            {"value": 7}, {}]) if kept is not None]
    assert len(more) == 19  # what Slack could not have sent is dropped
    choices = duration_choices(FLEET.max_duration, FLEET.duration_default)
    view = request_view.build(tr, meta=Meta(), policy=FLEET, node=found, more=more, choices=choices,
                              default=FLEET.duration_default).to_dict()
    valid_view(view)
    picker = view["blocks"][0]
    element = picker["element"]
    assert element["type"] == "multi_external_select" and element["max_selected_items"] == 20
    assert len(element["initial_options"]) == 20 and picker["dispatch_action"] is True
    for option in element["initial_options"]:
        assert len(option["text"]["text"]) <= 75 and len(option["description"]["text"]) <= 75
        assert len(option["value"]) <= 150
    assert len(picker["hint"]["text"]) <= 2000 and len(element["placeholder"]["text"]) <= 150
    policy = next(b for b in view["blocks"] if b.get("block_id") == ids.POLICY_BLOCK)
    assert len(policy["elements"][0]["text"]) <= 3000
    if tr is JA:
        assert picker["label"]["text"] == "ノード" and "複数選べる" in picker["hint"]["text"]
        assert "最大 20 台" in policy["elements"][0]["text"]
    else:
        assert picker["label"]["text"] == "Nodes" and "Up to 20 of its nodes in one request." in _text(policy)
    state = {"type": "multi_external_select", "selected_options": element["initial_options"]}
    form = request_view.parse({"state": {"values": {ids.NODE_BLOCK: {ids.NODE_INPUT: state}}}})
    assert form.node == ",".join(["123456789012/ap-northeast-1/i-0123456789abcdef0",
                                  *(f"123456789012/ap-northeast-1/{n.id}" for n in others)])
    nothing = {"type": "multi_external_select", "selected_options": []}
    assert request_view.parse({"state": {"values": {ids.NODE_BLOCK: {ids.NODE_INPUT: nothing}}}}).node == ""


@LANGUAGES
def test_reject_and_review_modals_answer_in_the_language_they_were_built_in(tr: Tr) -> None:
    request = a_request()
    for modal in (RejectModal, ReviewModal):
        view = modal.build(tr, request, metadata(request.id, "https://hooks.example/r")).to_dict()
        valid_view(view)
        assert modal_metadata(view) == (request.id, "https://hooks.example/r")
        errors, _ = modal.check({**view, "state": {"values": {}}})
        said = " ".join(errors.values())
        assert said and (any("\u3040" <= c <= "\u30ff" for c in said) is (tr is JA)), said
    assert RejectModal.check({"state": {"values": {}}})[0] == {ids.REASON_BLOCK: "Please say why you reject it."}


@LANGUAGES
def test_digest_within_limits_in_both_languages(tr: Tr) -> None:
    world = FakeWorld(start=NOW)
    seed_history(world.ctx.uow)
    for _ in range(30):
        world.grant(timedelta(hours=2))
    for _ in range(30):
        world.add(state=State.REJECTED, ended_at=NOW - timedelta(hours=1), end_reason=REASON, ended_by="U0SAM0001")
    world.clock.advance(minutes=1)
    digest = daily_digest(world.ctx)
    blocks = valid_blocks([b.to_dict() for b in digest_blocks.digest_blocks(tr, digest)])
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(s) <= 3000 for s in sections)
    text, plain = _text(blocks), digest_blocks.plain_text(tr, digest)
    if tr is JA:
        for words in ("jitbot 日次ダイジェスト", "過去 24 時間", "新規申請:", "現在有効", "要対応", "… ほか "):
            assert words in text, words
        assert "過去 24 時間" in plain and "<@" not in plain
        assert "新規申請" in digest_blocks.digest_text(tr, digest)
    else:
        assert "Last 24 hours" in text and "Last 24 hours" in plain
