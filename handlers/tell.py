"""Answering someone privately after the ack: where they acted (a response_url), else by DM."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient


def tell(client: WebClient, response_url: str | None, user: str, text: str,
         blocks: list[dict[str, Any]] | None = None) -> None:
    """An ephemeral answer through ``response_url`` when Slack gave one (slash commands, message buttons,
    modals opened from them); otherwise a DM (App Home buttons, shortcuts)."""
    if response_url:
        WebhookClient(response_url, timeout=client.timeout, retry_handlers=client.retry_handlers).send(
            text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=user, text=text, blocks=blocks, unfurl_links=False)
