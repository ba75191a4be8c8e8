"""The HTTP edge of a real ``jitbot serve`` process on loopback: bodies over the Slack limit are refused
before they are read, idle and trickling (slowloris) connections do not keep /healthz or Slack out, and a
missing, empty or blank signing secret stops the process at start.

No timing assertions: every wait is a socket timeout or ``eventually`` with a generous bound."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from pydantic import SecretStr

from bot.app import build
from bot.edge import MAX_SLACK_BODY
from bot.server import HttpServer
from bot.settings import Settings
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.slack_calls import RecordedCall
from fakes.slack_client import SlackSimulator, sign
from tests.e2e.test_replicas import Replica, free_port
from tests.helpers import eventually, serve_env

SECRET = "s"  # serve_env's signing secret
#: the sockets an attacker holds open at once: more than waitress's default connection limit (100)
HELD = 150
HEADERS_ONLY = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, fake_slack: FakeSlack,
           fake_aws: tuple[FakeAws, dict[str, str]]) -> Iterator[Replica]:
    """``jitbot serve`` (HTTP mode) against the fakes, its output in ``serve.log`` next to its database."""
    aws, _ = fake_aws
    workdir = tmp_path_factory.mktemp("edge")
    port = free_port()
    env = serve_env(workdir, fake_slack.url, aws.env(), port, "xoxb-edge")
    with (workdir / "serve.log").open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    replica = Replica("edge", port, process)
    try:
        eventually(lambda: (replica.health() or {}).get("status") == "ok", timeout=60, what="serve ready")
        yield replica
    finally:
        process.terminate()
        process.wait(timeout=30)


def _exchange(port: int, head: bytes, body_chunks: Iterable[bytes] = (), timeout: float = 10) -> bytes:
    """Send ``head`` (and then the chunks, as long as the server takes them); the server's first answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head)
        try:
            for chunk in body_chunks:
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it stopped reading: what it said is in its answer
        try:
            return conn.recv(4096)
        except ConnectionResetError:
            return b""


def _signed_head(body_length: int, body_for_signature: bytes = b"") -> bytes:
    timestamp = int(time.time())
    return (HEADERS_ONLY + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"X-Slack-Request-Timestamp: {timestamp}\r\n"
              f"X-Slack-Signature: {sign(SECRET, timestamp, body_for_signature)}\r\n"
              f"Content-Length: {body_length}\r\n\r\n".encode())


def test_a_body_announced_over_1_mib_is_refused_before_it_is_sent(served: Replica,
                                                                  figures: Counter[str]) -> None:
    """The headers alone get the 413: the client has not sent a byte of the body, and need not."""
    for length in (MAX_SLACK_BODY + 1, 50 * MAX_SLACK_BODY, 10**15):
        answer = _exchange(served.port, _signed_head(length))
        figures["requests: edge (oversized)"] += 1
        assert answer.startswith(b"HTTP/1.1 413 "), (length, answer[:100])


def test_a_chunked_body_is_cut_off_at_1_mib(served: Replica, figures: Counter[str]) -> None:
    """A chunked body announces no length: waitress takes it until the limit, then answers 413 and stops."""
    head = HEADERS_ONLY + b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"  # 64 KiB each, 32 of them: 2 MiB offered
    answer = _exchange(served.port, head, [chunk] * 32)
    figures["requests: edge (oversized)"] += 1
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert served.health() is not None


def _signed_command(replica: Replica, slack: FakeSlack, text: str, size: int = 0) -> RecordedCall:
    """``/jit <text>`` signed like Slack (its body padded to ``size`` bytes): 200, and the answer jitbot posted
    to this command's own response_url (the fake Slack is shared with other tests)."""
    sim = SlackSimulator(replica.url, SECRET, slack)
    url = slack.make_response_url()
    body = urlencode({"token": "x", "team_id": sim.team_id, "channel_id": "C0GENERAL1", "user_id": cast.ALICE,
                      "command": "/jit", "text": text, "response_url": url, "trigger_id": sim.new_trigger_id(),
                      "pad": ""}).encode()
    body += b"x" * (size - len(body))
    assert sim.raw(body, sim.signed_headers(body, "application/x-www-form-urlencoded")).status == 200
    return slack.wait_for(lambda c: c.method == "response_url" and c.path == urlsplit(url).path, timeout=15)


