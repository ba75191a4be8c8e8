"""A fake Slack Web API: a threaded HTTP server on loopback that answers like Slack and records calls.

    with FakeSlack() as slack:
        slack.add_user("U0ALICE01", email="alice@example.com")
        client = WebClient(token="xoxb-test", base_url=slack.url)
        client.chat_postMessage(channel="C0SREAPPR", text="hi")
        call = slack.wait_for("chat.postMessage")

Calls are recorded in arrival order, including the ones answered by an injected fault (those carry
`fault`); the helpers `calls_to`, `messages` and `wait_for` skip faulted calls unless asked.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from fakes.slack_calls import CallLog, CallPredicate, RecordedCall
from fakes.slack_http import (
    JSON_FIELDS,
    Fault,
    LoopbackServer,
    Reply,
    bearer_token,
    json_reply,
    maybe_json,
    parse_body,
)
from fakes.slack_workspace import JSONDict, MethodHandler, Workspace

__all__ = ["RESPONSE_URL_METHOD", "FakeSlack", "RecordedCall"]

RESPONSE_URL_METHOD = "response_url"


class FakeSlack:
    """A local Slack Web API that records every call. Use `start()`/`stop()` or `with FakeSlack() as s:`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0JITBOT",
        team_domain: str = "jitbot-test",
        bot_user_id: str = "UJITBOT",
        bot_id: str = "BJITBOT",
        app_id: str = "A0JITBOT",
        token: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """`port=0` picks a free port. When `token` is set, calls with another token get `invalid_auth`."""
        self.host = host
        self.delay = delay
        self.expected_token = token
        self.workspace = Workspace(
            team_id=team_id, team_domain=team_domain, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id
        )
        self._requested_port = port
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._log = CallLog()
        self._faults_lock = threading.Lock()
        self._faults: dict[str, list[Fault]] = {}
        self._response_seq = itertools.count(1)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread (idempotent)."""
        if self._server is not None:
            return self
        server = LoopbackServer((self.host, self._requested_port), self._handle)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (the value of `SLACK_API_URL`), e.g. `http://127.0.0.1:PORT/api/`."""
        return f"{self.base_url}/api/"

    # ----------------------------------------------------------------- the fake team

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def team_domain(self) -> str:
        return self.workspace.team_domain

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.bot_id

    @property
    def app_id(self) -> str:
        return self.workspace.app_id

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
        """By default a full member of this team with a confirmed email, in English (see ``Workspace.add_user``)."""
        self.workspace.add_user(user_id, email, name, title, deleted, is_bot, email_confirmed=email_confirmed,
                                is_restricted=is_restricted, is_ultra_restricted=is_ultra_restricted,
                                is_stranger=is_stranger, team_id=team_id, locale=locale)

    def add_group(self, group_id: str, members: Iterable[str]) -> None:
        self.workspace.add_group(group_id, members)

    def add_channel(
        self, channel_id: str, name: str | None = None, is_private: bool = False, is_member: bool = True
    ) -> None:
        self.workspace.add_channel(channel_id, name, is_private, is_member)

    def set_not_member(self, channel: str) -> None:
        """The bot is not in `channel`: conversations.info says so, chat.postMessage gets not_in_channel."""
        self.workspace.set_not_member(channel)

    def set_handler(self, method: str, handler: MethodHandler | None) -> None:
        """Answer `method` with `handler(params)` (`"ok": true` is added unless present); None removes it."""
        self.workspace.set_handler(method, handler)

    def user(self, user_id: str) -> JSONDict | None:
        return self.workspace.user(user_id)

    def message(self, channel: str, ts: str) -> JSONDict | None:
        """The current state of a message the bot posted (after updates), or None."""
        return self.workspace.message(channel, ts)

    def view(self, view_id: str) -> JSONDict | None:
        return self.workspace.view(view_id)

    def home_view(self, user_id: str) -> JSONDict | None:
        return self.workspace.home_view(user_id)

    def make_response_url(self) -> str:
        """A fresh response_url; POSTs to it are recorded as method "response_url"."""
        return f"{self.base_url}/response/{self.team_id}/{next(self._response_seq)}/fake"

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self, method: str, times: int = 1, status: int = 429, retry_after: int = 1, error: str | None = None
    ) -> None:
        """The next `times` calls of `method` ("*": any method) fail.

        With `error`: HTTP 200 and `{"ok": false, "error": error}`. Otherwise HTTP `status`: 429 comes
        with `Retry-After: retry_after` and `{"ok": false, "error": "ratelimited"}`, 5xx with a JSON error.
        """
        fault = Fault("error", error=error) if error else Fault("status", status, retry_after)
        with self._faults_lock:
            self._faults.setdefault(method, []).extend([fault] * times)

    def reset_connections(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` ("*": any) get their connection closed without an answer."""
        with self._faults_lock:
            self._faults.setdefault(method, []).extend([Fault("reset")] * times)

    def _take_fault(self, method: str) -> Fault | None:
        with self._faults_lock:
            for key in (method, "*"):
                queue = self._faults.get(key)
                if queue:
                    return queue.pop(0)
        return None

    # ----------------------------------------------------------------- recorded calls

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of every call received so far, in arrival order (faulted ones included)."""
        return self._log.snapshot()

    def calls_to(self, method: str, *, include_faults: bool = False) -> list[RecordedCall]:
        return self._log.calls_to(method, include_faults=include_faults)

    def messages(self, channel: str | None = None) -> list[RecordedCall]:
        """Successful chat.postMessage calls, optionally to one channel (as sent, or the DM it became)."""
        return self._log.messages(channel)

    def wait_for(
        self, predicate_or_method: str | CallPredicate, timeout: float = 5.0, *, include_faults: bool = False
    ) -> RecordedCall:
        """The first recorded call matching a method name or a predicate, waiting up to `timeout` seconds.

        Raises AssertionError listing the recorded calls when nothing matches in time.
        """
        return self._log.wait_for(predicate_or_method, timeout, include_faults=include_faults)

    def summary(self) -> str:
        return self._log.summary()

    def clear(self) -> None:
        """Forget the recorded calls and pending faults (users, groups, messages and views stay)."""
        self._log.clear()
        with self._faults_lock:
            self._faults.clear()

    # ----------------------------------------------------------------- answering

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        """Answer one HTTP request; None means: close the connection without answering."""
        split = urlsplit(path)
        if split.path.startswith("/api/"):
            method = split.path[len("/api/") :]
        elif split.path.startswith("/response/"):
            method = RESPONSE_URL_METHOD
        else:
            return json_reply(404, {"ok": False, "error": "not_found"})
        lowered = {k.lower(): v for k, v in headers.items()}
        params: JSONDict = dict(parse_qsl(split.query, keep_blank_values=True))
        body_error: str | None = None
        try:
            params.update(parse_body(lowered.get("content-type", ""), body))
        except ValueError:
            body_error = "invalid_json"
        sent_token = params.pop("token", None)
        token = bearer_token(lowered.get("authorization")) or (str(sent_token) if sent_token else None)
        for key in JSON_FIELDS:
            if key in params:
                params[key] = maybe_json(params[key])
        at = time.time()

        def record(status: int = 200, response: JSONDict | None = None, fault: str | None = None) -> None:
            self._log.record(RecordedCall(method, params, at, token, split.path, status, response, fault))

        fault = self._take_fault(method)
        if self.delay > 0:
            time.sleep(self.delay)
        if fault is not None:
            reply = fault.reply()
            if reply is None:
                record(0, None, fault.label())
            else:
                record(reply.status, json.loads(reply.body), fault.label())
            return reply
        if method == RESPONSE_URL_METHOD:
            record()
            return Reply(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
        if body_error is not None:
            answer: JSONDict = {"ok": False, "error": body_error}
        elif not token:
            answer = {"ok": False, "error": "not_authed"}
        elif self.expected_token is not None and token != self.expected_token:
            answer = {"ok": False, "error": "invalid_auth"}
        else:
            answer = self.workspace.call(method, params)
        record(200, answer)
        return json_reply(200, answer)
