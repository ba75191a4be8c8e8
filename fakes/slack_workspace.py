"""The state of the fake Slack workspace and the behaviour of the Web API methods jitbot uses.

This module knows nothing about HTTP: `Workspace.call(method, params)` takes decoded parameters
and returns the JSON object Slack would answer (`{"ok": true, ...}` or `{"ok": false, "error": ...}`).
`fakes.slack_api.FakeSlack` serves it over HTTP.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]
MethodHandler = Callable[[JSONDict], JSONDict]

_TS_BASE_MICROS = 1_700_000_000_000_000
_TS_STEP_MICROS = 100


class SlackApiFailure(Exception):
    """Raised by a method implementation to answer `{"ok": false, "error": error}`."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class FakeUser:
    """A seeded Slack user."""

    id: str
    team_id: str
    email: str | None = None
    name: str | None = None
    title: str | None = None
    deleted: bool = False
    is_bot: bool = False
    #: Slack's ``is_email_confirmed``: the person confirmed they control ``email``
    email_confirmed: bool = True
    #: a multi-channel guest (``is_restricted``), or a single-channel one (both flags, as Slack sends them)
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    #: from a team the app's token does not belong to, in no shared channel the app sees
    is_stranger: bool = False
    #: the Slack locale (``users.info`` returns it with ``include_locale=true`` only)
    locale: str = "en-US"

    def to_api(self, include_locale: bool = False) -> JSONDict:
        """The user object as `users.info` returns it."""
        name = self.name or self.id.lower()
        profile: JSONDict = {
            "real_name": name,
            "display_name": name,
            "title": self.title or "",
            "team": self.team_id,
        }
        if self.email is not None:
            profile["email"] = self.email
        answer: JSONDict = {
            "id": self.id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": self.is_restricted or self.is_ultra_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_email_confirmed": self.email_confirmed,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": profile,
            **({"is_stranger": True} if self.is_stranger else {}),  # Slack leaves the field out otherwise
        }
        if include_locale:
            answer["locale"] = self.locale
        return answer


@dataclass
class FakeChannel:
    """A conversation whose name or membership differs from the defaults."""

    id: str
    name: str | None = None
    is_private: bool = False
    is_member: bool = True


