"""A fake PagerDuty REST API over HTTP (``GET /schedules/{id}/users``), for the tests and the demo.

``schedules`` maps a schedule id to the emails on call now; ``down`` makes every call fail with 503 (PagerDuty
unreachable); ``calls`` counts the requests (the adapter's cache shows in it). Only the token given is accepted.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

TOKEN = "pd-test-token"


class FakePagerDuty:
    def __init__(self, schedules: dict[str, list[str]] | None = None, token: str = TOKEN) -> None:
        self.schedules: dict[str, list[str]] = dict(schedules or {})
        self.token = token
        self.down = False
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.calls += 1
                parts = urlsplit(self.path).path.strip("/").split("/")
                if fake.down:
                    return self._answer(503, {"error": {"message": "Service Unavailable"}})
                if self.headers.get("Authorization") != f"Token token={fake.token}":
                    return self._answer(401, {"error": {"message": "Unauthorized", "code": 2006}})
                if len(parts) != 3 or parts[0] != "schedules" or parts[2] != "users":
                    return self._answer(404, {"error": {"message": "Not Found", "code": 2100}})
                emails = fake.schedules.get(parts[1])
                if emails is None:
                    return self._answer(404, {"error": {"message": "Not Found", "code": 2100}})
                users = [{"id": f"PU{i:05d}", "type": "user", "email": e, "name": e.split("@")[0]}
                         for i, e in enumerate(emails)]
                return self._answer(200, {"users": users})

            def _answer(self, status: int, body: object) -> None:
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
                                        name="fake-pagerduty", daemon=True)
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
