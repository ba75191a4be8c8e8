"""How a listener meets Bolt: the ack leaves at once (Slack waits 3 s at most), the work runs after it on the
listener pool (``handlers.later``).

Each Slack surface has one ``register(app, ctx, later)`` that pairs an id with a named function of its module, one
line each, through one of these adapters:

- ``button``: ack, then ``work(ctx, client, body, request_id)``, the request id being the button's value;
- ``chosen``: ack, then ``work(ctx, client, body, value)``, the value of the option chosen in a static select;
- ``acked``: ack, then ``work(ctx, client, body)`` (a shortcut, a button without a request, a node picked);
- ``submission``: ``check(view)`` inside the ack answers the missing fields at once; when none is, ack, then
  ``work(ctx, client, body, view, checked)``;
- ``bound``: a listener that needs more of Bolt (``respond``, ``event``, the ack's own answer), given its
  dependencies first; Bolt passes the rest by name.

The functions they run are plain functions of their module: a test calls them with a ``Context`` and a client.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from slack_bolt import Ack
from slack_sdk import WebClient

from core.context import Context
from handlers.later import Later

T = TypeVar("T")
Body = dict[str, Any]
Listener = Callable[..., None]
#: what a modal's submission carries: the field errors (by block id; none when complete) and the values read
Checked = tuple[dict[str, str], T]


def request_id(action: dict[str, Any]) -> str:
    """The request a button is about: its value (an id is short; anything longer is not one of ours)."""
    return str(action.get("value", ""))[:40]


def _named(listener: Listener, work: Callable[..., None]) -> Listener:
    listener.__name__ = work.__name__  # Bolt names the listener in its logs
    return listener


def button(ctx: Context, later: Later, work: Callable[[Context, WebClient, Body, str], None]) -> Listener:
    def listener(ack: Ack, body: Body, action: dict[str, Any]) -> None:
        ack()
        later(body, work, ctx, later.client, body, request_id(action))
    return _named(listener, work)


def chosen(ctx: Context, later: Later, work: Callable[[Context, WebClient, Body, str], None]) -> Listener:
    """A static select: ack, then ``work(ctx, client, body, value)``, the value of the option chosen."""
    def listener(ack: Ack, body: Body, action: dict[str, Any]) -> None:
        ack()
        later(body, work, ctx, later.client, body, str((action.get("selected_option") or {}).get("value", ""))[:60])
    return _named(listener, work)


def acked(ctx: Context, later: Later, work: Callable[[Context, WebClient, Body], None]) -> Listener:
    def listener(ack: Ack, body: Body) -> None:
        ack()
        later(body, work, ctx, later.client, body)
    return _named(listener, work)


def submission(ctx: Context, later: Later, check: Callable[[dict[str, Any]], Checked[T]],
               work: Callable[[Context, WebClient, Body, dict[str, Any], T], None]) -> Listener:
    def listener(ack: Ack, body: Body, view: dict[str, Any]) -> None:
        errors, checked = check(view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        later(body, work, ctx, later.client, body, view, checked)
    return _named(listener, work)


def bound(listener: Callable[..., None], *dependencies: object) -> Listener:
    """``listener`` with its first arguments given; Bolt fills in the others, by their names."""
    given = partial(listener, *dependencies)
    given.__name__ = listener.__name__  # type: ignore[attr-defined]  # a partial takes attributes; Bolt logs it
    return given