def _required(params: JSONDict, name: str, error: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise SlackApiFailure(error)
    return str(value)


class Workspace:
    """Users, groups, channels, messages and views of one fake Slack team (thread-safe)."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self._lock = threading.RLock()
        self._users: dict[str, FakeUser] = {}
        self._groups: dict[str, list[str]] = {}
        self._channels: dict[str, FakeChannel] = {}
        self._messages: dict[tuple[str, str], JSONDict] = {}
        self._views: dict[str, JSONDict] = {}
        self._home_views: dict[str, str] = {}
        self._ts_seq = 0
        self._view_seq = 0
        self._custom: dict[str, MethodHandler] = {}
        self._builtin: dict[str, MethodHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.list": self._users_list,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }
        self.add_user(bot_user_id, name="jitbot", is_bot=True)

    # ----------------------------------------------------------------- seeding and reading

    def add_user(
        self,
        user_id: str,
        email: str | None = None,
        name: str | None = None,
        title: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        *,
        email_confirmed: bool = True,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_stranger: bool = False,
        team_id: str | None = None,
        locale: str = "en-US",
    ) -> None:
        """A full member of this team with a confirmed email, unless told otherwise (``team_id``: a Slack Connect
        user of another organisation; ``is_stranger``: one the app sees in no shared channel)."""
        with self._lock:
            self._users[user_id] = FakeUser(user_id, team_id or self.team_id, email, name, title, deleted, is_bot,
                                            email_confirmed, is_restricted, is_ultra_restricted, is_stranger, locale)

    def add_group(self, group_id: str, members: Iterable[str]) -> None:
        with self._lock:
            self._groups[group_id] = list(members)

    def add_channel(
        self, channel_id: str, name: str | None = None, is_private: bool = False, is_member: bool = True
    ) -> None:
        with self._lock:
            self._channels[channel_id] = FakeChannel(channel_id, name, is_private, is_member)

    def set_not_member(self, channel_id: str) -> None:
        with self._lock:
            channel = self._channels.setdefault(channel_id, FakeChannel(channel_id))
            channel.is_member = False

    def set_handler(self, method: str, handler: MethodHandler | None) -> None:
        with self._lock:
            if handler is None:
                self._custom.pop(method, None)
            else:
                self._custom[method] = handler

    def user(self, user_id: str) -> JSONDict | None:
        with self._lock:
            user = self._users.get(user_id)
            return user.to_api() if user else None

    def message(self, channel: str, ts: str) -> JSONDict | None:
        with self._lock:
            found = self._messages.get((self._conversation(channel), ts))
            return dict(found) if found else None

    def view(self, view_id: str) -> JSONDict | None:
        with self._lock:
            found = self._views.get(view_id)
            return dict(found) if found else None

    def home_view(self, user_id: str) -> JSONDict | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return self.view(view_id) if view_id else None

    # ----------------------------------------------------------------- dispatch

    def call(self, method: str, params: JSONDict) -> JSONDict:
        """Answer one Web API call the way Slack does."""
        with self._lock:
            handler = self._custom.get(method) or self._builtin.get(method)
            if handler is None:
                return {"ok": False, "error": "unknown_method"}
            try:
                result = handler(params)
            except SlackApiFailure as failure:
                return {"ok": False, "error": failure.error}
            return result if "ok" in result else {"ok": True, **result}

    # ----------------------------------------------------------------- helpers

    def next_ts(self) -> str:
        with self._lock:
            self._ts_seq += 1
            micros = _TS_BASE_MICROS + self._ts_seq * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    @staticmethod
    def _conversation(channel: str) -> str:
        """Posting to a user id posts to the DM with that user."""
        return "D" + channel if channel[:1] in ("U", "W") else channel

    def _is_member(self, channel: str) -> bool:
        found = self._channels.get(channel)
        return found.is_member if found else True

    @staticmethod
    def _require_content(params: JSONDict) -> None:
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            raise SlackApiFailure("no_text")

    # ----------------------------------------------------------------- methods

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": "jitbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: JSONDict) -> JSONDict:
        channel = self._conversation(_required(params, "channel", "channel_not_found"))
        if not self._is_member(channel):
            raise SlackApiFailure("not_in_channel")
        self._require_content(params)
        ts = self.next_ts()
        message: JSONDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": params.get("text") or "",
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if params.get(key):
                message[key] = params[key]
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": dict(message)}

    def _chat_update(self, params: JSONDict) -> JSONDict:
        channel = self._conversation(_required(params, "channel", "channel_not_found"))
        ts = _required(params, "ts", "message_not_found")
        message = self._messages.get((channel, ts))
        if message is None:
            raise SlackApiFailure("message_not_found")
        self._require_content(params)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        return {"channel": channel, "ts": ts, "text": message.get("text", ""), "message": dict(message)}

    def _chat_post_ephemeral(self, params: JSONDict) -> JSONDict:
        self._conversation(_required(params, "channel", "channel_not_found"))
        _required(params, "user", "user_not_in_channel")
        self._require_content(params)
        return {"message_ts": self.next_ts()}

    def _chat_get_permalink(self, params: JSONDict) -> JSONDict:
        channel = self._conversation(_required(params, "channel", "channel_not_found"))
        ts = _required(params, "message_ts", "message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _conversations_open(self, params: JSONDict) -> JSONDict:
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}, "already_open": True}
        users_param = params.get("users")
        users = users_param if isinstance(users_param, list) else str(users_param or "").split(",")
        users = [str(user).strip() for user in users if str(user).strip()]
        if not users:
            raise SlackApiFailure("users_list_not_supplied")
        if len(users) == 1:
            return {"channel": {"id": "D" + users[0]}}
        digest = hashlib.sha256(",".join(sorted(users)).encode()).hexdigest()[:10].upper()
        return {"channel": {"id": "G" + digest}}

    def _conversations_info(self, params: JSONDict) -> JSONDict:
        channel_id = _required(params, "channel", "channel_not_found")
        known = self._channels.get(channel_id) or FakeChannel(channel_id)
        info: JSONDict = {
            "id": channel_id,
            "name": known.name or channel_id.lower(),
            "is_channel": channel_id.startswith("C"),
            "is_group": channel_id.startswith("G"),
            "is_im": channel_id.startswith("D"),
            "is_private": known.is_private or channel_id[:1] in ("G", "D"),
            "is_archived": False,
            "is_member": known.is_member,
            "created": 1_600_000_000,
        }
        if channel_id.startswith("D"):
            info["user"] = channel_id[1:]
        return {"channel": info}

    def _users_info(self, params: JSONDict) -> JSONDict:
        user = self._users.get(_required(params, "user", "user_not_found"))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"user": user.to_api(include_locale=str(params.get("include_locale", "")).lower() in ("1", "true"))}

    def _users_lookup_by_email(self, params: JSONDict) -> JSONDict:
        email = _required(params, "email", "users_not_found").lower()
        for user in self._users.values():
            if user.email is not None and user.email.lower() == email and not user.deleted:
                return {"user": user.to_api()}
        raise SlackApiFailure("users_not_found")

    def _users_list(self, params: JSONDict) -> JSONDict:
        """Every user, ``limit`` a page (cursor: the index of the next one), as Slack pages them."""
        limit = max(1, min(int(params.get("limit") or 200), 1000))
        start = int(params.get("cursor") or 0)
        users = [u.to_api() for u in self._users.values()]
        page, rest = users[start:start + limit], start + limit < len(users)
        return {"members": page, "response_metadata": {"next_cursor": str(start + limit) if rest else ""}}

    def _usergroups_users_list(self, params: JSONDict) -> JSONDict:
        members = self._groups.get(_required(params, "usergroup", "no_such_subteam"))
        if members is None:
            raise SlackApiFailure("no_such_subteam")
        return {"users": list(members)}

    def _store_view(self, view: Any, *, view_id: str | None = None, root: str | None = None) -> JSONDict:
        if not isinstance(view, dict):
            raise SlackApiFailure("invalid_arguments")
        if view_id is None:
            self._view_seq += 1
            view_id = f"V0FAKE{self._view_seq:05d}"
        previous = self._views.get(view_id)
        stored: JSONDict = {
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "app_installed_team_id": self.team_id,
            "root_view_id": root or (previous or {}).get("root_view_id") or view_id,
            "state": {"values": {}},
            "hash": f"{self.next_ts()}.{hashlib.sha256(view_id.encode()).hexdigest()[:8]}",
        }
        self._views[view_id] = stored
        return {"view": dict(stored)}

    def _views_open(self, params: JSONDict) -> JSONDict:
        _required(params, "trigger_id", "invalid_arguments")
        return self._store_view(params.get("view"))

    def _views_push(self, params: JSONDict) -> JSONDict:
        _required(params, "trigger_id", "invalid_arguments")
        return self._store_view(params.get("view"))

    def _views_update(self, params: JSONDict) -> JSONDict:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and external_id:
            found = [v["id"] for v in self._views.values() if v.get("external_id") == external_id]
            view_id = found[0] if found else None
        elif not view_id:
            raise SlackApiFailure("invalid_arguments")
        if not view_id or view_id not in self._views:
            raise SlackApiFailure("not_found")
        return self._store_view(params.get("view"), view_id=str(view_id))

    def _views_publish(self, params: JSONDict) -> JSONDict:
        user_id = _required(params, "user_id", "invalid_arguments")
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackApiFailure("invalid_arguments")
        answer = self._store_view(view, view_id=self._home_views.get(user_id))
        self._home_views[user_id] = answer["view"]["id"]
        return answer
