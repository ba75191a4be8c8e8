"""What ``POST /slack/events`` must pass before anything parses its body: Slack's v0 signature, checked on the
raw bytes in the WSGI layer.

Bolt's adapter builds its request (and parses the body: form fields, JSON payloads) before Bolt's own signature
middleware runs; checked here first, nothing a forger sends is parsed at all. Bolt's check stays on behind
this one. A refusal costs one short log line (method, path, declared size, reason), never the body.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: the largest body jitbot reads from Slack (a big modal's view state stays far below): beyond it, 413 unread
MAX_SLACK_BODY = 1 << 20
#: Slack's replay window: a timestamp further than this from jitbot's clock, either way, is refused
WINDOW_SECONDS = 300
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Refusal:
    status: str
    reason: str


def _declared_length(environ: dict[str, Any]) -> int | None:
    text = str(environ.get("CONTENT_LENGTH") or "0")
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _header_problem(secret: str, timestamp: str, signature: str, now: float) -> str | None:
    """Why these headers cannot carry Slack's signature, whatever the body, or None."""
    if not secret.strip():
        return "no signing secret configured"
    if not signature:
        return "no signature"
    if not timestamp:
        return "no timestamp"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "malformed timestamp"
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        return "timestamp outside the 5-minute window"
    digest = signature[3:]
    if not (signature.startswith("v0=") and len(digest) == 64 and set(digest) <= _HEX):
        return "malformed signature"
    return None


def signed(secret: str, timestamp: str, digest: str, body: bytes) -> bool:
    """Whether ``digest`` is Slack's v0 HMAC-SHA256 of ``v0:{timestamp}:{body}`` under ``secret``."""
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


def check_slack_request(environ: dict[str, Any], secret: str,
                        clock: Callable[[], float] = time.time) -> Refusal | None:
    """None when the request is signed by Slack with ``secret`` (its body is then put back for Bolt to read);
    otherwise why not, logged once. The body is read only once its declared size and the headers have passed."""
    length = _declared_length(environ)
    if length is None:
        return _refused(environ, "400 Bad Request", "malformed Content-Length", None)
    if length > MAX_SLACK_BODY:  # the server refuses these before reading them too (bot.server)
        return _refused(environ, "413 Content Too Large", "body too large", length)
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
    problem = _header_problem(secret, timestamp, signature, clock())
    if problem is not None:
        return _refused(environ, "401 Unauthorized", problem, length)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if not signed(secret, timestamp, signature[3:], body):
        return _refused(environ, "401 Unauthorized", "signature mismatch", length)
    try:  # Bolt decodes the body as UTF-8; only the secret's holder could sign anything else
        body.decode("utf-8")
    except UnicodeDecodeError:
        return _refused(environ, "400 Bad Request", "body not UTF-8", length)
    return None


def _refused(environ: dict[str, Any], status: str, reason: str, size: int | None) -> Refusal:
    log.warning("refused a request to the Slack endpoint", extra={
        "method": str(environ.get("REQUEST_METHOD", ""))[:16], "path": str(environ.get("PATH_INFO", ""))[:100],
        "size": size if size is not None else str(environ.get("CONTENT_LENGTH", ""))[:20],
        "status": int(status[:3]), "reason": reason})
    return Refusal(status, reason)
