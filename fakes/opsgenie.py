"""A fake Opsgenie REST API over HTTP (``GET /v2/schedules/{identifier}/on-calls``), for the tests and the demo.

``schedules`` maps a schedule's name to the emails (user names) on call now; each schedule also has an id
(``id_of``), and a request finds it by name or by id as ``scheduleIdentifierType`` says (id by default, as
Opsgenie does). With ``flat=true`` the answer lists ``onCallRecipients`` (user names), otherwise only
``onCallParticipants`` (objects), as Opsgenie does. ``down`` makes every call fail with 503; ``calls`` counts the
requests (the adapter's cache shows in it). Only ``GenieKey <the key given>`` is accepted.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

API_KEY = "og-test-key"


def id_of(name: str) -> str:
    """The id Opsgenie gives the schedule named ``name`` (a UUID, stable for the name)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsgenie-schedule:{name}"))


class FakeOpsgenie:
    def __init__(self, schedules: dict[str, list[str]] | None = None, api_key: str = API_KEY) -> None:
        self.schedules: dict[str, list[str]] = dict(schedules or {})
        self.api_key = api_key
        self.down = False
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _find(self, identifier: str, kind: str) -> tuple[str, list[str]] | None:
        for name, emails in self.schedules.items():
            if (name if kind == "name" else id_of(name)) == identifier:
                return name, emails
        return None

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.calls += 1
                split = urlsplit(self.path)
                parts = split.path.strip("/").split("/")
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                if fake.down:
                    return self._answer(503, {"message": "Service Unavailable", "took": 0.0})
                if self.headers.get("Authorization") != f"GenieKey {fake.api_key}":
                    return self._answer(401, {"message": "Could not authenticate", "took": 0.0})
                if len(parts) != 4 or parts[:2] != ["v2", "schedules"] or parts[3] != "on-calls":
                    return self._answer(404, {"message": "Not Found", "took": 0.0})
                kind = query.get("scheduleIdentifierType", "id")
                if kind not in ("id", "name"):
                    return self._answer(422, {"message": f"Invalid identifier type [{kind}]", "took": 0.0})
                identifier = unquote(parts[2])
                found = fake._find(identifier, kind)
                if found is None:
                    return self._answer(404, {"message": f"No schedule exists with {kind} [{identifier}]",
                                              "took": 0.0})
                name, emails = found
                data: dict[str, object] = {"_parent": {"id": id_of(name), "name": name, "enabled": True}}
                if query.get("flat") == "true":
                    data["onCallRecipients"] = list(emails)
                else:
                    data["onCallParticipants"] = [{"id": id_of(e), "name": e, "type": "user"} for e in emails]
                return self._answer(200, {"data": data, "took": 0.01, "requestId": str(uuid.uuid4())})

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
                                        name="fake-opsgenie", daemon=True)
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
