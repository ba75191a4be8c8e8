"""The ``/jit`` slash command: ack at once, parse, call one use case, answer ephemerally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from core import access, queries, sessions
from core.context import Context
from core.errors import InvalidInput, JitError
from core.i18n import T, Tr
from core.submit import RequestInput, submit
from handlers import parsing, policy_commands, replies, revoker_commands
from handlers.later import Later
from handlers.listen import bound
from handlers.modals import request_modal
from handlers.request_view import Meta
from handlers.sessions_text import sessions_text
from handlers.text import escape

Reply = str | replies.Answer


def _no_arguments(parsed: parsing.Parsed) -> None:
    if parsed.args:
        raise InvalidInput(T("`/jit {name}` takes no arguments. {usage}", name=parsed.name,
                             usage=parsing.usage(parsed.name)))


def _one_id(parsed: parsing.Parsed) -> str:
    request_id = parsing.request_id(parsed, parsed.name)
    if len(parsed.args) > 1:
        raise InvalidInput(T("One request id only. {usage}", usage=parsing.usage(parsed.name)))
    return request_id


def _request(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> Reply:
    if not parsed.args:  # the form, with a node picker
        return replies.Answer("", modal=lambda url: request_modal(ctx, user, Meta(response_url=url)))
    args = parsing.request_args(parsed)
    done = submit(ctx, RequestInput(user, args.node, args.reason, args.duration, args.ticket, start=args.start))
    return replies.submitted(done.request, ctx.policies().settings.zone, tr)


def _list(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    _no_arguments(parsed)
    return replies.listing(queries.live_requests(ctx, user), ctx.policies().settings.zone, tr)


def _pending(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> Reply:
    _no_arguments(parsed)
    return replies.pending(queries.awaiting_decision(ctx, user), ctx.policies().settings.zone, ctx.clock.now(), tr)


def _nodes(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    text = " ".join(parsed.args)
    if len(text) > 100:
        raise InvalidInput(T("That filter is too long; keep it under 100 characters. {usage}",
                             usage=parsing.usage("nodes")))
    found = queries.requestable_nodes(ctx, user, text, limit=replies.MAX_NODES_SHOWN + 1)
    return replies.nodes(found, text, tr)


def _extend(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    request_id = parsing.request_id(parsed, "extend")
    if len(parsed.args) < 3:
        raise InvalidInput(T("Give a duration and a reason. {usage}", usage=parsing.usage("extend")))
    reason = " ".join(parsed.args[2:])
    done = submit(ctx, RequestInput(user, "", reason, parsed.args[1], extends=request_id))
    return replies.submitted(done.request, ctx.policies().settings.zone, tr)


def _status(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    request = queries.visible_request(ctx, user, _one_id(parsed))
    zone = ctx.policies().settings.zone
    if request.granted_at is None:
        return replies.summary(request, zone, tr)
    return replies.summary(request, zone, tr) + "\n" + sessions_text(sessions.recorded(ctx, request.id), zone)


def _cancel(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    done = access.cancel(ctx, _one_id(parsed), user)
    return tr("Request *{id}* is cancelled.", id=done.id)


def _release(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    done = access.release(ctx, _one_id(parsed), user)
    return replies.released(done, tr)


def _help(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    return replies.help_text(tr)


#: each subcommand: (context, the person acting, the parsed command, their translator) → the answer
SUBCOMMANDS: dict[str, Callable[[Context, str, parsing.Parsed, Tr], Reply]] = {
    "request": _request,
    "list": _list,
    "status": _status,
    "cancel": _cancel,
    "release": _release,
    "revoke": revoker_commands.revoke_command,
    "lockout": revoker_commands.lockout_command,
    "unlock": revoker_commands.unlock_command,
    "pending": _pending,
    "extend": _extend,
    "nodes": _nodes,
    "help": _help,
    "explain": policy_commands.explain_command,
    "breakglass": policy_commands.breakglass_command,
}


def answer(ctx: Context, user: str, text: str) -> Reply:
    """The reply to ``/jit <text>``, in the language of the person acting; a ``JitError`` becomes its message
    (escaped: it may quote the input), nothing else is caught here."""
    tr = ctx.tr_for(user)
    try:
        parsed = parsing.parse(text)
        handler = SUBCOMMANDS.get(parsed.name)
        if handler is None:
            raise InvalidInput(T("Unknown subcommand '{name}'. Try `/jit help`.", name=parsed.name[:30]))
        return handler(ctx, user, parsed, tr)
    except JitError as err:
        return f":warning: {escape(err.say(tr))}"


def register(app: App, ctx: Context, later: Later) -> None:
    app.command("/jit")(bound(jit, ctx, later))


def jit(ctx: Context, later: Later, ack: Ack, body: dict[str, Any], command: dict[str, Any], respond: Respond) -> None:
    ack()
    later(body, run, ctx, later.client, command, respond)


def run(ctx: Context, client: WebClient, command: dict[str, Any], respond: Respond) -> None:
    """``/jit <text>``, after the ack: the answer, or the modal it opens instead."""
    reply = answer(ctx, command["user_id"], command.get("text", ""))
    if isinstance(reply, str):
        respond(text=reply, response_type="ephemeral")
    elif reply.modal is not None:
        client.views_open(trigger_id=command["trigger_id"], view=reply.modal(command.get("response_url")).to_dict())
    else:
        respond(text=reply.text, blocks=[b.to_dict() for b in reply.blocks], response_type="ephemeral")
