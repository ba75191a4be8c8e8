"""The playground's world: the real bot on the embedded fakes, the people of the demo, and what they can do.

``Playground(workdir).start()`` starts ``fakes.stack.Stack`` (fake Slack, moto seeded with the demo's nodes and
roles, SQLite in ``workdir``, the bot's real HTTP server) on a ``ShiftedClock``. Every person's act goes to the
bot as Slack would send it (``playground.deliveries``); ``snapshot(user)`` is what that person sees.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.digest import last_slot
from core.errors import JitError
from fakes import cast
from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.slack_client import SlackResponse
from fakes.stack import Stack
from playground import aws_panel
from playground.clock import ShiftedClock
from playground.deliveries import Deliveries, Where
from playground.people import CHANNEL_NAMES, PEOPLE, playground_policies
from playground.slack_state import Origin, SlackState
from playground.snapshot import snapshot

log = logging.getLogger(__name__)
JSON = dict[str, Any]

class Refused(ValueError):
    """A request the page should not have sent (an unknown person, a channel they cannot see…)."""


class Playground:
    def __init__(self, workdir: Path, *, slack: FakeSlack | None = None, aws: FakeAws | None = None,
                 nodes: dict[str, str] | None = None, sweep_seconds: float = 0.5) -> None:
        self.clock = ShiftedClock()
        self.stack = Stack(workdir, policies=playground_policies(), clock=self.clock, slack=slack, aws=aws,
                           nodes=nodes, sweep_seconds=sweep_seconds)
        self.slack = SlackState(self.stack.slack, lambda: self.clock.shift)
        self._deliver: Deliveries | None = None

    def start(self) -> Playground:
        self.stack.start()
        assert self.stack.sim is not None
        self._deliver = Deliveries(self.stack.sim)
        return self

    def stop(self) -> None:
        self.stack.stop()

    @property
    def deliver(self) -> Deliveries:
        if self._deliver is None:
            raise RuntimeError("the playground is not started")
        return self._deliver

    @property
    def ctx(self) -> Any:
        assert self.stack.runtime is not None
        return self.stack.runtime.ctx

    # -- checks ----------------------------------------------------------------------------------------------
    @staticmethod
    def person(user: object) -> str:
        if not isinstance(user, str) or user not in dict(PEOPLE):
            raise Refused("unknown person")
        return user

    def channels(self, user: str) -> list[JSON]:
        settings = self.ctx.policies().settings
        ids = [level.channel for policy in self.ctx.policies().manual_approval for level in policy.levels]
        ids += [settings.audit_channel] if settings.audit_channel else []
        ids += [c for c in self.slack.channels_with_posts() if c[:1] in ("C", "G")]
        found = [{"id": c, "name": CHANNEL_NAMES.get(c, c.lower()),
                  "kind": "audit" if c == settings.audit_channel else "channel"} for c in dict.fromkeys(ids)]
        return [*found, {"id": f"D{user}", "name": "jitbot", "kind": "dm"}]

    def visible(self, user: str, channel: object) -> str:
        if not isinstance(channel, str) or channel not in {c["id"] for c in self.channels(user)}:
            raise Refused("that conversation is not one of yours")
        return channel

    def view_of(self, user: str, view_id: object) -> JSON:
        top = self.slack.top_modal(user)
        if top is None or top.view_id != view_id:
            raise Refused("that modal is not open")
        view = self.stack.slack.view(top.view_id)
        if view is None:
            raise Refused("that modal does not exist")
        return view

    def _trigger(self, user: str) -> str:
        assert self.stack.sim is not None
        return self.slack.trigger(user, self.stack.sim.new_trigger_id())

    # -- what people do ----------------------------------------------------------------------------------------
    def command(self, user: str, channel: str, line: str) -> JSON:
        user, channel = self.person(user), self.visible(user, channel)
        words = line.strip()
        if words != "/jit" and not words.startswith("/jit "):
            raise Refused("only /jit commands reach jitbot here (try /jit help)")
        self.slack.said(user, channel, words)
        url = self.slack.response_url(Origin(user, channel))
        return _answer(self.deliver.command(user, words[len("/jit"):].strip(), channel, response_url=url,
                                            trigger_id=self._trigger(user)))

    def action(self, user: str, where: JSON, block_id: str, element: JSON, state: JSON) -> JSON:
        user = self.person(user)
        kind = str(where.get("kind"))
        view, url, place = None, None, Where(kind)
        if kind in ("message", "ephemeral"):
            channel = self.visible(user, where.get("channel"))
            ts = str(where.get("ts"))
            if kind == "ephemeral" and self.slack.ephemeral(user, ts) is None:
                raise Refused("that message is not yours")
            url = self.slack.response_url(Origin(user, channel, ts if kind == "ephemeral" else None))
            place = Where(kind, channel, ts)
        elif kind == "home":
            view = self.stack.slack.home_view(user)
            if view is None:
                raise Refused("your App Home is empty")
        elif kind == "modal":
            view = self.view_of(user, where.get("view_id"))
        else:
            raise Refused("unknown place")
        return _answer(self.deliver.block_action(user, place, block_id, element, trigger_id=self._trigger(user),
                                                 response_url=url, view=view, state=state))

    def submit(self, user: str, view_id: str, state: JSON) -> JSON:
        user = self.person(user)
        view = self.view_of(user, view_id)
        response = self.deliver.view_submission(user, view, state, trigger_id=self._trigger(user))
        answer = _answer(response)
        ack = response.json() if response.status == 200 else None
        action = ack.get("response_action") if isinstance(ack, dict) else None
        if action == "errors":
            self.slack.modal_errors(user, view_id, ack.get("errors") or {})  # type: ignore[union-attr]
            return {**answer, "errors": ack.get("errors") or {}}  # type: ignore[union-attr]
        if response.status == 200:
            self.slack.close_modal(user, view_id, clear=action == "clear")
        return answer

    def close(self, user: str, view_id: str) -> JSON:
        user = self.person(user)
        view = self.view_of(user, view_id)
        if view.get("notify_on_close"):
            self.deliver.view_closed(user, view)
        self.slack.close_modal(user, view_id)
        return {"ok": True}

    def options(self, user: str, view_id: str, block_id: str, action_id: str, value: str, state: JSON) -> JSON:
        user = self.person(user)
        view = self.view_of(user, view_id)
        response = self.deliver.block_suggestion(user, view, block_id, action_id, value[:150], state)
        found = response.json() if response.status == 200 else None
        options = found.get("options") if isinstance(found, dict) else None
        return {**_answer(response), "options": options if isinstance(options, list) else []}

    def home(self, user: str) -> JSON:
        return _answer(self.deliver.home_opened(self.person(user)))

    def open_session(self, user: str, node_id: object) -> JSON:
        user = self.person(user)
        if node_id not in self.stack.nodes.values():
            raise Refused("unknown node")
        name = str(cast.USERS[user]["name"])
        try:
            principal = self.ctx.principal_of(self.ctx.directory.user(user))
        except JitError as err:
            return {"ok": False, "error": f"{name} has no AWS identity: {err}"}
        grant = aws_panel.allowed(self.stack.aws, principal, str(node_id), self.clock.now())
        if grant is None:
            return {"ok": False, "error": f"AccessDenied: no IAM policy lets {principal} call ssm:StartSession on "
                                          f"{node_id} now"}
        session = self.stack.aws.start_session(str(node_id), aws_panel.session_owner(principal, name))
        return {"ok": True, "session": session, "grant": grant.request_id}

    def jump(self, minutes: object) -> JSON:
        if not isinstance(minutes, int | float) or isinstance(minutes, bool):
            raise Refused("minutes must be a number")
        self.slack.scan()  # what was said before the jump keeps its time
        before = self.clock.now()
        try:
            after = self.clock.jump(timedelta(minutes=minutes))
        except ValueError as err:
            raise Refused(str(err)) from None
        settings = self.ctx.policies().settings
        scheduler = self.stack.runtime.scheduler if self.stack.runtime else None
        if scheduler is not None and last_slot(settings, before) != last_slot(settings, after):
            # the cron job runs on the system's clock: at a jump over digest_time, post the slot's digest now
            threading.Thread(target=_quietly(scheduler.run_digest), name="playground-digest", daemon=True).start()
        return {"ok": True, "now": after.isoformat()}

    # -- what a person sees ------------------------------------------------------------------------------------
    def snapshot(self, user: str) -> JSON:
        return snapshot(self, self.person(user))

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.ctx.policies().settings.zone).strftime("%a %d %b %H:%M")


def _answer(response: SlackResponse) -> JSON:
    """What the page needs of the bot's HTTP answer (Slack shows an error when the app does not answer 200)."""
    if response.status == 200:
        return {"ok": True}
    return {"ok": False, "error": f"the app answered HTTP {response.status}", "status": response.status}


def _quietly(work: Any) -> Any:
    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("playground: background work failed")
    return run
