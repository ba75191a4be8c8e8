"""What Slack's servers post to the bot when someone types or clicks, built from what the page reports.

The page says who acted, where (a message, an ephemeral answer, the App Home, a modal), on which element and
with which form state; these functions shape the payload the way Slack does (``block_actions``,
``view_submission``, ``block_suggestion``, ``view_closed``, the ``app_home_opened`` event), and the simulator
signs and posts it to the bot's ``/slack/events``. Nothing here decides anything: the bot does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fakes.slack_client import SlackResponse, SlackSimulator

JSON = dict[str, Any]

#: the element types whose state a form carries, and what a change dispatches
SELECTS = ("static_select", "external_select")
MULTI_SELECTS = ("multi_static_select", "multi_external_select")


@dataclass(frozen=True)
class Where:
    """Where an element was used: ``kind`` is message, ephemeral, home or modal."""

    kind: str
    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None


def _action_ts() -> str:
    return f"{time.time():.6f}"


class Deliveries:
    """Builds and sends Slack's payloads through ``sim`` (signing with the bot's secret)."""

    def __init__(self, sim: SlackSimulator) -> None:
        self.sim = sim

    def _base(self, kind: str, user: str, trigger_id: str | None) -> JSON:
        fake = self.sim.fake
        profile = fake.user(user) if fake else None
        name = str(profile["name"]) if profile else user.lower()
        payload: JSON = {
            "type": kind,
            "token": self.sim.verification_token,
            "api_app_id": self.sim.api_app_id,
            "team": {"id": self.sim.team_id, "domain": self.sim.team_domain},
            "user": {"id": user, "username": name, "name": name, "team_id": self.sim.team_id},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if trigger_id is not None:
            payload["trigger_id"] = trigger_id
        return payload

    def command(self, user: str, text: str, channel: str, *, response_url: str, trigger_id: str) -> SlackResponse:
        return self.sim.command(user, text, channel_id=channel, trigger_id=trigger_id, response_url=response_url)

    def block_action(self, user: str, where: Where, block_id: str, element: JSON, *, trigger_id: str,
                     response_url: str | None, view: JSON | None, state: JSON) -> SlackResponse:
        """A click on a button, or a choice in a select (of an actions block, or of an input that dispatches)."""
        action: JSON = {"action_id": element.get("action_id", ""), "block_id": block_id,
                        "type": element.get("type", "button"), "action_ts": _action_ts()}
        if action["type"] == "button":
            action["value"] = element.get("value", "")
            action["text"] = element.get("text") or {"type": "plain_text", "text": ""}
            if element.get("style"):
                action["style"] = element["style"]
        elif action["type"] in SELECTS or action["type"] == "radio_buttons":
            action["selected_option"] = element.get("selected_option")
        elif action["type"] in MULTI_SELECTS:
            action["selected_options"] = element.get("selected_options") or []
        payload: JSON = {**self._base("block_actions", user, trigger_id), "actions": [action],
                         "state": {"values": state}}
        if where.kind in ("message", "ephemeral"):
            payload["container"] = {"type": "message", "message_ts": where.ts, "channel_id": where.channel,
                                    "is_ephemeral": where.kind == "ephemeral"}
            payload["channel"] = {"id": where.channel, "name": self._channel_name(where.channel or "")}
            if where.kind == "message" and self.sim.fake is not None and where.channel and where.ts:
                payload["message"] = self.sim.fake.message(where.channel, where.ts)
            payload["response_url"] = response_url
        elif view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = {**view, "state": {"values": state}}
        return self.sim.interaction(payload)

    def view_submission(self, user: str, view: JSON, state: JSON, *, trigger_id: str) -> SlackResponse:
        payload = {**self._base("view_submission", user, trigger_id),
                   "view": {**view, "state": {"values": state}}, "response_urls": []}
        return self.sim.interaction(payload)

    def view_closed(self, user: str, view: JSON) -> SlackResponse:
        payload = {**self._base("view_closed", user, None), "view": view, "is_cleared": False}
        return self.sim.interaction(payload)

    def block_suggestion(self, user: str, view: JSON, block_id: str, action_id: str, value: str,
                         state: JSON) -> SlackResponse:
        payload = {**self._base("block_suggestion", user, None),
                   "container": {"type": "view", "view_id": view.get("id")},
                   "action_id": action_id, "block_id": block_id, "value": value,
                   "view": {**view, "state": {"values": state}}}
        return self.sim.interaction(payload)

    def home_opened(self, user: str) -> SlackResponse:
        fake = self.sim.fake
        home = fake.home_view(user) if fake else None
        event: JSON = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
        if home is not None:
            event["view"] = home
        return self.sim.event(event)

    @staticmethod
    def _channel_name(channel: str) -> str:
        return "directmessage" if channel.startswith("D") else channel.lower()
