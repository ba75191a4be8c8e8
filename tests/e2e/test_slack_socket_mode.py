"""``jitbot serve`` with SLACK_APP_TOKEN: Socket Mode instead of HTTP, with the same behaviour.

Slack's side is a loopback WebSocket endpoint written here (stdlib only): ``apps.connections.open`` on the
fake Web API hands out its ``ws://127.0.0.1`` URL, slack_sdk's built-in client connects to it, and the
envelopes Slack would push (a slash command, an event) come down the socket; jitbot's acks go back up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import build
from bot.server import serve
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.stack import Stack

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeSocketEndpoint:
    """Accepts one WebSocket client, pushes envelopes, records what the client sends back."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[dict[str, Any]] = []
        self.handshake: str = ""
        self.connected = threading.Event()
        self._outbox: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._client: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=test"

    def start(self) -> FakeSocketEndpoint:
        self._thread.start()
        return self

    def push(self, envelope: dict[str, Any]) -> None:
        self.connected.wait(20)
        assert self._client is not None
        with self._lock:
            self._client.sendall(_frame(0x1, json.dumps(envelope).encode()))

    def acked(self, envelope_id: str) -> bool:
        return any(m.get("envelope_id") == envelope_id for m in list(self.received))

    def close(self) -> None:
        self.server.close()
        if self._client is not None:
            self._client.close()

    def _serve(self) -> None:
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        self._client = client
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        self.handshake = request.decode()
        key = next(line.split(":", 1)[1].strip() for line in self.handshake.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        client.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.connected.set()
        with self._lock:
            client.sendall(_frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode()))
        reader = client.makefile("rb")
        try:
            while True:
                opcode, payload = _read_frame(reader)
                if opcode == 0x8:
                    return
                if opcode == 0x9:
                    with self._lock:
                        client.sendall(_frame(0xA, payload))
                elif opcode == 0x1:
                    self.received.append(json.loads(payload))
        except (OSError, ValueError, struct.error):
            return


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked)."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 65536:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


def _read_frame(reader: Any) -> tuple[int, bytes]:
    """A client frame (masked, as RFC 6455 requires of clients)."""
    first, second = reader.read(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", reader.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", reader.read(8))[0]
    mask = reader.read(4) if second & 0x80 else b"\0\0\0\0"
    data = reader.read(length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def test_serve_with_an_app_token_uses_socket_mode(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]],
                                                  tmp_path: Path, database_url: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("serve() installs signal handlers, which only the main thread may do")
    aws, nodes = fake_aws
    fake_slack.clear()
    endpoint = FakeSocketEndpoint().start()
    fake_slack.set_handler("apps.connections.open", lambda params: {"url": endpoint.url})
    port = _free_port()
    stack = Stack(tmp_path, database_url=database_url, slack=fake_slack, aws=aws, nodes=nodes,
                  settings={"slack_app_token": SecretStr("xapp-1-A0JITBOT-test")})
    settings = stack.settings().model_copy(update={"port": port})
    runtime = build(settings, aws=stack.aws_gateway)
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            assert endpoint.connected.wait(30), "jitbot did not connect to the Socket Mode endpoint"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                outcome["http"] = "listening"
            except OSError:
                outcome["http"] = "not listening"
            endpoint.push({"envelope_id": "env-command", "type": "slash_commands", "accepts_response_payload": True,
                           "payload": {"command": "/jit", "text": "help", "user_id": cast.ALICE,
                                       "user_name": "alice", "team_id": fake_slack.team_id,
                                       "channel_id": "C0GENERAL1", "api_app_id": fake_slack.app_id,
                                       "response_url": fake_slack.make_response_url(), "trigger_id": "1.2.3"}})
            endpoint.push({"envelope_id": "env-event", "type": "events_api", "accepts_response_payload": False,
                           "payload": {"type": "event_callback", "team_id": fake_slack.team_id,
                                       "api_app_id": fake_slack.app_id, "event_id": "Ev1", "event_time": 1,
                                       "event": {"type": "app_home_opened", "user": cast.CAROL, "tab": "home",
                                                 "event_ts": "1.0"}}})
            outcome["answer"] = fake_slack.wait_for("response_url", timeout=20).params.get("text", "")
            outcome["home"] = fake_slack.wait_for(lambda c: c.method == "views.publish"
                                                  and c.params.get("user_id") == cast.CAROL, timeout=20).params
            deadline = time.monotonic() + 20
            while not (endpoint.acked("env-command") and endpoint.acked("env-event")) and time.monotonic() < deadline:
                time.sleep(0.05)
        except BaseException as err:  # reported by the test below, after serve() returned
            outcome["error"] = err
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # what an orchestrator does to stop jitbot

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    driver = threading.Thread(target=drive, daemon=True)
    try:
        driver.start()
        serve(runtime)  # returns once SIGTERM is handled
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        driver.join(5)
        endpoint.close()
        fake_slack.set_handler("apps.connections.open", None)
    if "error" in outcome:
        raise outcome["error"]
    opened = fake_slack.calls_to("apps.connections.open")
    assert opened and opened[0].token == "xapp-1-A0JITBOT-test"  # the app-level token, not the bot token
    assert endpoint.handshake.startswith("GET /link/?ticket=test HTTP/1.1")
    assert outcome["http"] == "not listening"
    assert "`/jit request" in outcome["answer"]  # the same answer as over HTTP
    assert outcome["home"]["view"]["type"] == "home"
    assert endpoint.acked("env-command") and endpoint.acked("env-event")
