"""The ``/jit`` slash command: ack at once, parse, call one use case, answer ephemerally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from core import access
from core.context import Context
from core.errors import InvalidInput, JitError, NotFound
from core.model import State
from core.submit import RequestInput, submit
from handlers import parsing, replies


def _request(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    args = parsing.request_args(parsed)
    done = submit(ctx, RequestInput(user, args.node, args.reason, args.duration, args.ticket))
    return replies.submitted(done.request, ctx.policies().settings.zone)


def _list(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    with ctx.uow() as uow:
        mine = uow.repo.by_requester(user, [State.PENDING, State.APPROVED, State.ACTIVE])
    return replies.listing(mine, ctx.policies().settings.zone)


def _status(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    request_id = parsing.request_id(parsed, "status")
    with ctx.uow() as uow:
        request = uow.repo.get(request_id)
    if request is None:
        raise NotFound(f"There is no request {request_id}.")
    return replies.summary(request, ctx.policies().settings.zone)


def _cancel(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    done = access.cancel(ctx, parsing.request_id(parsed, "cancel"), user)
    return f"Request *{done.id}* is cancelled."


def _release(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    done = access.release(ctx, parsing.request_id(parsed, "release"), user)
    return f"Your access *{done.id}* has ended; the permission is removed."


def _revoke(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    request_id = parsing.request_id(parsed, "revoke")
    reason = parsed.rest.partition(" ")[2].strip()
    if not reason:
        raise InvalidInput(f"Say why. {parsing.usage('revoke')}")
    done = access.revoke(ctx, request_id, user, reason)
    return f"Access *{done.id}* of <@{done.requester}> is revoked."


SUBCOMMANDS: dict[str, Callable[[Context, str, parsing.Parsed], str]] = {
    "request": _request,
    "list": _list,
    "status": _status,
    "cancel": _cancel,
    "release": _release,
    "revoke": _revoke,
    "help": lambda ctx, user, parsed: replies.HELP,
}


def answer(ctx: Context, user: str, text: str) -> str:
    """The reply to ``/jit <text>``; a ``JitError`` becomes its message, nothing else is caught here."""
    try:
        parsed = parsing.parse(text)
        handler = SUBCOMMANDS.get(parsed.name)
        if handler is None:
            raise InvalidInput(f"Unknown subcommand '{parsed.name[:30]}'. Try `/jit help`.")
        return handler(ctx, user, parsed)
    except JitError as err:
        return f":warning: {err}"


def register(app: App, ctx: Context) -> None:
    @app.command("/jit")
    def jit(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(text=answer(ctx, command["user_id"], command.get("text", "")), response_type="ephemeral")
