"""A read-only JSON API over HTTP on 127.0.0.1, for the fakes of the on-call providers (``fakes.pagerduty``,
``fakes.opsgenie``): a subclass says what a ``GET`` answers (``answer``); this serves it on a free port, counts the
requests (``calls``) and fails every one with 503 while ``down``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, object]


class JsonApi:
    #: the thread's name, and the body of a 503 while ``down``
    name = "fake-api"
    unavailable: object = {"message": "Service Unavailable"}

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(self, parts: list[str], query: dict[str, str], authorization: str | None) -> Answer:
        """(status, JSON body) of a ``GET`` of the path ``parts`` (split at "/") with ``query``."""
        raise NotImplementedError

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.calls += 1
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                status, body = (503, fake.unavailable) if fake.down else fake.answer(
                    split.path.strip("/").split("/"), query, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
