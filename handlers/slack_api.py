"""One Web API call, as every Slack adapter makes it (``SlackNotifier``, ``SlackBreakglassNotices``).

The client's retry handlers have already retried rate limits and connection resets; what still fails is logged
here (``slack call failed``, with the method) and reported to the caller: ``must`` raises ``Undelivered``, saying
whether a later attempt may succeed; ``call`` answers None.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.errors import Undelivered

log = logging.getLogger(__name__)

#: Slack errors (``"ok": false``) that a later attempt may not meet; any other is permanent (a channel that does
#: not exist, a bot not in it, a message refused): the item is given up on at once rather than retried
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


def must(client: WebClient, method: str, **kwargs: object) -> dict[str, object]:
    """One Web API call that must go through: ``Undelivered`` (permanent or not) when it did not."""
    try:
        response = client.api_call(method, json=kwargs)
    except SlackApiError as err:
        code = str(err.response.get("error") or "") if err.response is not None else ""
        status = err.response.status_code if err.response is not None else 0
        log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
        permanent = 0 < status < 500 and status != 429 and code not in TRANSIENT_ERRORS
        raise Undelivered(f"{method}: {code or status}", permanent=permanent) from err
    except (SlackClientError, OSError) as err:
        log.error("slack call failed", extra={"slack_method": method, "error": str(err)})
        raise Undelivered(f"{method}: {type(err).__name__}: {err}") from err
    return response.data if isinstance(response.data, dict) else {}


def call(client: WebClient, method: str, **kwargs: object) -> dict[str, object] | None:
    """One Web API call whose failure the caller only counts: None when Slack did not take it."""
    try:
        return must(client, method, **kwargs)
    except Undelivered:
        return None
