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
from core.i18n import N_, Tr
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
#: how the history names the state a request ended in (or is in)
STATES = {
    State.PENDING: N_("pending"), State.APPROVED: N_("approved"), State.ACTIVE: N_("active"),
    State.EXPIRED: N_("expired"), State.REVOKED: N_("revoked"), State.REJECTED: N_("rejected"),
    State.CANCELLED: N_("cancelled"), State.TIMED_OUT: N_("timed out"), State.FAILED: N_("failed"),
}


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


def _status(tr: Tr, request: AccessRequest, data: HomeData) -> str:
    state = request.state
    if state is State.ACTIVE:
        return tr(":unlock: Active until {until} · *{left}*", until=when(request.expires_at, data.zone, tr),
                  left=left(request.expires_at, data.now, tr))
    if state is State.PENDING and request.level is not None:
        return tr(":hourglass: Waiting for level {level} of {levels} ('{name}')", level=request.current_level + 1,
                  levels=len(request.levels), name=safe(request.level.name, 100))
    if request.starts_at is not None and request.scheduled(data.now):
        return tr(":calendar: Approved, scheduled: granted at {start}, until {end}",
                  start=when(request.starts_at, data.zone, tr),
                  end=when(request.starts_at + request.duration, data.zone, tr))
    return tr(":gear: Approved; access is being granted")


def _mine(tr: Tr, request: AccessRequest, data: HomeData) -> list[Block]:
    state = request.state
    line = f"*{request.id}* · {node_label(request)}\n{_status(tr, request, data)}\n>{safe(request.reason, 500)}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=line))]
    cancellable = state is State.PENDING or (state is State.APPROVED and request.scheduled(data.now))
    actions = (ids.EXTEND, ids.RELEASE) if state is State.ACTIVE else (ids.CANCEL,) if cancellable else ()
    if actions:
        blocks.append(request_buttons(tr, request.id, *actions, block_id=ids.mine_block(request.id)))
    return blocks


def _history_line(tr: Tr, request: AccessRequest, zone: ZoneInfo, held: Sequence[NodeSession] = ()) -> str:
    ended = f" {when(request.ended_at, zone, tr)}" if request.ended_at else ""
    why = f" · {safe(request.end_reason, 150)}" if request.end_reason else ""
    state = tr(STATES[request.state]) if request.state in STATES else request.state.value
    line = f"*{request.id}* · {node_label(request)} · {state}{ended}{why}"
    if request.granted_at is not None:
        line += " · " + tr.plural("{count} session", "{count} sessions", len(held))
        line += "".join(f"\n    ◦ {session_line(s, zone)}" for s in held[:3])
    return line


def build(tr: Tr, data: HomeData) -> View:
    """The home of one person, in their language."""
    blocks: list[Block] = [
        ActionsBlock(block_id=ids.HOME_TOP_BLOCK, elements=[
            ButtonElement(text=tr("Request access"), action_id=ids.OPEN_REQUEST, value="new", style="primary")]),
        HeaderBlock(text=tr("Requests for me")),
    ]
    for request in data.for_me[:MAX_FOR_ME]:
        blocks += decision_card(request, data.zone, data.now, tr)
    if not data.for_me:
        blocks.append(_note(tr("Nothing is waiting for your decision.")))
    elif len(data.for_me) > MAX_FOR_ME:
        blocks.append(_note(tr("Only the oldest {count} are shown; `/jit pending` lists them all.", count=MAX_FOR_ME)))
    blocks += [DividerBlock(), HeaderBlock(text=tr("My access"))]
    for request in data.mine[:MAX_MINE]:
        blocks += _mine(tr, request, data)
    if not data.mine:
        blocks.append(_note(tr("You have no pending or active access. Use *Request access* or `/jit request`.")))
    elif len(data.mine) > MAX_MINE:
        blocks.append(_note(tr("Only the newest {count} are shown; `/jit list` lists them all.", count=MAX_MINE)))
    blocks += [DividerBlock(), HeaderBlock(text=tr("Recent history"))]
    if data.history:
        blocks.append(_note(clip("\n".join(_history_line(tr, r, data.zone, data.sessions.get(r.id, ()))
                                             for r in data.history), TEXT)))
    else:
        blocks.append(_note(tr("Nothing yet.")))
    blocks.append(_note(tr("Updated {at}", at=when(data.now, data.zone, tr))))
    return View(type="home", blocks=blocks)


def publish(ctx: Context, client: WebClient, user: str) -> None:
    """The home of ``user``, in the language they read alone (``ctx.tr_for``)."""
    client.views_publish(user_id=user, view=build(ctx.tr_for(user), gather(ctx, user)).to_dict())


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
