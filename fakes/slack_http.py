"""HTTP plumbing of the fake Slack: the threaded loopback server, body decoding, canned fault answers."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

JSON_FIELDS = ("blocks", "view", "attachments", "metadata")
_STATUS_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "timeout"}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer."""

    status: int
    body: bytes
    headers: dict[str, str]


# (path with query string, request headers, body) -> the answer, or None to drop the connection
RequestHandler = Callable[[str, dict[str, str], bytes], "Reply | None"]


@dataclass(frozen=True)
class Fault:
    """An injected failure: kind "status" (HTTP status, 429 with Retry-After), "error" or "reset"."""

    kind: str
    status: int = 200
    retry_after: int = 1
    error: str | None = None

    def label(self) -> str:
        if self.kind == "error":
            return f"error:{self.error}"
        return "reset" if self.kind == "reset" else str(self.status)

    def reply(self) -> Reply | None:
        if self.kind == "reset":
            return None
        if self.kind == "error":
            return json_reply(200, {"ok": False, "error": self.error})
        if self.status == 429:
            retry_after = {"Retry-After": str(self.retry_after)}
            return json_reply(429, {"ok": False, "error": "ratelimited"}, retry_after)
        error = _STATUS_ERRORS.get(self.status, f"http_{self.status}")
        return json_reply(self.status, {"ok": False, "error": error})


def json_reply(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Reply(status, json.dumps(payload).encode(), all_headers)


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[len("bearer ") :].strip() or None
    return None


def maybe_json(value: Any) -> Any:
    """Decode a JSON object/array sent as a string (form-encoded `blocks=[...]`); else leave it."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Form, JSON or multipart body -> parameters (raises ValueError on malformed JSON)."""
    if not body:
        return {}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        data = json.loads(body)
        return data if isinstance(data, dict) else {}
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if isinstance(name, str):
            fields[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return fields


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server passing every GET/POST to one handler function."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handle: RequestHandler) -> None:
        self.answer = handle
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.answer(self.path, dict(self.headers.items()), body)
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
