"""The playground in a real browser (headless Chromium through Playwright): the whole story by clicking, and an
unknown Block Kit element drawn as a placeholder. Skipped, saying why, where no Chromium can be started.

``JITBOT_PLAYGROUND_SCREENSHOT=1`` makes the story test write the README's screenshot, ``docs/playground.png``;
otherwise it goes to the test's temporary directory (a run of the suite leaves the working tree as it was).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from fakes import cast
from tests.playground.conftest import Served

pytestmark = pytest.mark.browser

SRE, MANAGERS = "C0SREAPPR", "C0MGRAPPR"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def be(page: Any, user: str) -> None:
    """The "you are" switcher."""
    page.select_option("#you", user)
    page.wait_for_function("id => document.querySelector('#you').value === id", arg=user)


def open_channel(page: Any, channel: str) -> None:
    page.click(f'#sidebar button[data-channel="{channel}"]')


def test_the_whole_story_by_clicking(served: Served, page: Any, tmp_path: Path) -> None:
    page.goto(served.url)
    be(page, cast.ALICE)
    page.fill("#compose", "/jit request web-1 1h disk full on /var")
    page.press("#compose", "Enter")
    submitted = page.locator(".message.ephemeral", has_text="submitted under policy 'production'")
    rid = re.search(r"Request (\w+) for", submitted.inner_text())
    assert rid is not None, submitted.inner_text()
    request = rid.group(1)

    for user, channel, answer in ((cast.SAM, SRE, "Approved"), (cast.CAROL, MANAGERS, "Approved"),
                                  (cast.DAVE, MANAGERS, "access was granted")):
        be(page, user)
        open_channel(page, channel)
        card = page.locator("#messages .message", has_text=f"Access request {request}")
        card.locator('button[data-action-id="jit_approve"]').click()
        page.locator("#messages .message.ephemeral", has_text=answer).wait_for()

    grant = page.locator(f'#grants tr[data-request="{request}"]')
    grant.wait_for()
    assert "Alice" in grant.inner_text() and "web-1" in grant.inner_text()

    be(page, cast.ALICE)
    open_channel(page, f"D{cast.ALICE}")
    page.locator("#messages .message", has_text="granted").first.wait_for()
    page.select_option("#session-node", served.world.stack.nodes["web-1"])
    page.click("#open-session")
    session = page.locator("#sessions tr", has_text="web-1").filter(has_text="Connected")
    session.wait_for()
    session_id = session.get_attribute("data-session")

    page.fill("#clock-minutes", "52")  # 8 minutes left: inside the 10-minute warning
    page.click("#clock-custom button")
    page.locator("#messages .message", has_text="ends at").wait_for()
    page.locator(f'#grants tr[data-request="{request}"]', has_text="left").wait_for()
    screenshot = DOCS / "playground.png" if os.environ.get("JITBOT_PLAYGROUND_SCREENSHOT") else tmp_path / "p.png"
    page.screenshot(path=str(screenshot))

    page.click('[data-minutes="10"]')  # past the end of the window
    page.locator("#messages .message", has_text="expired").wait_for()
    grant.wait_for(state="detached")
    page.locator(f'#sessions tr[data-session="{session_id}"]', has_text="Terminated").wait_for()
    assert session_id not in [s["SessionId"] for s in served.world.stack.aws.sessions(state="Active")]


def test_an_unknown_block_kit_element_renders_as_a_placeholder(served: Served, page: Any) -> None:
    bot = WebClient(token="xoxb-test-token", base_url=served.world.stack.slack.url)
    bot.chat_postMessage(channel=SRE, text="from the future", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Known text* before the unknown"},
         "accessory": {"type": "hologram_picker", "action_id": "h"}},
        {"type": "teleporter", "block_id": "t"},
        {"type": "actions", "elements": [{"type": "button", "action_id": "jit_help_me", "value": "x",
                                          "text": {"type": "plain_text", "text": "Still a button"}},
                                         {"type": "time_machine", "action_id": "tm"}]},
    ])
    page.goto(served.url)
    be(page, cast.SAM)
    open_channel(page, SRE)
    message = page.locator("#messages .message", has_text="Known text")
    for kind, name in (("element", "hologram_picker"), ("block", "teleporter"), ("element", "time_machine")):
        placeholder = message.locator(f'.bk-unknown[data-unknown="{name}"]')
        assert placeholder.is_visible()
        assert placeholder.inner_text() == f"Unsupported {kind}: {name}"
    assert message.locator("b", has_text="Known text").is_visible()
    assert message.locator("button", has_text="Still a button").is_visible()
    # the page still works around it: a command is answered in the same channel
    page.fill("#compose", "/jit help")
    page.press("#compose", "Enter")
    page.locator("#messages .message.ephemeral", has_text="/jit request").first.wait_for()


def test_the_form_takes_several_nodes_and_says_on_the_node_field_why_not(served: Served, page: Any) -> None:
    """The node picker is a multi-select: nodes picked show as chips and can be removed; nodes under different
    policies are refused on the node field; one node left goes through."""
    page.goto(served.url)
    be(page, cast.ALICE)
    page.fill("#compose", "/jit request")
    page.press("#compose", "Enter")
    picker = page.locator('#modal-body input[data-action-id="node_input"]')
    picker.wait_for()
    for typed in ("web-1", "dev-1"):
        picker.fill(typed)
        page.locator("#modal-body .bk-suggestion", has_text=f"{typed} (").first.dispatch_event("mousedown")
        page.locator("#modal-body .bk-chip", has_text=f"{typed} (").wait_for()
        picker = page.locator('#modal-body input[data-action-id="node_input"]')
    page.locator("#modal-body", has_text="production: approval by").wait_for()  # the first node's policy
    page.fill('#modal-body textarea[data-action-id="reason_input"]', "rolling restart")
    page.click("#modal-submit")
    page.locator('#modal-body [data-block-id="node"] .bk-error', has_text="fall under different policies").wait_for()
    page.locator("#modal-body .bk-chip", has_text="dev-1 (").locator(".bk-chip-remove").click()
    page.locator("#modal-body .bk-chip", has_text="dev-1 (").wait_for(state="detached")
    page.locator('#modal-body textarea[data-action-id="reason_input"]').wait_for()
    page.fill('#modal-body textarea[data-action-id="reason_input"]', "rolling restart")
    page.click("#modal-submit")
    page.locator("#modal-layer").wait_for(state="hidden")
    page.locator(".message.ephemeral", has_text="submitted under policy 'production'").wait_for()
