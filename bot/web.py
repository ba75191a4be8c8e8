"""The HTTP surface: ``POST /slack/events`` (Bolt), ``GET /healthz``, ``GET /metrics``; served by waitress."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.edge import MAX_SLACK_BODY, check_slack_request
from handlers.later import Acks

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

__all__ = ["MAX_SLACK_BODY", "WsgiApp", "make_wsgi"]


def make_wsgi(app: App, health: Callable[[bool], tuple[bool, dict[str, Any]]],
              registry: CollectorRegistry, acks: Acks | None = None, *, signing_secret: str) -> WsgiApp:
    """``acks`` counts the Slack deliveries in flight (work after the ack lets them go first). Requests to
    ``/slack/events`` reach Bolt only when signed with ``signing_secret`` (``bot.edge``); none does when it is
    blank."""
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
            refused = check_slack_request(environ, signing_secret)
            if refused is not None:
                return respond(start, refused.status, b"invalid request\n", "text/plain")
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