def test_a_signed_body_of_exactly_1_mib_is_still_taken(served: Replica, fake_slack: FakeSlack,
                                                       figures: Counter[str]) -> None:
    answer = _signed_command(served, fake_slack, "help", size=MAX_SLACK_BODY)
    figures["requests: edge (oversized)"] += 1
    assert "jitbot" in str(answer.params.get("text"))


class _Loris:
    """``HELD`` connections to the server: half silent, half sending a header line now and then."""

    def __init__(self, port: int) -> None:
        self.sockets: list[socket.socket] = []
        for n in range(HELD):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:
                conn.sendall(HEADERS_ONLY)
            self.sockets.append(conn)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        n = 0
        while not self.stop.wait(0.5):
            for conn in self.sockets[1::2]:
                with contextlib.suppress(OSError):
                    conn.sendall(f"X-Slow-{n}: 1\r\n".encode())
            n += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for conn in self.sockets:
            conn.close()


def test_idle_and_trickling_connections_keep_nobody_out(served: Replica, fake_slack: FakeSlack,
                                                        figures: Counter[str]) -> None:
    """With 150 connections held open (waitress's default limit was 100: the 101st waited two minutes for a
    channel to time out), /healthz and a signed command are still answered."""
    loris = _Loris(served.port)
    try:
        figures["requests: edge (held connections)"] += HELD
        for _ in range(3):
            with urllib.request.urlopen(f"{served.url}/healthz", timeout=10) as answer:  # noqa: S310 - loopback
                assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}
        answer = _signed_command(served, fake_slack, "help")
        assert "jitbot" in str(answer.params.get("text"))
        assert all(conn.fileno() != -1 for conn in loris.sockets)  # still held while the others were served
    finally:
        loris.close()


def _serve_once(tmp_path: Path, fake_slack: FakeSlack, aws: FakeAws, secret: str | None) -> tuple[int, str]:
    env = serve_env(tmp_path, fake_slack.url, aws.env(), free_port(), "xoxb-edge-start")
    env.pop("SLACK_SIGNING_SECRET")
    env.pop("SLACK_APP_TOKEN", None)
    if secret is not None:
        env["SLACK_SIGNING_SECRET"] = secret
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, timeout=120,
                          cwd=tmp_path, check=False)
    return done.returncode, done.stderr.decode()


@pytest.mark.parametrize("secret", [None, "", "   ", "\t\n"])
def test_serve_refuses_to_start_without_a_signing_secret(tmp_path: Path, fake_slack: FakeSlack,
                                                         fake_aws: tuple[FakeAws, dict[str, str]],
                                                         secret: str | None) -> None:
    """Missing, empty or blank: with an empty secret, anyone could sign requests (HMAC under an empty key)."""
    code, stderr = _serve_once(tmp_path, fake_slack, fake_aws[0], secret)
    assert code == 2, stderr[-500:]
    assert "SLACK_SIGNING_SECRET is missing, empty or blank" in stderr, stderr[-500:]
    assert not (tmp_path / "j.db").exists()  # it stopped before touching anything


def test_a_runtime_built_without_a_secret_refuses_every_request(tmp_path: Path, fake_slack: FakeSlack) -> None:
    """Behind the start check: the edge itself takes no signature when it has no secret, not even one made
    with the empty key."""
    policies = tmp_path / "policies.toml"
    policies.write_text("[settings]\n", "utf-8")
    settings = Settings(slack_bot_token=SecretStr("xoxb-test-token"), slack_signing_secret=SecretStr(" "),
                        slack_api_url=fake_slack.url, jit_policies=str(policies),
                        database_url=f"sqlite:///{tmp_path / 'j.db'}", aws_region="us-east-1")
    assert settings.secret("slack_signing_secret") is None
    runtime = build(settings, aws=lambda s, p: object())
    server = HttpServer(runtime, "127.0.0.1", 0, threads=2).start()
    try:
        sim = SlackSimulator(f"http://127.0.0.1:{server.port}", "", fake_slack)
        for key in ("", " "):
            assert sim.command(cast.ALICE, "help", secret=key).status == 401
    finally:
        server.stop()
        runtime.stop()
