"""What each person sees in the fake Slack, read from the calls the bot made to the fake Web API.

Channel and DM messages are the bot's ``chat.postMessage`` calls, in their current state after every
``chat.update`` (the fake keeps it); a message with a ``thread_ts`` is a reply in that thread. Ephemeral answers
are the posts to ``response_url``s: the playground issued each one for a person and a channel, so it knows
where to show it. Modals are the ``views.open``/``views.push`` calls, found by their ``trigger_id`` (issued for
a person too); the App Home is whatever ``views.publish`` left for the person.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes.slack_api import RESPONSE_URL_METHOD, FakeSlack
from fakes.slack_calls import RecordedCall

JSON = dict[str, Any]


@dataclass(frozen=True)
class Origin:
    """Where the person acted when the response_url was issued (and the ephemeral they clicked in, if any)."""

    user: str
    channel: str
    ephemeral: str | None = None


@dataclass
class Ephemeral:
    id: str
    user: str
    channel: str
    text: str
    blocks: list[JSON]
    at: datetime
    #: "answer" (the bot's, via response_url or chat.postEphemeral) or "command" (the person's own /jit line)
    kind: str = "answer"


@dataclass
class Post:
    channel: str
    ts: str
    at: datetime


@dataclass
class Modal:
    view_id: str
    errors: dict[str, str] = field(default_factory=dict)


def conversation(channel: str) -> str:
    """Posting to a user id posts to the DM with that user (as the fake does)."""
    return "D" + channel if channel[:1] in ("U", "W") else channel


class SlackState:
    """Scans the fake's call log incrementally; ``shift`` gives the playground's clock shift at scan time, so
    each message keeps the (shifted) time at which it appeared."""

    def __init__(self, slack: FakeSlack, shift: Callable[[], timedelta]) -> None:
        self.slack = slack
        self._shift = shift
        self._lock = threading.RLock()
        self._seen = 0
        self.origins: dict[str, Origin] = {}
        self.triggers: dict[str, str] = {}
        self.posts: list[Post] = []
        self.ephemerals: list[Ephemeral] = []
        self.modals: dict[str, list[Modal]] = {}

    # -- what the playground issues before a delivery ------------------------------------------------------------
    def response_url(self, origin: Origin) -> str:
        url = self.slack.make_response_url()
        with self._lock:
            self.origins[_path(url)] = origin
        return url

    def trigger(self, user: str, trigger_id: str) -> str:
        with self._lock:
            self.triggers[trigger_id] = user
        return trigger_id

    def said(self, user: str, channel: str, text: str) -> None:
        """The person's own ``/jit …`` line, shown to them alone (Slack shows nothing; it helps to follow)."""
        with self._lock:
            self.ephemerals.append(Ephemeral(self._new_id(), user, channel, text, [], self._now(), "command"))

    # -- modals -------------------------------------------------------------------------------------------------
    def top_modal(self, user: str) -> Modal | None:
        with self._lock:
            stack = self.modals.get(user) or []
            return stack[-1] if stack else None

    def close_modal(self, user: str, view_id: str, *, clear: bool = False) -> None:
        with self._lock:
            stack = self.modals.get(user) or []
            if clear:
                stack.clear()
            elif stack and stack[-1].view_id == view_id:
                stack.pop()

    def modal_errors(self, user: str, view_id: str, errors: dict[str, str]) -> None:
        with self._lock:
            for modal in self.modals.get(user) or []:
                if modal.view_id == view_id:
                    modal.errors = dict(errors)

    # -- scanning -----------------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        """Ephemeral messages get a ts like any message (Slack sends it as the container's message_ts)."""
        return self.slack.workspace.next_ts()

    def _now(self) -> datetime:
        return datetime.now(UTC) + self._shift()

    def scan(self) -> None:
        with self._lock:
            calls = self.slack.calls
            if len(calls) < self._seen:  # the log was cleared (a test starting afresh)
                self._seen = 0
            for call in calls[self._seen:]:
                self._take(call)
            self._seen = len(calls)

    def _take(self, call: RecordedCall) -> None:
        if not call.ok:
            return
        at = datetime.fromtimestamp(call.at, UTC) + self._shift()
        params, answer = call.params, call.response or {}
        if call.method == "chat.postMessage":
            self.posts.append(Post(str(answer.get("channel")), str(answer.get("ts")), at))
        elif call.method == RESPONSE_URL_METHOD:
            self._answered(call.path, params, at)
        elif call.method == "chat.postEphemeral":
            self.ephemerals.append(Ephemeral(self._new_id(), str(params.get("user")),
                                             conversation(str(params.get("channel"))), str(params.get("text") or ""),
                                             _blocks(params), at))
        elif call.method in ("views.open", "views.push"):
            user = self.triggers.get(str(params.get("trigger_id")))
            view_id = (answer.get("view") or {}).get("id")
            if user and view_id:
                stack = self.modals.setdefault(user, [])
                if call.method == "views.open":
                    stack.clear()
                stack.append(Modal(str(view_id)))

    def _answered(self, path: str, params: JSON, at: datetime) -> None:
        origin = self.origins.get(path)
        if origin is None:
            return
        replace = _truthy(params.get("replace_original")) or _truthy(params.get("delete_original"))
        if replace and origin.ephemeral:
            self.ephemerals = [e for e in self.ephemerals if e.id != origin.ephemeral]
        if _truthy(params.get("delete_original")):
            return
        self.ephemerals.append(Ephemeral(origin.ephemeral if replace and origin.ephemeral else self._new_id(),
                                         origin.user, origin.channel, str(params.get("text") or ""),
                                         _blocks(params), at))

    # -- reading ------------------------------------------------------------------------------------------------
    def channels_with_posts(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(p.channel for p in self.posts))

    def conversation_of(self, user: str, channel: str) -> list[JSON]:
        """The messages of ``channel`` as ``user`` sees them (top level, each with its replies), oldest first."""
        self.scan()
        with self._lock:
            posts = [p for p in self.posts if p.channel == channel]
            mine = [e for e in self.ephemerals if e.user == user and e.channel == channel]
        messages: dict[str, JSON] = {}
        top: list[JSON] = []
        for post in posts:
            found = self.slack.message(post.channel, post.ts)
            if found is None:
                continue
            item = {"ts": post.ts, "at": post.at.isoformat(), "text": found.get("text", ""),
                    "blocks": found.get("blocks") or [], "edited": "edited" in found, "replies": []}
            messages[post.ts] = item
            parent = messages.get(str(found.get("thread_ts") or ""))
            if found.get("thread_ts") and parent is not None:
                parent["replies"].append(item)
            else:
                top.append(item)
        for note in mine:
            top.append({"ts": note.id, "at": note.at.isoformat(), "text": note.text, "blocks": note.blocks,
                        "ephemeral": note.id, "kind": note.kind, "replies": []})
        top.sort(key=lambda m: datetime.fromisoformat(m["at"]))
        return top

    def ephemeral(self, user: str, ephemeral_id: str) -> Ephemeral | None:
        with self._lock:
            return next((e for e in self.ephemerals if e.id == ephemeral_id and e.user == user), None)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _blocks(params: JSON) -> list[JSON]:
    blocks = params.get("blocks")
    return blocks if isinstance(blocks, list) else []

