"""``jitbot playground``: the page and its small JSON API, on 127.0.0.1 only.

``GET /`` and ``/static/…`` serve the page (plain HTML, CSS and JavaScript shipped in the package: no build
step, nothing fetched from elsewhere). ``GET /api/state?user=U…`` is what that person sees (the page polls it);
each ``POST /api/…`` is one act of a person, which the playground turns into what Slack would post to the
bot, signed. The server answers only requests addressed to this loopback address (Host checked, against DNS
rebinding) and acts only on JSON bodies from its own page (Origin checked when sent), so another site open in
the same browser cannot drive it.
"""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playground.world import Playground, Refused

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024
STATIC = {"index.html": "text/html", "playground.css": "text/css", "blockkit.js": "text/javascript",
          "app.js": "text/javascript"}


def _static(name: str) -> bytes:
    return resources.files("playground").joinpath("static", name).read_bytes()


def _act(world: Playground, path: str, body: dict[str, Any]) -> dict[str, Any]:
    user = body.get("user")
    if path == "/api/command":
        return world.command(str(user), str(body.get("channel")), str(body.get("text") or ""))
    if path == "/api/action":
        return world.action(str(user), _dict(body.get("where")), str(body.get("block_id") or ""),
                            _dict(body.get("action")), _dict(body.get("state")))
    if path == "/api/submit":
        return world.submit(str(user), str(body.get("view_id")), _dict(body.get("state")))
    if path == "/api/close":
        return world.close(str(user), str(body.get("view_id")))
    if path == "/api/options":
        return world.options(str(user), str(body.get("view_id")), str(body.get("block_id") or ""),
                             str(body.get("action_id") or ""), str(body.get("value") or ""),
                             _dict(body.get("state")))
    if path == "/api/home":
        return world.home(str(user))
    if path == "/api/session":
        return world.open_session(str(user), body.get("node"))
    if path == "/api/clock":
        return world.jump(body.get("minutes"))
    raise LookupError(path)


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused("expected an object")
    return value


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, world: Playground, port: int) -> None:
        self.world = world
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def origins(self) -> set[str]:
        return {f"{HOST}:{self.port}", f"localhost:{self.port}"}

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="playground",
                                  daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the page polls every second."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _addressed_here(self) -> bool:
        if self.headers.get("Host", "") not in self.server.origins():
            self._json(421, {"ok": False, "error": "this playground answers on 127.0.0.1 only"})
            return False
        return True

    def do_GET(self) -> None:
        if not self._addressed_here():
            return
        split = urlsplit(self.path)
        name = "index.html" if split.path == "/" else split.path.removeprefix("/static/")
        if name in STATIC and (split.path == "/" or split.path.startswith("/static/")):
            self._send(200, _static(name), STATIC[name])
        elif split.path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif split.path == "/api/state":
            user = (parse_qs(split.query).get("user") or [""])[0]
            try:
                self._json(200, self.server.world.snapshot(user))
            except Refused as err:
                self._json(400, {"ok": False, "error": str(err)})
        else:
            self._json(404, {"ok": False, "error": "not found"})

    def do_POST(self) -> None:
        if not self._addressed_here():
            return
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.server.origins():
            self._json(403, {"ok": False, "error": "not from this playground's page"})
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._json(415, {"ok": False, "error": "send JSON"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"ok": False, "error": "too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            self._json(200, _act(self.server.world, urlsplit(self.path).path, _dict(body)))
        except LookupError:
            self._json(404, {"ok": False, "error": "not found"})
        except (Refused, ValueError) as err:
            self._json(400, {"ok": False, "error": str(err)})
        except Exception:
            log.exception("playground: the act failed")
            self._json(500, {"ok": False, "error": "the playground failed; see its log"})


def run(port: int = 8080) -> int:
    """Start everything, serve until interrupted; the temporary directory (SQLite, policy file) goes at the end."""
    logging.basicConfig(level=logging.WARNING)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with tempfile.TemporaryDirectory(prefix="jitbot-playground-") as workdir:
        print("jitbot playground: starting the bot on fake Slack, moto and SQLite …", flush=True)
        world = Playground(Path(workdir)).start()
        try:
            server = PlaygroundServer(world, port)
        except OSError as err:
            world.stop()
            print(f"jitbot playground cannot listen on {HOST}:{port}: {err.strerror}", flush=True)
            return 1
        server.serve_in_thread()
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print(f"jitbot playground: open {server.url} (Ctrl-C stops it; nothing leaves this machine)", flush=True)
        stop.wait()
        server.shutdown()
        server.server_close()
        world.stop()
    return 0
