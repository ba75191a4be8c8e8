"""The Directory port on Slack: user profiles and user-group membership, cached briefly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.errors import NotFound
from core.i18n import T
from core.model import UserInfo


class _TtlCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[0] > self.clock():
                return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (self.clock() + self.ttl, value)
        return value


class SlackDirectory:
    """``team_id``: the app's own workspace (default: asked once with ``auth.test``); a user of another team is
    ``external`` (Slack Connect), as is one Slack calls a stranger (``is_stranger``)."""

    def __init__(self, client: WebClient, ttl: float = 60.0, team_id: str | None = None) -> None:
        self.client = client
        self._users = _TtlCache(ttl)
        self._groups = _TtlCache(ttl)
        self._team_id = team_id
        self._everyone = _TtlCache(ttl)

    def user(self, user_id: str) -> UserInfo:
        return self._users.get(user_id, lambda: self._load_user(user_id))  # type: ignore[no-any-return]

    def team_id(self) -> str:
        if self._team_id is None:
            self._team_id = str(self.client.auth_test()["team_id"])
        return self._team_id

    def _load_user(self, user_id: str) -> UserInfo:
        try:
            data = self.client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as err:
            if err.response.get("error") == "user_not_found":
                raise NotFound(T("Slack user {user} does not exist.", user=user_id)) from None
            raise
        profile = data.get("profile") or {}
        external = bool(data.get("is_stranger")) or data.get("team_id") != self.team_id()
        return UserInfo(id=data["id"], email=profile.get("email"), name=data.get("real_name") or data.get("name"),
                        deleted=bool(data.get("deleted")), is_bot=bool(data.get("is_bot")),
                        email_confirmed=data.get("is_email_confirmed") is True,
                        guest=bool(data.get("is_restricted") or data.get("is_ultra_restricted")), external=external,
                        locale=data.get("locale"))

    def find_by_name(self, handle: str) -> list[UserInfo]:
        """Members whose handle (``name``) or display name is ``handle``, case-insensitive; bots and deactivated
        accounts left out.
        Reads ``users.list`` (every page), cached like the profiles."""
        wanted = handle.strip().lower()
        everyone: list[dict[str, Any]] = self._everyone.get("all", self._load_everyone)
        found = []
        for data in everyone:
            profile = data.get("profile") or {}
            names = {str(data.get("name") or "").lower(), str(profile.get("display_name") or "").lower(),
                     str(profile.get("display_name_normalized") or "").lower()}
            if wanted and wanted in names and not data.get("is_bot") and not data.get("deleted"):
                # who they are is asked again by id (``user``): only the id and a name for messages here
                found.append(UserInfo(id=str(data["id"]), name=data.get("real_name") or data.get("name")))
        return found

    def _load_everyone(self) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(1000):  # 200 a page: far beyond any workspace; stops a cursor that never ends
            page = self.client.users_list(limit=200, cursor=cursor or None)
            members += page.get("members") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return members

    def group_members(self, group_id: str) -> frozenset[str]:
        return self._groups.get(group_id, lambda: self._load_group(group_id))  # type: ignore[no-any-return]

    def _load_group(self, group_id: str) -> frozenset[str]:
        try:
            return frozenset(self.client.usergroups_users_list(usergroup=group_id)["users"])
        except SlackApiError as err:
            if err.response.get("error") in ("no_such_subteam", "subteam_not_found"):
                return frozenset()
            raise
