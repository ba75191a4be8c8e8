"""A fake Opsgenie REST API over HTTP (``GET /v2/schedules/{identifier}/on-calls``), for the tests and the demo.

``schedules`` maps a schedule's name to the emails (user names) on call now; each schedule also has an id
(``id_of``), and a request finds it by name or by id as ``scheduleIdentifierType`` says (id by default, as
Opsgenie does). With ``flat=true`` the answer lists ``onCallRecipients`` (user names), otherwise only
``onCallParticipants`` (objects), as Opsgenie does. ``down`` makes every call fail with 503; ``calls`` counts the
requests (the adapter's cache shows in it). Only ``GenieKey <the key given>`` is accepted.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from fakes.json_api import Answer, JsonApi

API_KEY = "og-test-key"


def id_of(name: str) -> str:
    """The id Opsgenie gives the schedule named ``name`` (a UUID, stable for the name)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsgenie-schedule:{name}"))


class FakeOpsgenie(JsonApi):
    name = "fake-opsgenie"
    unavailable = {"message": "Service Unavailable", "took": 0.0}

    def __init__(self, schedules: dict[str, list[str]] | None = None, api_key: str = API_KEY) -> None:
        super().__init__()
        self.schedules: dict[str, list[str]] = dict(schedules or {})
        self.api_key = api_key

    def _find(self, identifier: str, kind: str) -> tuple[str, list[str]] | None:
        for name, emails in self.schedules.items():
            if (name if kind == "name" else id_of(name)) == identifier:
                return name, emails
        return None

    def answer(self, parts: list[str], query: dict[str, str], authorization: str | None) -> Answer:
        if authorization != f"GenieKey {self.api_key}":
            return 401, {"message": "Could not authenticate", "took": 0.0}
        if len(parts) != 4 or parts[:2] != ["v2", "schedules"] or parts[3] != "on-calls":
            return 404, {"message": "Not Found", "took": 0.0}
        kind = query.get("scheduleIdentifierType", "id")
        if kind not in ("id", "name"):
            return 422, {"message": f"Invalid identifier type [{kind}]", "took": 0.0}
        identifier = unquote(parts[2])
        found = self._find(identifier, kind)
        if found is None:
            return 404, {"message": f"No schedule exists with {kind} [{identifier}]", "took": 0.0}
        name, emails = found
        data: dict[str, object] = {"_parent": {"id": id_of(name), "name": name, "enabled": True}}
        if query.get("flat") == "true":
            data["onCallRecipients"] = list(emails)
        else:
            data["onCallParticipants"] = [{"id": id_of(e), "name": e, "type": "user"} for e in emails]
        return 200, {"data": data, "took": 0.01, "requestId": str(uuid.uuid4())}
