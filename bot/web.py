"""The HTTP surface: ``POST /slack/events`` (Bolt), ``GET /healthz``, ``GET /metrics``; served by waitress."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from handlers.later import Acks

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: the largest body jitbot reads from Slack (a big modal's view state stays far below): beyond it, 413 unread
MAX_SLACK_BODY = 1 << 20


def unreadable(environ: dict[str, Any]) -> str | None:
    """Why Bolt's signature check could not even read this request (it would raise: a 500), or None.
    Its timestamp must be a number, its signature ASCII, its body UTF-8 of a sane size. The body is read
    here and put back for Bolt."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
        return "401 Unauthorized"
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 Bad Request"
    if not 0 <= length <= MAX_SLACK_BODY:
        return "413 Content Too Large"
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "401 Unauthorized"
    return None


def make_wsgi(app: App, health: Callable[[bool], tuple[bool, dict[str, Any]]],
              registry: CollectorRegistry, acks: Acks | None = None) -> WsgiApp:
    """``acks`` counts the Slack deliveries in flight (work after the ack lets them go first)."""
    slack = SlackRequestHandler(app)
    in_flight = acks if acks is not None else contextlib.nullcontext()

    def respond(start: Callable[..., Any], status: str, body: bytes, content_type: str) -> list[bytes]:
        start(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store")])
        return [body]

    def wsgi(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            if method != "POST":
                return respond(start, "405 Method Not Allowed", b"POST only\n", "text/plain")
            refused = unreadable(environ)
            if refused is not None:
                return respond(start, refused, b"invalid request\n", "text/plain")
            with in_flight:
                return slack(environ, start)
        if path == "/healthz" and method in ("GET", "HEAD"):
            ready = "ready=1" in environ.get("QUERY_STRING", "")
            ok, detail = health(ready)
            body = json.dumps(detail).encode()
            return respond(start, "200 OK" if ok else "503 Service Unavailable", body, "application/json")
        if path == "/metrics" and method == "GET":
            return respond(start, "200 OK", generate_latest(registry), CONTENT_TYPE_LATEST)
        return respond(start, "404 Not Found", b"not found\n", "text/plain")

    return wsgi
