"""Bolt's global error handler: the user hears something went wrong, with a reference id; nothing is swallowed."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from core.i18n import ENGLISH, Tr
from handlers.later import failure_message

log = logging.getLogger(__name__)


def register_error_handler(app: App, tr_for: Callable[[str], Tr] | None = None) -> None:
    """``tr_for``: the language of the person who acted (the Context's ``tr_for``; English when not given)."""
    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse | None:
        reference = secrets.token_hex(4)
        log.error("listener failed", exc_info=error, extra={"ref": reference, "type": body.get("type")})
        try:
            user = (body.get("user") or {}).get("id") or body.get("user_id")
            tr = tr_for(str(user)) if tr_for is not None and user else ENGLISH
            if respond is not None and body.get("response_url"):
                respond(text=failure_message(reference, tr), response_type="ephemeral", replace_original=False)
        except Exception:  # the original error is already logged with its reference
            log.exception("could not tell the user about error %s", reference)
        return None
