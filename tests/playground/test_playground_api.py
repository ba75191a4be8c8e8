"""The playground without a browser: its page comes from the package and fetches nothing from elsewhere, each act
reaches the bot as Slack's signed delivery and is seen by that person only, the clock moves the bot's Clock,
opening a session needs a grant, and the server acts only for its own page on the loopback address."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest

from bot.cli import main
from fakes import cast
from playground.clock import ShiftedClock
from tests.helpers import eventually
from tests.playground.conftest import Served

DM = f"D{cast.ALICE}"


def messages(served: Served, user: str, channel: str) -> list[dict[str, Any]]:
    status, state = served.get(f"/api/state?user={user}")
    assert status == 200, state
    return next(c["messages"] for c in state["channels"] if c["id"] == channel)


def test_the_page_comes_from_the_package_and_fetches_nothing_from_elsewhere(served: Served) -> None:
    status, html = served.get("/")
    assert status == 200 and '<script src="/static/app.js">' in html
    for name in ("index.html", "playground.css", "blockkit.js", "app.js"):
        shipped = resources.files("playground").joinpath("static", name).read_text("utf-8")
        assert "https://" not in shipped and "http://" not in shipped, name  # no CDN, no font service: offline
        status, body = served.get(f"/static/{name}")
        assert status == 200 and body == shipped
    assert re.findall(r'fetch\((["\'])(/[^"\']*)', resources.files("playground").joinpath(
        "static", "app.js").read_text("utf-8"))  # every fetch is to the playground itself
    assert served.get("/static/../world.py")[0] == 404


def test_a_command_reaches_the_bot_signed_and_only_its_author_sees_the_answer(served: Served) -> None:
    status, answer = served.post("/api/command", {"user": cast.ALICE, "channel": DM, "text": "/jit help"})
    assert (status, answer) == (200, {"ok": True})
    help_text = eventually(lambda: [m for m in messages(served, cast.ALICE, DM)
                                    if m.get("ephemeral") and "/jit request" in m["text"]], what="the help")
    assert help_text[0]["kind"] == "answer"
    assert [m["text"] for m in messages(served, cast.ALICE, DM) if m.get("kind") == "command"] == ["/jit help"]
    status, state = served.get(f"/api/state?user={cast.SAM}")
    assert all(c["messages"] == [] for c in state["channels"])  # Sam sees neither the line nor the answer
    assert served.world.stack.slack.calls_to("response_url")  # answered where Slack said, as Slack sees it


def test_a_request_made_in_the_form_is_approved_with_the_buttons(served: Served) -> None:
    """The node picker's typeahead asks the bot's options endpoint; a choice updates the form; the submission and
    the Approve button post Slack's payloads."""
    served.post("/api/command", {"user": cast.ALICE, "channel": DM, "text": "/jit request"})
    modal = eventually(lambda: served.get(f"/api/state?user={cast.ALICE}")[1]["modal"], what="the modal")
    view = modal["view"]
    status, found = served.post("/api/options", {"user": cast.ALICE, "view_id": view["id"], "block_id": "node",
                                                 "action_id": "node_input", "value": "dev", "state": {}})
    assert status == 200 and [o["text"]["text"].split(" ")[0] for o in found["options"]] == ["dev-1"]
    option = found["options"][0]
    state = {"node": {"node_input": {"type": "external_select", "selected_option": option}}}
    served.post("/api/action", {"user": cast.ALICE, "where": {"kind": "modal", "view_id": view["id"]},
                                "block_id": "node", "action": {"type": "external_select", "action_id": "node_input",
                                                               "selected_option": option}, "state": state})
    updated = eventually(lambda: (v := served.get(f"/api/state?user={cast.ALICE}")[1]["modal"]["view"])["hash"]
                         != view["hash"] and v, what="the form to follow the node's policy")
    duration = next(b for b in updated["blocks"] if b["block_id"].startswith("duration"))
    state[duration["block_id"]] = {"duration_input": {"type": "static_select",
                                                      "selected_option": duration["element"]["initial_option"]}}
    state["reason"] = {"reason_input": {"type": "plain_text_input", "value": ""}}
    status, refused = served.post("/api/submit", {"user": cast.ALICE, "view_id": view["id"], "state": state})
    assert status == 200 and refused["errors"]  # the bot's field error, shown in the form; the form stays
    state["reason"] = {"reason_input": {"type": "plain_text_input", "value": "run the migration"}}
    served.post("/api/submit", {"user": cast.ALICE, "view_id": view["id"], "state": state})
    assert served.get(f"/api/state?user={cast.ALICE}")[1]["modal"] is None
    card = eventually(lambda: [m for m in messages(served, cast.SAM, "C0SREAPPR") if "Access request" in m["text"]],
                      what="the approval message")[0]
    approve = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "jit_approve")
    status, answer = served.post("/api/action", {"user": cast.SAM, "where": {"kind": "message", "channel": "C0SREAPPR",
                                                                             "ts": card["ts"]},
                                                 "block_id": "decide-0", "action": approve, "state": {}})
    assert (status, answer) == (200, {"ok": True})
    eventually(lambda: [m for m in messages(served, cast.SAM, "C0SREAPPR")
                        if m.get("ephemeral") and "access was granted" in m["text"]], what="Sam's answer")
    request = card["text"].split(":")[0].split()[-1]
    grants = served.get(f"/api/state?user={cast.SAM}")[1]["aws"]["grants"]
    assert [(g["person"], g["node_name"]) for g in grants if g["request"] == request] == [("Alice", "dev-1")]


