"""Answering someone privately after the ack: where they acted (a response_url), else by DM.

Every answer jitbot sends to an address it was given (a ``response_url`` in a delivery, or carried in a
modal's ``private_metadata``; Bolt's ``respond`` included, through ``guard_callbacks``) passes ``callback_url``:
it must point at Slack (``https://hooks.slack.com/…``), or at the host of ``SLACK_API_URL`` when that is set
to something else (GovSlack, the fakes of the tests and the demo). Any other address is refused, logged (its
host only) and never fetched; the person is answered by DM instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

Origin = tuple[str, str, int]
SLACK_HOOKS: Origin = ("https", "hooks.slack.com", 443)
_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> Origin | None:
    if not (url.isascii() and url.isprintable()) or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port or _PORTS[scheme]


class SlackWebClient(WebClient):
    """slack_sdk's client, knowing also where Slack's response_url hooks are when configured
    (``SLACK_HOOKS_URL``: a Slack stand-in only; production leaves it unset)."""

    def __init__(self, *args: Any, hooks_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hooks_url = hooks_url


def allowed_origins(api_url: str, hooks_url: str | None = None) -> frozenset[Origin]:
    """Slack's hooks; with ``SLACK_API_URL`` pointing elsewhere than slack.com, that origin and its hooks
    host too (``https://slack-gov.com/api/`` answers on ``hooks.slack-gov.com``); and ``SLACK_HOOKS_URL``'s
    origin when it is set."""
    origins = {SLACK_HOOKS}
    hooks = _origin(hooks_url) if hooks_url else None
    if hooks is not None:
        origins.add(hooks)
    api = _origin(api_url)
    if api is not None and api[1] != "slack.com":
        origins |= {api, ("https", f"hooks.{api[1]}", 443)}
    return frozenset(origins)


def callback_url(url: object, api_url: str, hooks_url: str | None = None) -> str | None:
    """``url`` when jitbot may send an answer there; None (and a log line) otherwise."""
    if not url:
        return None
    if isinstance(url, str) and _origin(url) in allowed_origins(api_url, hooks_url):
        return url
    host = (urlsplit(url).netloc if isinstance(url, str) and url.isascii() else type(url).__name__)[:80]
    log.warning("refused a callback URL that does not point at Slack", extra={"host": host})
    return None


def tell(client: WebClient, response_url: str | None, user: str, text: str,
         blocks: list[dict[str, Any]] | None = None) -> None:
    """An ephemeral answer through ``response_url`` when Slack gave one (slash commands, message buttons,
    modals opened from them) and it points at Slack; otherwise a DM (App Home buttons, shortcuts)."""
    url = callback_url(response_url, client.base_url, getattr(client, "hooks_url", None))
    if url:
        WebhookClient(url, timeout=client.timeout, retry_handlers=client.retry_handlers).send(
            text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=user, text=text, blocks=blocks, unfurl_links=False)


class _Direct(Respond):
    """Bolt's ``respond`` for a delivery whose response_url was refused: the answer goes by DM."""

    def __init__(self, client: WebClient, user: str | None) -> None:
        super().__init__(response_url=None)
        self._client, self._user = client, user

    def __call__(self, text: str | dict[str, Any] = "", blocks: Sequence[dict[str, Any] | Block] | None = None,
                 *args: Any, **kwargs: Any) -> Any:
        if self._user and isinstance(text, str):
            tell(self._client, None, self._user, text,
                 [b.to_dict() if isinstance(b, Block) else b for b in blocks] if blocks else None)
        return None


def guard_callbacks(app: App, client: WebClient) -> None:
    """Every delivery's response_url passes ``callback_url`` before a listener (or Bolt's error handler) can
    ``respond`` to it."""

    @app.middleware
    def callbacks(context: BoltContext, body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse:
        given = context.response_url
        if given is not None and callback_url(given, client.base_url, getattr(client, "hooks_url", None)) is None:
            user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else body.get("user_id")
            context["response_url"] = None
            context["respond"] = _Direct(client, str(user) if user else None)
        return next()
