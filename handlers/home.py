"""The App Home tab: requests waiting for me, my access (pending and active), my recent history.

``gather`` reads what one person's home shows, ``build`` renders it (pure), ``publish`` sends it. The tab
is published when opened, and the open is recorded (``HomeViews``): the notifier's decorator (``bot/homes.py``)
republishes it on the changes that concern the person while they look at it, i.e. opened it within
``refresher.HOME_WATCH``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from core import queries, sessions
from core.context import Context
from core.model import AccessRequest, NodeSession, State
from handlers import ids
from handlers.blocks import TEXT, request_buttons
from handlers.later import Later
from handlers.listen import acked, bound
from handlers.modals import open_request
from handlers.refresher import HomeViews
from handlers.replies import decision_card, node_label
from handlers.sessions_text import session_line
from handlers.text import clip, left, safe, when

log = logging.getLogger(__name__)

MAX_FOR_ME = 15
MAX_MINE = 15
MAX_HISTORY = 10


@dataclass(frozen=True)
class HomeData:
    for_me: Sequence[AccessRequest]
    mine: Sequence[AccessRequest]
    history: Sequence[AccessRequest]
    now: datetime
    zone: ZoneInfo
    #: the SSM sessions recorded for the grants of the history (core.sessions)
    sessions: Mapping[str, Sequence[NodeSession]] = field(default_factory=dict)


def gather(ctx: Context, user: str) -> HomeData:
    history = queries.history(ctx, user, limit=MAX_HISTORY)
    return HomeData(
        for_me=queries.awaiting_decision(ctx, user, limit=MAX_FOR_ME + 1),
        mine=queries.live_requests(ctx, user, limit=MAX_MINE + 1),
        history=history,
        now=ctx.clock.now(),
        zone=ctx.policies().settings.zone,
        sessions=sessions.recorded_for(ctx, [r.id for r in history if r.granted_at is not None]),
    )


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _mine(request: AccessRequest, data: HomeData) -> list[Block]:
    state = request.state
    line = f"*{request.id}* · {node_label(request)}"
    if state is State.ACTIVE:
        line += (f"\n:unlock: Active until {when(request.expires_at, data.zone)} · "
                 f"*{left(request.expires_at, data.now)}*")
    elif state is State.PENDING and request.level is not None:
        line += (f"\n:hourglass: Waiting for level {request.current_level + 1} of {len(request.levels)} "
                 f"('{safe(request.level.name, 100)}')")
    elif request.starts_at is not None and request.scheduled(data.now):
        line += (f"\n:calendar: Approved, scheduled: granted at {when(request.starts_at, data.zone)}, until "
                 f"{when(request.starts_at + request.duration, data.zone)}")
    else:
        line += "\n:gear: Approved; access is being granted"
    line += f"\n>{safe(request.reason, 500)}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line))]
    cancellable = state is State.PENDING or (state is State.APPROVED and request.scheduled(data.now))
    actions = (ids.EXTEND, ids.RELEASE) if state is State.ACTIVE else (ids.CANCEL,) if cancellable else ()
    if actions:
        blocks.append(request_buttons(request.id, *actions, block_id=ids.mine_block(request.id)))
    return blocks


def _history_line(request: AccessRequest, zone: ZoneInfo, held: Sequence[NodeSession] = ()) -> str:
    ended = f" {when(request.ended_at, zone)}" if request.ended_at else ""
    why = f" · {safe(request.end_reason, 150)}" if request.end_reason else ""
    line = f"*{request.id}* · {node_label(request)} · {request.state.value.replace('_', ' ')}{ended}{why}"
    if request.granted_at is not None:
        line += f" · {len(held)} session(s)" + "".join(f"\n    ◦ {session_line(s, zone)}" for s in held[:3])
    return line


def build(data: HomeData) -> View:
    blocks: list[Block] = [
        ActionsBlock(block_id=ids.HOME_TOP_BLOCK, elements=[
            ButtonElement(text="Request access", action_id=ids.OPEN_REQUEST, value="new", style="primary")]),
        HeaderBlock(text="Requests for me"),
    ]
    for request in data.for_me[:MAX_FOR_ME]:
        blocks += decision_card(request, data.zone, data.now)
    if not data.for_me:
        blocks.append(_note("Nothing is waiting for your decision."))
    elif len(data.for_me) > MAX_FOR_ME:
        blocks.append(_note(f"Only the oldest {MAX_FOR_ME} are shown; `/jit pending` lists them all."))
    blocks += [DividerBlock(), HeaderBlock(text="My access")]
    for request in data.mine[:MAX_MINE]:
        blocks += _mine(request, data)
    if not data.mine:
        blocks.append(_note("You have no pending or active access. Use *Request access* or `/jit request`."))
    elif len(data.mine) > MAX_MINE:
        blocks.append(_note(f"Only the newest {MAX_MINE} are shown; `/jit list` lists them all."))
    blocks += [DividerBlock(), HeaderBlock(text="Recent history")]
    if data.history:
        blocks.append(_note(clip("\n".join(_history_line(r, data.zone, data.sessions.get(r.id, ()))
                                             for r in data.history), TEXT)))
    else:
        blocks.append(_note("Nothing yet."))
    blocks.append(_note(f"Updated {when(data.now, data.zone)}"))
    return View(type="home", blocks=blocks)


def publish(ctx: Context, client: WebClient, user: str) -> None:
    client.views_publish(user_id=user, view=build(gather(ctx, user)).to_dict())


def register(app: App, ctx: Context, later: Later, views: HomeViews | None = None) -> None:
    """``views`` records each opening, so that changes republish the homes being looked at."""
    app.event("app_home_opened")(bound(opened, ctx, later, views))
    app.action(ids.OPEN_REQUEST)(acked(ctx, later, open_request))


def opened(ctx: Context, later: Later, views: HomeViews | None, body: dict[str, Any], event: dict[str, Any]) -> None:
    if event.get("tab", "home") == "home":
        later(body, show, ctx, later.client, views, str(event["user"]))


def show(ctx: Context, client: WebClient, views: HomeViews | None, user: str) -> None:
    """Record the opening, then publish the home."""
    if views is not None:
        try:  # before gathering: a change from now on republishes this home, none falls in between
            views.opened(user, ctx.clock.now())
        except Exception:  # the database briefly down: still show the tab; its next opening records it
            log.exception("could not record an App Home opening", extra={"slack_user": user})
    publish(ctx, client, user)