def test_the_clock_control_moves_the_bots_clock_forward_only(served: Served) -> None:
    before = served.world.ctx.clock.now()
    assert served.post("/api/clock", {"minutes": 90})[1]["ok"] is True
    assert served.world.ctx.clock.now() - before >= timedelta(minutes=90)
    for wrong in (-5, 0, 60 * 24 * 8, "ten", True):
        status, answer = served.post("/api/clock", {"minutes": wrong})
        assert status == 400 and not answer["ok"], wrong
    clock = ShiftedClock()
    with pytest.raises(ValueError, match="at most 7 days"):
        clock.jump(timedelta(days=8))
    assert clock.shift == timedelta(0)


def test_opening_a_session_needs_a_grant_in_iam(served: Served) -> None:
    node = served.world.stack.nodes["pci-db"]
    before = len(served.world.stack.aws.sessions(target=node))
    status, answer = served.post("/api/session", {"user": cast.ALICE, "node": node})
    assert status == 200 and answer["error"].startswith("AccessDenied: no IAM policy lets")
    status, answer = served.post("/api/session", {"user": cast.OSCAR, "node": node})
    assert "Oscar has no AWS identity" in answer["error"]
    assert len(served.world.stack.aws.sessions(target=node)) == before


@pytest.mark.parametrize(("headers", "status"), [
    ({"Host": "evil.example:8080"}, 421),                       # DNS rebinding: another name for 127.0.0.1
    ({"Origin": "http://evil.example"}, 403),                   # another site's page posting here
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),  # a plain HTML form from anywhere
])
def test_acts_come_only_from_the_playgrounds_own_page(served: Served, headers: dict[str, str], status: int) -> None:
    got, answer = served.post("/api/command", {"user": cast.ALICE, "channel": DM, "text": "/jit help"}, headers)
    assert got == status and not answer["ok"]
    assert served.world.stack.slack.calls_to("response_url") == []  # nothing reached the bot


def test_unknown_people_and_other_peoples_conversations_are_refused(served: Served) -> None:
    assert served.post("/api/command", {"user": "U0NOBODY0", "channel": DM, "text": "/jit help"})[0] == 400
    status, answer = served.post("/api/command", {"user": cast.SAM, "channel": DM, "text": "/jit help"})
    assert status == 400 and "not one of yours" in answer["error"]
    status, answer = served.post("/api/command", {"user": cast.ALICE, "channel": DM, "text": "hello"})
    assert status == 400 and "only /jit commands" in answer["error"]
    assert served.get("/api/state?user=U0NOBODY0")[0] == 400


def test_the_command_line_offers_the_playground_on_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["playground", "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert "--port" in shown and "127.0.0.1" in shown
