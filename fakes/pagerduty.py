"""A fake PagerDuty REST API over HTTP (``GET /schedules/{id}/users``), for the tests and the demo.

``schedules`` maps a schedule id to the emails on call now; ``down`` makes every call fail with 503 (PagerDuty
unreachable); ``calls`` counts the requests (the adapter's cache shows in it). Only the token given is accepted.
"""

from __future__ import annotations

from fakes.json_api import Answer, JsonApi

TOKEN = "pd-test-token"
NOT_FOUND = {"error": {"message": "Not Found", "code": 2100}}


class FakePagerDuty(JsonApi):
    name = "fake-pagerduty"
    unavailable = {"error": {"message": "Service Unavailable"}}

    def __init__(self, schedules: dict[str, list[str]] | None = None, token: str = TOKEN) -> None:
        super().__init__()
        self.schedules: dict[str, list[str]] = dict(schedules or {})
        self.token = token

    def answer(self, parts: list[str], query: dict[str, str], authorization: str | None) -> Answer:
        if authorization != f"Token token={self.token}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        if len(parts) != 3 or parts[0] != "schedules" or parts[2] != "users":
            return 404, NOT_FOUND
        emails = self.schedules.get(parts[1])
        if emails is None:
            return 404, NOT_FOUND
        return 200, {"users": [{"id": f"PU{i:05d}", "type": "user", "email": e, "name": e.split("@")[0]}
                               for i, e in enumerate(emails)]}
