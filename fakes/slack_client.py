"""Slack's side of HTTP delivery: signed slash commands, interactivity payloads and events.

    sim = SlackSimulator(app_url="http://127.0.0.1:3000", signing_secret="s3cret", fake=fake_slack)
    response = sim.command("U0ALICE01", "request web-1 2h disk full")
    assert response.status == 200

Every request is a POST to `{app_url}/slack/events`, signed with the v0 scheme exactly as Slack
does. `timestamp=` and `secret=` on each method forge stale or badly signed requests.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fakes.slack_api import FakeSlack

__all__ = ["SlackResponse", "SlackSimulator", "sign"]

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class SlackResponse:
    """What the app answered."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any | None:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None


def sign(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's v0 request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSimulator:
    """Sends requests to the app the way Slack's servers do (never raises on an HTTP error status)."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        fake: FakeSlack | None = None,
        *,
        path: str = "/slack/events",
        timeout: float = 10.0,
        team_id: str | None = None,
        team_domain: str | None = None,
        api_app_id: str | None = None,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.signing_secret = signing_secret
        self.fake = fake
        self.path = path
        self.timeout = timeout
        self.team_id = team_id or (fake.team_id if fake else "T0JITBOT")
        self.team_domain = team_domain or (fake.team_domain if fake else "jitbot-test")
        self.api_app_id = api_app_id or (fake.app_id if fake else "A0JITBOT")
        self.verification_token = "fake-verification-token"
        self._seq = itertools.count(1)

    @property
    def events_url(self) -> str:
        return self.app_url + self.path

    # ----------------------------------------------------------------- deliveries

    def command(
        self,
        user_id: str,
        text: str,
        command: str = "/jit",
        channel_id: str = "C0GENERAL1",
        trigger_id: str | None = None,
        *,
        response_url: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """A slash command, form-encoded like Slack sends it (``response_url``: a given one, else a fresh one)."""
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(),
            "trigger_id": trigger_id or self.new_trigger_id(),
        }
        body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
        return self._send(body, _FORM, timestamp=timestamp, secret=secret)

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str,
        block_id: str = "b",
        channel_id: str | None = None,
        message_ts: str | None = None,
        container: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        *,
        view: dict[str, Any] | None = None,
        state_values: dict[str, Any] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """A button click; with channel_id and message_ts, on that message (taken from the fake if known)."""
        payload: dict[str, Any] = {
            **self._interaction("block_actions", user_id, trigger_id),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "type": "button",
                    "text": {"type": "plain_text", "text": value, "emoji": True},
                    "action_ts": self._action_ts(),
                }
            ],
            "state": {"values": _state_values(state_values or {})},
        }
        if channel_id is not None:
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            payload["response_url"] = self._response_url()
        if channel_id is not None and message_ts is not None:
            payload["message"] = self._message(channel_id, message_ts)
        if container is None and message_ts is not None:
            container = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
        if view is not None:
            payload["view"] = view
            container = container or {"type": "view", "view_id": view.get("id", "V1")}
        if container is not None:
            payload["container"] = container
        return self._send_payload(payload, timestamp, secret)

    def view_submission(
        self,
        user_id: str,
        callback_id: str,
        state_values: dict[str, Any],
        private_metadata: str = "",
        view_id: str = "V1",
        trigger_id: str | None = None,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """A modal submitted. `state_values` is `{block_id: {action_id: element state}}`; a plain string
        as element state becomes `{"type": "plain_text_input", "value": ...}`."""
        view = self._view(view_id, callback_id=callback_id, private_metadata=private_metadata)
        view["state"] = {"values": _state_values(state_values)}
        payload = {
            **self._interaction("view_submission", user_id, trigger_id),
            "view": view,
            "response_urls": [],
        }
        return self._send_payload(payload, timestamp, secret)

    def block_suggestion(
        self,
        user_id: str,
        action_id: str,
        value: str,
        block_id: str = "b",
        *,
        view_id: str = "V1",
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """A user typing into an external_select; the app answers with options."""
        payload = {
            **self._interaction("block_suggestion", user_id, None),
            "container": {"type": "view", "view_id": view_id},
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "view": self._view(view_id),
        }
        payload.pop("trigger_id", None)
        return self._send_payload(payload, timestamp, secret)

    def shortcut(
        self,
        user_id: str,
        callback_id: str,
        trigger_id: str | None = None,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """A global shortcut."""
        payload = {
            **self._interaction("shortcut", user_id, trigger_id),
            "callback_id": callback_id,
            "action_ts": self._action_ts(),
        }
        return self._send_payload(payload, timestamp, secret)

    def event(
        self,
        payload_event: dict[str, Any],
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SlackResponse:
        """An Events API delivery (event_callback envelope), e.g. `{"type": "app_home_opened", ...}`.

        `retry_num` adds the X-Slack-Retry-Num / X-Slack-Retry-Reason headers of a redelivery."""
        now = int(time.time())
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": {"event_ts": f"{now}.{next(self._seq):06d}", **payload_event},
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.fake.bot_user_id if self.fake else "UJITBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        extra = None
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        body = json.dumps(envelope).encode()
        return self._send(body, _JSON, timestamp=timestamp, secret=secret, extra_headers=extra)

    def interaction(
        self, payload: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None
    ) -> SlackResponse:
        """Any interactivity payload (block_actions, view_submission, block_suggestion…), form-encoded as
        ``payload=<json>`` and signed, as Slack posts it; the caller builds the payload."""
        return self._send_payload(payload, timestamp, secret)

    def url_verification(self, challenge: str = "challenge-token") -> SlackResponse:
        """The handshake Slack sends when the Request URL is configured."""
        body = json.dumps(
            {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        )
        return self._send(body.encode(), _JSON)

    def raw(self, body: bytes, headers: dict[str, str], *, path: str | None = None) -> SlackResponse:
        """POST `body` with exactly `headers` (no signing), for unsigned or tampered requests."""
        return self._post(self.app_url + (path or self.path), body, headers)

    # ----------------------------------------------------------------- building blocks

    def new_trigger_id(self) -> str:
        """A trigger_id shaped like Slack's."""
        return f"{next(self._seq)}.{int(time.time())}.{secrets.token_hex(16)}"

    def signed_headers(
        self, body: bytes, content_type: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The headers Slack sends with `body`."""
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(self.signing_secret if secret is None else secret, ts, body),
        }

    def _send(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> SlackResponse:
        headers = self.signed_headers(body, content_type, timestamp=timestamp, secret=secret)
        headers.update(extra_headers or {})
        return self._post(self.events_url, body, headers)

    def _send_payload(
        self, payload: dict[str, Any], timestamp: int | None, secret: str | None
    ) -> SlackResponse:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._send(body, _FORM, timestamp=timestamp, secret=secret)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> SlackResponse:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"not an HTTP URL: {url}")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return _response(answer.status, answer.read(), dict(answer.headers.items()))
        except urllib.error.HTTPError as error:
            return _response(error.code, error.read(), dict(error.headers.items()))

    def _interaction(self, kind: str, user_id: str, trigger_id: str | None) -> dict[str, Any]:
        return {
            "type": kind,
            "token": self.verification_token,
            "api_app_id": self.api_app_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": {
                "id": user_id,
                "username": self._user_name(user_id),
                "name": self._user_name(user_id),
                "team_id": self.team_id,
            },
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": trigger_id or self.new_trigger_id(),
        }

    def _view(self, view_id: str, **overrides: Any) -> dict[str, Any]:
        known = self.fake.view(view_id) if self.fake else None
        view: dict[str, Any] = known or {
            "id": view_id,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.api_app_id,
            "external_id": "",
        }
        view.update({k: v for k, v in overrides.items() if v or k not in view})
        return view

    def _message(self, channel_id: str, message_ts: str) -> dict[str, Any]:
        known = self.fake.message(channel_id, message_ts) if self.fake else None
        return known or {"type": "message", "ts": message_ts, "text": "", "blocks": []}

    def _user_name(self, user_id: str) -> str:
        known = self.fake.user(user_id) if self.fake else None
        return str(known["name"]) if known else user_id.lower()

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return "directmessage"
        return channel_id.lower()

    def _response_url(self) -> str | None:
        return self.fake.make_response_url() if self.fake else None

    def _action_ts(self) -> str:
        return f"{time.time():.6f}"


def _state_values(values: dict[str, Any]) -> dict[str, Any]:
    """`{block: {action: "text"}}` -> `{block: {action: {"type": "plain_text_input", "value": "text"}}}`."""
    converted: dict[str, Any] = {}
    for block_id, actions in values.items():
        converted[block_id] = {
            action_id: {"type": "plain_text_input", "value": state} if isinstance(state, str) else state
            for action_id, state in actions.items()
        }
    return converted


def _response(status: int, body: bytes, headers: dict[str, str]) -> SlackResponse:
    return SlackResponse(status=status, body=body.decode("utf-8", "replace"), headers=headers)
