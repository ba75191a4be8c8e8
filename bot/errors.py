"""Bolt's global error handler: the user hears something went wrong, with a reference id; nothing is swallowed."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse

from handlers.later import failure_message

log = logging.getLogger(__name__)


def register_error_handler(app: App) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse | None:
        reference = secrets.token_hex(4)
        log.error("listener failed", exc_info=error, extra={"ref": reference, "type": body.get("type")})
        message = failure_message(reference)
        try:
            if respond is not None and body.get("response_url"):
                respond(text=message, response_type="ephemeral", replace_original=False)
        except Exception:  # the original error is already logged with its reference
            log.exception("could not tell the user about error %s", reference)
        return None
