"""The App Home and request-modal builders (pure), safe text clipping, and the home refresher."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.i18n import ENGLISH
from core.model import AccessRequest, Kind, LevelSnapshot, Node, State
from core.policy.evaluate import Verdict
from core.policy.loader import parse_policies
from core.queries import Requestable, duration_choices
from handlers import ids, request_view
from handlers.deadline import Late, within
from handlers.home import MAX_FOR_ME, MAX_MINE, HomeData, build
from handlers.refresher import HomeRefresher
from handlers.request_view import Meta
from handlers.text import clip, left, safe
from tests.helpers import eventually, valid_view

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Tokyo")
HOSTILE = "<!channel> <@U0CAROL01> <https://evil|click> *bold* & " + "é<>&🙂" * 400
POLICIES = parse_policies("""
[[manual_approval]]
name = "production"
targets = { tags = { Environment = "prod" } }
max_duration = "4h"
default_duration = "1h"
ticket_pattern = "OPS-[0-9]+"
  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001"]
[[auto_approval]]
name = "dev"
targets = { tags = { Environment = "dev" } }
max_duration = "8h"
""")
NODE = Node("i-0123456789abcdef0", "123456789012", "us-east-1", name="web-1", tags={"Environment": "prod"})


def a_request(number: int, state: State = State.PENDING, reason: str = HOSTILE) -> AccessRequest:
    return AccessRequest(
        id=f"R{number:08d}", requester="U0ALICE01", principal_arn="arn:aws:iam::123456789012:role/alice",
        node=NODE, reason=reason, duration=timedelta(hours=1), policy="production", kind=Kind.MANUAL,
        levels=(LevelSnapshot("SRE lead", "C0SREAPPR", ("S0SRELEAD",), 1),
                LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01",), 1)),
        state=state, created_at=NOW - timedelta(minutes=5), ticket="<!here>",
        granted_at=NOW - timedelta(minutes=1) if state is State.ACTIVE else None,
        expires_at=NOW + timedelta(minutes=80) if state is State.ACTIVE else None,
        ended_at=NOW if state.is_final else None, end_reason="no <!channel> way" if state.is_final else None,
    )


def test_home_with_many_requests_stays_within_slack_limits() -> None:
    data = HomeData(
        for_me=[a_request(i) for i in range(40)],
        mine=[a_request(100 + i, State.ACTIVE if i % 2 else State.PENDING) for i in range(40)],
        history=[a_request(200 + i, State.REJECTED) for i in range(10)],
        now=NOW, zone=ZONE)
    view = build(ENGLISH, data).to_dict()
    valid_view(view)
    assert len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert f"Only the oldest {MAX_FOR_ME} are shown" in text and f"Only the newest {MAX_MINE} are shown" in text
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "1h 20m left" in text and "2025-03-03 19:20:00 JST" in text  # the configured zone
    actions = {e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert actions == {ids.OPEN_REQUEST, ids.APPROVE, ids.REJECT, ids.CANCEL, ids.EXTEND, ids.RELEASE}
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))


def test_empty_home() -> None:
    view = build(ENGLISH, HomeData([], [], [], NOW, ZONE)).to_dict()
    valid_view(view)
    text = json.dumps(view)
    assert "Nothing is waiting for your decision" in text and "You have no pending or active access" in text


@pytest.mark.parametrize("limit", [1, 2, 5, 6, 7, 50, 333, 1000])
def test_clip_never_cuts_an_escape_or_a_mention(limit: int) -> None:
    text = safe(HOSTILE, 10_000) + " <@U0ALICE01> <#C0AUDIT01>"
    clipped = clip(text, limit)
    assert len(clipped) <= max(limit, 1) and (clipped == text or clipped.endswith("…"))
    body = clipped.removesuffix("…")
    assert text.startswith(body)
    for entity in ("&amp", "&lt", "&gt", "&am", "&l", "&g", "&"):
        if body.endswith(entity):
            pytest.fail(f"cut inside an escape: {body[-10:]!r}")
    assert body.count("<") == body.count(">")


def test_safe_escapes_before_clipping() -> None:
    assert safe("<@U1> & x", 100) == "&lt;@U1&gt; &amp; x"
    assert safe(None, 10) == ""
    assert safe("<" * 100, 10) == "&lt;&lt;…"


def test_time_left() -> None:
    assert left(NOW + timedelta(minutes=80, seconds=30), NOW) == "1h 20m left"
    assert left(NOW + timedelta(seconds=45), NOW) == "45s left"
    assert left(NOW - timedelta(seconds=1), NOW) == "ended"
    assert left(None, NOW) == "-"


def test_request_modal_before_and_after_a_node_is_picked() -> None:
    fresh = request_view.build(ENGLISH, meta=Meta(response_url="https://hooks.example/x"),
                               choices=duration_choices(timedelta(hours=8), timedelta(hours=1)),
                               default=timedelta(hours=1)).to_dict()
    valid_view(fresh)
    assert Meta.loads(fresh["private_metadata"]) == Meta(response_url="https://hooks.example/x")
    production = POLICIES.manual_approval[0]
    found = Requestable(NODE, Verdict("manual", production, "Needs approval"))
    picked = request_view.build(ENGLISH, meta=Meta(), policy=production, node=found,
                                choices=duration_choices(production.max_duration, production.duration_default),
                                default=production.duration_default).to_dict()
    valid_view(picked)
    durations = [b for b in picked["blocks"] if b.get("block_id", "").startswith(ids.DURATION_BLOCK)]
    assert durations[0]["block_id"] != request_view.duration_block_id(POLICIES.auto_approval[0])
    assert [o["value"] for o in durations[0]["element"]["options"]][-1] == "4h"
    ticket = next(b for b in picked["blocks"] if b.get("block_id") == ids.TICKET_BLOCK)
    assert ticket["optional"] is False and "OPS-[0-9]+" in ticket["hint"]["text"]
    node = next(b for b in picked["blocks"] if b.get("block_id") == ids.NODE_BLOCK)
    assert [o["value"] for o in node["element"]["initial_options"]] == ["123456789012/us-east-1/i-0123456789abcdef0"]


def test_extension_modal_has_no_node_picker() -> None:
    old = a_request(7, State.ACTIVE)
    production = POLICIES.manual_approval[0]
    view = request_view.build(ENGLISH, meta=Meta(extends=old.id), policy=production, extending=old, zone=ZONE,
                              choices=duration_choices(production.max_duration, production.duration_default),
                              default=production.duration_default).to_dict()
    valid_view(view)
    assert view["title"]["text"] == "Extend access"
    assert not [b for b in view["blocks"] if b["type"] == "input" and b["block_id"] == ids.NODE_BLOCK]
    ticket = next(b for b in view["blocks"] if b.get("block_id") == ids.TICKET_BLOCK)
    assert ticket["element"]["initial_value"] == "<!here>"  # plain text input: shown as typed, never parsed
    assert "<!channel>" not in json.dumps(view)


def test_parse_submission_and_metadata() -> None:
    view = {"state": {"values": {
        ids.NODE_BLOCK: {ids.NODE_INPUT: {"selected_option": {"value": "123456789012/us-east-1/i-1"}}},
        "duration.abc": {ids.DURATION_INPUT: {"selected_option": {"value": "2h"}}},
        ids.REASON_BLOCK: {ids.REASON_INPUT: {"value": "why"}},
        ids.TICKET_BLOCK: {ids.TICKET_INPUT: {"value": None}}}}}
    form = request_view.parse(view)
    assert (form.node, form.duration, form.reason, form.ticket, form.duration_block) == (
        "123456789012/us-east-1/i-1", "2h", "why", None, "duration.abc")
    empty = request_view.parse({})
    assert (empty.node, empty.duration, empty.reason) == ("", None, "")
    for garbage in ("", "not json", "[1]", '{"extends": 5}'):
        assert Meta.loads(garbage).response_url is None


def test_duration_choices() -> None:
    assert duration_choices(timedelta(hours=4), timedelta(hours=1))[-1] == timedelta(hours=4)
    odd = duration_choices(timedelta(minutes=50), timedelta(minutes=20))
    assert odd == [timedelta(minutes=15), timedelta(minutes=20), timedelta(minutes=30), timedelta(minutes=50)]


def test_refresher_publishes_everyone_concerned_despite_failures() -> None:
    published: list[str] = []
    done = threading.Event()

    def publish(user: str) -> None:
        if user == "U0BROKEN":
            raise RuntimeError("views.publish failed")
        published.append(user)
        if {"U0ALICE01", "U0SAM0001", "U0TINA001"} <= set(published):
            done.set()

    groups = {"S0SRELEAD": {"U0SAM0001", "U0TINA001"}}
    refresher = HomeRefresher(lambda ps: {u for p in ps for u in groups.get(p, {p})}, publish, delay=0.01,
                              idle=0.2)
    refresher.schedule(["U0ALICE01", "U0BROKEN", ""])
    refresher.schedule(["S0SRELEAD"])
    assert done.wait(10)
    eventually(lambda: refresher._worker is None, what="the idle worker to end")
    refresher.schedule(["U0DAVE001"])  # a new worker starts on demand
    eventually(lambda: "U0DAVE001" in published, what="a later refresh")
    refresher.close()
    refresher.schedule(["U0ERIN001"])  # closed with its runtime: nothing more is published
    assert refresher._worker is None and "U0ERIN001" not in published


def test_within_returns_raises_or_gives_up() -> None:
    assert within(5, lambda: 42, "answer") == 42
    with pytest.raises(ValueError, match="bad"):
        within(5, lambda: (_ for _ in ()).throw(ValueError("bad")), "failure")
    release = threading.Event()
    with pytest.raises(Late):
        within(0.05, lambda: release.wait(10), "slow lookup")
    release.set()
